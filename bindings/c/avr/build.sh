#!/bin/sh
# The C library's symmetric mode for the ATmega2560: builds e4-ffi without
# `std` (features small, small-storage) as libe4.a for avr-none, links
# harness.c against it with avr-gcc, runs it in simavr (round trip and
# error checks, cycles and stack of protect/unprotect of 64 bytes) and
# prints avr-size of the client-only firmware. See bindings/c/README.md
# ("The ATmega2560 build").
#
# Needs gcc-avr, avr-libc, simavr, rustc-web, cargo-web and rust-web-src
# (Debian 12; benches/avr/run.sh installs them as root). Uses Debian's
# /usr/bin/cargo with RUSTC_BOOTSTRAP=1 for -Z build-std=core and its own
# target directory, target/avr-ffi; the host build is left alone.
# Output in target/avr-ffi/fw: libe4.a, the ELF files, harness.log.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
MCU=atmega2560
F_CPU=16000000
TARGET_DIR="$ROOT/target/avr-ffi"
OUT="$TARGET_DIR/fw"
mkdir -p "$OUT"

for tool in /usr/bin/cargo avr-gcc avr-size simavr; do
    command -v "$tool" >/dev/null || {
        echo "build.sh: $tool missing (apt-get install rustc-web cargo-web rust-web-src gcc-avr avr-libc simavr)" >&2
        exit 1
    }
done

# 1. libe4.a: no_std, the byte-oriented backend, 4-topic storage; the
#    release profile of the AVR bench (opt-level s, fat LTO, abort).
echo "== cargo (avr-none): e4-ffi --no-default-features --features small,small-storage"
cd "$ROOT"
env PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-C target-cpu=$MCU -C llvm-args=-pre-RA-sched=source" \
    CARGO_TARGET_DIR="$TARGET_DIR" \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    /usr/bin/cargo rustc -q -p e4-ffi --lib --release --crate-type staticlib \
    --no-default-features --features small,small-storage \
    -Z build-std=core --target avr-none
cp "$TARGET_DIR/avr-none/release/libe4.a" "$OUT/libe4.a"

# 2. link: avr-libc's memcpy/memset/memmove (as benches/avr), gc-sections.
CFLAGS="-mmcu=$MCU -Os -std=gnu99 -Wall -ffunction-sections -fdata-sections -Wl,--gc-sections -DE4_SMALL_STORAGE -I$ROOT/bindings/c/include"
LIBC="-Wl,-u,memcpy,-u,memset,-u,memmove -lc"
echo "== avr-gcc: harness.c (checks, timing) and -DE4_MINIMAL (the client alone)"
avr-gcc $CFLAGS -o "$OUT/harness.elf" "$HERE/harness.c" $LIBC "$OUT/libe4.a"
avr-gcc $CFLAGS -DE4_MINIMAL -o "$OUT/client.elf" "$HERE/harness.c" $LIBC "$OUT/libe4.a"

# 3. run
echo "== simavr -m $MCU -f $F_CPU harness.elf"
timeout 300 simavr -m "$MCU" -f "$F_CPU" "$OUT/harness.elf" 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' | tr -d '\r' | sed 's/\.$//' \
    | grep -a -E '^(R|I|OK|FAIL)( |$)' >"$OUT/harness.log" || true
cat "$OUT/harness.log"

# 4. sizes of the client-only firmware
echo "== avr-size (client only: -DE4_MINIMAL)"
avr-size "$OUT/client.elf"
avr-size "$OUT/client.elf" | awk 'NR == 2 {
    printf "flash %d B (text %d + data %d), static RAM %d B (data %d + bss %d)\n",
        $1 + $2, $1, $2, $2 + $3, $2, $3 }'

grep -q '^OK$' "$OUT/harness.log" || {
    echo "build.sh: the firmware's checks failed (see $OUT/harness.log)" >&2
    exit 1
}
