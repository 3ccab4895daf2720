#!/usr/bin/env bash
# Replay every known-answer vector with every crypto provider compiled in:
#   * the interoperability vectors (vectors/interop: e4go's, libe4's AES-SIV
#     known answers, and our e4go-behaviour cases) with rustcrypto, pqclean
#     and libcrux (symmetric and public-key cases alike: nothing may be
#     skipped), and with small (its symmetric suite: only the public-key
#     cases may be skipped);
#   * our own KATs (vectors/kat/<suite>.jsonl) with every provider that has
#     the suite (nothing may be skipped);
#   * `generate` must reproduce vectors/kat byte for byte;
#   * an unknown provider must be refused with the list of compiled ones.
# Usage: bash scripts/check-vectors.sh   (from anywhere; builds e4-vectors in release)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p e4-vectors
bin=./target/release/e4-vectors
e4go=(vectors/interop/e4go/*.jsonl vectors/interop/libe4/*.jsonl)
behaviours=vectors/interop/e4rs-e4go-behaviours.jsonl
log=$(mktemp)
trap 'rm -rf "$log" "$log.kat"' EXIT

# `check` output, and the skip reasons must be only those allowed.
run() { # allowed-skip-regex args...
    local allowed=$1
    shift
    "$bin" check "$@" | tee "$log"
    if grep '^  skipped' "$log" | grep -Ev "$allowed" >&2; then
        echo "check-vectors: unexpected skips above ($*)" >&2
        return 1
    fi
}

echo "== providers compiled in"
"$bin" providers

for p in rustcrypto pqclean libcrux; do
    echo "== $p: e4go and libe4 vectors, e4go behaviours"
    "$bin" check --provider "$p" --no-skip "${e4go[@]}" "$behaviours"
done
echo "== small: e4go and libe4 vectors, e4go behaviours (symmetric suite only)"
run 'suite pubkey is not in provider small' --provider small "${e4go[@]}" "$behaviours"

# Our KATs: each provider replays the files of the suites it has.
"$bin" providers | while read -r name suites; do
    suites=${suites%%(default)*}
    files=()
    for s in ${suites//,/ }; do
        if [ -f "vectors/kat/$s.jsonl" ]; then files+=("vectors/kat/$s.jsonl"); fi
    done
    echo "== $name: own KATs (${files[*]})"
    "$bin" check --provider "$name" --no-skip "${files[@]}"
done

echo "== generate reproduces vectors/kat byte for byte"
"$bin" generate "$log.kat" > /dev/null
for f in vectors/kat/*.jsonl; do
    cmp "$f" "$log.kat/$(basename "$f")"
done
[ "$(ls "$log.kat" | wc -l)" = "$(ls vectors/kat/*.jsonl | wc -l)" ]

echo "== an unknown provider is refused, naming the compiled ones"
if "$bin" check --provider no-such-provider "$behaviours" 2> "$log"; then
    echo "check-vectors: --provider no-such-provider was accepted" >&2
    exit 1
fi
grep -q 'this build has: .*rustcrypto' "$log" || { cat "$log" >&2; exit 1; }

echo "check-vectors: all providers passed"
