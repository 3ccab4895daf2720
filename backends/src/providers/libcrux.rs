//! The `libcrux` provider: Cryspen's formally verified ML-KEM-768
//! (`libcrux-ml-kem`) and ML-DSA-65 (`libcrux-ml-dsa`), with their AVX2
//! code picked at run time on x86-64; AES-SIV, SHA3 and dalek as the
//! `rustcrypto` provider.
//!
//! Like `rustcrypto`, key generation and encapsulation take their seeds
//! from the `rng` argument (64 bytes `d ‖ z`, 32 bytes `ξ`, 32 bytes `m`),
//! signing is deterministic (zero randomness) with the empty context: the
//! same seeds give the same bytes in both. libcrux's key types do not
//! zeroize themselves: the copies made here are wiped after use.
//!
//! Suites: symmetric, pubkey, pq, hybrid (libcrux has no draft-FIPS
//! Dilithium, so no `pq-draft`).

use e4_proto::crypto::{CryptoProvider, Kem, Rng, SignatureScheme};
use e4_proto::suite::{Suite, SuiteId, SuiteParams};
use e4_proto::{Error, SymKey};
use libcrux_ml_dsa::ml_dsa_65;
use libcrux_ml_kem::mlkem768;
use zeroize::Zeroize;

use super::copy_exact;

const PQ: &SuiteParams = SuiteId::PostQuantum.params();
const KEM_SK: usize = SuiteId::PostQuantum.params().kem_secret_key;
const KEM_PK: usize = SuiteId::PostQuantum.params().kem_public_key;
const KEM_CT: usize = SuiteId::PostQuantum.params().kem_ciphertext;
const SIG_SK: usize = SuiteId::PostQuantum.params().sig_secret_key;
const SIG_PK: usize = SuiteId::PostQuantum.params().sig_public_key;
const SIG_LEN: usize = SuiteId::PostQuantum.params().signature;

/// ML-KEM-768 (FIPS 203), libcrux.
#[derive(Debug, Clone, Copy, Default)]
pub struct LcMlKem768;

impl Kem for LcMlKem768 {
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
        if sk.len() != KEM_SK || pk.len() != KEM_PK {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = [0u8; 64];
        rng.fill(&mut seed);
        let pair = mlkem768::generate_key_pair(seed);
        seed.zeroize();
        let (mut private, public) = pair.into_parts();
        sk.copy_from_slice(private.as_slice());
        private[0..].zeroize();
        pk.copy_from_slice(public.as_slice());
        Ok(())
    }
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
        let pk: &[u8; KEM_PK] = pk.try_into().map_err(|_| Error::InvalidArgument)?;
        let pk = mlkem768::MlKem768PublicKey::from(pk);
        // FIPS 203's encapsulation-key check (every coefficient reduced).
        if !mlkem768::validate_public_key(&pk) {
            return Err(Error::InvalidArgument);
        }
        let mut m = [0u8; 32];
        rng.fill(&mut m);
        let (c, mut ss) = mlkem768::encapsulate(&pk, m);
        m.zeroize();
        let key = SymKey::new(ss);
        ss.zeroize();
        copy_exact(ct, c.as_slice())?;
        Ok(key)
    }
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
        let sk: &[u8; KEM_SK] = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        let ct: &[u8; KEM_CT] = ct.try_into().map_err(|_| Error::NotAuthentic)?;
        let mut private = mlkem768::MlKem768PrivateKey::from(sk);
        let mut ss = mlkem768::decapsulate(&private, &mlkem768::MlKem768Ciphertext::from(ct));
        private[0..].zeroize();
        let key = SymKey::new(ss);
        ss.zeroize();
        Ok(key)
    }
}

/// ML-DSA-65 (FIPS 204), libcrux: deterministic signing, empty context.
#[derive(Debug, Clone, Copy, Default)]
pub struct LcMlDsa65;

impl SignatureScheme for LcMlDsa65 {
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
        if sk.len() != SIG_SK || pk.len() != SIG_PK {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        let mut pair = ml_dsa_65::generate_key_pair(seed);
        seed.zeroize();
        sk.copy_from_slice(pair.signing_key.as_slice());
        pair.signing_key.as_mut_slice().zeroize();
        pk.copy_from_slice(pair.verification_key.as_slice());
        Ok(())
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        let sk: &[u8; SIG_SK] = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        let mut key = ml_dsa_65::MLDSA65SigningKey::new(*sk);
        let s = ml_dsa_65::sign(&key, msg, &[], [0u8; 32]);
        key.as_mut_slice().zeroize();
        copy_exact(sig, s.map_err(|_| Error::Crypto)?.as_slice())
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let pk: &[u8; SIG_PK] = pk.try_into().map_err(|_| Error::InvalidSignature)?;
        let sig: &[u8; SIG_LEN] = sig.try_into().map_err(|_| Error::InvalidSignature)?;
        ml_dsa_65::verify(
            &ml_dsa_65::MLDSA65VerificationKey::new(*pk),
            msg,
            &[],
            &ml_dsa_65::MLDSA65Signature::new(*sig),
        )
        .map_err(|_| Error::InvalidSignature)
    }
}

/// The post-quantum suite, libcrux.
#[cfg(feature = "pq")]
pub static POST_QUANTUM: Suite = Suite {
    id: SuiteId::PostQuantum,
    sig: Some(&LcMlDsa65),
    x25519: None,
    kem: Some(&LcMlKem768),
};

/// The hybrid suite, libcrux.
#[cfg(feature = "hybrid")]
pub static HYBRID: Suite = crate::suites::hybrid_suite!(&LcMlDsa65, &LcMlKem768);

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

/// The `libcrux` provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "libcrux",
    hash: &crate::base::Sha3Rc,
    siv: &crate::base::AesSiv,
    suites: SUITES,
};
