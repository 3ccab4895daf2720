//! The `rustcrypto` provider: pure Rust, `no_std`, secrets zeroized.
//!
//! AES-SIV is our CMAC-SIV around RustCrypto's `aes` ([`crate::base`]),
//! SHA3-256 RustCrypto's `sha3`, Ed25519/X25519 dalek, ML-KEM-768 and
//! ML-DSA-65 RustCrypto's `ml-kem` and `ml-dsa`:
//!
//! * key generation draws its seed from the `rng` argument (64 bytes
//!   `d ‖ z` for ML-KEM, 32 bytes `ξ` for ML-DSA), encapsulation its
//!   32-byte `m`: with a seeded generator the outputs are known answers,
//!   byte-identical to libcrux's from the same seeds (and to PQClean's,
//!   which takes no seed);
//! * secret keys are kept in the expanded encodings (2 400 and 4 032 bytes)
//!   that every provider uses;
//! * ML-DSA signing is the deterministic variant of FIPS 204 (`rnd = 0`),
//!   with the empty context string.
//!
//! Suites: symmetric, pubkey, pq, hybrid (not the draft `pq-draft`, whose
//! Dilithium no RustCrypto crate implements).

use e4_proto::crypto::{CryptoProvider, Kem, Rng, SignatureScheme};
use e4_proto::suite::{Suite, SuiteId};
use e4_proto::{Error, SymKey};
#[allow(deprecated)] // the expanded encodings are the ones every provider uses
use ml_dsa::{ExpandedSigningKey, MlDsa65, Signature, SigningKey, VerifyingKey};
#[allow(deprecated)]
use ml_kem::ExpandedKeyEncoding;
use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport, MlKem768};
use zeroize::Zeroize;

use super::copy_exact;

const PQ: &e4_proto::suite::SuiteParams = SuiteId::PostQuantum.params();

/// ML-KEM-768 (FIPS 203), RustCrypto.
#[derive(Debug, Clone, Copy, Default)]
pub struct RcMlKem768;

impl Kem for RcMlKem768 {
    fn public_key_len(&self) -> usize {
        PQ.kem_public_key
    }
    fn secret_key_len(&self) -> usize {
        PQ.kem_secret_key
    }
    fn ciphertext_len(&self) -> usize {
        PQ.kem_ciphertext
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != PQ.kem_secret_key || pk.len() != PQ.kem_public_key {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = ml_kem::Seed::default();
        rng.fill(&mut seed);
        let dk = DecapsulationKey::<MlKem768>::from_seed(seed);
        seed.zeroize();
        #[allow(deprecated)]
        let mut expanded = dk.to_expanded_bytes();
        let r = copy_exact(sk, &expanded);
        expanded.zeroize();
        r?;
        copy_exact(pk, &dk.encapsulation_key().to_bytes())
    }
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
        let pk = pk.try_into().map_err(|_| Error::InvalidArgument)?;
        let ek = EncapsulationKey::<MlKem768>::new(pk).map_err(|_| Error::InvalidArgument)?;
        let mut m = ml_kem::B32::default();
        rng.fill(&mut m);
        let (c, mut ss) = ek.encapsulate_deterministic(&m);
        m.zeroize();
        let key = SymKey::from_slice(&ss).ok_or(Error::Crypto);
        ss.zeroize();
        copy_exact(ct, &c)?;
        key
    }
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
        let sk = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        #[allow(deprecated)]
        let dk = DecapsulationKey::<MlKem768>::from_expanded_bytes(sk)
            .map_err(|_| Error::InvalidArgument)?;
        let ct = ct.try_into().map_err(|_| Error::NotAuthentic)?;
        let mut ss = dk.decapsulate(ct);
        let key = SymKey::from_slice(&ss).ok_or(Error::Crypto);
        ss.zeroize();
        key
    }
}

/// ML-DSA-65 (FIPS 204), RustCrypto: deterministic signing, empty context.
#[derive(Debug, Clone, Copy, Default)]
pub struct RcMlDsa65;

impl SignatureScheme for RcMlDsa65 {
    fn public_key_len(&self) -> usize {
        PQ.sig_public_key
    }
    fn secret_key_len(&self) -> usize {
        PQ.sig_secret_key
    }
    fn signature_len(&self) -> usize {
        PQ.signature
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != PQ.sig_secret_key || pk.len() != PQ.sig_public_key {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = ml_dsa::Seed::default();
        rng.fill(&mut seed);
        let key = SigningKey::<MlDsa65>::from_seed(&seed);
        seed.zeroize();
        let key = key.expanded_key();
        #[allow(deprecated)]
        let mut expanded = key.to_expanded();
        let r = copy_exact(sk, &expanded);
        expanded.zeroize();
        r?;
        copy_exact(pk, &key.verifying_key().encode())
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        let sk = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        #[allow(deprecated)]
        let key = ExpandedSigningKey::<MlDsa65>::from_expanded(sk);
        let s = key
            .sign_deterministic(msg, &[])
            .map_err(|_| Error::Crypto)?;
        copy_exact(sig, &s.encode())
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let pk = pk.try_into().map_err(|_| Error::InvalidSignature)?;
        let sig = Signature::<MlDsa65>::try_from(sig).map_err(|_| Error::InvalidSignature)?;
        if VerifyingKey::<MlDsa65>::decode(pk).verify_with_context(msg, &[], &sig) {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

/// The post-quantum suite, RustCrypto.
#[cfg(feature = "pq")]
pub static POST_QUANTUM: Suite = Suite {
    id: SuiteId::PostQuantum,
    sig: Some(&RcMlDsa65),
    x25519: None,
    kem: Some(&RcMlKem768),
};

/// The hybrid suite, RustCrypto.
#[cfg(feature = "hybrid")]
pub static HYBRID: Suite = crate::suites::hybrid_suite!(&RcMlDsa65, &RcMlKem768);

static SUITES: &[&Suite] = &[
    #[cfg(feature = "symmetric")]
    &crate::suites::SYMMETRIC,
    #[cfg(feature = "pubkey")]
    &crate::suites::PUBKEY,
    #[cfg(feature = "pq")]
    &POST_QUANTUM,
    #[cfg(feature = "hybrid")]
    &HYBRID,
];

/// The `rustcrypto` provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "rustcrypto",
    hash: &crate::base::Sha3Rc,
    siv: &crate::base::AesSiv,
    suites: SUITES,
};
