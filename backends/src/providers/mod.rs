//! Crypto providers: implementations of the suites, chosen at build time
//! (cargo features) and injected at run time (`e4_client::Config`, `e4
//! --provider`, `e4c2 serve --provider`).
//!
//! | provider | what | suites (when their feature is on) |
//! | --- | --- | --- |
//! | [`pqclean`] | PQClean C code via pqcrypto (AVX2), needs `std` | symmetric, pubkey, pq, pq-draft, hybrid |
//! | [`libcrux`] | formally verified ML-KEM / ML-DSA, `no_std` | symmetric, pubkey, pq, hybrid |
//! | [`rustcrypto`] | pure Rust, `no_std`, zeroizing | symmetric, pubkey, pq, hybrid |
//! | [`small`] | byte-oriented AES-SIV and SHA3 for 8-bit cores | symmetric |
//!
//! Every provider of a suite produces the same wire format; with the same
//! seeds, `rustcrypto` and `libcrux` produce the same bytes.
//! [`default_provider`] is the first compiled in, in the order of the table
//! (fastest first, as measured in `benches/RESULTS.md`).

use e4_proto::crypto::CryptoProvider;

#[cfg(feature = "libcrux")]
pub mod libcrux;
#[cfg(feature = "pqclean")]
pub mod pqclean;
#[cfg(feature = "rustcrypto")]
pub mod rustcrypto;
#[cfg(feature = "small")]
pub mod small;

/// Every provider name this crate knows, compiled in or not.
pub const KNOWN: [&str; 4] = ["pqclean", "libcrux", "rustcrypto", "small"];

static COMPILED: &[&CryptoProvider] = &[
    #[cfg(feature = "pqclean")]
    &pqclean::PROVIDER,
    #[cfg(feature = "libcrux")]
    &libcrux::PROVIDER,
    #[cfg(feature = "rustcrypto")]
    &rustcrypto::PROVIDER,
    #[cfg(feature = "small")]
    &small::PROVIDER,
];

/// The providers compiled into this build, fastest first.
pub fn providers() -> &'static [&'static CryptoProvider] {
    COMPILED
}

/// The fastest provider compiled in.
pub fn default_provider() -> &'static CryptoProvider {
    COMPILED[0]
}

/// Why [`provider_by_name`] found no provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderError {
    /// No provider has this name.
    Unknown,
    /// The provider exists but this build does not include it (its cargo
    /// feature is off).
    NotCompiled,
}

impl core::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProviderError::Unknown => f.write_str("unknown crypto provider")?,
            ProviderError::NotCompiled => {
                f.write_str("crypto provider not compiled into this build")?
            }
        }
        f.write_str(" (this build has: ")?;
        for (i, p) in COMPILED.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.name)?;
        }
        f.write_str("; known: pqclean, libcrux, rustcrypto, small)")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProviderError {}

/// The provider named `name`, if compiled in.
pub fn provider_by_name(name: &str) -> Result<&'static CryptoProvider, ProviderError> {
    match COMPILED.iter().find(|p| p.name == name) {
        Some(p) => Ok(p),
        None if KNOWN.contains(&name) => Err(ProviderError::NotCompiled),
        None => Err(ProviderError::Unknown),
    }
}

/// `dst = src`, refusing a length mismatch.
#[allow(dead_code)] // unused when only `small` is compiled
pub(crate) fn copy_exact(dst: &mut [u8], src: &[u8]) -> Result<(), e4_proto::Error> {
    if dst.len() != src.len() {
        return Err(e4_proto::Error::BufferTooSmall);
    }
    dst.copy_from_slice(src);
    Ok(())
}
