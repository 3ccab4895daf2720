//! The suites whose algorithms do not depend on the provider: the
//! symmetric suite (its primitives, AES-SIV and SHA3, are the provider's
//! `siv` and `hash`) and E4's public-key suite (Ed25519 and X25519 from
//! dalek, whichever provider).

#[cfg(any(feature = "symmetric", feature = "pubkey"))]
use e4_proto::suite::{Suite, SuiteId};

/// The symmetric suite.
#[cfg(feature = "symmetric")]
pub static SYMMETRIC: Suite = Suite {
    id: SuiteId::Symmetric,
    sig: None,
    x25519: None,
    kem: None,
};

/// The public-key suite (dalek).
#[cfg(feature = "pubkey")]
pub static PUBKEY: Suite = Suite {
    id: SuiteId::PubKey,
    sig: Some(&crate::ed25519::Ed25519),
    x25519: Some(&crate::ed25519::X25519Dalek),
    kem: None,
};

/// The hybrid suite around a provider's ML-DSA-65 and ML-KEM-768:
/// Ed25519 + ML-DSA-65 composite signatures, ML-KEM-768 + X25519 combined
/// KEM (secure while either half holds). The labels are part of the format.
#[cfg(feature = "hybrid")]
macro_rules! hybrid_suite {
    ($ml_dsa:expr, $ml_kem:expr) => {
        e4_proto::suite::Suite {
            id: e4_proto::suite::SuiteId::Hybrid,
            sig: Some(&$crate::hybrid::CompositeSig {
                a: &$crate::ed25519::Ed25519,
                b: $ml_dsa,
                label: $crate::hybrid::SIG_LABEL,
            }),
            x25519: None,
            kem: Some(&$crate::hybrid::CombinedKem {
                a: $ml_kem,
                b: &$crate::hybrid::X25519Kem(&$crate::ed25519::X25519Dalek),
                label: $crate::hybrid::KEM_LABEL,
            }),
        }
    };
}
#[cfg(feature = "hybrid")]
pub(crate) use hybrid_suite;
