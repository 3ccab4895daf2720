#!/usr/bin/env bash
# The provider benchmark behind RESULTS.md's provider section: two rounds of
# benches/benches/providers.rs (each round every provider x suite in turn,
# so the rounds interleave), then benches/providers.py: medians over the
# rounds, with each round's ratio to show the spread. About 14 minutes on 2
# cores; run it on a quiet machine (the load average is recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benches/results
rounds=${ROUNDS:-2}
args=(--warm-up-time 0.5 --measurement-time 2 --noplot)
cargo bench -p e4-benches --bench providers --no-run
{ echo "before: $(uptime)"; } > benches/results/providers-load.txt
dirs=()
for r in $(seq 1 "$rounds"); do
  dir="$PWD/target/criterion-providers-$r"
  CRITERION_HOME="$dir" cargo bench -p e4-benches --bench providers -- "${args[@]}"
  echo "after round $r: $(uptime)" >> benches/results/providers-load.txt
  dirs+=("$dir")
done
python3 benches/providers.py "${dirs[@]}"
