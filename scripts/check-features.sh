#!/usr/bin/env bash
# Backend feature isolation: a symmetric-only build compiles no dalek and no
# pqcrypto code, each backend builds alone, and no backend is a compile error.
set -euo pipefail
cd "$(dirname "$0")/.."

tree=$(cargo tree -p e4-backends --no-default-features --features symmetric -e features,normal)
if echo "$tree" | grep -Eq 'dalek|pqcrypto'; then
  echo "FAIL: a symmetric-only build pulls dalek or pqcrypto:"; echo "$tree" | grep -E 'dalek|pqcrypto'; exit 1
fi
echo "ok: symmetric-only build has no dalek/pqcrypto ($(echo "$tree" | wc -l) lines of cargo tree)"

for f in symmetric pubkey pq pq-round3 hybrid; do
  cargo check -q -p e4-backends --no-default-features --features "$f"
  echo "ok: e4-backends builds with only \`$f\`"
done
cargo check -q -p e4-proto --no-default-features
echo "ok: e4-proto builds without std and alloc"

if out=$(cargo check -p e4-backends --no-default-features 2>&1); then
  echo "FAIL: e4-backends with no backend feature compiled"; exit 1
elif echo "$out" | grep -q "enable at least one backend feature"; then
  echo "ok: no backend feature is a clear compile error"
else
  echo "FAIL: unexpected error without backend features:"; echo "$out" | tail -20; exit 1
fi
