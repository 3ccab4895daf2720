//! Generation-only post-quantum crypto for `e4-vectors generate`: ML-KEM-768
//! and ML-DSA-65 from RustCrypto (`ml-kem`, `ml-dsa`), driven by the
//! `&mut dyn Rng` argument so the known-answer files are reproducible.
//!
//! pqcrypto (the production backends) draws its own randomness and offers
//! no hook. RustCrypto gives byte-identical outputs to PQClean on the same
//! inputs, so data made here is what PQClean would make from the same
//! seeds; `check` replays it with the real `e4_backends::provider()`
//! (pqcrypto), which makes every KAT a cross-check of the two.
//!
//! * [`SeededMlKem768`]: key pair from a 64-byte seed `d ‖ z` drawn from the
//!   rng, encapsulation with a 32-byte `m` drawn from the rng; secret keys
//!   in the 2400-byte expanded form pqcrypto uses.
//! * [`SeededMlDsa65`]: key pair from a 32-byte seed `ξ` drawn from the rng,
//!   deterministic signing (`rnd = 0`) with the empty context, as
//!   pqcrypto's `detached_sign` uses (which hedges); 4032-byte expanded
//!   secret keys.
//! * [`SeededDilithium3Draft`]: the draft FIPS 204 Dilithium3 of
//!   pqcrypto-dilithium 0.5. Its key format is ML-DSA-65's and only key
//!   generation differs (no `k ‖ l` domain bytes in the seed hash), so an
//!   ML-DSA-65 key pair made from the rng is a valid draft key pair; its
//!   signing is deterministic already (`rnd = 0`), so `sign` and `verify`
//!   are pqcrypto's own.
//! * The draft suite's KEM is [`SeededMlKem768`] too: pqcrypto-kyber 0.8's
//!   kyber768 encapsulates and decapsulates exactly as ML-KEM-768 does on
//!   the same key; only its key generation differs.
//!
//! Nothing here is for production: secret keys are test material, and
//! `sign` trusts its (self-made) expanded key.

use e4_backends::base::{AesSiv, Sha3Rc};
use e4_backends::ed25519::{Ed25519, X25519Dalek};
use e4_backends::hybrid::{CombinedKem, CompositeSig, X25519Kem};
use e4_proto::crypto::{Kem, Rng, SignatureScheme};
use e4_proto::{CryptoProvider, Error, Suite, SuiteId, SymKey};
use ml_dsa::{ExpandedSigningKey, MlDsa65, Signature, SigningKey, VerifyingKey};
#[allow(deprecated)] // the expanded key form is the one pqcrypto uses
use ml_kem::ExpandedKeyEncoding;
use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport, MlKem768};

const KEM_PK: usize = 1184;
const KEM_SK: usize = 2400;
const KEM_CT: usize = 1088;
const SIG_PK: usize = 1952;
const SIG_SK: usize = 4032;
const SIG_LEN: usize = 3309;

fn copy_exact(dst: &mut [u8], src: &[u8]) -> Result<(), Error> {
    if dst.len() != src.len() {
        return Err(Error::BufferTooSmall);
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// ML-KEM-768 (FIPS 203), seeded from the rng argument.
pub struct SeededMlKem768;

impl Kem for SeededMlKem768 {
    fn public_key_len(&self) -> usize {
        KEM_PK
    }
    fn secret_key_len(&self) -> usize {
        KEM_SK
    }
    fn ciphertext_len(&self) -> usize {
        KEM_CT
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != KEM_SK || pk.len() != KEM_PK {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = ml_kem::Seed::default();
        rng.fill(&mut seed);
        let dk = DecapsulationKey::<MlKem768>::from_seed(seed);
        #[allow(deprecated)] // the expanded form is the one pqcrypto uses
        copy_exact(sk, &dk.to_expanded_bytes())?;
        copy_exact(pk, &dk.encapsulation_key().to_bytes())
    }
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
        let pk = pk.try_into().map_err(|_| Error::InvalidArgument)?;
        let ek = EncapsulationKey::<MlKem768>::new(pk).map_err(|_| Error::InvalidArgument)?;
        let mut m = ml_kem::B32::default();
        rng.fill(&mut m);
        let (c, ss) = ek.encapsulate_deterministic(&m);
        copy_exact(ct, &c)?;
        SymKey::from_slice(&ss).ok_or(Error::Crypto)
    }
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
        let sk = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        #[allow(deprecated)]
        let dk = DecapsulationKey::<MlKem768>::from_expanded_bytes(sk)
            .map_err(|_| Error::InvalidArgument)?;
        let ct = ct.try_into().map_err(|_| Error::NotAuthentic)?;
        SymKey::from_slice(&dk.decapsulate(ct)).ok_or(Error::Crypto)
    }
}

/// A key pair of ML-DSA-65 from a 32-byte seed drawn from `rng`.
fn ml_dsa_65_generate(rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
    if sk.len() != SIG_SK || pk.len() != SIG_PK {
        return Err(Error::BufferTooSmall);
    }
    let mut seed = ml_dsa::Seed::default();
    rng.fill(&mut seed);
    let key = SigningKey::<MlDsa65>::from_seed(&seed);
    let key = key.expanded_key();
    #[allow(deprecated)] // the expanded form is the one pqcrypto uses
    copy_exact(sk, &key.to_expanded())?;
    copy_exact(pk, &key.verifying_key().encode())
}

/// ML-DSA-65 (FIPS 204), seeded key generation and deterministic signing,
/// empty context string.
pub struct SeededMlDsa65;

impl SignatureScheme for SeededMlDsa65 {
    fn public_key_len(&self) -> usize {
        SIG_PK
    }
    fn secret_key_len(&self) -> usize {
        SIG_SK
    }
    fn signature_len(&self) -> usize {
        SIG_LEN
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        ml_dsa_65_generate(rng, sk, pk)
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

/// Draft FIPS 204 Dilithium3 (pqcrypto-dilithium 0.5) with its key pair made
/// by [`SeededMlDsa65`]'s seeded key generation; signing (deterministic)
/// and verification are pqcrypto's.
pub struct SeededDilithium3Draft;

static DILITHIUM3_DRAFT: e4_backends::pq::Dilithium3Draft = e4_backends::pq::Dilithium3Draft;

impl SignatureScheme for SeededDilithium3Draft {
    fn public_key_len(&self) -> usize {
        DILITHIUM3_DRAFT.public_key_len()
    }
    fn secret_key_len(&self) -> usize {
        DILITHIUM3_DRAFT.secret_key_len()
    }
    fn signature_len(&self) -> usize {
        DILITHIUM3_DRAFT.signature_len()
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        ml_dsa_65_generate(rng, sk, pk)
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        DILITHIUM3_DRAFT.sign(sk, msg, sig)
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        DILITHIUM3_DRAFT.verify(pk, msg, sig)
    }
}

/// The post-quantum suite, seeded.
pub static POST_QUANTUM: Suite = Suite {
    id: SuiteId::PostQuantum,
    sig: Some(&SeededMlDsa65),
    x25519: None,
    kem: Some(&SeededMlKem768),
};

/// The draft-FIPS suite, seeded (see the module documentation).
pub static PQ_DRAFT: Suite = Suite {
    id: SuiteId::PqDraft,
    sig: Some(&SeededDilithium3Draft),
    x25519: None,
    kem: Some(&SeededMlKem768),
};

/// The hybrid suite, seeded: the combiners and labels of
/// `e4_backends::HYBRID` (backends/src/lib.rs) around the seeded parts.
pub static HYBRID: Suite = Suite {
    id: SuiteId::Hybrid,
    sig: Some(&CompositeSig {
        a: &Ed25519,
        b: &SeededMlDsa65,
        label: b"e4 hybrid sig v1: Ed25519+ML-DSA-65",
    }),
    x25519: None,
    kem: Some(&CombinedKem {
        a: &SeededMlKem768,
        b: &X25519Kem(&X25519Dalek),
        label: b"e4 hybrid kem v1: ML-KEM-768+X25519",
    }),
};

static SUITES: &[&Suite] = &[
    &e4_backends::SYMMETRIC,
    &e4_backends::PUBKEY,
    &PQ_DRAFT,
    &POST_QUANTUM,
    &HYBRID,
];

static PROVIDER: CryptoProvider = CryptoProvider {
    name: "seeded (generation only)",
    hash: &Sha3Rc,
    siv: &AesSiv,
    suites: SUITES,
};

/// The generation provider: the production symmetric and public-key
/// suites, the seeded post-quantum ones.
pub fn provider() -> &'static CryptoProvider {
    &PROVIDER
}

#[cfg(test)]
mod tests {
    use super::*;
    use e4_backends::rng::TestRng;

    /// Every seeded suite against the real one: key pairs, signatures and
    /// encapsulations made here verify and decapsulate under pqcrypto, and
    /// the same seed gives the same bytes.
    #[test]
    fn seeded_suites_match_pqcrypto() {
        let real = e4_backends::provider();
        for seeded in [&POST_QUANTUM, &PQ_DRAFT, &HYBRID] {
            let theirs = real.suite(seeded.id).unwrap();
            let run = |seed: &[u8]| {
                let mut rng = TestRng::from_seed(seed);
                let (sig, rsig) = (seeded.sig().unwrap(), theirs.sig().unwrap());
                let (mut ssk, mut spk) =
                    (vec![0; sig.secret_key_len()], vec![0; sig.public_key_len()]);
                assert_eq!(ssk.len(), rsig.secret_key_len());
                assert_eq!(spk.len(), rsig.public_key_len());
                sig.generate(&mut rng, &mut ssk, &mut spk).unwrap();
                let mut s = vec![0; sig.signature_len()];
                sig.sign(&ssk, b"message", &mut s).unwrap();
                rsig.verify(&spk, b"message", &s).unwrap();
                sig.verify(&spk, b"message", &s).unwrap();
                assert!(rsig.verify(&spk, b"massage", &s).is_err());
                // pqcrypto's signatures verify here too.
                let mut r = vec![0; rsig.signature_len()];
                rsig.sign(&ssk, b"message", &mut r).unwrap();
                sig.verify(&spk, b"message", &r).unwrap();

                let (kem, rkem) = (seeded.kem().unwrap(), theirs.kem().unwrap());
                let (mut ksk, mut kpk) =
                    (vec![0; kem.secret_key_len()], vec![0; kem.public_key_len()]);
                assert_eq!(ksk.len(), rkem.secret_key_len());
                kem.generate(&mut rng, &mut ksk, &mut kpk).unwrap();
                let mut ct = vec![0; kem.ciphertext_len()];
                assert_eq!(ct.len(), rkem.ciphertext_len());
                let ss = kem.encapsulate(&mut rng, &kpk, &mut ct).unwrap();
                assert_eq!(
                    rkem.decapsulate(&ksk, &ct).unwrap().as_bytes(),
                    ss.as_bytes()
                );
                assert_eq!(
                    kem.decapsulate(&ksk, &ct).unwrap().as_bytes(),
                    ss.as_bytes()
                );
                // pqcrypto's encapsulations decapsulate here too.
                let mut rct = vec![0; rkem.ciphertext_len()];
                let rss = rkem.encapsulate(&mut rng, &kpk, &mut rct).unwrap();
                assert_eq!(
                    kem.decapsulate(&ksk, &rct).unwrap().as_bytes(),
                    rss.as_bytes()
                );
                // Implicit rejection agrees on a tampered ciphertext.
                ct[5] ^= 1;
                assert_eq!(
                    rkem.decapsulate(&ksk, &ct).unwrap().as_bytes(),
                    kem.decapsulate(&ksk, &ct).unwrap().as_bytes()
                );
                (ssk, spk, s, ksk, kpk, ct)
            };
            let a = run(b"seeded a");
            assert_eq!(a, run(b"seeded a"), "{:?} not reproducible", seeded.id);
            assert_ne!(a.1, run(b"seeded b").1);
        }
    }
}
