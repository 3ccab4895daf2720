//! # e4-backends: crypto providers for e4-proto
//!
//! Two kinds of cargo features. **Suites** say which suites exist in the
//! build; **providers** say who implements them (several may be compiled
//! at once, see [`providers`]):
//!
//! | suite feature | suite |
//! | --- | --- |
//! | `symmetric` | E4 symmetric (AES-SIV) |
//! | `pubkey` | E4 public key (Ed25519 + X25519, dalek) |
//! | `pq` | ML-DSA-65 + ML-KEM-768 |
//! | `pq-round3` | draft-FIPS Dilithium3 + Kyber768 (pqcrypto-dilithium 0.5, pqcrypto-kyber 0.8; not round 3) |
//! | `hybrid` | Ed25519+ML-DSA-65, X25519+ML-KEM-768 |
//!
//! | provider feature | crates |
//! | --- | --- |
//! | `pqclean` | `pqcrypto-mlkem`, `pqcrypto-mldsa`, `pqcrypto-kyber`, `pqcrypto-dilithium` (PQClean C, needs `std`) |
//! | `libcrux` | `libcrux-ml-kem`, `libcrux-ml-dsa` |
//! | `rustcrypto` | `ml-kem`, `ml-dsa` |
//! | `small` | our byte-oriented AES-SIV and SHA3 (8-bit cores, symmetric only) |
//!
//! Every provider but `small` takes AES (with our CMAC-SIV, [`base`]) and
//! SHA3 from RustCrypto and Ed25519/X25519 from dalek. What a suite is
//! (sizes, formats) is defined once in `e4_proto::suite`; the conformance
//! tests check each provider against it and against the others.
//!
//! [`provider()`] is the default (fastest) provider compiled in;
//! [`providers::provider_by_name`] picks one by name.
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
    "e4-backends: enable at least one suite feature: `symmetric`, `pubkey`, `pq` or `pq-round3`"
);
#[cfg(not(any(
    feature = "rustcrypto",
    feature = "pqclean",
    feature = "libcrux",
    feature = "small"
)))]
compile_error!(
    "e4-backends: enable at least one provider feature: `rustcrypto`, `pqclean`, `libcrux` or `small`"
);
#[cfg(all(
    feature = "pq",
    not(any(feature = "rustcrypto", feature = "pqclean", feature = "libcrux"))
))]
compile_error!(
    "e4-backends: the `pq` suite needs a provider: `rustcrypto`, `pqclean` or `libcrux`"
);
#[cfg(all(feature = "pq-round3", not(feature = "pqclean")))]
compile_error!("e4-backends: the `pq-round3` (pq-draft) suite needs the `pqclean` provider");
#[cfg(all(
    feature = "pubkey",
    not(any(feature = "rustcrypto", feature = "pqclean", feature = "libcrux"))
))]
compile_error!(
    "e4-backends: the `pubkey` suite needs a host provider: `rustcrypto`, `pqclean` or `libcrux`"
);

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "password")]
pub mod argon2i;
#[cfg(feature = "rustcrypto-aes")]
pub mod base;
#[cfg(feature = "pubkey")]
pub mod ed25519;
#[cfg(feature = "rustcrypto-aes")]
pub mod fast;
#[cfg(all(feature = "hybrid", feature = "rustcrypto-aes"))]
pub mod hybrid;
#[cfg(feature = "password")]
pub mod password;
pub mod providers;
pub mod rng;
#[cfg(feature = "small")]
pub mod small;
pub mod suites;

pub use providers::{default_provider, provider_by_name, providers, ProviderError};
#[cfg(feature = "pubkey")]
pub use suites::PUBKEY;
#[cfg(feature = "symmetric")]
pub use suites::SYMMETRIC;

use e4_proto::crypto::CryptoProvider;

/// The default provider: the fastest compiled in ([`default_provider`]).
pub fn provider() -> &'static CryptoProvider {
    default_provider()
}
