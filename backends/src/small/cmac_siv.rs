//! AES-SIV (RFC 5297) with E4's doubled key, on top of [`super::aes8`].
//!
//! E4 keys AES-SIV with `K ‖ K`: the S2V (CMAC) key and the CTR key are the
//! same 32 bytes, so one expanded AES-256 key serves the whole operation.
//! With one associated-data item (E4's timestamp) S2V is
//!
//! ```text
//! D = CMAC(0^128)
//! D = dbl(D) xor CMAC(AD)
//! V = CMAC(P xorend D)            if |P| >= 16
//! V = CMAC(dbl(D) xor pad(P))     otherwise
//! ```
//!
//! and the payload is encrypted in CTR mode from `Q = V` with bits 31 and
//! 63 (counting from the rightmost bit) cleared. The CMAC subkeys (RFC
//! 4493) are derived once per call. Sealing a 64-byte payload takes 11
//! block encryptions: `L`, `CMAC(0)`, `CMAC(AD)`, 4 for `P`, 4 for CTR.

use super::aes8::Aes256;
use e4_proto::crypto::{Siv, SIV_LEN};
use e4_proto::{Error, SymKey};
use zeroize::Zeroize;

/// AES-SIV for 8-bit cores with E4's doubled key `K ‖ K`.
///
/// Table-based AES: constant time only on cores without a data cache (see
/// [`crate::small`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmallSiv;

type Block = [u8; 16];

/// Doubling in GF(2^128) (RFC 5297 `dbl`, RFC 4493 subkey step), branch
/// free.
fn dbl(b: &mut Block) {
    let carry = b[0] >> 7;
    for i in 0..15 {
        b[i] = (b[i] << 1) | (b[i + 1] >> 7);
    }
    b[15] = (b[15] << 1) ^ (0x87 & 0u8.wrapping_sub(carry));
}

fn xor_into(dst: &mut Block, src: &Block) {
    for i in 0..16 {
        dst[i] ^= src[i];
    }
}

/// The expanded key and the CMAC subkeys of one operation. Wiped on drop.
struct Keys {
    aes: Aes256,
    k1: Block,
    k2: Block,
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.k1.zeroize();
        self.k2.zeroize();
    }
}

impl Keys {
    /// The key schedule and CMAC subkeys of `key`, built in place (the
    /// 272 bytes are never moved).
    #[inline(never)]
    fn init(&mut self, key: &SymKey) {
        self.aes.set_key(key.as_bytes());
        self.k1 = [0; 16];
        self.aes.encrypt_block(&mut self.k1); // L = AES(0)
        dbl(&mut self.k1);
        self.k2 = self.k1;
        dbl(&mut self.k2);
    }

    /// An empty key, filled by [`Keys::init`] (a constructor returning
    /// `Keys` by value would move 272 bytes through the stack on AVR).
    const fn empty() -> Keys {
        Keys {
            aes: Aes256::zeroed(),
            k1: [0; 16],
            k2: [0; 16],
        }
    }

    /// AES-CMAC (RFC 4493) of `msg`.
    fn cmac(&self, msg: &[u8]) -> Block {
        let mut x = [0u8; 16];
        let mut blocks = msg.chunks(16);
        // The last block (complete or not; none for an empty message) is
        // masked with a subkey before its encryption.
        let last = blocks.next_back().unwrap_or(&[]);
        for block in blocks {
            for (xi, b) in x.iter_mut().zip(block) {
                *xi ^= b;
            }
            self.aes.encrypt_block(&mut x);
        }
        for (xi, b) in x.iter_mut().zip(last) {
            *xi ^= b;
        }
        if last.len() == 16 {
            xor_into(&mut x, &self.k1);
        } else {
            x[last.len()] ^= 0x80;
            xor_into(&mut x, &self.k2);
        }
        self.aes.encrypt_block(&mut x);
        x
    }

    /// S2V over one associated-data item and the plaintext `p`. For the
    /// `xorend` of a plaintext of 16 bytes or more, `D` is xored into the
    /// last 16 bytes of `p` in place and removed again after the CMAC.
    fn s2v(&self, ad: &[u8], p: &mut [u8]) -> Block {
        // D = CMAC(0^128): one complete block, so AES(K1).
        let mut d = self.k1;
        self.aes.encrypt_block(&mut d);
        dbl(&mut d);
        xor_into(&mut d, &self.cmac(ad));
        let n = p.len();
        let v = if n >= 16 {
            let end: &mut Block = (&mut p[n - 16..]).try_into().expect("16 bytes");
            xor_into(end, &d);
            let v = self.cmac(p);
            let end: &mut Block = (&mut p[n - 16..]).try_into().expect("16 bytes");
            xor_into(end, &d);
            v
        } else {
            dbl(&mut d);
            for (di, b) in d.iter_mut().zip(p.iter()) {
                *di ^= b;
            }
            d[n] ^= 0x80;
            self.cmac(&d)
        };
        d.zeroize();
        v
    }

    /// CTR mode from `siv` with bits 31 and 63 cleared.
    fn ctr(&self, siv: &Block, buf: &mut [u8]) {
        let mut q = *siv;
        q[8] &= 0x7f;
        q[12] &= 0x7f;
        let mut ks = [0u8; 16];
        for chunk in buf.chunks_mut(16) {
            ks = q;
            self.aes.encrypt_block(&mut ks);
            for (b, k) in chunk.iter_mut().zip(ks.iter()) {
                *b ^= k;
            }
            // Big-endian increment of the 128-bit counter.
            let mut carry = 1u8;
            for b in q.iter_mut().rev() {
                let (v, c) = b.overflowing_add(carry);
                *b = v;
                carry = c as u8;
            }
        }
        ks.zeroize();
    }
}

impl Siv for SmallSiv {
    fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        let mut keys = Keys::empty();
        keys.init(key);
        let v = keys.s2v(ad, buf);
        keys.ctr(&v, buf);
        v
    }

    fn open(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let mut keys = Keys::empty();
        keys.init(key);
        keys.ctr(siv, buf);
        let v = keys.s2v(ad, buf);
        let mut diff = 0u8;
        for i in 0..SIV_LEN {
            diff |= v[i] ^ siv[i];
        }
        if core::hint::black_box(diff) == 0 {
            Ok(())
        } else {
            buf.zeroize();
            Err(Error::NotAuthentic)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::base::AesSiv;
    use std::string::String;
    use std::vec::Vec;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u8 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 24) as u8
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    #[test]
    fn dbl_matches_rfc4493_subkeys() {
        // RFC 4493 section 4: AES-128 key 2b7e1516..., L = 7df76b0c...
        let mut l: Block = hex::decode("7df76b0c1ab899b33e42f047b91b546f")
            .unwrap()
            .try_into()
            .unwrap();
        dbl(&mut l);
        assert_eq!(hex::encode(l), "fbeed618357133667c85e08f7236a8de");
        dbl(&mut l);
        assert_eq!(hex::encode(l), "f7ddac306ae266ccf90bc11ee46d513b");
    }

    #[test]
    fn matches_rustcrypto_aes_siv() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for n in 0..200 {
            for ad_len in [0usize, 1, 8, 15, 16, 17, 32, 40] {
                let key = SymKey::from_slice(&rng.bytes(32)).unwrap();
                let ad = rng.bytes(ad_len);
                let pt = rng.bytes(n);
                let mut a = pt.clone();
                let mut b = pt.clone();
                let ta = SmallSiv.seal(&key, &ad, &mut a);
                let tb = AesSiv.seal(&key, &ad, &mut b);
                assert_eq!((ta, &a), (tb, &b), "len {n}, ad {ad_len}");
                SmallSiv.open(&key, &ad, &ta, &mut a).unwrap();
                assert_eq!(a, pt);
                // Any flipped bit of SIV, AD or ciphertext is refused.
                let mut c = b.clone();
                let mut bad = tb;
                bad[(n + ad_len) % 16] ^= 1 << (n % 8);
                assert_eq!(
                    SmallSiv.open(&key, &ad, &bad, &mut c),
                    Err(Error::NotAuthentic)
                );
                assert!(c.iter().all(|&x| x == 0), "buffer wiped on failure");
                if n > 0 {
                    let mut c = b.clone();
                    c[n / 2] ^= 0x40;
                    assert!(SmallSiv.open(&key, &ad, &tb, &mut c).is_err());
                }
                if ad_len > 0 {
                    let mut ad2 = ad.clone();
                    ad2[0] ^= 0x80;
                    let mut c = b.clone();
                    assert!(SmallSiv.open(&key, &ad2, &tb, &mut c).is_err());
                }
            }
        }
    }

    #[test]
    fn counter_carries_across_bytes() {
        // SIVs whose low counter bytes are all ones exercise the carry
        // out of the low 32-bit word; compare with a u128 counter.
        let mut rng = XorShift(7);
        for _ in 0..50 {
            let key = SymKey::from_slice(&rng.bytes(32)).unwrap();
            let mut siv: [u8; 16] = rng.bytes(16).try_into().unwrap();
            for b in &mut siv[13..] {
                *b = 0xff;
            }
            siv[12] |= 0x7f;
            let data = rng.bytes(100);
            let mut a = data.clone();
            let mut keys = Keys::empty();
            keys.init(&key);
            keys.ctr(&siv, &mut a);
            let mut q = siv;
            q[8] &= 0x7f;
            q[12] &= 0x7f;
            let mut expect = data.clone();
            let mut ctr = u128::from_be_bytes(q);
            for chunk in expect.chunks_mut(16) {
                let mut ks = ctr.to_be_bytes();
                keys.aes.encrypt_block(&mut ks);
                for (x, k) in chunk.iter_mut().zip(ks) {
                    *x ^= k;
                }
                ctr = ctr.wrapping_add(1);
            }
            assert_eq!(a, expect);
        }
    }

    /// The string value of `"name": "..."` in a JSON line.
    fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let pat = std::format!("\"{name}\": \"");
        let start = line.find(&pat)? + pat.len();
        let len = line[start..].find('"')?;
        Some(&line[start..start + len])
    }

    #[test]
    fn libe4_known_answers() {
        let path = std::env::var("E4_LIBE4_KAT").unwrap_or_else(|_| {
            String::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/vectors/libe4/aes-siv-kat.jsonl"
            ))
        });
        let Ok(text) = std::fs::read_to_string(&path) else {
            std::eprintln!("skipping: {path} not found (set E4_LIBE4_KAT)");
            return;
        };
        let mut cases = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let key = SymKey::from_slice(&hex::decode(field(line, "key").unwrap()).unwrap())
                .expect("32-byte key");
            let ad = hex::decode(
                field(line, "associated_data")
                    .or_else(|| field(line, "ad"))
                    .unwrap(),
            )
            .unwrap();
            let pt = hex::decode(field(line, "plaintext").unwrap()).unwrap();
            let out = hex::decode(field(line, "output").unwrap()).unwrap();
            let mut buf = pt.clone();
            let siv = SmallSiv.seal(&key, &ad, &mut buf);
            assert_eq!(&out[..16], &siv[..], "{line}");
            assert_eq!(&out[16..], &buf[..], "{line}");
            SmallSiv
                .open(&key, &ad, &siv, &mut buf)
                .expect("known answer opens");
            assert_eq!(buf, pt);
            cases += 1;
        }
        assert_eq!(cases, 1024);
    }
}
