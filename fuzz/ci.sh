#!/usr/bin/env bash
# CI's fuzzing step: replay every regression input, then run each target for
# 60 s (FUZZ_SECONDS), one after the other, WITHOUT a sanitizer (`-s none`:
# about 8x more executions per second than AddressSanitizer, and the fuzzed
# code is unsafe-free Rust; the AddressSanitizer runs are part of the
# campaigns recorded in CAMPAIGN.md). Any crash or oracle failure fails the
# step; the input is left in fuzz/artifacts/<target>/.
#
# Time: 4 targets x 60 s = 4 min of fuzzing, plus the build of the fuzz
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

for t in "${targets[@]}"; do
    # 1. regression inputs: each must run clean (runs each file once)
    if compgen -G "regressions/$t/*" >/dev/null; then
        echo "== $t: replaying regressions/$t"
        cargo "${toolchain[@]}" fuzz run -s none "$t" regressions/"$t"/*
    fi
    # 2. fuzz for $seconds, seeded with the corpus (git-ignored, kept if CI
    #    caches it) and the regression inputs
    echo "== $t: fuzzing ${seconds} s without sanitizer"
    mkdir -p "corpus/$t"
    seeds=("corpus/$t")
    [ -d "regressions/$t" ] && seeds+=("regressions/$t")
    start=$(date +%s)
    log="$(mktemp)"
    # shellcheck disable=SC2046
    if cargo "${toolchain[@]}" fuzz run -s none "$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" $(max_len "$t") -print_final_stats=1 >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    grep -a -E '^(Done [0-9]+ runs|stat::number_of_executed_units)' "$log" || true
    echo "== $t: exit $rc after $(($(date +%s) - start)) s"
    if [ "$rc" -ne 0 ]; then
        tail -n 80 "$log"
        echo "== $t FAILED: the input is in fuzz/artifacts/$t/" >&2
        rm -f "$log"
        exit "$rc"
    fi
    rm -f "$log"
done
echo "== fuzz: all targets clean"
