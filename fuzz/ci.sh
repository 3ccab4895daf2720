#!/usr/bin/env bash
# CI's fuzzing step: replay every regression input, then run each target for
# 60 s (FUZZ_SECONDS), one after the other, WITHOUT a sanitizer (`-s none`:
# about 8x more executions per second than AddressSanitizer, and the fuzzed
# code is unsafe-free Rust; the AddressSanitizer runs are part of the
# campaigns recorded in CAMPAIGN.md). Any crash or oracle failure fails the
# step; the input is left in fuzz/artifacts/<target>/.
#
# Time: 4 targets x 60 s, two at a time on two cores = 2 min of fuzzing
# (FUZZ_PARALLEL sets how many at once), plus the build of the fuzz
# crate (about 2.5 min of one core from a cold fuzz/target, seconds when
# cached) and cargo-fuzz's installation if it is missing (about 1 min).
#
#   bash fuzz/ci.sh            # from the repository root or from fuzz/
#   FUZZ_SECONDS=10 bash fuzz/ci.sh
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=(unprotect_message unprotect_command command_parse negotiation)

if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    cargo install cargo-fuzz --locked
fi
export PATH="$HOME/.cargo/bin:$PATH"

# Nightly when installed (what the campaigns used); `-s none` also builds on
# stable.
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
fi

max_len() {
    case "$1" in
        command_parse) ;;
        *) echo "-max_len=8192" ;; # post-quantum messages and command envelopes
    esac
}

cargo "${toolchain[@]}" fuzz build -s none

# 1. regression inputs: each must run clean (runs each file once)
for t in "${targets[@]}"; do
    if compgen -G "regressions/$t/*" >/dev/null; then
        echo "== $t: replaying regressions/$t"
        cargo "${toolchain[@]}" fuzz run -s none "$t" regressions/"$t"/*
    fi
done

# 2. fuzz each target for $seconds, seeded with the corpus (git-ignored,
#    kept if CI caches it) and the regression inputs; as many targets at a
#    time as there are cores (FUZZ_PARALLEL), each with its own log.
fuzz_one() {
    local t="$1" log="$2" start rc
    mkdir -p "corpus/$t"
    local seeds=("corpus/$t")
    [ -d "regressions/$t" ] && seeds+=("regressions/$t")
    start=$(date +%s)
    # shellcheck disable=SC2046
    if cargo "${toolchain[@]}" fuzz run -s none "$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" $(max_len "$t") -print_final_stats=1 >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    echo "$rc $(($(date +%s) - start))" >"$log.rc"
}
parallel="${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=0
for ((i = 0; i < ${#targets[@]}; i += parallel)); do
    batch=("${targets[@]:i:parallel}")
    for t in "${batch[@]}"; do
        echo "== $t: fuzzing ${seconds} s without sanitizer"
        fuzz_one "$t" "$logs/$t" &
    done
    wait
    for t in "${batch[@]}"; do
        read -r rc took <"$logs/$t.rc"
        grep -a -E '^(Done [0-9]+ runs|stat::number_of_executed_units)' "$logs/$t" || true
        echo "== $t: exit $rc after $took s"
        if [ "$rc" -ne 0 ]; then
            tail -n 80 "$logs/$t"
            echo "== $t FAILED: the input is in fuzz/artifacts/$t/" >&2
            failed=1
        fi
    done
done
[ "$failed" -eq 0 ] || exit 1
echo "== fuzz: all targets clean"
