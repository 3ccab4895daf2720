#!/usr/bin/env bash
# The full benchmark run behind RESULTS.md (about 15 minutes on 2 cores):
# every benchmark with the default build (run-time AES-NI detection), the
# symmetric ones again with AES-NI enabled at compile time, the
# minimum-of-many-runs table (robust to a busy machine), then the plots.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benches/results
lscpu > benches/results/lscpu.txt
uptime > benches/results/load.txt
args=(--warm-up-time 1 --measurement-time 3 --noplot)

cargo bench -p e4-benches -- "${args[@]}"
cargo run --release -p e4-benches --example quick > benches/results/quick-runtime-detection.txt

export RUSTFLAGS="-C target-feature=+aes,+ssse3" CARGO_TARGET_DIR="$PWD/target/aesni"
CRITERION_HOME="$PWD/target/criterion-aesni" \
  cargo bench -p e4-benches --bench siv --bench messages -- "${args[@]}" symmetric\|siv_
cargo run --release -p e4-benches --example quick > benches/results/quick-aesni.txt
unset RUSTFLAGS CARGO_TARGET_DIR
uptime >> benches/results/load.txt

for c in aes-256-cbc aes-256-ctr; do
  openssl speed -seconds 2 -evp "$c" 2>/dev/null | tail -1
done > benches/results/openssl-speed.txt
python3 benches/plot.py
