#!/usr/bin/env bash
# The performance issue's targets in one interleaved run: R rounds, each
# running the one-message AES-SIV limit (openssl speed, AES-256-CBC and
# -CTR at 16 KiB), the client's protect/unprotect (symmetric with the topic
# hash given and as a string, public-key, hybrid), raw prepared AES-SIV at
# 16 KiB, and Ed25519 verification one by one / kept decoded / batched.
# Then benches/targets.py prints medians, the rounds' spread and verdicts.
#
#   bash benches/targets.sh [ROUNDS=3] [MEASUREMENT_SECONDS=2]
#
# Stop other work first: the load average before and after is recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-2}
out=target/targets
rm -rf "$out"
mkdir -p "$out"
cargo bench -p e4-benches --bench messages --bench siv --bench verify_batch --no-run 2>&1 | tail -1
uptime | tee "$out/load.txt"
args=(--warm-up-time 0.5 --measurement-time "$secs" --noplot)
for r in $(seq 1 "$rounds"); do
  echo "== round $r of $rounds"
  for c in aes-256-cbc aes-256-ctr; do
    openssl speed -seconds 1 -bytes 16384 -evp "$c" 2>/dev/null | tail -1 | sed "s/^/openssl $c /"
  done > "$out/openssl-$r.txt"
  export CRITERION_HOME="$PWD/$out/criterion-$r"
  cargo bench -q -p e4-benches --bench messages -- "${args[@]}" \
    '^(protect|unprotect)/(symmetric|pubkey|hybrid)/(64|16384)$|^(protect|unprotect)/pubkey/(16|1024)$|^(protect|unprotect)_topic_name/symmetric/64$' \
    > "$out/messages-$r.txt" 2>&1
  cargo bench -q -p e4-benches --bench siv -- "${args[@]}" \
    '^siv_(seal/PreparedSiv|open/PreparedSiv_open_to)/16384$' > "$out/siv-$r.txt" 2>&1
  cargo bench -q -p e4-benches --bench verify_batch -- "${args[@]}" > "$out/verify-$r.txt" 2>&1
done
unset CRITERION_HOME
uptime | tee -a "$out/load.txt"
python3 benches/targets.py "$out" "$rounds"
