//! # e4-backends: crypto for e4-proto
//!
//! One cargo feature per suite; each suite's algorithms come from a
//! well-kept crate:
//!
//! | feature | suite | crates |
//! | --- | --- | --- |
//! | `symmetric` | E4 symmetric (AES-SIV) | `aes` (block cipher; CMAC-SIV in `base`), `sha3` |
//! | `pubkey` | E4 public key (Ed25519 + X25519) | `ed25519-dalek`, `x25519-dalek`, `curve25519-dalek` |
//! | `pq` | ML-DSA-65 + ML-KEM-768 | `pqcrypto-mldsa`, `pqcrypto-mlkem` |
//! | `pq-round3` | draft-FIPS Dilithium3 + Kyber768 | `pqcrypto-dilithium` 0.5, `pqcrypto-kyber` 0.8 |
//! | `hybrid` | Ed25519+ML-DSA-65, X25519+ML-KEM-768 | the `pubkey` and `pq` crates |
//!
//! AES-SIV and SHA3 are always built: every suite needs them. The
//! `pq-round3` feature keeps the name the product's design used, but the
//! crates behind it implement the draft FIPS 203/204 versions, not the
//! round-3 submissions (see `docs/formats.md`).
//!
//! [`provider()`] returns the [`CryptoProvider`] of everything compiled in.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(
    feature = "symmetric",
    feature = "pubkey",
    feature = "pq",
    feature = "pq-round3"
)))]
compile_error!(
    "e4-backends: enable at least one backend feature: `symmetric`, `pubkey`, `pq` or `pq-round3`"
);

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "password")]
pub mod argon2i;
pub mod base;
#[cfg(feature = "pubkey")]
pub mod ed25519;
pub mod fast;
#[cfg(feature = "hybrid")]
pub mod hybrid;
#[cfg(feature = "password")]
pub mod password;
#[cfg(any(feature = "pq", feature = "pq-round3"))]
pub mod pq;
pub mod rng;
#[cfg(feature = "small")]
pub mod small;

use e4_proto::crypto::CryptoProvider;
use e4_proto::suite::{Suite, SuiteId};

/// The symmetric suite.
#[cfg(feature = "symmetric")]
pub static SYMMETRIC: Suite = Suite {
    id: SuiteId::Symmetric,
    sig: None,
    x25519: None,
    kem: None,
};

/// The public-key suite.
#[cfg(feature = "pubkey")]
pub static PUBKEY: Suite = Suite {
    id: SuiteId::PubKey,
    sig: Some(&ed25519::Ed25519),
    x25519: Some(&ed25519::X25519Dalek),
    kem: None,
};

/// The post-quantum suite (ML-DSA-65, ML-KEM-768).
#[cfg(feature = "pq")]
pub static POST_QUANTUM: Suite = Suite {
    id: SuiteId::PostQuantum,
    sig: Some(&pq::MlDsa65),
    x25519: None,
    kem: Some(&pq::MlKem768),
};

/// The draft-FIPS Dilithium3 + Kyber768 suite.
#[cfg(feature = "pq-round3")]
pub static PQ_DRAFT: Suite = Suite {
    id: SuiteId::PqDraft,
    sig: Some(&pq::Dilithium3Draft),
    x25519: None,
    kem: Some(&pq::Kyber768Draft),
};

/// The hybrid suite: Ed25519 + ML-DSA-65 signatures, X25519 + ML-KEM-768
/// command keys (secure while either half holds).
#[cfg(feature = "hybrid")]
pub static HYBRID: Suite = Suite {
    id: SuiteId::Hybrid,
    sig: Some(&hybrid::CompositeSig {
        a: &ed25519::Ed25519,
        b: &pq::MlDsa65,
        label: b"e4 hybrid sig v1: Ed25519+ML-DSA-65",
    }),
    x25519: None,
    kem: Some(&hybrid::CombinedKem {
        a: &pq::MlKem768,
        b: &hybrid::X25519Kem(&ed25519::X25519Dalek),
        label: b"e4 hybrid kem v1: ML-KEM-768+X25519",
    }),
};

static SUITES: &[&Suite] = &[
    #[cfg(feature = "symmetric")]
    &SYMMETRIC,
    #[cfg(feature = "pubkey")]
    &PUBKEY,
    #[cfg(feature = "pq-round3")]
    &PQ_DRAFT,
    #[cfg(feature = "pq")]
    &POST_QUANTUM,
    #[cfg(feature = "hybrid")]
    &HYBRID,
];

static PROVIDER: CryptoProvider = CryptoProvider {
    name: "pqclean",
    hash: &base::Sha3Rc,
    siv: &base::AesSiv,
    suites: SUITES,
};

/// Every suite compiled into this build.
pub fn provider() -> &'static CryptoProvider {
    &PROVIDER
}
