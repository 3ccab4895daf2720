#!/bin/sh
# E4 AVR bench: builds the symmetric-mode client (e4-proto + e4-backends,
# no_std, no heap) for an ATmega2560, runs it in simavr and prints cycles,
# flash and RAM; writes the table to results.txt. See README.md.
#
# Run as root on Debian 12 (it installs gcc-avr, avr-libc, simavr,
# rustc-web, cargo-web and rust-web-src when missing). Idempotent. The AVR
# build uses Debian's /usr/bin/cargo with RUSTC_BOOTSTRAP=1 (for
# -Z build-std=core) and its own target directory, benches/avr/target; the
# host workspace and its toolchain are left alone.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
START=$(date +%s)
TARGET_DIR="$HERE/target/avr"
BUILD="$HERE/build"
MCU=atmega2560
F_CPU=16000000

# --- 1. packages -----------------------------------------------------------
PKGS="gcc-avr avr-libc simavr rustc-web cargo-web rust-web-src"
MISSING=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || MISSING="$MISSING $p"
done
if [ -n "$MISSING" ]; then
    echo "== installing:$MISSING"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y $MISSING
fi

# --- 2. host check of the known answers (stable rustup cargo, if any) ----
HOST_CARGO=""
if [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    HOST_CARGO="${CARGO_HOME:-$HOME/.cargo}/bin/cargo"
fi
if [ -n "$HOST_CARGO" ]; then
    echo "== host: known answers of the bench (rustup cargo)"
    CARGO_TARGET_DIR="$HERE/target/host" "$HOST_CARGO" test -q --offline 2>/dev/null \
        || CARGO_TARGET_DIR="$HERE/target/host" "$HOST_CARGO" test -q
else
    echo "== host: no rustup cargo, skipping the host check of the known answers"
fi

# --- 3. AVR builds and runs ------------------------------------------------
mkdir -p "$BUILD"
CFLAGS="-mmcu=$MCU -Os -ffunction-sections -fdata-sections -Wl,--gc-sections"
# LLVM's default pre-RA scheduler for AVR (register pressure, "list-burr")
# hoists the loads of a whole lane or column ahead of their uses and spills
# them; the small backend's kernels are written in the order they should
# run, and the "source" scheduler keeps it (README, "Build flags"). The
# RustCrypto build keeps the default, which suits its 32-bit code better.
# memcpy, memset and memmove from avr-libc (assembly, 70 bytes in all)
# rather than compiler_builtins' generic ones (1.2 KB, slower): avr-libc
# is searched first for them.
LIBC="-Wl,-u,memcpy,-u,memset,-u,memmove -lc"
FLAGS_small="-C target-cpu=$MCU -C llvm-args=-pre-RA-sched=source"
FLAGS_rustcrypto="-C target-cpu=$MCU"

# build NAME [cargo features...]
build() {
    name=$1
    shift
    echo "== AVR build: $name"
    env PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 \
        RUSTFLAGS="$(eval echo \"\$FLAGS_$name\")" CARGO_TARGET_DIR="$TARGET_DIR" \
        /usr/bin/cargo build -q --release -Z build-std=core --target avr-none "$@"
    cp "$TARGET_DIR/avr-none/release/libe4_avr_bench.a" "$BUILD/lib$name.a"
    # The bench firmware (timing, printing) and the client alone (flash).
    avr-gcc $CFLAGS -o "$BUILD/$name.elf" harness.c $LIBC "$BUILD/lib$name.a"
    avr-gcc $CFLAGS -DE4B_MINIMAL -o "$BUILD/$name-client.elf" harness.c $LIBC "$BUILD/lib$name.a"
    echo "== simavr: $name"
    timeout 600 simavr -m "$MCU" -f "$F_CPU" "$BUILD/$name.elf" 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' | tr -d '\r' | sed 's/\.$//' \
        | grep -a '^[RI] ' >"$BUILD/$name.log" || true
    cat "$BUILD/$name.log"
    grep -q '^I done 1' "$BUILD/$name.log" || {
        echo "!! $name: the firmware did not finish (see $BUILD/$name.log)"
    }
}

build small
build rustcrypto --features rustcrypto

# --- 4. table -------------------------------------------------------------
# field NAME LOG COLUMN: column 4 (cycles) or 5 (stack) of record R NAME
field() {
    awk -v n="$1" -v c="$3" '$1 == "R" && $2 == n { print $c }' "$BUILD/$2.log"
}
status() {
    awk -v n="$1" '$1 == "R" && $2 == n { print ($3 == 0 ? "ok" : "FAIL(" $3 ")") }' "$BUILD/$2.log"
}
info() {
    awk -v n="$1" '$1 == "I" && $2 == n { print $3 }' "$BUILD/$2.log"
}
# sizes NAME: text data bss of the client-only firmware
sizes() {
    avr-size "$BUILD/$1-client.elf" | awk 'NR == 2 { print $1, $2, $3 }'
}

ROWS="topic_hash siv_prepare protect_hashed unprotect_hashed protect_uncached unprotect_uncached protect unprotect aes256_block aes256_key_schedule keccak_f1600"
RUSTC_VER=$(/usr/bin/rustc --version)
OUT="$BUILD/results.txt"
{
    echo "E4 symmetric client on an ATmega2560 (simavr, $F_CPU Hz), $(date -u +%Y-%m-%d)"
    echo "compiler: $RUSTC_VER, opt-level \"s\", fat LTO, panic=abort; avr-gcc $(avr-gcc -dumpversion)"
    echo "RUSTFLAGS: small: $FLAGS_small; rustcrypto: $FLAGS_rustcrypto"
    echo "client: Client<FixedStore<4, 0>, FixedClock, 0> ($(info client_size small) bytes), 64-byte payload, topic \"sensors/temperature\""
    echo
    printf '%-24s %12s %7s %12s %7s   %s\n' "cycles (peak stack B)" "small" "" "rustcrypto" "" "reference"
    for r in $ROWS; do
        case $r in
            topic_hash) ref="libe4 144000" ;;
            protect_hashed | unprotect_hashed) ref="libe4 84000; target < 84000" ;;
            siv_prepare) ref="first message under a key" ;;
            protect_uncached | unprotect_uncached) ref="key prepared on every call" ;;
            aes256_block) ref="libe4 5560; asm 2750-2975" ;;
            keccak_f1600) ref="libe4 146000; asm 142000; target <= 150000" ;;
            *) ref="" ;;
        esac
        printf '%-24s %12s %7s %12s %7s   %s\n' "$r" \
            "$(field $r small 4)" "($(field $r small 5))" \
            "$(field $r rustcrypto 4)" "($(field $r rustcrypto 5))" "$ref"
    done
    echo
    for b in small rustcrypto; do
        set -- $(sizes $b)
        text=$1 data=$2 bss=$3
        stack=$(field protect_hashed $b 5)
        # The deepest stack of the client's operations (hash, protect,
        # unprotect, with and without the topic string).
        worst=0
        for r in topic_hash protect_hashed unprotect_hashed protect unprotect; do
            v=$(field $r $b 5)
            [ "$v" -gt "$worst" ] && worst=$v
        done
        echo "$b: flash $((text + data)) B (text $text + data $data) for the client alone;" \
            "static RAM $((data + bss)) B (data $data + bss $bss);" \
            "with protect_hashed's peak stack $stack B: $((data + bss + stack)) B;" \
            "with the deepest operation's ($worst B): $((data + bss + worst)) B" \
            "(target: flash < 20000, RAM < 2048)"
    done
    echo
    printf 'checks (known answers, round trips): small'
    for r in $ROWS; do printf ' %s' "$(status $r small)"; done
    printf '\n                                      rustcrypto'
    for r in $ROWS; do printf ' %s' "$(status $r rustcrypto)"; done
    echo
    echo "stack arguments read correctly by this compiler on the ATmega2560:" \
        "$( [ "$(info stack_args_broken small)" = 0 ] && echo yes || echo 'NO (LLVM assumes a 2-byte return address; see README)')"
} >"$OUT"

cp "$OUT" "$HERE/results.txt"
echo
cat "$HERE/results.txt"
echo
echo "run.sh took $(($(date +%s) - START)) s"
