#!/usr/bin/env bash
# Suites and providers are cargo features: check that a build carries
# exactly the crypto it asks for.
#  * the integrator's rows of the README (an 8-bit symmetric device, a
#    Linux gateway with post-quantum, a C2): what `cargo tree -e normal`
#    shows for each;
#  * every provider builds alone with the suites it offers, and every suite
#    alone with a provider;
#  * e4-proto builds without std and alloc; the rustcrypto and libcrux
#    providers build their post-quantum suites without std for a Cortex-M4F
#    (thumbv7em-none-eabihf), with Debian's rustc-web and its library source
#    (installed when missing, as for the AVR bench);
#  * no suite, or no provider, is a clear compile error.
set -euo pipefail
cd "$(dirname "$0")/.."

# deny PACKAGE FEATURES PATTERN WHAT: the normal dependency tree of PACKAGE
# built with FEATURES has no crate matching PATTERN.
deny() {
  local pkg=$1 features=$2 pattern=$3 what=$4
  local tree
  tree=$(cargo tree -p "$pkg" --no-default-features --features "$features" -e normal --prefix none)
  if echo "$tree" | grep -Eq "$pattern"; then
    echo "FAIL: $what ($pkg, features $features) pulls:"; echo "$tree" | grep -E "$pattern" | sort -u; exit 1
  fi
  echo "ok: $what: no ${pattern//|/, } ($pkg --no-default-features --features $features)"
}

# The README's integrator table.
deny e4-backends symmetric,small 'dalek|pqcrypto|libcrux|^ml-kem |^ml-dsa |^aes |^sha3 ' "8-bit symmetric device"
deny e4-client symmetric,rustcrypto 'dalek|pqcrypto|libcrux' "symmetric device with an OS"
deny e4-client mqtt,symmetric,pubkey,pq,hybrid,pqclean 'libcrux|^ml-kem |^ml-dsa ' "Linux gateway with post-quantum (pqclean)"
deny e4-client mqtt,symmetric,pubkey,pq,hybrid,libcrux 'pqcrypto|^ml-kem |^ml-dsa ' "Linux gateway with post-quantum (libcrux)"
deny e4-c2 symmetric,pubkey,pq,pq-round3,hybrid,pqclean 'libcrux|^ml-kem |^ml-dsa ' "C2 on pqclean"

# Every provider alone, with its suites; every suite alone.
for spec in \
  "rustcrypto:symmetric,pubkey,pq,hybrid" \
  "pqclean:symmetric,pubkey,pq,pq-round3,hybrid" \
  "libcrux:symmetric,pubkey,pq,hybrid" \
  "small:symmetric"; do
  provider=${spec%%:*}; suites=${spec#*:}
  cargo check -q -p e4-backends --no-default-features --features "$suites,$provider"
  echo "ok: e4-backends builds with only the provider \`$provider\` ($suites)"
  # The conformance matrix of e4-testkit with that provider alone (its
  # guard test fails if the matrix differs from what e4-backends compiled).
  cargo test -q -p e4-testkit --no-default-features --features "$suites,$provider" 2>&1 \
    | grep -E "^test result" | sed "s/^/  $provider: /"
  echo "ok: the conformance suite passes with only the provider \`$provider\`"
done
for suite in symmetric pubkey pq hybrid; do
  cargo check -q -p e4-backends --no-default-features --features "$suite,rustcrypto"
  echo "ok: e4-backends builds with only the suite \`$suite\` (rustcrypto)"
done
cargo check -q -p e4-backends --no-default-features --features "pq-round3,pqclean"
echo "ok: e4-backends builds with only the suite \`pq-round3\` (pqclean)"
cargo check -q -p e4-client --no-default-features --features "symmetric,rustcrypto"
echo "ok: e4-client builds with default-features = false (symmetric, rustcrypto)"
cargo check -q -p e4-c2 --no-default-features --features "symmetric,pubkey,pq,hybrid,libcrux"
echo "ok: e4-c2 builds with default-features = false (libcrux)"
cargo check -q -p e4-proto --no-default-features
echo "ok: e4-proto builds without std and alloc"

# Clear errors for an empty choice.
expect_error() {
  local features=$1 message=$2 out
  if out=$(cargo check -p e4-backends --no-default-features ${features:+--features "$features"} 2>&1); then
    echo "FAIL: e4-backends compiled with features '$features'"; exit 1
  elif echo "$out" | grep -q "$message"; then
    echo "ok: features '$features' stop with: $message"
  else
    echo "FAIL: unexpected error with features '$features':"; echo "$out" | tail -20; exit 1
  fi
}
expect_error "" "enable at least one suite feature"
expect_error "symmetric" "enable at least one provider feature"
expect_error "pq,small" "the \`pq\` suite needs a provider"
expect_error "pq-round3,rustcrypto" "needs the \`pqclean\` provider"

# Post-quantum without std, for a Cortex-M4F.
if ! { [ -x /usr/bin/cargo ] && /usr/bin/rustc --version 2>/dev/null | grep -q . && [ -d /usr/lib/rustlib/src/rust/library ]; }; then
  echo "== installing Debian's rustc-web and its library source (no_std builds for other targets)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src >/dev/null
fi
for provider in rustcrypto libcrux; do
  PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/thumbv7em \
    /usr/bin/cargo build -q -p e4-backends --no-default-features \
    --features "symmetric,pubkey,pq,hybrid,$provider" \
    --target thumbv7em-none-eabihf -Z build-std=core,alloc
  echo "ok: the $provider provider builds pq and hybrid without std for thumbv7em-none-eabihf"
done
