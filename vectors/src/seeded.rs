//! Generation-only crypto for `e4-vectors generate`: the suites of the
//! `rustcrypto` provider, whose post-quantum algorithms take their seeds
//! from the `&mut dyn Rng` argument (so the known-answer files are
//! reproducible), plus a seeded variant of the draft suite.
//!
//! * `pq` and `hybrid` are `e4_backends::providers::rustcrypto`'s: ML-KEM-768
//!   key pairs from a 64-byte seed `d ‖ z`, encapsulation from a 32-byte
//!   `m`, ML-DSA-65 key pairs from a 32-byte seed `ξ` and deterministic
//!   signing (`rnd = 0`), empty context. libcrux gives the same bytes from
//!   the same seeds, and `check` replays the files with every provider
//!   (PQClean included, which verifies and decapsulates them).
//! * `pq-draft`: the draft FIPS 204 Dilithium3 of pqcrypto-dilithium 0.5
//!   has ML-DSA-65's key format and only its key generation differs (no
//!   `k ‖ l` domain bytes in the seed hash), so an ML-DSA-65 key pair made
//!   from the rng is a valid draft key pair; its signing is deterministic
//!   already, so `sign` and `verify` are pqcrypto's own. Its KEM is
//!   ML-KEM-768 too: pqcrypto-kyber 0.8's kyber768 encapsulates and
//!   decapsulates exactly as ML-KEM-768 does on the same key; only its key
//!   generation differs.
//!
//! Nothing here is for production.

use e4_backends::base::{AesSiv, Sha3Rc};
use e4_backends::providers::pqclean::Dilithium3Draft;
use e4_backends::providers::rustcrypto::{self, RcMlDsa65, RcMlKem768};
use e4_proto::crypto::{Rng, SignatureScheme};
use e4_proto::{CryptoProvider, Error, Suite, SuiteId};

/// Draft FIPS 204 Dilithium3 (pqcrypto-dilithium 0.5) with its key pair made
/// by ML-DSA-65's seeded key generation; signing (deterministic) and
/// verification are pqcrypto's.
pub struct SeededDilithium3Draft;

impl SignatureScheme for SeededDilithium3Draft {
    fn public_key_len(&self) -> usize {
        Dilithium3Draft.public_key_len()
    }
    fn secret_key_len(&self) -> usize {
        Dilithium3Draft.secret_key_len()
    }
    fn signature_len(&self) -> usize {
        Dilithium3Draft.signature_len()
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        RcMlDsa65.generate(rng, sk, pk)
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        Dilithium3Draft.sign(sk, msg, sig)
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        Dilithium3Draft.verify(pk, msg, sig)
    }
}

/// The draft-FIPS suite, seeded (see the module documentation).
pub static PQ_DRAFT: Suite = Suite {
    id: SuiteId::PqDraft,
    sig: Some(&SeededDilithium3Draft),
    x25519: None,
    kem: Some(&RcMlKem768),
};

static SUITES: &[&Suite] = &[
    &e4_backends::SYMMETRIC,
    &e4_backends::PUBKEY,
    &PQ_DRAFT,
    &rustcrypto::POST_QUANTUM,
    &rustcrypto::HYBRID,
];

static PROVIDER: CryptoProvider = CryptoProvider {
    name: "seeded (generation only)",
    hash: &Sha3Rc,
    siv: &AesSiv,
    suites: SUITES,
};

/// The generation provider.
pub fn provider() -> &'static CryptoProvider {
    &PROVIDER
}
