#!/usr/bin/env bash
# The C library (bindings/c, crate e4-ffi): builds the static library and the
# `e4` tool, compiles the C tests and the libe4 example with gcc under
# AddressSanitizer (and UBSan), runs them, and checks that the example and
# `e4` read each other's messages (symmetric and public-key, both ways).
# Installs gcc (Debian package) if missing. Works with any CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v gcc >/dev/null 2>&1; then
  echo "== installing gcc (Debian package)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gcc libc6-dev >/dev/null
fi

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== build libe4.a (e4-ffi) and e4"
# The e4 tool with the suites the interop uses and the RustCrypto provider
# only (no PQClean or libcrux to compile): a clean build takes half the time.
# scripts/test.sh has built the whole workspace already (E4_WORKSPACE_BUILT=1):
# its libe4.a and e4 are used as they are.
if [ "${E4_WORKSPACE_BUILT:-0}" != 1 ]; then
  cargo build -p e4-ffi -p e4-client --lib --bin e4 --no-default-features \
    --features e4-ffi/std,e4-client/cli,e4-client/symmetric,e4-client/pubkey,e4-client/rustcrypto
fi
LIB="$TARGET/debug/libe4.a"
E4="$TARGET/debug/e4"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

CFLAGS=(-std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined
        -fno-omit-frame-pointer -fno-sanitize-recover=all)
LIBS=(-lm -lpthread -ldl -Wl,-z,noexecstack)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== C tests (gcc, AddressSanitizer)"
for t in bindings/c/tests/*.c; do
  name="$(basename "$t" .c)"
  gcc "${CFLAGS[@]}" -Ibindings/c/include -Ibindings/c/tests "$t" "$LIB" "${LIBS[@]}" -o "$OUT/$name"
  "$OUT/$name"
done

echo "== example: a libe4 program against e4-rs's header, with e4"
gcc "${CFLAGS[@]}" -Ibindings/c/include bindings/c/examples/libe4_client.c "$LIB" "${LIBS[@]}" \
  -o "$OUT/libe4_client"
EX="$OUT/libe4_client"
TK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# RFC 8032 test keys 1 and 2 (seed, then public key) and RFC 7748's Alice
SEED_A=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
PK_A=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
SEED_B=4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb
PK_B=3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
C2=8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a
check() { # name expected actual-file
  if [ "$(cat "$3")" != "$2" ]; then echo "FAIL: $1: got '$(cat "$3")'" >&2; exit 1; fi
  echo "ok: $1"
}
printf '21.5 C' | "$EX" protect sym sensors/t $TK > "$OUT/m1"
"$E4" unprotect --topic sensors/t --topic-key $TK < "$OUT/m1" > "$OUT/p1"
check "symmetric: C protects, e4 unprotects" "21.5 C" "$OUT/p1"
printf '22.5 C' | "$E4" protect --topic sensors/t --topic-key $TK > "$OUT/m2"
"$EX" unprotect sym sensors/t $TK < "$OUT/m2" > "$OUT/p2"
check "symmetric: e4 protects, C unprotects" "22.5 C" "$OUT/p2"
printf '1234 kWh' | "$EX" protect pubkey meters/1 $TK meter-a $SEED_A$PK_A $C2 > "$OUT/m3"
"$E4" unprotect --suite pubkey --topic meters/1 --topic-key $TK --sender-key $PK_A \
  --sender-name meter-a < "$OUT/m3" > "$OUT/p3"
check "pubkey: C protects, e4 unprotects" "1234 kWh" "$OUT/p3"
printf '1235 kWh' | "$E4" protect --suite pubkey --topic meters/1 --topic-key $TK \
  --signing-key $SEED_B$PK_B --name meter-b > "$OUT/m4"
"$EX" unprotect pubkey meters/1 $TK meter-a $SEED_A$PK_A $C2 meter-b $PK_B < "$OUT/m4" > "$OUT/p4"
check "pubkey: e4 protects, C unprotects" "1235 kWh" "$OUT/p4"
# and a modified message is refused by both
printf 'x' | dd of="$OUT/m2" bs=1 seek=30 conv=notrunc status=none
if "$EX" unprotect sym sensors/t $TK < "$OUT/m2" >/dev/null 2>&1; then
  echo "FAIL: a modified message was accepted" >&2; exit 1
fi
echo "ok: a modified message is refused"
echo "== C library: all passed"
