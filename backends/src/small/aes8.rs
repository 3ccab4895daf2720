//! AES-256 encryption (FIPS 197) for 8-bit cores.
//!
//! The state is 16 bytes in FIPS 197 order (byte `4c + r` is row `r` of
//! column `c`); every step works on single bytes: SubBytes and ShiftRows
//! together as 16 table look-ups, MixColumns with a branch-free `xtime`
//! (three per column: `xtime` is linear, so the fourth is the xor of the
//! other three), AddRoundKey folded into MixColumns. The rounds are one
//! loop whose body is fully unrolled, so the state stays in 16 registers
//! from the first round to the last (on AVR: about 300 cycles a round,
//! 4 560 a block). The key schedule is expanded once per key into 240
//! bytes ([`Aes256`]), which E4's AES-SIV reuses for all of S2V and CTR
//! (its key is `K ‖ K`); [`Aes256::encrypt_xor`] folds CBC-MAC's xor into
//! the first AddRoundKey.
//!
//! Only encryption is needed: CMAC and CTR never call the inverse cipher.
//!
//! The S-box look-up is indexed by secret data; see the module
//! documentation of [`crate::small`] for where that is safe.

use core::sync::atomic::{compiler_fence, Ordering};
use zeroize::Zeroize;

/// Multiplication by `x` in GF(2^8) modulo `x^8 + x^4 + x^3 + x + 1`.
const fn xtime_const(a: u8) -> u8 {
    (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 }
}

/// Product in GF(2^8) (compile time only).
const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        a = xtime_const(a);
        b >>= 1;
    }
    p
}

/// The S-box of FIPS 197 section 5.1.1: the multiplicative inverse
/// (`a^254`, 0 for 0) followed by the affine transformation.
const fn make_sbox() -> [u8; 256] {
    let mut s = [0u8; 256];
    let mut i = 0usize;
    while i < 256 {
        let a = i as u8;
        // a^254 by square-and-multiply: 254 = 0b1111_1110.
        let mut inv = 1u8;
        let mut bit = 7i32;
        while bit >= 0 {
            inv = gmul(inv, inv);
            if (254 >> bit) & 1 != 0 {
                inv = gmul(inv, a);
            }
            bit -= 1;
        }
        let b = inv;
        s[i] = b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63;
        i += 1;
    }
    s
}

/// The S-box. On AVR it lives in RAM (`.data`), like every Rust static: a
/// look-up is `ld` (2 cycles) after a 16-bit addition of the index to the
/// table's address (4 instructions; aligning the table on 256 bytes does
/// not help, LLVM does not use the alignment to drop the addition).
static SBOX: [u8; 256] = make_sbox();

#[inline(always)]
fn sub(x: u8) -> u8 {
    SBOX[x as usize]
}

/// Branch-free multiplication by `x` in GF(2^8).
#[inline(always)]
fn xtime(x: u8) -> u8 {
    let (d, c) = x.overflowing_add(x);
    d ^ (0u8.wrapping_sub(c as u8) & 0x1b)
}

/// MixColumns of one column (already substituted and shifted) and
/// AddRoundKey with `k`, into column `c` of `o`.
///
/// `b_i = a_i ^ t ^ xtime(a_i ^ a_{i+1})` with `t` the xor of the column.
/// `xtime` is linear, so the fourth product is the xor of the other three
/// (`a_3 ^ a_0` is the xor of the three other sums): three `xtime` per
/// column instead of four; `a_i ^ t`, the xor of the three other bytes,
/// is one of the sums and one byte.
#[inline(always)]
fn mix_column(a0: u8, a1: u8, a2: u8, a3: u8, k: &[u8; 16], c: usize, o: &mut [u8; 16]) {
    let (u0, u1, u2) = (a0 ^ a1, a1 ^ a2, a2 ^ a3);
    let (x0, x1, x2) = (xtime(u0), xtime(u1), xtime(u2));
    let x3 = x0 ^ x1 ^ x2;
    // a_i ^ t is the xor of the three other bytes.
    o[4 * c] = u1 ^ a3 ^ x0 ^ k[4 * c];
    o[4 * c + 1] = u2 ^ a0 ^ x1 ^ k[4 * c + 1];
    o[4 * c + 2] = u0 ^ a3 ^ x2 ^ k[4 * c + 2];
    o[4 * c + 3] = u0 ^ a2 ^ x3 ^ k[4 * c + 3];
}

/// One full round: SubBytes, ShiftRows (output byte `4c + r` comes from
/// input byte `4((c + r) % 4) + r`), MixColumns, AddRoundKey with `k`.
#[inline(always)]
fn round(s: &[u8; 16], k: &[u8; 16]) -> [u8; 16] {
    let mut o = [0u8; 16];
    mix_column(sub(s[0]), sub(s[5]), sub(s[10]), sub(s[15]), k, 0, &mut o);
    mix_column(sub(s[4]), sub(s[9]), sub(s[14]), sub(s[3]), k, 1, &mut o);
    mix_column(sub(s[8]), sub(s[13]), sub(s[2]), sub(s[7]), k, 2, &mut o);
    mix_column(sub(s[12]), sub(s[1]), sub(s[6]), sub(s[11]), k, 3, &mut o);
    o
}

/// The 14 rounds of AES-256: `x = E(x ^ m)` with the round keys `rk`
/// (the xor of `m` is folded into the first AddRoundKey, which is what
/// CBC-MAC needs).
#[inline(never)]
fn encrypt(rk: &[[u8; 16]; 15], x: &mut [u8; 16], m: &[u8; 16]) {
    // One source at a time, so that each is read through one pointer
    // register with displacements (the fences keep the groups apart and
    // emit no instruction).
    let mut s = [0u8; 16];
    for16!(i => s[i] = x[i]);
    compiler_fence(Ordering::SeqCst);
    for16!(i => s[i] ^= m[i]);
    compiler_fence(Ordering::SeqCst);
    for16!(i => s[i] ^= rk[0][i]);
    for k in rk[1..14].iter() {
        s = round(&s, k);
    }
    // Round 14: no MixColumns. The last round key's address is hidden
    // from LLVM, which would otherwise add its offset (224) to `rk` byte
    // by byte.
    let k: &[u8; 16] = core::hint::black_box(&rk[14]);
    let mut t = [0u8; 16];
    for16!(i => t[i] = sub(s[(i + 4 * (i & 3)) & 15]));
    compiler_fence(Ordering::SeqCst);
    for16!(i => t[i] ^= k[i]);
    compiler_fence(Ordering::SeqCst);
    for16!(i => x[i] = t[i]);
}

/// An AES-256 key with its expanded schedule (15 round keys). Wiped on
/// drop.
pub struct Aes256 {
    rk: [[u8; 16]; 15],
}

impl Drop for Aes256 {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Aes256 {
    /// Expand `key` (FIPS 197 section 5.2, Nk = 8).
    pub fn new(key: &[u8; 32]) -> Aes256 {
        let mut a = Aes256::zeroed();
        a.set_key(key);
        a
    }

    /// An all-zero schedule, to be filled by [`Aes256::set_key`].
    pub(crate) const fn zeroed() -> Aes256 {
        Aes256 { rk: [[0; 16]; 15] }
    }

    /// Whether this schedule was expanded from `key` (its first two round
    /// keys are the key itself). Constant time: every byte is compared.
    pub fn is_key(&self, key: &[u8; 32]) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.rk.as_flattened()[..32].iter().zip(key) {
            diff |= a ^ b;
        }
        core::hint::black_box(diff) == 0
    }

    /// Wipe the schedule.
    pub fn clear(&mut self) {
        self.rk.zeroize();
    }

    /// Replace the key, expanding it in place (no 240-byte temporary).
    pub fn set_key(&mut self, key: &[u8; 32]) {
        let rk = self.rk.as_flattened_mut();
        rk[..32].copy_from_slice(key);
        // `t` is the last word computed (FIPS 197 `temp`), kept in four
        // registers; word i = word i-8 ^ t, t transformed every 4th word.
        let mut t = [key[28], key[29], key[30], key[31]];
        let mut rcon = 1u8;
        let mut i = 32;
        while i < 240 {
            let j = i % 32;
            if j == 0 {
                // RotWord, SubWord, Rcon
                t = [sub(t[1]) ^ rcon, sub(t[2]), sub(t[3]), sub(t[0])];
                rcon = xtime(rcon);
            } else if j == 16 {
                t = [sub(t[0]), sub(t[1]), sub(t[2]), sub(t[3])];
            }
            let w: &mut [u8; 36] = (&mut rk[i - 32..i + 4]).try_into().expect("36 bytes");
            t[0] ^= w[0];
            t[1] ^= w[1];
            t[2] ^= w[2];
            t[3] ^= w[3];
            w[32] = t[0];
            w[33] = t[1];
            w[34] = t[2];
            w[35] = t[3];
            i += 4;
        }
        t.zeroize();
    }

    /// Encrypt one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        encrypt(&self.rk, block, &[0; 16])
    }

    /// `x = E(x ^ m)`: one CBC-MAC step.
    pub fn encrypt_xor(&self, x: &mut [u8; 16], m: &[u8; 16]) {
        encrypt(&self.rk, x, m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbox_matches_fips197_figure7() {
        assert_eq!(SBOX[0x00], 0x63);
        assert_eq!(SBOX[0x01], 0x7c);
        assert_eq!(SBOX[0x53], 0xed);
        assert_eq!(SBOX[0xff], 0x16);
        let mut seen = [false; 256];
        for &v in SBOX.iter() {
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&b| b), "the S-box is a permutation");
    }

    #[test]
    fn fips197_c3_aes256() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
        Aes256::new(&key).encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "8ea2b7ca516745bfeafc49904b496089");
    }

    #[test]
    fn fips197_a3_key_expansion() {
        let key = hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
            .unwrap();
        let aes = Aes256::new(key.as_slice().try_into().unwrap());
        assert_eq!(hex::encode(&aes.rk.as_flattened()[32..36]), "9ba35411");
        assert_eq!(hex::encode(&aes.rk.as_flattened()[236..240]), "706c631e");
    }
}
