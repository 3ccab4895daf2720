//! The crypto traits that backends implement, and the provider that bundles
//! the backends compiled into a build.
//!
//! The shapes follow RustCrypto: fixed sizes where the algorithm fixes them,
//! caller buffers instead of allocation, opaque authentication failures,
//! randomness passed in explicitly. Traits are object safe so that a device's
//! suite can be chosen at run time among the suites compiled in.

use crate::error::Error;
use crate::keys::SymKey;
use crate::suite::{Suite, SuiteId};
#[cfg(feature = "alloc")]
use alloc::boxed::Box;

/// Length of an AES-SIV synthetic IV.
pub const SIV_LEN: usize = 16;

/// A source of randomness. Production code passes the OS generator; known
/// answer tests pass a seeded, deterministic one.
pub trait Rng {
    /// Fill `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

/// SHA3-256 over the concatenation of `parts`.
pub trait Sha3: Sync {
    /// The 32-byte digest of `parts[0] ‖ parts[1] ‖ …`.
    fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32];
}

/// AES-SIV (RFC 5297) as E4 uses it: key `K ‖ K`, one associated-data item,
/// no nonce, the SIV placed before the ciphertext.
pub trait Siv: Sync {
    /// Encrypt `buf` in place and return the SIV.
    fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN];
    /// Check `siv` and decrypt `buf` in place. On failure `buf` content is
    /// unspecified and [`Error::NotAuthentic`] is returned.
    fn open(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error>;

    /// [`Siv::seal`] from `pt` into `out` (of the same length), for
    /// backends that can encrypt while copying. The default copies, then
    /// seals in place. (Not on AVR, where the copy is cheap and every
    /// trait method costs flash in each vtable: callers copy there.)
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
        out.copy_from_slice(pt);
        Ok(self.seal(key, ad, out))
    }

    /// [`Siv::open`] from `ct` into `out` (of the same length), for
    /// backends that can decrypt while copying. The default copies, then
    /// opens in place. On failure `out` is unspecified.
    #[cfg(not(target_arch = "avr"))]
    fn open_to(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        ct: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        if ct.len() != out.len() {
            return Err(Error::BufferTooSmall);
        }
        out.copy_from_slice(ct);
        self.open(key, ad, siv, out)
    }

    /// Seal every item under the same key: `item.buf` is encrypted in place
    /// and `item.siv` receives its SIV. The result is exactly that of
    /// [`Siv::seal`] on each item in turn (the default does just that);
    /// backends override it to interleave the work of several messages.
    fn seal_many(&self, key: &SymKey, items: &mut [SivItem<'_>]) {
        for item in items {
            item.siv = self.seal(key, item.ad, item.buf);
        }
    }

    /// `key` prepared for many calls (key schedule and CMAC subkeys kept),
    /// or `None` where the backend gains nothing from it (the default).
    /// The client keeps one per topic it uses ([`crate::prepared`]).
    #[cfg(feature = "alloc")]
    fn prepare_key(&self, key: &SymKey) -> Option<Box<dyn PreparedSivKey>> {
        let _ = key;
        None
    }
}

/// An AES-SIV key a backend prepared once ([`Siv::prepare_key`]); zeroized on
/// drop.
#[cfg(feature = "alloc")]
pub trait PreparedSivKey: Send + Sync {
    /// Whether this is the preparation of `key` (constant time).
    fn is_key(&self, key: &SymKey) -> bool;
    /// The prepared key as a [`Siv`]: calls with its own key use the
    /// preparation, calls with any other key are done unprepared.
    fn as_siv(&self) -> &dyn Siv;
}

/// Something that signs with one key: a secret key with its scheme
/// ([`KeySigner`]), or a key a backend prepared ([`SignatureScheme::prepare_signer`]).
pub trait Signer {
    /// Signature length.
    fn signature_len(&self) -> usize;
    /// Sign `msg` into `sig` (exact length).
    fn sign(&self, msg: &[u8], sig: &mut [u8]) -> Result<(), Error>;
}

/// A secret key and its scheme, unprepared: each signature decodes the key.
pub struct KeySigner<'a> {
    /// The scheme.
    pub scheme: &'a dyn SignatureScheme,
    /// The secret key, in the scheme's encoding.
    pub key: &'a [u8],
}

impl Signer for KeySigner<'_> {
    fn signature_len(&self) -> usize {
        self.scheme.signature_len()
    }
    fn sign(&self, msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        self.scheme.sign(self.key, msg, sig)
    }
}

/// A public key a backend decoded once ([`SignatureScheme::prepare_verifier`]).
#[cfg(feature = "alloc")]
pub trait PreparedVerifier: Send + Sync {
    /// The public key this was prepared from, as encoded.
    fn public_key(&self) -> &[u8];
    /// Verify as [`SignatureScheme::verify`] with that key.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), Error>;
}

/// One message of a batch for [`Siv::seal_many`].
pub struct SivItem<'a> {
    /// The associated data.
    pub ad: &'a [u8],
    /// The plaintext, encrypted in place.
    pub buf: &'a mut [u8],
    /// The SIV, written by [`Siv::seal_many`].
    pub siv: [u8; SIV_LEN],
}

impl<'a> SivItem<'a> {
    /// An item to seal (its SIV is zero until sealed).
    pub fn new(ad: &'a [u8], buf: &'a mut [u8]) -> SivItem<'a> {
        SivItem {
            ad,
            buf,
            siv: [0; SIV_LEN],
        }
    }
}

impl core::fmt::Debug for SivItem<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SivItem")
            .field("ad_len", &self.ad.len())
            .field("buf_len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

/// A signature algorithm over byte-slice keys (Ed25519, ML-DSA, hybrids).
pub trait SignatureScheme: Sync {
    /// Public key length.
    fn public_key_len(&self) -> usize;
    /// Secret key length (Ed25519: the 64-byte `seed ‖ public` form).
    fn secret_key_len(&self) -> usize;
    /// Signature length.
    fn signature_len(&self) -> usize;
    /// Generate a key pair into `sk` and `pk` (exact lengths).
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error>;
    /// Sign `msg` into `sig` (exact length).
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error>;
    /// Verify; any failure (including malformed keys) is
    /// [`Error::InvalidSignature`].
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error>;

    /// `sk` decoded once for many signatures (e.g. Ed25519's expanded
    /// secret and public point), zeroized on drop; `None` where the backend
    /// gains nothing from it (the default) or the key is malformed (the
    /// unprepared [`SignatureScheme::sign`] then reports the error).
    #[cfg(feature = "alloc")]
    fn prepare_signer(&self, sk: &[u8]) -> Option<Box<dyn Signer + Send + Sync>> {
        let _ = sk;
        None
    }

    /// `pk` decoded once for many verifications (e.g. Ed25519's
    /// decompressed point); `None` as for [`SignatureScheme::prepare_signer`].
    #[cfg(feature = "alloc")]
    fn prepare_verifier(&self, pk: &[u8]) -> Option<Box<dyn PreparedVerifier>> {
        let _ = pk;
        None
    }
}

/// A key-encapsulation mechanism (ML-KEM, hybrids).
pub trait Kem: Sync {
    /// Public (encapsulation) key length.
    fn public_key_len(&self) -> usize;
    /// Secret (decapsulation) key length.
    fn secret_key_len(&self) -> usize;
    /// Ciphertext length.
    fn ciphertext_len(&self) -> usize;
    /// Generate a key pair into `sk` and `pk` (exact lengths).
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error>;
    /// Encapsulate to `pk`, writing the ciphertext to `ct`; returns the
    /// 32-byte shared secret.
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error>;
    /// Decapsulate `ct` with `sk`. ML-KEM rejects implicitly: a wrong
    /// ciphertext yields an unrelated secret, caught later by AES-SIV.
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error>;
}

/// X25519 and the Ed25519-to-Curve25519 conversions of E4's public-key mode.
pub trait X25519: Sync {
    /// `X25519(sk, pk)`.
    fn diffie_hellman(&self, sk: &[u8; 32], pk: &[u8; 32]) -> [u8; 32];
    /// The public key of a secret scalar.
    fn public_key(&self, sk: &[u8; 32]) -> [u8; 32];
    /// The Curve25519 secret of an Ed25519 seed: `clamp(SHA-512(seed)[..32])`.
    fn secret_from_ed25519_seed(&self, seed: &[u8; 32]) -> [u8; 32];
    /// The Montgomery form of an Ed25519 public key (None if not a point).
    fn public_from_ed25519(&self, pk: &[u8; 32]) -> Option<[u8; 32]>;
}

/// The backends compiled into a build: the primitives every suite shares and
/// the suites that can be chosen at run time.
pub struct CryptoProvider {
    /// The provider's name (`rustcrypto`, `pqclean`, `libcrux`, `small`):
    /// how the command-line tools and the APIs choose it.
    pub name: &'static str,
    /// SHA3-256 (topic hashes, ids, key derivation).
    pub hash: &'static dyn Sha3,
    /// AES-SIV (every suite protects payloads with it).
    pub siv: &'static dyn Siv,
    /// The suites this build supports, strongest last.
    pub suites: &'static [&'static Suite],
}

impl CryptoProvider {
    /// The implementation of `id`, if compiled in.
    pub fn suite(&self, id: SuiteId) -> Result<&'static Suite, Error> {
        self.suites
            .iter()
            .copied()
            .find(|s| s.id == id)
            .ok_or(Error::UnsupportedSuite)
    }

    /// Whether `id` is compiled in.
    pub fn supports(&self, id: SuiteId) -> bool {
        self.suite(id).is_ok()
    }
}

impl core::fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ", self.name)?;
        let mut l = f.debug_list();
        for s in self.suites {
            l.entry(&s.id);
        }
        l.finish()
    }
}
