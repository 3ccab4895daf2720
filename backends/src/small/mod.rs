//! Byte-oriented AES-SIV and SHA3-256 for 8-bit microcontrollers (feature
//! `small`).
//!
//! RustCrypto's `aes` and `sha3` (the [`crate::base`] backends) are written
//! for 32- and 64-bit cores: on an ATmega2560 their AES-256 takes about
//! 46 000 cycles per block (opt-level "s") and 70 KB of flash come with
//! them. This module implements the same primitives with 8-bit operations
//! only:
//!
//! * [`aes8`]: AES-256 encryption (FIPS 197) with the 16-byte state in
//!   registers through the rounds, the S-box as a 256-byte table, three
//!   `xtime` per MixColumns column, the key schedule expanded once per key
//!   (240 bytes);
//! * [`cmac_siv`]: AES-SIV (RFC 5297, S2V with AES-CMAC, CTR with bits 31
//!   and 63 of the counter cleared) with E4's doubled key `K ‖ K`, so a
//!   single key schedule serves both S2V and CTR. What depends on the key
//!   alone (schedule, CMAC subkeys, `dbl(CMAC(0))`) is prepared once:
//!   [`SmallPreparedSiv`] (one key), [`SivCache`] (`N` keys), or
//!   [`SmallSiv`] (prepares on every call);
//! * [`keccak8`]: Keccak-f\[1600\] on bit-interleaved lanes (a 64-bit
//!   rotation becomes a byte permutation and 8-bit rotations) and SHA3-256
//!   on top of it: [`SmallSha3`].
//!
//! Everything is written from FIPS 197, RFC 5297 and FIPS 202; the tables
//! (S-box, Keccak round constants, rotation offsets, π's cycle) are
//! computed by `const fn`s from their definitions at compile time.
//!
//! The code is shaped for LLVM's AVR backend at `opt-level = "s"` (which
//! keeps the flash small but unrolls nothing): loops over the bytes of a
//! block or a lane are unrolled by macros so that they live in registers;
//! addresses more than 63 bytes from a known base are hidden from LLVM
//! (`core::hint::black_box` on an offset or a table) because it would add
//! the offset byte by byte instead of computing a base pointer once;
//! `compiler_fence`s (which emit nothing) keep the loads from one pointer
//! together. It is written to run in source order: `benches/avr` builds it
//! with `-C llvm-args=-pre-RA-sched=source`, which saves 9 % on a seal and
//! 8 % on Keccak (the default scheduler hoists loads and spills them).
//! On an ATmega2560 (simavr, see `benches/avr`): AES-256 about 4 560 cycles
//! per block, Keccak-f\[1600\] about 135 000, sealing 64 bytes under a
//! prepared key about 46 000 (9 blocks).
//!
//! # Side channels
//!
//! **The AES S-box is a table indexed by secret bytes: the backend is
//! constant time only on cores without a data cache**, where every load
//! takes the same number of cycles (AVR, MSP430, Cortex-M0/M0+/M3/M4
//! without cache). On hosts with caches use [`crate::base::AesSiv`]
//! instead (RustCrypto's `aes` crate is bitsliced or uses AES-NI). Apart
//! from the table look-ups the code has no secret-dependent branches or
//! indices: `xtime` is computed with a mask, the SIV check compares every
//! byte, and a prepared key is matched against a call's key over all 32
//! bytes (which cached key a message uses shows in the timing, a miss
//! prepares; the key bytes do not). Branches depend only on lengths and on
//! the counter, which is the public SIV. Keccak has no table indexed by
//! data at all.
//!
//! # Memory
//!
//! Static tables: the 256-byte S-box, Keccak's 24 round-constant bytes and
//! its 25-byte π walk. On AVR, Rust places statics in `.data`, which the
//! start-up code copies to RAM (reading flash needs `lpm`, i.e. assembly,
//! and this crate forbids `unsafe`), so these 305 bytes count against RAM
//! as well as flash (loads from RAM take 2 cycles, `lpm` 3). A prepared
//! key is 289 bytes (kept by the caller, e.g. in a static [`SivCache`]); a
//! [`SmallSiv`] call prepares one on the stack and wipes it. A hash keeps
//! a 264-byte [`keccak8::State`] (state and scratch) on the stack, wiped on
//! drop.

/// `$body` for `$i` = 0..16, unrolled (constant indices keep the state
/// in registers).
macro_rules! for16 {
    ($i:ident => $body:expr) => {{
        for16!(@ $i, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    }};
    (@ $i:ident, $body:expr, $($n:literal)*) => {{
        $({
            let $i: usize = $n;
            $body;
        })*
    }};
}

pub mod aes8;
pub mod cmac_siv;
pub mod keccak8;

pub use cmac_siv::{SivCache, SmallPreparedSiv, SmallSiv};
pub use keccak8::SmallSha3;
