//! Argon2i, version 0x13 (RFC 9106), written from the RFC.
//!
//! The deployed E4 Go library (e4go) derives symmetric keys and Ed25519
//! seeds from passwords with Argon2i v0x13 and an *empty* salt
//! (t = 1, m = 65536 KiB, p = 4, 32-byte output). The usual Rust argon2
//! crates refuse salts shorter than 8 bytes, so this module implements the
//! function itself and accepts salts of any length, including none.
//!
//! The implementation is single-threaded; lanes are processed one after the
//! other inside each slice, which yields the same result as a parallel run
//! because a block never references a block of another lane in the slice
//! being computed.
//!
//! Memory blocks and intermediate buffers are zeroized before they are freed.

use alloc::vec::Vec;

use blake2::digest::{Digest, Update, VariableOutput};
use blake2::{Blake2b512, Blake2bVar};
use zeroize::Zeroize;

/// Errors of parameter validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argon2Error {
    /// A cost parameter, an input length or the output length is out of the
    /// ranges allowed by RFC 9106 (salt length excepted).
    InvalidParams,
}

/// Argon2 cost parameters.
pub struct Params {
    /// Number of passes over the memory (t), at least 1.
    pub t_cost: u32,
    /// Memory size in KiB (m), at least `8 * lanes`.
    pub m_kib: u32,
    /// Degree of parallelism (p), from 1 to 2^24 - 1.
    pub lanes: u32,
}

/// Argon2 version 0x13.
const VERSION: u32 = 0x13;
/// Argon2 type identifier of Argon2i.
const TYPE_ARGON2I: u32 = 1;
/// Number of slices (synchronisation points) per pass.
const SYNC_POINTS: usize = 4;
/// 64-bit words in one 1024-byte block.
const BLOCK_WORDS: usize = 128;
/// Bytes in one block.
const BLOCK_BYTES: usize = 1024;
/// Largest allowed degree of parallelism.
const MAX_LANES: u32 = (1 << 24) - 1;
/// Smallest allowed tag length in bytes.
const MIN_OUT_LEN: usize = 4;

/// One 1024-byte memory block as 128 little-endian 64-bit words.
type Block = [u64; BLOCK_WORDS];

const ZERO_BLOCK: Block = [0u64; BLOCK_WORDS];

/// Argon2i v0x13 with any salt length (including empty), no secret, no associated data.
///
/// `out.len()` is the tag length and must be at least 4 bytes.
///
/// # Errors
///
/// [`Argon2Error::InvalidParams`] if `lanes` is 0 or above 2^24 - 1,
/// `t_cost` is 0, `m_kib < 8 * lanes`, `out` is shorter than 4 bytes, or
/// an input or `out` is longer than 2^32 - 1 bytes.
pub fn argon2i(
    password: &[u8],
    salt: &[u8],
    params: &Params,
    out: &mut [u8],
) -> Result<(), Argon2Error> {
    argon2i_full(password, salt, &[], &[], params, out)
}

/// e4go's parameters: t=1, m=65536 KiB, p=4, empty salt, 32-byte output.
///
/// # Panics
///
/// Only if `password` is longer than 2^32 - 1 bytes, which Argon2 cannot
/// hash.
#[must_use]
pub fn e4go_derive(password: &[u8]) -> [u8; 32] {
    let params = Params {
        t_cost: 1,
        m_kib: 65536,
        lanes: 4,
    };
    let mut out = [0u8; 32];
    argon2i(password, &[], &params, &mut out)
        .expect("e4go parameters are valid and the password fits in 2^32 - 1 bytes");
    out
}

/// Argon2i v0x13 with a secret value `secret` (K) and associated data `ad` (X).
///
/// Accepts salts of any length. All other limits follow RFC 9106 section 3.1.
pub(crate) fn argon2i_full(
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    ad: &[u8],
    params: &Params,
    out: &mut [u8],
) -> Result<(), Argon2Error> {
    // Parameter validation (RFC 9106, section 3.1).
    let p = params.lanes;
    if p == 0 || p > MAX_LANES {
        return Err(Argon2Error::InvalidParams);
    }
    if params.t_cost == 0 {
        return Err(Argon2Error::InvalidParams);
    }
    if u64::from(params.m_kib) < 8 * u64::from(p) {
        return Err(Argon2Error::InvalidParams);
    }
    if out.len() < MIN_OUT_LEN {
        return Err(Argon2Error::InvalidParams);
    }
    let out_len = len32(out.len())?;
    let pw_len = len32(password.len())?;
    let salt_len = len32(salt.len())?;
    let secret_len = len32(secret.len())?;
    let ad_len = len32(ad.len())?;

    let lanes = p as usize;
    // m' = 4 * p * floor(m / (4 * p)); q = m' / p columns per lane.
    let segment_len = params.m_kib as usize / (SYNC_POINTS * lanes);
    let lane_len = segment_len * SYNC_POINTS;
    let m_prime = lane_len * lanes;

    // H0 (RFC 9106, section 3.2, step 1).
    let mut h0 = [0u8; 64];
    {
        let mut h = Blake2b512::new();
        Digest::update(&mut h, p.to_le_bytes());
        Digest::update(&mut h, out_len.to_le_bytes());
        Digest::update(&mut h, params.m_kib.to_le_bytes());
        Digest::update(&mut h, params.t_cost.to_le_bytes());
        Digest::update(&mut h, VERSION.to_le_bytes());
        Digest::update(&mut h, TYPE_ARGON2I.to_le_bytes());
        Digest::update(&mut h, pw_len.to_le_bytes());
        Digest::update(&mut h, password);
        Digest::update(&mut h, salt_len.to_le_bytes());
        Digest::update(&mut h, salt);
        Digest::update(&mut h, secret_len.to_le_bytes());
        Digest::update(&mut h, secret);
        Digest::update(&mut h, ad_len.to_le_bytes());
        Digest::update(&mut h, ad);
        h.finalize_into((&mut h0).into());
    }

    let mut memory: Vec<Block> = Vec::new();
    memory.resize(m_prime, ZERO_BLOCK);
    let mut bytes = [0u8; BLOCK_BYTES];

    // First two blocks of each lane (section 3.2, steps 3 and 4).
    for lane in 0..lanes {
        let lane_bytes = (lane as u32).to_le_bytes();
        for col in 0..2u32 {
            h_prime(&mut bytes, &[&h0, &col.to_le_bytes(), &lane_bytes]);
            block_from_bytes(&mut memory[lane * lane_len + col as usize], &bytes);
        }
    }
    h0.zeroize();

    let mut ctx = Filler {
        memory: &mut memory,
        lanes,
        lane_len,
        segment_len,
        m_prime: m_prime as u64,
        t_cost: u64::from(params.t_cost),
        scratch: Scratch::new(),
        address: ZERO_BLOCK,
        input: ZERO_BLOCK,
    };
    for pass in 0..params.t_cost as usize {
        for slice in 0..SYNC_POINTS {
            for lane in 0..lanes {
                ctx.fill_segment(pass, slice, lane);
            }
        }
    }
    ctx.wipe();

    // Final block C: XOR of the last column (section 3.2, step 7).
    let mut last = memory[lane_len - 1];
    for lane in 1..lanes {
        xor_into(&mut last, &memory[lane * lane_len + lane_len - 1]);
    }
    block_to_bytes(&mut bytes, &last);
    h_prime(out, &[&bytes]);

    last.zeroize();
    bytes.zeroize();
    // `Vec` zeroizing needs zeroize's `alloc` feature: wipe block by block.
    for block in &mut memory {
        block.zeroize();
    }
    Ok(())
}

/// Converts a length to the 32-bit form Argon2 hashes, rejecting larger ones.
fn len32(len: usize) -> Result<u32, Argon2Error> {
    u32::try_from(len).map_err(|_| Argon2Error::InvalidParams)
}

/// Variable-length hash H' (RFC 9106, section 3.3) of the concatenation of
/// `inputs`, writing `out.len()` bytes (at least 1).
fn h_prime(out: &mut [u8], inputs: &[&[u8]]) {
    let t = out.len();
    // Lengths reaching here were checked to fit in 32 bits.
    let t_le = (t as u32).to_le_bytes();
    if t <= 64 {
        // H^T(LE32(T) || A).
        let mut h = Blake2bVar::new(t).expect("digest length is within 1..=64");
        Update::update(&mut h, &t_le);
        for input in inputs {
            Update::update(&mut h, input);
        }
        h.finalize_variable(out)
            .expect("output buffer has the requested length");
        return;
    }
    // r = ceil(T / 32) - 2; V1 = H^64(LE32(T) || A); Vi = H^64(V(i-1));
    // V(r+1) = H^(T - 32r)(Vr); output W1 || ... || Wr || V(r+1), where Wi
    // is the first 32 bytes of Vi.
    let r = t.div_ceil(32) - 2;
    let mut v = [0u8; 64];
    let mut h = Blake2b512::new();
    Digest::update(&mut h, t_le);
    for input in inputs {
        Digest::update(&mut h, input);
    }
    h.finalize_into((&mut v).into());
    out[..32].copy_from_slice(&v[..32]);
    for i in 1..r {
        let mut h = Blake2b512::new();
        Digest::update(&mut h, v);
        h.finalize_into((&mut v).into());
        out[i * 32..i * 32 + 32].copy_from_slice(&v[..32]);
    }
    let mut h = Blake2bVar::new(t - 32 * r).expect("digest length is within 33..=64");
    Update::update(&mut h, &v);
    h.finalize_variable(&mut out[r * 32..])
        .expect("output buffer has the requested length");
    v.zeroize();
}

/// Loads a block from its 1024-byte little-endian encoding.
fn block_from_bytes(block: &mut Block, bytes: &[u8; BLOCK_BYTES]) {
    for (word, chunk) in block.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
}

/// Stores a block as its 1024-byte little-endian encoding.
fn block_to_bytes(bytes: &mut [u8; BLOCK_BYTES], block: &Block) {
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(block.iter()) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
}

/// `dst ^= src`, word by word.
#[inline]
fn xor_into(dst: &mut Block, src: &Block) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d ^= *s;
    }
}

/// fBlaMka: `x + y + 2 * lo32(x) * lo32(y)` modulo 2^64.
#[inline]
fn blamka(x: u64, y: u64) -> u64 {
    let lo = (x & 0xffff_ffff).wrapping_mul(y & 0xffff_ffff);
    x.wrapping_add(y).wrapping_add(lo.wrapping_mul(2))
}

/// The quarter-round GB of RFC 9106, section 3.6, on four words of `v`.
#[inline]
fn gb(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize) {
    v[a] = blamka(v[a], v[b]);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = blamka(v[c], v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = blamka(v[a], v[b]);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = blamka(v[c], v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

/// The permutation P of RFC 9106, section 3.6, on 16 words
/// (eight 16-byte registers S0..S7, Si = v[2i+1] || v[2i]).
#[inline]
fn permute(v: &mut [u64; 16]) {
    gb(v, 0, 4, 8, 12);
    gb(v, 1, 5, 9, 13);
    gb(v, 2, 6, 10, 14);
    gb(v, 3, 7, 11, 15);
    gb(v, 0, 5, 10, 15);
    gb(v, 1, 6, 11, 12);
    gb(v, 2, 7, 8, 13);
    gb(v, 3, 4, 9, 14);
}

/// Reusable buffers of the compression function, wiped at the end.
struct Scratch {
    /// R = X xor Y.
    r: Block,
    /// Working copy Q, then Z.
    z: Block,
    /// Sixteen words being permuted.
    v: [u64; 16],
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            r: ZERO_BLOCK,
            z: ZERO_BLOCK,
            v: [0u64; 16],
        }
    }

    /// Compression function G (RFC 9106, section 3.5):
    /// computes `P(x ^ y) ^ x ^ y` into `self.z`.
    #[inline]
    fn compress(&mut self, x: &Block, y: &Block) {
        for ((r, a), b) in self.r.iter_mut().zip(x.iter()).zip(y.iter()) {
            *r = *a ^ *b;
        }
        self.z = self.r;
        let v = &mut self.v;
        // Rows: row i is registers R(8i)..R(8i+7), i.e. words 16i..16i+15.
        for row in self.z.chunks_exact_mut(16) {
            v.copy_from_slice(row);
            permute(v);
            row.copy_from_slice(v);
        }
        // Columns: column i is registers R(i), R(i+8), ..., R(i+56), i.e.
        // words 2i + 16k and 2i + 16k + 1 for k = 0..7.
        for col in 0..8 {
            for k in 0..8 {
                v[2 * k] = self.z[2 * col + 16 * k];
                v[2 * k + 1] = self.z[2 * col + 16 * k + 1];
            }
            permute(v);
            for k in 0..8 {
                self.z[2 * col + 16 * k] = v[2 * k];
                self.z[2 * col + 16 * k + 1] = v[2 * k + 1];
            }
        }
        xor_into(&mut self.z, &self.r);
    }

    fn wipe(&mut self) {
        self.r.zeroize();
        self.z.zeroize();
        self.v.zeroize();
    }
}

/// State of the memory-filling phase.
struct Filler<'a> {
    memory: &'a mut [Block],
    lanes: usize,
    lane_len: usize,
    segment_len: usize,
    m_prime: u64,
    t_cost: u64,
    scratch: Scratch,
    /// Current block of pseudo-random addresses.
    address: Block,
    /// Input block Z of the address generator.
    input: Block,
}

impl Filler<'_> {
    /// Computes the next block of pseudo-random values (RFC 9106, section
    /// 3.4.1.2): increments the counter, then address = G(0, G(0, Z)).
    fn next_addresses(&mut self) {
        self.input[6] = self.input[6].wrapping_add(1);
        self.scratch.compress(&ZERO_BLOCK, &self.input);
        let first = self.scratch.z;
        self.scratch.compress(&ZERO_BLOCK, &first);
        self.address = self.scratch.z;
    }

    /// Fills one segment (`slice` of `lane`) in pass `pass`.
    fn fill_segment(&mut self, pass: usize, slice: usize, lane: usize) {
        self.input = ZERO_BLOCK;
        self.input[0] = pass as u64;
        self.input[1] = lane as u64;
        self.input[2] = slice as u64;
        self.input[3] = self.m_prime;
        self.input[4] = self.t_cost;
        self.input[5] = u64::from(TYPE_ARGON2I);
        // input[6] is the counter, starting at 1 for the first address block.

        let first_pass = pass == 0;
        // Blocks 0 and 1 of each lane are already set.
        let start = if first_pass && slice == 0 { 2 } else { 0 };
        if start != 0 {
            self.next_addresses();
        }

        let lane_base = lane * self.lane_len;
        for index in start..self.segment_len {
            if index % BLOCK_WORDS == 0 {
                self.next_addresses();
            }
            let rand = self.address[index % BLOCK_WORDS];
            let j1 = rand & 0xffff_ffff;
            let j2 = rand >> 32;

            let col = slice * self.segment_len + index;
            let cur = lane_base + col;
            let prev = if col == 0 {
                lane_base + self.lane_len - 1
            } else {
                cur - 1
            };

            // Reference lane (section 3.4.2).
            let ref_lane = if first_pass && slice == 0 {
                lane
            } else {
                (j2 % self.lanes as u64) as usize
            };
            let same_lane = ref_lane == lane;

            // Size of the reference set W.
            let area = if first_pass {
                if same_lane {
                    // All blocks computed so far in this lane but the previous.
                    slice * self.segment_len + index - 1
                } else {
                    // Finished segments of the other lane; if this is the
                    // first block of the segment, without their last block.
                    slice * self.segment_len - usize::from(index == 0)
                }
            } else if same_lane {
                self.lane_len - self.segment_len + index - 1
            } else {
                self.lane_len - self.segment_len - usize::from(index == 0)
            };

            // x = J1^2 / 2^32; y = |W| * x / 2^32; zz = |W| - 1 - y.
            let x = (j1 * j1) >> 32;
            let y = ((area as u64) * x) >> 32;
            let zz = area as u64 - 1 - y;
            // W starts right after the current slice in later passes.
            let start_pos = if first_pass || slice == SYNC_POINTS - 1 {
                0
            } else {
                (slice + 1) * self.segment_len
            };
            let ref_col = ((start_pos as u64 + zz) % self.lane_len as u64) as usize;
            let refi = ref_lane * self.lane_len + ref_col;

            self.scratch
                .compress(&self.memory[prev], &self.memory[refi]);
            let dst = &mut self.memory[cur];
            if first_pass {
                *dst = self.scratch.z;
            } else {
                // Version 0x13: XOR the new block into the old one.
                xor_into(dst, &self.scratch.z);
            }
        }
    }

    fn wipe(&mut self) {
        self.scratch.wipe();
        self.address.zeroize();
        self.input.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> alloc::string::String {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        for b in bytes {
            write!(s, "{:02x}", b).unwrap();
        }
        s
    }

    fn e4go_params() -> Params {
        Params {
            t_cost: 1,
            m_kib: 65536,
            lanes: 4,
        }
    }

    #[test]
    fn e4go_empty_salt() {
        let key = e4go_derive(b"passwordpassword");
        assert_eq!(
            hex(&key),
            "9f14a0ec3c98c19029eb74ba0cfb983082b3b28bd3ccee1de54af783ef11435e"
        );
        let mut out = [0u8; 32];
        argon2i(b"passwordpassword", b"", &e4go_params(), &mut out).unwrap();
        assert_eq!(out, key);
    }

    #[test]
    fn e4go_params_with_salt() {
        let mut out = [0u8; 32];
        argon2i(
            b"passwordpassword",
            b"somesaltsomesalt",
            &e4go_params(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            hex(&out),
            "74da8ae6c3a3fed4718d1e404d7c32a5c93a229ddbec1cf4a53544babe05e073"
        );
    }

    #[test]
    fn rfc9106_argon2i_vector() {
        let params = Params {
            t_cost: 3,
            m_kib: 32,
            lanes: 4,
        };
        let mut out = [0u8; 32];
        argon2i_full(
            &[0x01; 32],
            &[0x02; 16],
            &[0x03; 8],
            &[0x04; 12],
            &params,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            hex(&out),
            "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8"
        );
    }

    #[test]
    fn invalid_params() {
        let mut out = [0u8; 32];
        let cases = [
            Params {
                t_cost: 1,
                m_kib: 64,
                lanes: 0,
            },
            Params {
                t_cost: 1,
                m_kib: 31,
                lanes: 4,
            },
            Params {
                t_cost: 1,
                m_kib: 7,
                lanes: 1,
            },
            Params {
                t_cost: 0,
                m_kib: 64,
                lanes: 1,
            },
            Params {
                t_cost: 1,
                m_kib: u32::MAX,
                lanes: 1 << 24,
            },
        ];
        for params in &cases {
            assert_eq!(
                argon2i(b"password", b"", params, &mut out),
                Err(Argon2Error::InvalidParams)
            );
        }
        // Tag shorter than 4 bytes.
        let ok = Params {
            t_cost: 1,
            m_kib: 8,
            lanes: 1,
        };
        assert_eq!(
            argon2i(b"password", b"", &ok, &mut [0u8; 3]),
            Err(Argon2Error::InvalidParams)
        );
        // Smallest valid memory for the lane count.
        assert_eq!(argon2i(b"password", b"", &ok, &mut out), Ok(()));
        let ok4 = Params {
            t_cost: 1,
            m_kib: 32,
            lanes: 4,
        };
        assert_eq!(argon2i(b"password", b"", &ok4, &mut out), Ok(()));
    }
}
