//! SHA3-256 (FIPS 202) with Keccak-f\[1600\] written for 8-bit cores.
//!
//! # Bit-interleaved lanes
//!
//! An 8-bit core rotates a 64-bit lane one bit at a time through its eight
//! bytes, and compiled code does worse (LLVM's AVR backend splits 64-bit
//! values into 16-bit pieces). So the state is kept **bit-interleaved by
//! eight**: byte `j` of a lane holds the lane's bits `j, j + 8, ...,
//! j + 56` (bit `a` of byte `j` is bit `8a + j` of the lane). In that
//! form a rotation by `8q + s` bits moves byte `j` to byte `(j + s) % 8`
//! and rotates it inside itself by `q` bits, or `q + 1` when `j + s >= 8`:
//! a re-indexing plus one 8-bit rotation per byte, which AVR does in one to
//! five cycles (`swap` rotates by 4, `lsl` + `adc` by 1). θ's rotation by
//! one bit costs a single 8-bit rotation.
//!
//! Going from the usual byte order (little-endian lanes, the order FIPS 202
//! absorbs bytes in) to the interleaved one is an 8×8 bit transposition of
//! each lane, its own inverse ([`interleave`]). SHA3-256 transposes the
//! lanes of input it absorbs and the four lanes it outputs; χ and ι work
//! on bytes and do not care about the order of bits; ι's constants are
//! stored as 7 bits per round and placed at their interleaved positions.
//!
//! # Steps
//!
//! The state is 200 bytes: lane `(x, y)` is bytes `8(x + 5y) .. 8(x + 5y) + 8`.
//! One round is:
//!
//! * θ's column parities `C[x]`, a lane in registers while the five rows
//!   go by, then `D[x] = C[x-1] ^ rot(C[x+1], 1)` into scratch lanes
//!   ([`State`]);
//! * θ (adding `D`), ρ and π in one pass, in place, along π's single cycle
//!   of 24 lanes, walked backwards so that one lane is in flight; the 24
//!   steps are unrolled with their rotations as constants;
//! * χ row by row, on the same byte of the row's five lanes, then ι.
//!
//! On an ATmega2560 a round takes about 5 600 cycles (θ's parities and `D`
//! 1 330, θ-ρ-π 2 610, χ 1 660) and the permutation 135 000.
//!
//! The rotation offsets, the π cycle and the round constants are computed
//! from their FIPS 202 definitions by `const fn`s.

use core::sync::atomic::{compiler_fence, Ordering};
use e4_proto::crypto::Sha3;
use zeroize::Zeroize;

/// SHA3-256 rate in bytes.
const RATE: usize = 136;

/// The seven bits `rc(j + 7 i)`, `j = 0..7`, of round `i` (FIPS 202
/// algorithms 5 and 6): bit `j` of entry `i` is bit `2^j - 1` of `RC[i]`.
const fn make_rc() -> [u8; 24] {
    let mut out = [0u8; 24];
    // The LFSR of algorithm 5 run from t = 0 (R = 1), one step per t.
    let mut r: u16 = 1;
    let mut t = 0;
    while t < 24 * 7 {
        let round = t / 7;
        let j = t % 7;
        out[round] |= ((r & 1) as u8) << j;
        // R = 0 || R; R[0,4,5,6] ^= R[8]; truncate to 8 bits.
        r <<= 1;
        if r & 0x100 != 0 {
            r ^= 0x171;
        }
        t += 1;
    }
    out
}

/// π's single cycle of 24 lanes, starting at lane (1, 0): entry `t` is
/// lane `L_t` (π moves `L_t` to `L_{t+1}`, and `L_24 = L_0`) as its byte
/// offset `8(x + 5y)` with `x` (which selects θ's `D[x]`) in the low three
/// bits, and its ρ rotation `(t + 1)(t + 2) / 2 mod 64`. Two bytes per
/// lane: on AVR every table is copied to RAM.
const fn make_chain() -> [[u8; 2]; 24] {
    let mut out = [[0u8; 2]; 24];
    let (mut x, mut y) = (1usize, 0usize);
    let mut t = 0;
    while t < 24 {
        let r = ((t + 1) * (t + 2) / 2) % 64;
        out[t] = [(8 * (x + 5 * y) + x) as u8, r as u8];
        // π: the lane at (x, y) moves to (y, 2x + 3y).
        let nx = y;
        let ny = (2 * x + 3 * y) % 5;
        x = nx;
        y = ny;
        t += 1;
    }
    out
}

static RC: [u8; 24] = make_rc();

/// `$body` eight times with `$k` = 0, 1, ..., 7: straight-line code with
/// constant indices, which keeps 8-byte lanes in registers on AVR (loops
/// are not unrolled at `opt-level = "s"`).
macro_rules! for8 {
    ($k:ident => $body:expr) => {{
        for8!(@ $k, $body, 0 1 2 3 4 5 6 7)
    }};
    (@ $k:ident, $body:expr, $($n:literal)*) => {{
        $({
            let $k: usize = $n;
            $body;
        })*
    }};
}

/// Convert a lane between the usual byte order and the interleaved one
/// (each is the other's image: an 8×8 bit transposition, bit `b` of byte
/// `i` to bit `i` of byte `b`), in three steps of swapping blocks.
pub fn interleave(l: &mut [u8; 8]) {
    macro_rules! swap {
        ($i:expr, $d:expr, $shift:expr, $mask:expr) => {{
            let t = ((l[$i] >> $shift) ^ l[$i + $d]) & $mask;
            l[$i + $d] ^= t;
            l[$i] ^= t << $shift;
        }};
    }
    swap!(0, 1, 1, 0x55);
    swap!(2, 1, 1, 0x55);
    swap!(4, 1, 1, 0x55);
    swap!(6, 1, 1, 0x55);
    swap!(0, 2, 2, 0x33);
    swap!(1, 2, 2, 0x33);
    swap!(4, 2, 2, 0x33);
    swap!(5, 2, 2, 0x33);
    swap!(0, 4, 4, 0x0f);
    swap!(1, 4, 4, 0x0f);
    swap!(2, 4, 4, 0x0f);
    swap!(3, 4, 4, 0x0f);
}

/// Convert every lane of a state (see [`interleave`]).
pub fn interleave_state(a: &mut [u8; 200]) {
    for l in a.chunks_exact_mut(8) {
        interleave(l.try_into().expect("8 bytes"));
    }
}

/// Size of [`State`]'s working area: the state (200 bytes) and seven
/// lanes of scratch (56), plus 8 bytes so that any byte offset rounded
/// down to a multiple of 8 starts a lane inside the array (lanes found
/// through tables need no bounds checks).
const WORK: usize = 264;

/// Offset of the scratch lanes ("slots" 0 to 6) after the state.
const SLOTS: u8 = 200;

/// Slot of θ's `D[x]`: the column parities `C[x]` are computed into slots
/// 0 to 4, and `D[x]` overwrites a parity no longer needed (see
/// [`theta`]).
const D_SLOT: [u8; 5] = [5, 6, 1, 2, 3];

/// The slot of ρ-π's spare lane (free once `D` is computed).
const SPARE_SLOT: u8 = 0;

/// The slot SHA3 fills with input bytes (free between permutations).
const INPUT: usize = SLOTS as usize + 8 * 4;

/// Byte offsets of π's cycle `L_0 .. L_23` (see [`make_chain`]) and, as a
/// 25th entry, of the spare lane.
const fn make_walk() -> [u8; 25] {
    let c = make_chain();
    let mut out = [SLOTS + 8 * SPARE_SLOT; 25];
    let mut t = 0;
    while t < 24 {
        out[t] = c[t][0] & 0xf8;
        t += 1;
    }
    out
}

static WALK: [u8; 25] = make_walk();

/// The ρ rotation of lane `L_t`.
const fn rho(t: usize) -> u8 {
    make_chain()[t][1]
}

/// The offset of `D[x]` for lane `L_t` from the first slot.
const fn d_of(t: usize) -> u8 {
    8 * D_SLOT[(make_chain()[t][0] & 7) as usize]
}

/// The Keccak state in the interleaved lane order, with the working space
/// of the permutation: 264 bytes, the state (200) and seven lanes of
/// scratch (θ's column parities and `D`, ρ-π's spare lane, SHA3's input
/// lane) plus 8 bytes of slack that spare table-driven lane accesses their
/// bounds checks. Wiped on drop.
pub struct State {
    w: [u8; WORK],
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.w.zeroize();
    }
}

impl State {
    /// The all-zero state.
    pub const fn new() -> State {
        State { w: [0; WORK] }
    }

    /// The 200 state bytes (interleaved lanes).
    pub fn bytes(&self) -> &[u8; 200] {
        self.w[..200].try_into().expect("200 bytes")
    }

    /// The 200 state bytes, mutable (interleaved lanes).
    pub fn bytes_mut(&mut self) -> &mut [u8; 200] {
        (&mut self.w[..200]).try_into().expect("200 bytes")
    }

    /// The Keccak-f\[1600\] permutation.
    pub fn permute(&mut self) {
        for &p in RC.iter() {
            theta_cd(&mut self.w);
            theta_rho_pi(&mut self.w);
            chi_iota((&mut self.w[..200]).try_into().expect("200 bytes"), p);
        }
    }
}

/// The lane at byte offset `off` rounded down to a multiple of 8.
#[inline(always)]
fn lane(w: &[u8; WORK], off: u8) -> [u8; 8] {
    let off = (off & 0xf8) as usize;
    let l = &w[off..off + 8];
    [l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]
}

/// [`lane`], mutable.
#[inline(always)]
fn lane_mut(w: &mut [u8; WORK], off: u8) -> &mut [u8; 8] {
    let off = (off & 0xf8) as usize;
    (&mut w[off..off + 8]).try_into().expect("8 bytes")
}

/// θ's column parities `C[x]` (slots 0 to 4), then
/// `D[x] = C[x-1] ^ rot(C[x+1], 1)` (slots [`D_SLOT`]). Interleaved, the
/// rotation by one bit moves byte `j` to `j + 1` and rotates byte 7 into
/// byte 0 by one bit.
///
/// `D` is computed in the order 0 to 4 into slots 5, 6, 1, 2, 3: `C[1]` is
/// overwritten by `D[2]` once `D[0]` and `D[2]` have read it, `C[2]` by
/// `D[3]` and `C[3]` by `D[4]` likewise; `C[0]` and `C[4]` stay (slot 0
/// becomes ρ-π's spare lane).
///
/// Written for LLVM's AVR backend: a byte at a constant offset beyond 63
/// from a pointer costs it a 16-bit addition each time, so the row
/// distance (40) and the slots' offset are hidden from it (`black_box`):
/// it then computes each lane's address once and uses displacements from
/// it. The fences (which emit nothing) keep the loads of one lane
/// together, so that they need one pointer.
#[inline(never)]
fn theta_cd(w: &mut [u8; WORK]) {
    let [row, slots, l0] = core::hint::black_box([40u8, SLOTS, 0]);
    for x in 0..5u8 {
        let mut off = l0 + 8 * x;
        let mut v = lane(w, off);
        macro_rules! add_row {
            () => {{
                off = off.wrapping_add(row);
                compiler_fence(Ordering::SeqCst);
                let l = lane(w, off);
                for8!(k => v[k] ^= l[k]);
            }};
        }
        add_row!();
        add_row!();
        add_row!();
        add_row!();
        compiler_fence(Ordering::SeqCst);
        let c = lane_mut(w, slots + 8 * x);
        for8!(k => c[k] = v[k]);
    }
    // All of C and D within 56 bytes of `slots`: one pointer.
    let cd: &mut [u8] = &mut w[slots as usize..];
    let cd: &mut [u8; 56] = (&mut cd[..56]).try_into().expect("56 bytes");
    macro_rules! d {
        ($x:expr) => {{
            let p = 8 * (($x + 4) % 5);
            let n = 8 * (($x + 1) % 5);
            let mut d = [0u8; 8];
            d[0] = cd[p] ^ cd[n + 7].rotate_left(1);
            for8!(k => if k > 0 {
                d[k] = cd[p + k] ^ cd[n + k - 1]
            });
            let o = 8 * D_SLOT[$x] as usize;
            for8!(k => cd[o + k] = d[k]);
        }};
    }
    d!(0);
    d!(1);
    d!(2);
    d!(3);
    d!(4);
}

/// θ (adding `D`), ρ and π, in place along π's cycle of 24 lanes.
///
/// The cycle is walked backwards: `L_{t+1}` has already been read when
/// `L_t`, rotated, is written over it, so only one lane is in flight. The
/// first lane read, `L_23`, goes to the spare lane (its destination `L_0`
/// is read last) and is copied to `L_0` at the end.
///
/// The 24 steps are unrolled, each with its rotation `r = 8q + s` as
/// constants: `L_t ^ D[x]` byte by byte, every byte rotated by `q` bits
/// and stored at `(j + s) % 8`, rotated by one more bit when it wraps
/// around. The lane offsets come from [`WALK`] through `black_box`, so
/// that LLVM computes each lane's address once and uses displacements
/// from it (with constant offsets it would add them byte by byte); the
/// fences keep the loads of `D[x]`, those of the lane and the steps apart.
#[inline(never)]
fn theta_rho_pi(w: &mut [u8; WORK]) {
    let walk: &[u8; 25] = core::hint::black_box(&WALK);
    let slots = core::hint::black_box(SLOTS);
    // Lane (0, 0): θ only (its ρ offset is 0 and π fixes it).
    let d = lane(w, slots + 8 * D_SLOT[0]);
    compiler_fence(Ordering::SeqCst);
    let l = lane_mut(w, 0);
    for8!(k => l[k] ^= d[k]);
    // The destination of a step is the source of the step before (in
    // walking order), kept in a register.
    let mut dst = walk[24];
    macro_rules! step {
        ($t:literal) => {{
            const Q: u32 = (rho($t) >> 3) as u32;
            const S: usize = (rho($t) & 7) as usize;
            const DX: u8 = d_of($t);
            let src = walk[$t];
            let d = lane(w, slots + DX);
            compiler_fence(Ordering::SeqCst);
            let mut v = lane(w, src);
            for8!(k => v[k] ^= d[k]);
            compiler_fence(Ordering::SeqCst);
            let o = lane_mut(w, dst);
            for8!(j => o[(j + S) & 7] = {
                let b = v[j].rotate_left(Q);
                if j + S >= 8 {
                    b.rotate_left(1)
                } else {
                    b
                }
            });
            compiler_fence(Ordering::SeqCst);
            dst = src;
        }};
    }
    step!(23);
    step!(22);
    step!(21);
    step!(20);
    step!(19);
    step!(18);
    step!(17);
    step!(16);
    step!(15);
    step!(14);
    step!(13);
    step!(12);
    step!(11);
    step!(10);
    step!(9);
    step!(8);
    step!(7);
    step!(6);
    step!(5);
    step!(4);
    step!(3);
    step!(2);
    step!(1);
    step!(0);
    let spare = lane(w, walk[24]);
    let l0 = lane_mut(w, dst);
    for8!(k => l0[k] = spare[k]);
}

/// χ row by row (the same byte of the row's five lanes), then ι.
#[inline(never)]
fn chi_iota(a: &mut [u8; 200], p: u8) {
    for row in a.chunks_exact_mut(40) {
        for8!(k => {
            let (a0, a1, a2, a3, a4) = (row[k], row[k + 8], row[k + 16], row[k + 24], row[k + 32]);
            row[k] = a0 ^ (!a1 & a2);
            row[k + 8] = a1 ^ (!a2 & a3);
            row[k + 16] = a2 ^ (!a3 & a4);
            row[k + 24] = a3 ^ (!a4 & a0);
            row[k + 32] = a4 ^ (!a0 & a1);
        });
    }
    // ι: the bits of RC are at lane positions 0, 1, 3, 7, 15, 31 and 63,
    // i.e. bit 0 of bytes 0, 1, 3, 7 and bits 1, 3, 7 of byte 7.
    a[0] ^= p & 1;
    a[1] ^= (p >> 1) & 1;
    a[3] ^= (p >> 2) & 1;
    a[7] ^= ((p >> 3) & 0x03) | ((p >> 2) & 0x08) | ((p << 1) & 0x80);
}

/// The Keccak-f\[1600\] permutation of a state in the usual byte order
/// (converted to the interleaved order and back around it).
pub fn keccak_f1600(a: &mut [u8; 200]) {
    let mut s = State::new();
    s.bytes_mut().copy_from_slice(a);
    interleave_state(s.bytes_mut());
    s.permute();
    a.copy_from_slice(s.bytes());
    interleave_state(a);
}

/// SHA3-256 for 8-bit cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmallSha3;

impl State {
    /// Add the input lane (usual byte order) to lane `index` of the state.
    #[inline(never)]
    fn add_input(&mut self, index: usize) {
        let (a, rest) = self.w.split_at_mut(INPUT);
        let input: &mut [u8; 8] = (&mut rest[..8]).try_into().expect("8 bytes");
        interleave(input);
        let l = &mut a[8 * index..8 * index + 8];
        for8!(k => l[k] ^= input[k]);
    }
}

impl Sha3 for SmallSha3 {
    fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut s = State::new();
        let mut pos = 0;
        for part in parts {
            for &b in part.iter() {
                s.w[INPUT + (pos & 7)] = b;
                pos += 1;
                if pos & 7 == 0 {
                    s.add_input(pos / 8 - 1);
                    if pos == RATE {
                        s.permute();
                        pos = 0;
                    }
                }
            }
        }
        // Padding: 0x06 after the message, 0x80 on the last byte of the
        // block (bit 63 of lane 16, which interleaving leaves in place).
        // The input slot holds scratch of the last permutation past the
        // bytes written since.
        s.w[INPUT + (pos & 7)..INPUT + 8].fill(0);
        s.w[INPUT + (pos & 7)] = 0x06;
        s.add_input(pos / 8);
        s.w[RATE - 1] ^= 0x80;
        s.permute();
        // The digest: the first four lanes, back in the usual byte order
        // (in place; `s` is wiped on drop).
        for l in s.w[..32].chunks_exact_mut(8) {
            interleave(l.try_into().expect("8 bytes"));
        }
        s.w[..32].try_into().expect("32 bytes")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::base::Sha3Rc;
    use std::vec::Vec;

    #[test]
    fn round_constants_match_fips202() {
        // RC[0] = 1, RC[1] = 0x8082, RC[23] = 0x8000000080008008.
        let expand = |p: u8| -> u64 {
            (0..7)
                .filter(|j| p >> j & 1 == 1)
                .fold(0u64, |acc, j| acc | 1 << ((1u32 << j) - 1))
        };
        assert_eq!(expand(RC[0]), 1);
        assert_eq!(expand(RC[1]), 0x8082);
        assert_eq!(expand(RC[2]), 0x800000000000808a);
        assert_eq!(expand(RC[23]), 0x8000000080008008);
    }

    #[test]
    fn interleave_is_a_transposition() {
        let mut l = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let orig = l;
        interleave(&mut l);
        for (j, lj) in l.iter().enumerate() {
            for (a, oa) in orig.iter().enumerate() {
                assert_eq!((lj >> a) & 1, (oa >> j) & 1, "byte {j} bit {a}");
            }
        }
        interleave(&mut l);
        assert_eq!(l, orig);
    }

    #[test]
    fn permutation_of_zero_state() {
        // Keccak-f[1600] of the zero state, first lane (the Keccak team's
        // KeccakF-1600-IntermediateValues.txt).
        let mut a = [0u8; 200];
        keccak_f1600(&mut a);
        assert_eq!(&a[..8], &0xF1258F7940E1DDE7u64.to_le_bytes());
        assert_eq!(&a[192..], &0xEAF1FF7B5CECA249u64.to_le_bytes());
    }

    #[test]
    fn empty_and_abc() {
        assert_eq!(
            hex::encode(SmallSha3.sha3_256(&[])),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            hex::encode(SmallSha3.sha3_256(&[b"abc"])),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
    }

    #[test]
    fn matches_rustcrypto_sha3() {
        let data: Vec<u8> = (0..1200u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut lens: Vec<usize> = (0..300).collect();
        lens.extend([407, 408, 409, 543, 544, 545, 1000, 1200]);
        for n in lens {
            let m = &data[..n];
            assert_eq!(SmallSha3.sha3_256(&[m]), Sha3Rc.sha3_256(&[m]), "len {n}");
            // Split across parts at an arbitrary point.
            let (x, y) = m.split_at(n / 3);
            assert_eq!(
                SmallSha3.sha3_256(&[x, &[], y]),
                Sha3Rc.sha3_256(&[m]),
                "len {n} split"
            );
        }
    }
}
