//! The `pqclean` provider: post-quantum algorithms from pqcrypto (PQClean's
//! C code, AVX2 where the CPU has it), the fastest measured here; AES-SIV,
//! SHA3 and dalek as the `rustcrypto` provider.
//!
//! pqcrypto draws its randomness inside the C code and offers no RNG
//! parameter, so `generate`, `encapsulate` and `sign` ignore the `rng`
//! argument here: known-answer files check these algorithms in the
//! verify/decapsulate direction. Its key and shared-secret types are
//! `Copy` values that cannot be zeroized in place: each is copied out and
//! its variable overwritten with zeros at once ([`wipe`]).
//!
//! Suites: symmetric, pubkey, pq, pq-draft (draft FIPS 203/204 Kyber768 and
//! Dilithium3 of pqcrypto-kyber 0.8 / pqcrypto-dilithium 0.5), hybrid.

use e4_proto::crypto::{CryptoProvider, Kem, Rng, SignatureScheme};
use e4_proto::suite::{Suite, SuiteId};
use e4_proto::{Error, SymKey};
use pqcrypto_traits::kem::{Ciphertext as _, PublicKey as _, SecretKey as _, SharedSecret as _};
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _, SecretKey as _};

use super::copy_exact;

/// Zeros to overwrite pqcrypto's secrets with (the longest is Dilithium3's
/// 4 032-byte secret key).
static ZEROS: [u8; 4096] = [0; 4096];

/// Overwrite a pqcrypto secret (a `Copy` value) with the all-zero value of
/// its type, where it lies: pqcrypto's types expose no mutable bytes, so
/// this is as close to zeroizing as safe code gets (`black_box` keeps the
/// store).
macro_rules! wipe {
    ($var:ident, $ty:ty, $len:expr) => {{
        if let Ok(zero) = <$ty>::from_bytes(&ZEROS[..$len]) {
            $var = zero;
        }
        core::hint::black_box(&$var);
    }};
}

macro_rules! pq_kem {
    ($(#[$doc:meta])* $name:ident, $m:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Kem for $name {
            fn public_key_len(&self) -> usize {
                { use $m as m; m::public_key_bytes() }
            }
            fn secret_key_len(&self) -> usize {
                { use $m as m; m::secret_key_bytes() }
            }
            fn ciphertext_len(&self) -> usize {
                { use $m as m; m::ciphertext_bytes() }
            }
            fn generate(&self, _rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let (p, mut s) = m::keypair();
                let r = copy_exact(sk, s.as_bytes());
                wipe!(s, m::SecretKey, m::secret_key_bytes());
                r?;
                copy_exact(pk, p.as_bytes())
            }
            fn encapsulate(&self, _rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
                use $m as m;
                let pk = m::PublicKey::from_bytes(pk).map_err(|_| Error::InvalidArgument)?;
                let (mut ss, c) = m::encapsulate(&pk);
                let key = SymKey::from_slice(ss.as_bytes()).ok_or(Error::Crypto);
                wipe!(ss, m::SharedSecret, m::shared_secret_bytes());
                copy_exact(ct, c.as_bytes())?;
                key
            }
            fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
                use $m as m;
                let ct = m::Ciphertext::from_bytes(ct).map_err(|_| Error::NotAuthentic)?;
                let mut sk = m::SecretKey::from_bytes(sk).map_err(|_| Error::InvalidArgument)?;
                let mut ss = m::decapsulate(&ct, &sk);
                wipe!(sk, m::SecretKey, m::secret_key_bytes());
                let key = SymKey::from_slice(ss.as_bytes()).ok_or(Error::Crypto);
                wipe!(ss, m::SharedSecret, m::shared_secret_bytes());
                key
            }
        }
    };
}

macro_rules! pq_sig {
    ($(#[$doc:meta])* $name:ident, $m:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl SignatureScheme for $name {
            fn public_key_len(&self) -> usize {
                { use $m as m; m::public_key_bytes() }
            }
            fn secret_key_len(&self) -> usize {
                { use $m as m; m::secret_key_bytes() }
            }
            fn signature_len(&self) -> usize {
                { use $m as m; m::signature_bytes() }
            }
            fn generate(&self, _rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let (p, mut s) = m::keypair();
                let r = copy_exact(sk, s.as_bytes());
                wipe!(s, m::SecretKey, m::secret_key_bytes());
                r?;
                copy_exact(pk, p.as_bytes())
            }
            fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let mut sk = m::SecretKey::from_bytes(sk).map_err(|_| Error::InvalidArgument)?;
                let s = m::detached_sign(msg, &sk);
                wipe!(sk, m::SecretKey, m::secret_key_bytes());
                copy_exact(sig, s.as_bytes())
            }
            fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
                use $m as m;
                let pk = m::PublicKey::from_bytes(pk).map_err(|_| Error::InvalidSignature)?;
                let sig = m::DetachedSignature::from_bytes(sig).map_err(|_| Error::InvalidSignature)?;
                m::verify_detached_signature(&sig, msg, &pk).map_err(|_| Error::InvalidSignature)
            }
        }
    };
}

#[cfg(feature = "pq")]
pq_kem!(
    /// ML-KEM-768 (FIPS 203).
    MlKem768, pqcrypto_mlkem::mlkem768
);
#[cfg(feature = "pq")]
pq_sig!(
    /// ML-DSA-65 (FIPS 204), empty context string.
    MlDsa65, pqcrypto_mldsa::mldsa65
);
#[cfg(feature = "pq-round3")]
pq_kem!(
    /// Kyber768 of pqcrypto-kyber 0.8: the draft FIPS 203 construction
    /// (encapsulation identical to ML-KEM-768; key generation differs).
    Kyber768Draft, pqcrypto_kyber::kyber768
);
#[cfg(feature = "pq-round3")]
pq_sig!(
    /// Dilithium3 of pqcrypto-dilithium 0.5: the draft FIPS 204 version
    /// (4032-byte secret key, 3309-byte signature), not round 3.
    Dilithium3Draft, pqcrypto_dilithium::dilithium3
);

/// The post-quantum suite, PQClean.
#[cfg(feature = "pq")]
pub static POST_QUANTUM: Suite = Suite {
    id: SuiteId::PostQuantum,
    sig: Some(&MlDsa65),
    x25519: None,
    kem: Some(&MlKem768),
};

/// The draft-FIPS Dilithium3 + Kyber768 suite.
#[cfg(feature = "pq-round3")]
pub static PQ_DRAFT: Suite = Suite {
    id: SuiteId::PqDraft,
    sig: Some(&Dilithium3Draft),
    x25519: None,
    kem: Some(&Kyber768Draft),
};

/// The hybrid suite, PQClean.
#[cfg(feature = "hybrid")]
pub static HYBRID: Suite = crate::suites::hybrid_suite!(&MlDsa65, &MlKem768);

static SUITES: &[&Suite] = &[
    #[cfg(feature = "symmetric")]
    &crate::suites::SYMMETRIC,
    #[cfg(feature = "pubkey")]
    &crate::suites::PUBKEY,
    #[cfg(feature = "pq-round3")]
    &PQ_DRAFT,
    #[cfg(feature = "pq")]
    &POST_QUANTUM,
    #[cfg(feature = "hybrid")]
    &HYBRID,
];

/// The `pqclean` provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "pqclean",
    hash: &crate::base::Sha3Rc,
    siv: &crate::base::AesSiv,
    suites: SUITES,
};
