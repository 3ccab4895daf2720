#!/usr/bin/env bash
# CI smoke run of every benchmark: each one runs for a few milliseconds, so
# that the benchmarks keep compiling and running; no timing is asserted.
# Criterion's output goes to target/criterion-smoke, leaving the results of
# a real run (target/criterion, see RESULTS.md) alone.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p e4-benches --no-run
export CRITERION_HOME="$PWD/target/criterion-smoke"
start=$(date +%s)
cargo bench -p e4-benches -- \
  --warm-up-time 0.01 --measurement-time 0.02 --sample-size 10 --nresamples 1000 --noplot
echo "benchmark smoke run: every benchmark ran, in $(( $(date +%s) - start )) s"
