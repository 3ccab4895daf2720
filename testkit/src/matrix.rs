//! The provider × suite matrix at run time, and restricted providers.

use e4_proto::{CryptoProvider, SuiteId};

pub use e4_backends::providers;

/// Every (provider, suite) pair compiled in: each provider of
/// [`providers()`] with each suite it offers. `conformance!` generates
/// exactly one test per pair (its `generated()` function lists them).
pub fn matrix() -> Vec<(&'static CryptoProvider, SuiteId)> {
    providers()
        .iter()
        .flat_map(|p| p.suites.iter().map(move |s| (*p, s.id)))
        .collect()
}

/// The compiled providers that offer `suite`.
pub fn offering(suite: SuiteId) -> Vec<&'static CryptoProvider> {
    providers()
        .iter()
        .copied()
        .filter(|p| p.supports(suite))
        .collect()
}

/// The providers whose post-quantum algorithms take all their randomness
/// from the `&mut dyn Rng` argument (seeded key generation and
/// encapsulation, deterministic ML-DSA signing): the same seeds give the
/// same bytes.
pub const SEEDED_PROVIDERS: [&str; 2] = ["rustcrypto", "libcrux"];

/// Whether `provider` produces, for `suite`, bytes that are a function of
/// the seeds alone: every provider for the symmetric and public-key suites
/// (AES-SIV, dalek's Ed25519 and X25519 from the rng), the
/// [`SEEDED_PROVIDERS`] for the kem suites.
pub fn is_seeded(provider: &CryptoProvider, suite: SuiteId) -> bool {
    !suite.is_kem_suite() || SEEDED_PROVIDERS.contains(&provider.name)
}

/// A provider with `provider`'s hash, AES-SIV and only the suites of
/// `keep` it has (named `<provider>-without-...`); leaked, as a
/// `CryptoProvider` must be `'static` to build clients. For tests of what
/// a build without a suite does.
pub fn restricted(provider: &'static CryptoProvider, keep: &[SuiteId]) -> &'static CryptoProvider {
    let suites: Vec<_> = provider
        .suites
        .iter()
        .copied()
        .filter(|s| keep.contains(&s.id))
        .collect();
    let dropped: Vec<&str> = provider
        .suites
        .iter()
        .filter(|s| !keep.contains(&s.id))
        .map(|s| s.id.name())
        .collect();
    let name = format!("{}-without-{}", provider.name, dropped.join("-"));
    Box::leak(Box::new(CryptoProvider {
        name: Box::leak(name.into_boxed_str()),
        hash: provider.hash,
        siv: provider.siv,
        suites: Box::leak(suites.into_boxed_slice()),
    }))
}
