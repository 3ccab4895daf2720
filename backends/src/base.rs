//! SHA3-256 and AES-SIV: the primitives every suite shares.
//!
//! AES-SIV (RFC 5297, CMAC-SIV) is built here around the block API of
//! RustCrypto's `aes` crate, for E4's key `K ‖ K`: S2V and CTR use the same
//! AES-256 key, so [`PreparedSiv`] expands it once and also keeps the CMAC
//! subkeys and the doubled `CMAC(K, 0¹²⁸)` that S2V starts from. A seal then
//! costs exactly the AES blocks the mode needs: one per associated-data
//! block, one CMAC block and one CTR block per 16 payload bytes.
//!
//! Speed notes:
//! * All the work of one call runs inside a single `BlockClosure` handed to
//!   the `aes` crate, which calls it from a function compiled with AES-NI
//!   enabled when the CPU has it: the CMAC and CTR loops are inlined around
//!   the AES-NI rounds even with the crate's run-time CPU detection.
//! * CTR uses the backend's parallel blocks (8 with AES-NI); [`Siv::open`]
//!   interleaves the decryption of the next 8 blocks with the CMAC chain of
//!   the previous ones.
//! * [`Siv::seal_many`] interleaves the CMAC chains of up to 16 messages
//!   (two groups of 8 parallel blocks), the only way past the latency bound
//!   of a serial CMAC.
//! * Chaining values stay SIMD values (`Block`, or byte arrays XORed element
//!   by element): a `u128` chaining value makes LLVM move it through
//!   general-purpose registers between AES calls (here 12 % slower on long
//!   messages, and 40 % when it scalarised a byte array instead).
//! * Integrators who know their CPUs can drop run-time detection altogether
//!   with `RUSTFLAGS="-C target-feature=+aes,+ssse3"` (or
//!   `-C target-cpu=native`); the `aes` crate then always uses AES-NI.
//!
//! [`AesSiv`] prepares the key on every call (it keeps no state); hot paths
//! keep a [`PreparedSiv`] per key (see [`crate::fast::TopicCipher`]).

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{BlockBackend, BlockClosure, BlockEncrypt, BlockSizeUser, KeyInit, ParBlocks};
use aes::{Aes256Enc, Block};
use e4_proto::crypto::{Sha3, Siv, SivItem, SIV_LEN};
use e4_proto::{Error, SymKey};
use sha3::{Digest, Sha3_256};
use zeroize::Zeroize;

/// SHA3-256 from the `sha3` crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha3Rc;

impl Sha3 for Sha3Rc {
    fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha3_256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}

/// AES-SIV with E4's doubled key `K ‖ K`, preparing the key on each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct AesSiv;

impl Siv for AesSiv {
    fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        Expanded::new(key).seal(ad, buf)
    }

    #[cfg(not(target_arch = "avr"))]
    fn seal_to(
        &self,
        key: &SymKey,
        ad: &[u8],
        pt: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; SIV_LEN], Error> {
        if pt.len() != out.len() {
            return Err(Error::BufferTooSmall);
        }
        Ok(Expanded::new(key).seal_from(ad, Some(pt), out))
    }

    fn open(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        Expanded::new(key).open(ad, siv, buf)
    }

    #[cfg(not(target_arch = "avr"))]
    fn open_to(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        ct: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        Expanded::new(key).open_from(ad, siv, Some(ct), out)
    }

    fn seal_many(&self, key: &SymKey, items: &mut [SivItem<'_>]) {
        Expanded::new(key).seal_many(items)
    }

    #[cfg(feature = "alloc")]
    fn prepare_key(
        &self,
        key: &SymKey,
    ) -> Option<alloc::boxed::Box<dyn e4_proto::crypto::PreparedSivKey>> {
        Some(alloc::boxed::Box::new(PreparedSiv::new(key)))
    }
}

// ---------------------------------------------------------------------------
// Blocks as byte arrays with element-wise XOR, which the compiler turns
// into SIMD XORs and keeps in vector registers along a CMAC chain (a u128
// would travel through general-purpose registers between AES calls, adding
// latency to every block of the chain). Doubling and the counter convert.

/// A 16-byte block.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct X([u8; 16]);

impl X {
    const ZERO: X = X([0; 16]);
}

impl core::ops::BitXor for X {
    type Output = X;
    #[inline(always)]
    fn bitxor(self, o: X) -> X {
        X(core::array::from_fn(|i| self.0[i] ^ o.0[i]))
    }
}

impl core::ops::BitOr for X {
    type Output = X;
    #[inline(always)]
    fn bitor(self, o: X) -> X {
        X(core::array::from_fn(|i| self.0[i] | o.0[i]))
    }
}

impl Zeroize for X {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

#[inline(always)]
fn ld(b: &[u8]) -> X {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    X(a)
}

#[inline(always)]
fn st(b: &mut [u8], x: X) {
    b[..16].copy_from_slice(&x.0);
}

#[inline(always)]
fn to_block(x: X) -> Block {
    GenericArray::from(x.0)
}

#[inline(always)]
fn from_block(b: &Block) -> X {
    ld(b.as_slice())
}

/// Multiplication by x in GF(2¹²⁸) (RFC 5297 `dbl`).
#[inline(always)]
fn dbl(x: X) -> X {
    let v = u128::from_be_bytes(x.0);
    X(((v << 1) ^ ((v >> 127) * 0x87)).to_be_bytes())
}

/// `m ‖ 0x80 ‖ 0…` for `m` shorter than a block.
#[inline(always)]
fn pad(m: &[u8]) -> X {
    let mut a = [0u8; 16];
    a[..m.len()].copy_from_slice(m);
    a[m.len()] = 0x80;
    X(a)
}

#[inline(always)]
fn enc<B: BlockBackend<BlockSize = U16>>(be: &mut B, x: X) -> X {
    let mut b = to_block(x);
    be.proc_block((&mut b).into());
    from_block(&b)
}

/// The CMAC subkeys and the S2V starting value of a key.
#[derive(Clone)]
struct Subkeys {
    k1: X,
    k2: X,
    /// `dbl(CMAC(K, 0¹²⁸))`: the first S2V step, which depends on the key only.
    d0: X,
}

impl Drop for Subkeys {
    fn drop(&mut self) {
        self.k1.zeroize();
        self.k2.zeroize();
        self.d0.zeroize();
    }
}

/// AES-CMAC of `m` (RFC 4493).
#[inline(always)]
fn cmac<B: BlockBackend<BlockSize = U16>>(be: &mut B, sk: &Subkeys, m: &[u8]) -> X {
    if m.is_empty() {
        return enc(be, pad(m) ^ sk.k2);
    }
    let n = (m.len() - 1) / 16;
    let mut x = X::ZERO;
    for i in 0..n {
        x = enc(be, x ^ ld(&m[16 * i..]));
    }
    let last = &m[16 * n..];
    let last = if last.len() == 16 {
        ld(last) ^ sk.k1
    } else {
        pad(last) ^ sk.k2
    };
    enc(be, x ^ last)
}

/// How S2V's final CMAC covers a plaintext: `plain` whole blocks of the
/// plaintext unchanged, then one or two blocks (`tail`) that carry the
/// `xorend`/`dbl ⊕ pad` with D, the padding and the CMAC subkey, so that
/// `CMAC(T) = E(… E(E(P₀) ⊕ P₁) … ⊕ tail₀) [⊕ tail₁ …]`.
#[derive(Clone, Copy)]
struct Tail {
    plain: usize,
    n: usize,
    blocks: [X; 2],
}

#[inline(always)]
fn s2v_tail(sk: &Subkeys, d: X, m: &[u8]) -> Tail {
    if m.len() < 16 {
        // T = dbl(D) ⊕ pad(P): one complete block, so K1.
        return Tail {
            plain: 0,
            n: 1,
            blocks: [dbl(d) ^ pad(m) ^ sk.k1, X::ZERO],
        };
    }
    // T = P xorend D: only the block(s) holding the last 16 bytes change.
    let off = m.len() - 16;
    let s = off & !15;
    let rest = &m[s..]; // 16..=31 bytes
    let mut t = [0u8; 32];
    t[..rest.len()].copy_from_slice(rest);
    let db = d.0;
    let o = off - s;
    for i in 0..16 {
        t[o + i] ^= db[i];
    }
    if rest.len() == 16 {
        Tail {
            plain: s / 16,
            n: 1,
            blocks: [ld(&t) ^ sk.k1, X::ZERO],
        }
    } else {
        Tail {
            plain: s / 16,
            n: 2,
            blocks: [ld(&t), pad(&t[16..rest.len()]) ^ sk.k2],
        }
    }
}

/// `D = dbl(CMAC(0)) ⊕ CMAC(AD)`, the S2V state before the plaintext.
#[inline(always)]
fn s2v_ad<B: BlockBackend<BlockSize = U16>>(be: &mut B, sk: &Subkeys, ad: &[u8]) -> X {
    sk.d0 ^ cmac(be, sk, ad)
}

/// The CMAC over the blocks of `tail`, continuing from `x`.
#[inline(always)]
fn finish<B: BlockBackend<BlockSize = U16>>(be: &mut B, mut x: X, tail: &Tail) -> X {
    for &b in &tail.blocks[..tail.n] {
        x = enc(be, x ^ b);
    }
    x
}

/// The CTR counter of a SIV: bits 31 and 63 cleared (RFC 5297 §2.5).
///
/// The counter is a 128-bit big-endian integer. Bit 63 cleared means its
/// low 64 bits start below 2⁶³, so adding any block index of a message
/// (< 2⁵⁹ blocks) never carries into the high half: the counter of block
/// `i` is `high ‖ (low + i)`, computed with one 64-bit addition.
#[derive(Clone, Copy)]
struct Counter {
    /// The high 8 bytes, in memory order (bytes 0..8 of the block).
    high: u64,
    /// The low 64 bits, as an integer.
    low: u64,
}

#[inline(always)]
fn counter(v: X) -> Counter {
    let mut q = v.0;
    q[8] &= 0x7f;
    q[12] &= 0x7f;
    let (h, l) = q.split_at(8);
    Counter {
        high: u64::from_ne_bytes(h.try_into().expect("8")),
        low: u64::from_be_bytes(l.try_into().expect("8")),
    }
}

#[inline(always)]
fn ctr_block(q: Counter, i: usize) -> Block {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&q.high.to_ne_bytes());
    b[8..].copy_from_slice(&q.low.wrapping_add(i as u64).to_be_bytes());
    GenericArray::from(b)
}

/// XOR the keystream of counter `q`, starting at block `first`, into `buf`
/// (whose first byte is block `first`'s).
#[inline(always)]
fn ctr<B: BlockBackend<BlockSize = U16>>(be: &mut B, q: Counter, first: usize, buf: &mut [u8]) {
    ctr_from(be, q, first, None, buf)
}

/// [`ctr`] reading the input from `src` (as long as `buf`) when given, so
/// that decryption and the copy out of the message are one pass.
#[inline(always)]
fn ctr_from<B: BlockBackend<BlockSize = U16>>(
    be: &mut B,
    q: Counter,
    first: usize,
    src: Option<&[u8]>,
    buf: &mut [u8],
) {
    let par = B::ParBlocksSize::USIZE;
    let mut i = first;
    let input = |p: &[u8], at: usize| match src {
        Some(s) => ld(&s[at..]),
        None => ld(p),
    };
    let mut at = 0;
    let mut chunks = buf.chunks_exact_mut(16 * par);
    for chunk in &mut chunks {
        let mut ks: ParBlocks<B> = Default::default();
        for (j, b) in ks.iter_mut().enumerate() {
            *b = ctr_block(q, i + j);
        }
        be.proc_par_blocks((&mut ks).into());
        // Every load of the chunk before any store: with a separate source,
        // a store to `buf` whose address matches a later load from `src` in
        // its low 12 bits (the two buffers are often a multiple of 4 KiB
        // plus a few bytes apart) would otherwise stall that load (4K
        // aliasing).
        for (j, k) in ks.iter_mut().enumerate() {
            *k = to_block(input(&chunk[16 * j..], at + 16 * j) ^ from_block(k));
        }
        for (p, k) in chunk.chunks_exact_mut(16).zip(ks.iter()) {
            st(p, from_block(k));
        }
        at += 16 * par;
        i += par;
    }
    let rest = chunks.into_remainder();
    let mut blocks = rest.chunks_exact_mut(16);
    for p in &mut blocks {
        let mut k = ctr_block(q, i);
        be.proc_block((&mut k).into());
        st(p, input(p, at) ^ from_block(&k));
        at += 16;
        i += 1;
    }
    let last = blocks.into_remainder();
    if !last.is_empty() {
        let mut k = ctr_block(q, i);
        be.proc_block((&mut k).into());
        if let Some(s) = src {
            last.copy_from_slice(&s[at..]);
        }
        for (p, k) in last.iter_mut().zip(k.iter()) {
            *p ^= k;
        }
    }
}

/// One seal: S2V, then CTR. The plaintext is `buf` itself, or `src` (as
/// long as `buf`) encrypted into `buf`.
struct SealOne<'a> {
    sk: &'a Subkeys,
    ad: &'a [u8],
    src: Option<&'a [u8]>,
    buf: &'a mut [u8],
    siv: &'a mut X,
}

impl BlockSizeUser for SealOne<'_> {
    type BlockSize = U16;
}

impl BlockClosure for SealOne<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, be: &mut B) {
        // The CMAC of the AD and the first plaintext blocks are independent
        // chains: the CPU overlaps them.
        let d = s2v_ad(be, self.sk, self.ad);
        let plain: &[u8] = self.src.unwrap_or(self.buf);
        let tail = s2v_tail(self.sk, d, plain);
        // The chain state stays a `Block` (XORed in place) so that it lives
        // in a vector register from one AES call to the next.
        let mut x = Block::default();
        for m in plain.chunks_exact(16).take(tail.plain) {
            for (a, b) in x.iter_mut().zip(m) {
                *a ^= b;
            }
            be.proc_block((&mut x).into());
        }
        let v = finish(be, from_block(&x), &tail);
        ctr_from(be, counter(v), 0, self.src, self.buf);
        *self.siv = v;
    }
}

/// One open: CTR, interleaved with the CMAC of the blocks already
/// decrypted, then the end of S2V. The ciphertext is `buf` itself, or `src`
/// (as long as `buf`) decrypted into `buf`.
struct OpenOne<'a> {
    sk: &'a Subkeys,
    ad: &'a [u8],
    siv: X,
    src: Option<&'a [u8]>,
    buf: &'a mut [u8],
    out: &'a mut X,
}

impl BlockSizeUser for OpenOne<'_> {
    type BlockSize = U16;
}

impl BlockClosure for OpenOne<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, be: &mut B) {
        let par = B::ParBlocksSize::USIZE;
        let q = counter(self.siv);
        let d = s2v_ad(be, self.sk, self.ad);
        let n = self.buf.len();
        // Whole blocks that S2V absorbs unchanged (before the xorend part).
        let plain = if n < 16 { 0 } else { (n - 16) / 16 };
        let mut x = X::ZERO;
        let mut done = 0; // blocks absorbed
        let mut dec = 0; // blocks decrypted
        let step = 16 * par;
        while 16 * dec + step <= 16 * plain {
            let src = self.src.map(|s| &s[16 * dec..16 * dec + step]);
            ctr_from(be, q, dec, src, &mut self.buf[16 * dec..16 * dec + step]);
            dec += par;
            // Absorb the chunk before the one just decrypted, so that its
            // CTR overlaps this CMAC chain.
            while done + par < dec {
                x = enc(be, x ^ ld(&self.buf[16 * done..]));
                done += 1;
            }
        }
        let src = self.src.map(|s| &s[16 * dec..]);
        ctr_from(be, q, dec, src, &mut self.buf[16 * dec..]);
        while done < plain {
            x = enc(be, x ^ ld(&self.buf[16 * done..]));
            done += 1;
        }
        let tail = s2v_tail(self.sk, d, self.buf);
        debug_assert_eq!(tail.plain, plain);
        *self.out = finish(be, x, &tail);
    }
}

/// Many seals under one key: the CMAC chains of up to twice `ParBlocksSize`
/// messages advance together, in two parallel AES calls per step (two
/// independent groups, so that the bookkeeping of one overlaps the AES
/// rounds of the other).
struct SealMany<'a, 'b> {
    sk: &'a Subkeys,
    items: &'a mut [SivItem<'b>],
}

impl BlockSizeUser for SealMany<'_, '_> {
    type BlockSize = U16;
}

/// One CMAC chain of [`SealMany`]: the item's whole plaintext blocks, its
/// tail blocks, where it is, and where its SIV goes.
struct Lane<'i> {
    plain: &'i [u8],
    tail: [X; 2],
    /// Blocks in all; `usize::MAX` for an idle lane.
    n: usize,
    j: usize,
    x: X,
    siv: Option<&'i mut [u8; SIV_LEN]>,
}

impl<'i> Lane<'i> {
    const IDLE: Lane<'static> = Lane {
        plain: &[],
        tail: [X::ZERO; 2],
        n: usize::MAX,
        j: 0,
        x: X::ZERO,
        siv: None,
    };

    /// The next CMAC input block.
    #[inline(always)]
    fn input(&self) -> X {
        match self.plain.get(16 * self.j..16 * self.j + 16) {
            Some(b) => ld(b),
            None => self
                .tail
                .get(self.j - self.plain.len() / 16)
                .copied()
                .unwrap_or(X::ZERO),
        }
    }

    /// Start `item`, whose SIV slot holds its D; an idle lane if `None`.
    #[inline(always)]
    fn start<'b>(sk: &Subkeys, item: Option<&'i mut SivItem<'b>>) -> Lane<'i> {
        let Some(item) = item else {
            return Lane::IDLE;
        };
        let SivItem { buf, siv, .. } = item;
        let buf: &'i [u8] = buf;
        let tail = s2v_tail(sk, X(*siv), buf);
        Lane {
            plain: &buf[..16 * tail.plain],
            tail: tail.blocks,
            n: tail.plain + tail.n,
            j: 0,
            x: X::ZERO,
            siv: Some(siv),
        }
    }
}

const MAX_PAR: usize = 8;

impl BlockClosure for SealMany<'_, '_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, be: &mut B) {
        let items = self.items;
        let sk = self.sk;
        // 1. D of every item, kept in its SIV slot; consecutive items with
        //    the same associated data (a batch's timestamp) share it.
        let mut prev: Option<(&[u8], X)> = None;
        for it in items.iter_mut() {
            let d = match prev {
                Some((ad, d)) if ad == it.ad => d,
                _ => s2v_ad(be, sk, it.ad),
            };
            prev = Some((it.ad, d));
            it.siv = d.0;
        }
        // 2. The final CMAC of every item, 2 × `par` chains at a time.
        let par = B::ParBlocksSize::USIZE.min(MAX_PAR);
        let groups = if items.len() > par { 2 } else { 1 };
        {
            let mut queue = items.iter_mut();
            let mut lanes: [Lane<'_>; 2 * MAX_PAR] = core::array::from_fn(|_| Lane::IDLE);
            let mut active = 0;
            for l in lanes.iter_mut().take(groups * par) {
                *l = Lane::start(sk, queue.next());
                active += usize::from(l.siv.is_some());
            }
            while active > 0 {
                let mut blocks: [ParBlocks<B>; 2] = Default::default();
                for (g, bl) in blocks.iter_mut().enumerate().take(groups) {
                    for (l, b) in lanes[g * par..(g + 1) * par].iter().zip(bl.iter_mut()) {
                        *b = to_block(l.x ^ l.input());
                    }
                }
                for bl in blocks.iter_mut().take(groups) {
                    be.proc_par_blocks(bl.into());
                }
                for (g, bl) in blocks.iter().enumerate().take(groups) {
                    for (l, b) in lanes[g * par..(g + 1) * par].iter_mut().zip(bl.iter()) {
                        l.x = from_block(b);
                        l.j += 1;
                        if l.j == l.n {
                            if let Some(siv) = l.siv.take() {
                                *siv = l.x.0;
                            }
                            *l = Lane::start(sk, queue.next());
                            if l.siv.is_none() {
                                active -= 1;
                            }
                        }
                    }
                }
            }
        }
        // 3. CTR of every item.
        for it in items.iter_mut() {
            ctr(be, counter(X(it.siv)), 0, it.buf);
        }
    }
}

/// The expanded form of a key: the AES-256 key schedule (shared by S2V and
/// CTR, since E4's key is `K ‖ K`), the CMAC subkeys and the first S2V step.
/// Zeroized on drop (the `aes` crate's `zeroize` feature and [`Subkeys`]).
#[derive(Clone)]
struct Expanded {
    aes: Aes256Enc,
    sk: Subkeys,
}

struct Setup<'a>(&'a mut Subkeys);

impl BlockSizeUser for Setup<'_> {
    type BlockSize = U16;
}

impl BlockClosure for Setup<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, be: &mut B) {
        let l = enc(be, X::ZERO);
        let k1 = dbl(l);
        let k2 = dbl(k1);
        // CMAC(K, 0¹²⁸): one complete block, E(0 ⊕ K1).
        let c0 = enc(be, k1);
        *self.0 = Subkeys {
            k1,
            k2,
            d0: dbl(c0),
        };
    }
}

/// The AES-256 key schedule of `key`. (With the `aes` crate's run-time CPU
/// detection its key expansion calls each AES-NI intrinsic out of line:
/// about 110 ns here, against 17 ns with AES-NI enabled at compile time.
/// Hot paths expand once per key, see [`PreparedSiv`].)
#[inline(always)]
fn expand(key: &SymKey) -> Aes256Enc {
    Aes256Enc::new(GenericArray::from_slice(key.as_bytes()))
}

/// `a == b` without a data-dependent branch or early exit.
#[inline(always)]
fn ct_eq16(a: X, b: X) -> bool {
    core::hint::black_box(u128::from_ne_bytes((a ^ b).0)) == 0
}

impl Expanded {
    #[inline]
    fn new(key: &SymKey) -> Expanded {
        let aes = expand(key);
        let mut sk = Subkeys {
            k1: X::ZERO,
            k2: X::ZERO,
            d0: X::ZERO,
        };
        aes.encrypt_with_backend(Setup(&mut sk));
        Expanded { aes, sk }
    }

    #[inline]
    fn seal(&self, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        self.seal_from(ad, None, buf)
    }

    /// Seal `src` (or `buf` in place) into `buf`; `src` is as long as `buf`.
    #[inline]
    fn seal_from(&self, ad: &[u8], src: Option<&[u8]>, buf: &mut [u8]) -> [u8; SIV_LEN] {
        let mut v = X::ZERO;
        self.aes.encrypt_with_backend(SealOne {
            sk: &self.sk,
            ad,
            src,
            buf,
            siv: &mut v,
        });
        v.0
    }

    #[inline]
    fn open(&self, ad: &[u8], siv: &[u8; SIV_LEN], buf: &mut [u8]) -> Result<(), Error> {
        self.open_from(ad, siv, None, buf)
    }

    /// Open `src` (or `buf` in place) into `buf`; `src` is as long as `buf`.
    #[inline]
    fn open_from(
        &self,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        src: Option<&[u8]>,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        if src.is_some_and(|s| s.len() != buf.len()) {
            return Err(Error::BufferTooSmall);
        }
        let mut v = X::ZERO;
        let expected = X(*siv);
        self.aes.encrypt_with_backend(OpenOne {
            sk: &self.sk,
            ad,
            siv: expected,
            src,
            buf: &mut *buf,
            out: &mut v,
        });
        if ct_eq16(v, expected) {
            Ok(())
        } else {
            buf.zeroize();
            Err(Error::NotAuthentic)
        }
    }

    #[inline]
    fn seal_many(&self, items: &mut [SivItem<'_>]) {
        self.aes.encrypt_with_backend(SealMany {
            sk: &self.sk,
            items,
        });
    }
}

/// An AES-SIV key ready for use: the AES-256 key schedule (shared by S2V and
/// CTR, since E4's key is `K ‖ K`), the CMAC subkeys and the first S2V step,
/// expanded once and kept. Zeroized on drop.
#[derive(Clone)]
pub struct PreparedSiv {
    key: SymKey,
    x: Expanded,
}

impl core::fmt::Debug for PreparedSiv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PreparedSiv(<redacted>)")
    }
}

impl PreparedSiv {
    /// Expand `key` (AES-256 key schedule, CMAC subkeys, `dbl(CMAC(0))`).
    pub fn new(key: &SymKey) -> PreparedSiv {
        PreparedSiv {
            key: key.clone(),
            x: Expanded::new(key),
        }
    }

    /// Whether this is the preparation of `key` (constant time).
    #[inline]
    pub fn is_key(&self, key: &SymKey) -> bool {
        let (a, b) = (self.key.as_bytes(), key.as_bytes());
        let d = (ld(&a[..16]) ^ ld(&b[..16])) | (ld(&a[16..]) ^ ld(&b[16..]));
        ct_eq16(d, X::ZERO)
    }

    /// The key this was prepared from.
    pub fn key(&self) -> &SymKey {
        &self.key
    }

    /// Encrypt `buf` in place under the prepared key; returns the SIV.
    #[inline]
    pub fn seal_prepared(&self, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        self.x.seal(ad, buf)
    }

    /// Check `siv` and decrypt `buf` in place under the prepared key. On
    /// failure `buf` is zeroed.
    #[inline]
    pub fn open_prepared(
        &self,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        self.x.open(ad, siv, buf)
    }

    /// Seal every item under the prepared key, interleaving their CMACs.
    #[inline]
    pub fn seal_many_prepared(&self, items: &mut [SivItem<'_>]) {
        self.x.seal_many(items)
    }
}

/// A prepared key is also a [`Siv`]: calls with its own key use the
/// preparation, calls with any other key fall back to [`AesSiv`].
impl Siv for PreparedSiv {
    fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        if self.is_key(key) {
            self.seal_prepared(ad, buf)
        } else {
            AesSiv.seal(key, ad, buf)
        }
    }

    #[cfg(not(target_arch = "avr"))]
    fn seal_to(
        &self,
        key: &SymKey,
        ad: &[u8],
        pt: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; SIV_LEN], Error> {
        if !self.is_key(key) {
            return AesSiv.seal_to(key, ad, pt, out);
        }
        if pt.len() != out.len() {
            return Err(Error::BufferTooSmall);
        }
        Ok(self.x.seal_from(ad, Some(pt), out))
    }

    fn open(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        if self.is_key(key) {
            self.open_prepared(ad, siv, buf)
        } else {
            AesSiv.open(key, ad, siv, buf)
        }
    }

    #[cfg(not(target_arch = "avr"))]
    fn open_to(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        ct: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        if self.is_key(key) {
            self.x.open_from(ad, siv, Some(ct), out)
        } else {
            AesSiv.open_to(key, ad, siv, ct, out)
        }
    }

    fn seal_many(&self, key: &SymKey, items: &mut [SivItem<'_>]) {
        if self.is_key(key) {
            self.seal_many_prepared(items)
        } else {
            AesSiv.seal_many(key, items)
        }
    }
}

#[cfg(feature = "alloc")]
impl e4_proto::crypto::PreparedSivKey for PreparedSiv {
    fn is_key(&self, key: &SymKey) -> bool {
        PreparedSiv::is_key(self, key)
    }
    fn as_siv(&self) -> &dyn Siv {
        self
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use aes_siv::siv::Aes256Siv;
    use std::string::String;
    use std::vec;
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

    /// The previous implementation: RustCrypto's `aes-siv` with `K ‖ K`.
    fn reference_seal(key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        use aes_siv::KeyInit as _;
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(key.as_bytes());
        k[32..].copy_from_slice(key.as_bytes());
        Aes256Siv::new(GenericArray::from_slice(&k))
            .encrypt_in_place_detached([ad], buf)
            .unwrap()
            .into()
    }

    #[test]
    fn rfc4493_subkeys_via_dbl() {
        let l = ld(&hex::decode("7df76b0c1ab899b33e42f047b91b546f").unwrap());
        let k1 = dbl(l);
        assert_eq!(hex::encode(k1.0), "fbeed618357133667c85e08f7236a8de");
        assert_eq!(hex::encode(dbl(k1).0), "f7ddac306ae266ccf90bc11ee46d513b");
    }

    #[test]
    fn matches_aes_siv_crate() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let lens = (0..300).chain([511, 512, 513, 1024, 4095, 4096, 4097, 16384]);
        for n in lens {
            for ad_len in [0usize, 1, 8, 15, 16, 17, 32, 40] {
                let key = SymKey::from_slice(&rng.bytes(32)).unwrap();
                let ad = rng.bytes(ad_len);
                let pt = rng.bytes(n);
                let mut a = pt.clone();
                let mut b = pt.clone();
                let ta = AesSiv.seal(&key, &ad, &mut a);
                let tb = reference_seal(&key, &ad, &mut b);
                assert_eq!((ta, &a), (tb, &b), "len {n}, ad {ad_len}");
                // Seal from the plaintext into another buffer and open from
                // the ciphertext into another buffer, with the key prepared
                // or not: the same bytes.
                let prepared = PreparedSiv::new(&key);
                for siv in [&AesSiv as &dyn Siv, &prepared] {
                    let mut o = vec![0xa5; n];
                    assert_eq!(siv.seal_to(&key, &ad, &pt, &mut o), Ok(ta));
                    assert_eq!(o, b, "seal_to, len {n}, ad {ad_len}");
                    let mut short = vec![0; n + 1];
                    let r = siv.seal_to(&key, &ad, &pt, &mut short);
                    assert_eq!(r, Err(Error::BufferTooSmall));
                    let mut o = vec![0xa5; n];
                    siv.open_to(&key, &ad, &ta, &b, &mut o).unwrap();
                    assert_eq!(o, pt, "open_to, len {n}, ad {ad_len}");
                    if n > 0 {
                        let mut c = b.clone();
                        c[n - 1] ^= 1;
                        let r = siv.open_to(&key, &ad, &ta, &c, &mut o);
                        assert_eq!(r, Err(Error::NotAuthentic));
                        assert!(o.iter().all(|&x| x == 0), "zeroed on failure");
                    }
                    let mut short = vec![0; n + 1];
                    let r = siv.open_to(&key, &ad, &ta, &b, &mut short);
                    assert_eq!(r, Err(Error::BufferTooSmall));
                }
                AesSiv.open(&key, &ad, &ta, &mut a).unwrap();
                assert_eq!(a, pt);
                if n > 0 {
                    let mut c = b.clone();
                    c[n / 2] ^= 1;
                    assert_eq!(
                        AesSiv.open(&key, &ad, &ta, &mut c),
                        Err(Error::NotAuthentic)
                    );
                    assert!(c.iter().all(|&x| x == 0));
                }
                let mut t = ta;
                t[15] ^= 0x80;
                let mut c = b.clone();
                assert_eq!(AesSiv.open(&key, &ad, &t, &mut c), Err(Error::NotAuthentic));
            }
        }
    }

    #[test]
    fn prepared_falls_back_for_other_keys() {
        let k1 = SymKey::new([1; 32]);
        let k2 = SymKey::new([2; 32]);
        let p = PreparedSiv::new(&k1);
        assert!(p.is_key(&k1) && !p.is_key(&k2));
        for k in [&k1, &k2] {
            let (mut a, mut b) = (vec![7u8; 50], vec![7u8; 50]);
            assert_eq!(p.seal(k, b"ts", &mut a), reference_seal(k, b"ts", &mut b));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn seal_many_matches_seal() {
        let mut rng = XorShift(42);
        let key = SymKey::from_slice(&rng.bytes(32)).unwrap();
        // Mixed lengths (lanes finish at different steps), shared and
        // distinct associated data, batch sizes around the lane count.
        for count in [0usize, 1, 3, 8, 9, 17, 40] {
            let pts: Vec<Vec<u8>> = (0..count)
                .map(|i| rng.bytes([0, 5, 16, 17, 31, 32, 64, 100, 1000][i % 9] + i))
                .collect();
            let ads: Vec<Vec<u8>> = (0..count)
                .map(|i| {
                    if i % 4 == 3 {
                        rng.bytes(i % 20)
                    } else {
                        vec![9; 8]
                    }
                })
                .collect();
            let mut bufs = pts.clone();
            let mut items: Vec<SivItem<'_>> = bufs
                .iter_mut()
                .zip(&ads)
                .map(|(b, ad)| SivItem::new(ad, b))
                .collect();
            AesSiv.seal_many(&key, &mut items);
            let sivs: Vec<[u8; 16]> = items.iter().map(|i| i.siv).collect();
            drop(items);
            for i in 0..count {
                let mut r = pts[i].clone();
                let t = reference_seal(&key, &ads[i], &mut r);
                assert_eq!((sivs[i], &bufs[i]), (t, &r), "item {i} of {count}");
            }
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
                "/../vectors/interop/libe4/aes-siv-kat.jsonl"
            ))
        });
        // In the repository since vectors/interop: a missing file is a failure.
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (set E4_LIBE4_KAT to another copy)"));
        let mut cases = 0;
        type Kat = (SymKey, Vec<u8>, Vec<u8>, Vec<u8>);
        let mut batch: Vec<Kat> = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let key = SymKey::from_slice(&hex::decode(field(line, "key").unwrap()).unwrap())
                .expect("32-byte key");
            let ad = hex::decode(field(line, "associated_data").unwrap()).unwrap();
            let pt = hex::decode(field(line, "plaintext").unwrap()).unwrap();
            let out = hex::decode(field(line, "output").unwrap()).unwrap();
            let mut buf = pt.clone();
            let siv = AesSiv.seal(&key, &ad, &mut buf);
            assert_eq!(&out[..16], &siv[..], "{line}");
            assert_eq!(&out[16..], &buf[..], "{line}");
            let p = PreparedSiv::new(&key);
            let mut buf2 = out[16..].to_vec();
            p.open_prepared(&ad, &siv, &mut buf2).unwrap();
            assert_eq!(buf2, pt);
            batch.push((key, ad, pt, out));
            cases += 1;
        }
        assert!(cases >= 1024, "only {cases} known answers");
        // The same answers through the batch API, eight at a time per key.
        for (key, ad, pt, out) in &batch {
            let mut bufs = vec![pt.clone(); 3];
            let mut items: Vec<SivItem<'_>> =
                bufs.iter_mut().map(|b| SivItem::new(ad, b)).collect();
            PreparedSiv::new(key).seal_many_prepared(&mut items);
            for it in &items {
                assert_eq!(&out[..16], &it.siv[..]);
                assert_eq!(&out[16..], &it.buf[..]);
            }
        }
    }
}
