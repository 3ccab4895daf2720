#!/usr/bin/env bash
# Times e4go, libe4 and e4-rs on the same operations, in interleaved rounds,
# and prints medians and ratios. See benches/peers/README.md.
#
#   bash benches/peers/run.sh --e4go ../e4go --libe4 ../libe4 [--rounds 12] [--secs 0.5]
#
# Fetches nothing: e4go is built against the checkout given (its module
# dependencies must already be in the Go module cache), libe4 with its own
# Makefile from the checkout given, e4-rs with cargo (CARGO_TARGET_DIR is
# honoured). A peer whose path is not given is skipped.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bash benches/peers/run.sh [--e4go DIR] [--libe4 DIR] [options]

  --e4go DIR       checkout of github.com/teserakt-io/e4go (skipped if absent)
  --libe4 DIR      checkout of github.com/teserakt-io/libe4 (skipped if absent)
  --rounds N       rounds; each runs every library once, order rotated (12)
  --secs S         seconds timed per operation and payload size (0.5)
  --sizes LIST     payload sizes in bytes (16,64,1024,16384)
  --ops LIST       operations (default: all; see README)
  --out DIR        where raw results and the summary go
                   (benches/peers/out/<date>-<time>)
  --taskset CPU    run every harness under `taskset -c CPU`
  --keep           keep the temporary build directory

environment: CC (cc), LIBE4_CFLAGS (-O2) for libe4 and its harness,
GOMODCACHE / GOPATH for the Go module cache, CARGO_TARGET_DIR for cargo.
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
e4go="" libe4="" rounds=12 secs=0.5 sizes=16,64,1024,16384 ops="" out="" cpu="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --e4go) e4go=$2; shift 2 ;;
    --libe4) libe4=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --taskset) cpu=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[ -z "$e4go" ] || e4go=$(cd "$e4go" && pwd)
[ -z "$libe4" ] || libe4=$(cd "$libe4" && pwd)
out=${out:-$here/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/e4-peers.XXXXXX")
if [ "$keep" = 1 ]; then
    echo "build directory: $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/bin"
log() { echo "[peers] $*" >&2; }

harness_args=(--secs "$secs" --sizes "$sizes")
[ -z "$ops" ] || harness_args+=(--ops "$ops")

# --- what is measured, on what -------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') ($(nproc) online)"
    echo "e4-rs: $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
    echo "rustc: $(rustc --version 2>/dev/null || echo '?')"
    echo "rounds: $rounds, secs per row: $secs, sizes: $sizes${cpu:+, taskset -c $cpu}"
} > "$out/meta.txt"

# --- build ----------------------------------------------------------------
log "building the e4-rs harness (cargo build --release -p e4-benches --example peers)"
(cd "$root" && cargo build --release -q -p e4-benches --example peers)
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
cp "$target/release/examples/peers" "$work/bin/e4rs-bench"

if [ -n "$e4go" ]; then
    log "building the e4go harness against $e4go (GOPROXY=off)"
    command -v go > /dev/null || { echo "go not found (apt-get install golang-go, or go.dev/dl)" >&2; exit 1; }
    [ -f "$e4go/go.mod" ] || { echo "$e4go/go.mod not found: not an e4go checkout" >&2; exit 1; }
    mkdir -p "$work/e4go"
    cp "$here/e4go/main.go" "$work/e4go/"
    # e4go's go.sum: the module cache is checked against the hashes e4go pins.
    [ ! -f "$e4go/go.sum" ] || cp "$e4go/go.sum" "$work/e4go/"
    cat > "$work/e4go/go.mod" <<EOF
module e4peers.invalid/e4gobench

go 1.12

require github.com/teserakt-io/e4go v1.1.0

replace github.com/teserakt-io/e4go => $e4go
EOF
    if ! (cd "$work/e4go" && GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
        go build -o "$work/bin/e4go-bench" . 2> "$out/e4go-build.log"); then
        cat "$out/e4go-build.log" >&2
        echo "The e4go harness did not build. Its module dependencies must be in the Go module" >&2
        echo "cache ($(go env GOMODCACHE)); while online, once: (cd $e4go && go mod download)" >&2
        exit 1
    fi
    {
        echo "e4go: $(git -C "$e4go" describe --tags --always --dirty 2>/dev/null || echo "$e4go")"
        echo "go: $(go version)"
        echo "e4go modules: $(cd "$work/e4go" && GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
            go list -deps -f '{{with .Module}}{{.Path}}@{{.Version}}{{end}}' . | sort -u | grep -v '^e4peers' | tr '\n' ' ')"
    } >> "$out/meta.txt"
fi

if [ -n "$libe4" ]; then
    cc=${CC:-cc}
    cflags=${LIBE4_CFLAGS:--O2}
    for conf in symkey pubkey; do
        log "building libe4 CONF=$conf STORE=mem E4_CFLAGS=$cflags from $libe4 (objects in a temporary directory)"
        b=$work/libe4/$conf
        if ! make -C "$libe4" CC="$cc" CONF=$conf STORE=mem E4_CFLAGS="$cflags" \
            E4_OUTPUT_DIR="$b/out" OBJDIR="$b/obj" TESTOBJDIR="$b/testobj" \
            > "$out/libe4-$conf-build.log" 2>&1; then
            cat "$out/libe4-$conf-build.log" >&2
            exit 1
        fi
        # shellcheck disable=SC2086
        "$cc" $cflags -std=c99 -Wall -I"$b/out/include" "$here/libe4/bench.c" "$b/out/lib/libe4.a" \
            -o "$work/bin/libe4-$conf-bench"
    done
    {
        echo "libe4: $(git -C "$libe4" describe --tags --always --dirty 2>/dev/null || echo "$libe4")"
        echo "cc: $("$cc" --version | head -1), libe4 and harness built with $cflags"
    } >> "$out/meta.txt"
fi

# --- rounds ---------------------------------------------------------------
libs=()
[ -z "$e4go" ] || libs+=(e4go)
[ -z "$libe4" ] || libs+=(libe4)
libs+=(e4-rs)
pin=()
[ -z "$cpu" ] || pin=(taskset -c "$cpu")

run_lib() { # lib round
    local f="$out/raw/round$(printf %02d "$2")-$1.txt"
    case "$1" in
    e4go) ${pin[@]+"${pin[@]}"} "$work/bin/e4go-bench" "${harness_args[@]}" > "$f" ;;
    libe4)
        ${pin[@]+"${pin[@]}"} "$work/bin/libe4-symkey-bench" "${harness_args[@]}" > "$f"
        ${pin[@]+"${pin[@]}"} "$work/bin/libe4-pubkey-bench" "${harness_args[@]}" >> "$f"
        ;;
    e4-rs) ${pin[@]+"${pin[@]}"} "$work/bin/e4rs-bench" "${harness_args[@]}" > "$f" ;;
    esac
    awk -v r="$2" -F'\t' '$1 == "RESULT" { print r "\t" $2 "\t" $3 "\t" $4 "\t" $5 }' "$f" >> "$out/results.tsv"
}

mkdir -p "$out/raw"
printf 'round\tlib\top\tsize\tops_per_s\n' > "$out/results.tsv"
echo "before: $(uptime)" > "$out/load.txt"
log "load before: $(uptime)"
for ((r = 1; r <= rounds; r++)); do
    order=()
    for ((i = 0; i < ${#libs[@]}; i++)); do
        order+=("${libs[$(((r - 1 + i) % ${#libs[@]}))]}")
    done
    log "round $r/$rounds: ${order[*]}"
    for lib in "${order[@]}"; do
        run_lib "$lib" "$r"
    done
done
echo "after: $(uptime)" >> "$out/load.txt"
log "load after: $(uptime)"

python3 "$here/summarize.py" "$out" | tee "$out/summary.md"
log "raw results, build logs and summary in $out"
