//! SHA3-256 (FIPS 202) with Keccak-f\[1600\] written for 8-bit cores.
//!
//! The state is 200 bytes: lane `(x, y)` is bytes `8(x + 5y) .. 8(x + 5y) + 8`,
//! little endian, exactly the byte order in which FIPS 202 absorbs input.
//! Every step works on bytes:
//!
//! * θ computes the five column parities byte by byte; the rotation by one
//!   bit in `D[x] = C[x-1] ^ rot(C[x+1], 1)` is a carry chain;
//! * ρ and π are done in place along π's single cycle of 24 lanes, with θ's
//!   `D` folded into the same pass. A rotation by `8q + s` bits is a byte
//!   re-indexing by `q` and at most four one-bit rotations (left by `s`, or
//!   right by `8 - s` with `q + 1`), since 8-bit cores shift one bit at a
//!   time;
//! * χ works row by row on the same byte of the five lanes;
//! * ι's round constants have bits only at positions `2^j - 1`, so they are
//!   stored as 7 bits per round and expanded into bytes 0, 1, 3 and 7.
//!
//! The rotation offsets, the π cycle and the round constants are computed
//! from their FIPS 202 definitions by `const fn`s.

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
static CHAIN: [[u8; 2]; 24] = make_chain();

/// `$body` eight times with `$k` = 0, 1, ..., 7: straight-line code with
/// constant indices, which keeps 8-byte lanes in registers on AVR (loops
/// are not unrolled at `opt-level = "s"`).
macro_rules! for8 {
    ($k:ident => $body:expr) => {{
        {
            let $k: usize = 0;
            $body
        }
        {
            let $k: usize = 1;
            $body
        }
        {
            let $k: usize = 2;
            $body
        }
        {
            let $k: usize = 3;
            $body
        }
        {
            let $k: usize = 4;
            $body
        }
        {
            let $k: usize = 5;
            $body
        }
        {
            let $k: usize = 6;
            $body
        }
        {
            let $k: usize = 7;
            $body
        }
    }};
}

/// θ, first half: the five column parities `C[x]` into `c`.
///
/// The kernels below are separate functions with small stack frames: on
/// AVR a frame beyond 63 bytes makes every spill slot expensive to reach.
#[inline(never)]
fn theta_c(a: &[u8; 200], c: &mut [u8; 40]) {
    for x in 0..5 {
        let col = &a[8 * x..8 * x + 168];
        let out = &mut c[8 * x..8 * x + 8];
        for8!(k => out[k] = col[k] ^ col[k + 40] ^ col[k + 80] ^ col[k + 120] ^ col[k + 160]);
    }
}

/// θ, second half: `D[x] = C[x-1] ^ rot(C[x+1], 1)` into `d`.
#[inline(never)]
fn theta_d(c: &[u8; 40], d: &mut [u8; 40]) {
    for x in 0..5 {
        let prev = &c[if x == 0 { 32 } else { 8 * x - 8 }..][..8];
        let next = &c[if x == 4 { 0 } else { 8 * x + 8 }..][..8];
        let out = &mut d[8 * x..8 * x + 8];
        // Bit 63 of C[x+1] moves to bit 0.
        for8!(k => out[k] = prev[k] ^ (next[k] << 1) ^ (next[(k + 7) & 7] >> 7));
    }
}

/// `v` rotated left by `s` bits (`s < 8`) within each byte pair: byte
/// `k` of the result is `v[k] << s | v[k-1] >> (8 - s)`. One arm per
/// `s`, so that every shift has a constant count (AVR shifts one bit per
/// instruction; `swap` handles nibbles).
#[inline(always)]
fn rotl_bits(v: &[u8; 8], s: u8) -> [u8; 8] {
    let mut r = [0u8; 8];
    macro_rules! arm {
        ($s:expr) => {{
            for8!(k => r[k] = (v[k] << $s) | (v[(k + 7) & 7] >> (8 - $s)));
        }};
    }
    match s {
        0 => r = *v,
        1 => arm!(1),
        2 => arm!(2),
        3 => arm!(3),
        4 => arm!(4),
        5 => arm!(5),
        6 => arm!(6),
        _ => arm!(7),
    }
    r
}

/// Lane `L` (entry of [`CHAIN`]) with θ's `D[x]` applied.
#[inline(always)]
fn lane_with_d(a: &[u8; 200], d: &[u8; 40], entry: u8) -> [u8; 8] {
    let l: &[u8; 8] = a[(entry & 0xf8) as usize..][..8].try_into().expect("8");
    let dx: &[u8; 8] = d[8 * (entry & 7) as usize..][..8].try_into().expect("8");
    (u64::from_le_bytes(*l) ^ u64::from_le_bytes(*dx)).to_le_bytes()
}

/// Write `v` rotated left by the ρ offset `r` of its source lane into the
/// lane at byte offset `dst`. A rotation by `8q + s` bits is a rotation by
/// `s` inside byte pairs ([`rotl_bits`]) and a move of every byte by `q`.
#[inline(always)]
fn rho_into(a: &mut [u8; 200], dst: u8, v: &[u8; 8], r: u8) {
    let dst = &mut a[(dst & 0xf8) as usize..][..8];
    let v = rotl_bits(v, r & 7);
    match r >> 3 {
        0 => for8!(k => dst[k] = v[k]),
        1 => for8!(k => dst[(k + 1) & 7] = v[k]),
        2 => for8!(k => dst[(k + 2) & 7] = v[k]),
        3 => for8!(k => dst[(k + 3) & 7] = v[k]),
        4 => for8!(k => dst[(k + 4) & 7] = v[k]),
        5 => for8!(k => dst[(k + 5) & 7] = v[k]),
        6 => for8!(k => dst[(k + 6) & 7] = v[k]),
        _ => for8!(k => dst[(k + 7) & 7] = v[k]),
    }
}

/// θ (applying `D`), ρ and π, in place along π's cycle of 24 lanes.
///
/// The cycle is walked backwards: `L_{t+1}` has already been read when
/// `L_t`, rotated, is written over it, so only one lane is in flight
/// (plus the last one, kept for lane `L_0`).
#[inline(never)]
fn theta_rho_pi(a: &mut [u8; 200], d: &[u8; 40]) {
    // Lane (0, 0): θ only (its ρ offset is 0 and π fixes it).
    for8!(k => a[k] ^= d[k]);
    let last = lane_with_d(a, d, CHAIN[23][0]);
    for t in (0..23).rev() {
        let v = lane_with_d(a, d, CHAIN[t][0]);
        rho_into(a, CHAIN[t + 1][0], &v, CHAIN[t][1]);
    }
    rho_into(a, CHAIN[0][0], &last, CHAIN[23][1]);
}

/// χ: row by row, the same byte of the row's five lanes.
#[inline(never)]
fn chi(a: &mut [u8; 200]) {
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
}

/// Scratch space of the permutation: θ's column parities `C` and `D`.
pub struct Scratch {
    c: [u8; 40],
    d: [u8; 40],
}

impl Scratch {
    /// Zeroed scratch space.
    pub const fn new() -> Scratch {
        Scratch {
            c: [0; 40],
            d: [0; 40],
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.c.zeroize();
        self.d.zeroize();
    }
}

/// The Keccak-f\[1600\] permutation, with caller-provided scratch space.
pub fn keccak_f1600_with(a: &mut [u8; 200], w: &mut Scratch) {
    for &p in RC.iter() {
        theta_c(a, &mut w.c);
        theta_d(&w.c, &mut w.d);
        theta_rho_pi(a, &w.d);
        chi(a);
        // ι
        a[0] ^= (p & 0x03) | ((p << 1) & 0x08) | ((p << 4) & 0x80);
        a[1] ^= (p << 3) & 0x80;
        a[3] ^= (p << 2) & 0x80;
        a[7] ^= (p << 1) & 0x80;
    }
}

/// The Keccak-f\[1600\] permutation.
pub fn keccak_f1600(a: &mut [u8; 200]) {
    keccak_f1600_with(a, &mut Scratch::new());
}

/// SHA3-256 for 8-bit cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmallSha3;

impl Sha3 for SmallSha3 {
    fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut a = [0u8; 200];
        let mut w = Scratch::new();
        let mut pos = 0;
        for part in parts {
            for &b in part.iter() {
                a[pos] ^= b;
                pos += 1;
                if pos == RATE {
                    keccak_f1600_with(&mut a, &mut w);
                    pos = 0;
                }
            }
        }
        a[pos] ^= 0x06;
        a[RATE - 1] ^= 0x80;
        keccak_f1600_with(&mut a, &mut w);
        let mut out = [0u8; 32];
        out.copy_from_slice(&a[..32]);
        a.zeroize();
        out
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
