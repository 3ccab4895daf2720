//! Crypto suites: what a device runs, chosen at run time among the suites
//! compiled in.

use crate::crypto::{CryptoProvider, Kem, SignatureScheme, X25519};
use crate::error::Error;
use core::fmt;

/// The identifier of a suite. The byte value is carried inside the
/// authenticated part of post-quantum messages and commands; the symmetric
/// and public-key formats are E4's and carry no suite byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum SuiteId {
    /// E4 symmetric-key mode: AES-SIV with per-client and per-topic keys.
    Symmetric = 0x01,
    /// E4 public-key mode: Ed25519 signatures, X25519-derived command key.
    PubKey = 0x02,
    /// Post-quantum: ML-DSA-65 signatures, ML-KEM-768 command keys (FIPS 203/204).
    PostQuantum = 0x10,
    /// Draft-FIPS Dilithium3 + Kyber768 (pqcrypto-dilithium 0.5 /
    /// pqcrypto-kyber 0.8; not the round-3 submissions), for comparison.
    PqDraft = 0x11,
    /// Hybrid: Ed25519 + ML-DSA-65 and X25519 + ML-KEM-768.
    Hybrid = 0x20,
}

impl SuiteId {
    /// Every suite identifier.
    pub const ALL: [SuiteId; 5] = [
        SuiteId::Symmetric,
        SuiteId::PubKey,
        SuiteId::PostQuantum,
        SuiteId::PqDraft,
        SuiteId::Hybrid,
    ];

    /// The wire byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Parse a wire byte.
    pub fn from_code(code: u8) -> Result<SuiteId, Error> {
        SuiteId::ALL
            .iter()
            .copied()
            .find(|s| s.code() == code)
            .ok_or(Error::UnsupportedSuite)
    }

    /// The short name used in files, APIs and the command line.
    pub const fn name(self) -> &'static str {
        match self {
            SuiteId::Symmetric => "symmetric",
            SuiteId::PubKey => "pubkey",
            SuiteId::PostQuantum => "pq",
            SuiteId::PqDraft => "pq-draft",
            SuiteId::Hybrid => "hybrid",
        }
    }

    /// Parse a short name.
    pub fn from_name(name: &str) -> Result<SuiteId, Error> {
        SuiteId::ALL
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or(Error::UnsupportedSuite)
    }

    /// True for suites whose format carries a suite byte and a KEM-based
    /// command key (post-quantum, draft, hybrid).
    pub const fn is_kem_suite(self) -> bool {
        matches!(
            self,
            SuiteId::PostQuantum | SuiteId::PqDraft | SuiteId::Hybrid
        )
    }
}

const fn suite_index(s: SuiteId) -> u32 {
    match s {
        SuiteId::Symmetric => 0,
        SuiteId::PubKey => 1,
        SuiteId::PostQuantum => 2,
        SuiteId::PqDraft => 3,
        SuiteId::Hybrid => 4,
    }
}

/// A set of suites.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SuiteSet(u8);

impl SuiteSet {
    /// The set of bit pattern `bits` (bit i: the i-th suite of
    /// [`SuiteId::ALL`]); bits beyond the known suites are ignored.
    pub const fn from_bits(bits: u8) -> SuiteSet {
        SuiteSet(bits & SuiteSet::ALL.0)
    }

    /// The bit pattern.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// No suite.
    pub const EMPTY: SuiteSet = SuiteSet(0);
    /// Every known suite.
    pub const ALL: SuiteSet = SuiteSet((1 << SuiteId::ALL.len()) - 1);

    /// The set of `suites`.
    pub const fn of(suites: &[SuiteId]) -> SuiteSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < suites.len() {
            bits |= 1 << suite_index(suites[i]);
            i += 1;
        }
        SuiteSet(bits)
    }

    /// The suites compiled into `provider`.
    pub fn compiled_in(provider: &CryptoProvider) -> SuiteSet {
        provider
            .suites
            .iter()
            .fold(SuiteSet::EMPTY, |acc, s| acc.with(s.id))
    }

    /// Whether `s` is in the set.
    pub const fn contains(self, s: SuiteId) -> bool {
        self.0 & (1 << suite_index(s)) != 0
    }
    /// The set plus `s`.
    pub const fn with(self, s: SuiteId) -> SuiteSet {
        SuiteSet(self.0 | (1 << suite_index(s)))
    }
    /// The set without `s`.
    pub const fn without(self, s: SuiteId) -> SuiteSet {
        SuiteSet(self.0 & !(1 << suite_index(s)))
    }
    /// Both sets' suites.
    pub const fn union(self, other: SuiteSet) -> SuiteSet {
        SuiteSet(self.0 | other.0)
    }
    /// The suites in both sets.
    pub const fn intersection(self, other: SuiteSet) -> SuiteSet {
        SuiteSet(self.0 & other.0)
    }
    /// True when empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Number of suites.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The suites, in [`SuiteId::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = SuiteId> {
        SuiteId::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Debug for SuiteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(SuiteId::name))
            .finish()
    }
}

impl fmt::Display for SuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The algorithms of one suite, as provided by a backend.
pub struct Suite {
    /// Which suite this is.
    pub id: SuiteId,
    /// Signature scheme of topic messages (none for symmetric).
    pub sig: Option<&'static dyn SignatureScheme>,
    /// Static-static X25519 of E4's public-key command key (public-key suite).
    pub x25519: Option<&'static dyn X25519>,
    /// KEM of the post-quantum command key (kem suites).
    pub kem: Option<&'static dyn Kem>,
}

impl Suite {
    /// The signature scheme, or `UnsupportedOperation` for the symmetric suite.
    pub fn sig(&self) -> Result<&'static dyn SignatureScheme, Error> {
        self.sig.ok_or(Error::UnsupportedOperation)
    }
    /// The X25519 implementation (public-key suite only).
    pub fn x25519(&self) -> Result<&'static dyn X25519, Error> {
        self.x25519.ok_or(Error::UnsupportedOperation)
    }
    /// The KEM (kem suites only).
    pub fn kem(&self) -> Result<&'static dyn Kem, Error> {
        self.kem.ok_or(Error::UnsupportedOperation)
    }
}

impl fmt::Debug for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Suite({})", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for s in SuiteId::ALL {
            assert_eq!(SuiteId::from_code(s.code()), Ok(s));
            assert_eq!(SuiteId::from_name(s.name()), Ok(s));
        }
        assert_eq!(SuiteId::from_code(0), Err(Error::UnsupportedSuite));
        assert_eq!(SuiteId::from_name("rot13"), Err(Error::UnsupportedSuite));
    }
}
