//! Byte-oriented AES-SIV and SHA3-256 for 8-bit microcontrollers (feature
//! `small`).
//!
//! RustCrypto's `aes` and `sha3` (the [`crate::base`] backends) are written
//! for 32- and 64-bit cores: on an ATmega2560 their AES-256 takes about
//! 46 000 cycles per block (opt-level "s") and 84 KB of flash come with
//! them. This module implements the same primitives with 8-bit operations
//! only:
//!
//! * [`aes8`]: AES-256 encryption (FIPS 197) on a byte-wise state, the key
//!   schedule expanded once per key (240 bytes, on the stack) and the
//!   S-box as a 256-byte table;
//! * [`cmac_siv`]: AES-SIV (RFC 5297, S2V with AES-CMAC, CTR with bits 31
//!   and 63 of the counter cleared) with E4's doubled key `K ‖ K`, so a
//!   single key schedule serves both S2V and CTR: [`SmallSiv`];
//! * [`keccak8`]: Keccak-f\[1600\] on 25 lanes of 8 bytes each and
//!   SHA3-256 on top of it: [`SmallSha3`].
//!
//! Everything is written from FIPS 197, RFC 5297 and FIPS 202; the tables
//! (S-box, Keccak round constants, rotation offsets, π's cycle) are
//! computed by `const fn`s from their definitions at compile time.
//!
//! The code is shaped for LLVM's AVR backend at `opt-level = "s"` (which
//! keeps the flash small but unrolls nothing): inner loops over the 8
//! bytes of a lane are unrolled by a macro so that lanes live in registers,
//! hot kernels are separate functions with stack frames under 63 bytes
//! (the reach of AVR's `ldd`/`std`), and large structures are built in
//! place rather than returned by value. On an ATmega2560 (simavr, see
//! `benches/avr`): AES-256 about 7 100 cycles per block, Keccak-f\[1600\]
//! about 220 000, sealing 64 bytes about 80 000 (11 blocks and one key
//! schedule).
//!
//! # Side channels
//!
//! The AES S-box is a table indexed by secret bytes. That is constant time
//! only on cores without a data cache, where every load takes the same
//! number of cycles: AVR, MSP430, Cortex-M0/M3/M4 without cache. On hosts
//! with caches use [`crate::base::AesSiv`] instead (RustCrypto's `aes`
//! crate is bitsliced or uses AES-NI). Apart from the table look-ups the
//! code has no secret-dependent branches or indices: `xtime` is computed
//! with a mask, and the SIV check in `SmallSiv::open` compares every byte.
//! Keccak has no secret-dependent table look-ups at all.
//!
//! # Memory
//!
//! Static tables: the 256-byte S-box, Keccak's 24 round-constant bytes and
//! its 48-byte ρ/π table. On AVR, Rust places statics in `.data`, which the
//! start-up code copies to RAM (reading flash needs `lpm`, i.e. assembly,
//! and this crate forbids `unsafe`), so these 328 bytes count against RAM
//! as well as flash. A seal or open keeps the expanded AES key and the CMAC
//! subkeys (272 bytes) on the stack, a hash the 200-byte Keccak state and
//! 80 bytes of θ scratch; all of it is wiped before returning.

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
