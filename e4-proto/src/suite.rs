//! Crypto suites: what a device runs, chosen at run time among the suites
//! compiled in.
//!
//! Everything that follows from a suite's identity is defined here, once,
//! in one `const` table ([`SuiteId::params`]): its family (E4 symmetric, E4
//! public key, KEM-based), the sizes of its keys, signatures, KEM
//! ciphertexts and shared secrets, the overheads of its messages and
//! commands, the length of each command and the key material a device of
//! the suite holds. Providers implement the algorithms (their sizes are
//! checked against this table by the conformance tests); every other crate
//! derives what it needs from here.

use crate::crypto::{CryptoProvider, Kem, SignatureScheme, SIV_LEN, X25519};
use crate::error::Error;
use crate::ids::{ID_LEN, TOPIC_HASH_LEN};
use crate::keys::{ED25519_PK_LEN, ED25519_SIG_LEN, ED25519_SK_LEN, SYM_KEY_LEN, X25519_LEN};
use crate::time::TIMESTAMP_LEN;
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

/// How a suite protects messages and commands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    /// E4's symmetric mode: one AES-SIV key per client protects its
    /// commands; topic messages are AES-SIV under the topic key. No suite
    /// byte on the wire.
    E4Symmetric,
    /// E4's public-key mode: Ed25519-signed topic messages, commands under
    /// an X25519-derived key. No suite byte on the wire.
    E4PublicKey,
    /// KEM-based (e4-rs): a suite byte, signed topic messages, commands
    /// under a key from a fresh KEM encapsulation, signed by C2.
    Kem,
}

/// The key material a device of a suite holds besides its topic keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Material {
    /// A 32-byte client key, shared with C2.
    SymmetricKey,
    /// An Ed25519 key pair (C2 holds the public key) and C2's X25519
    /// public key.
    Ed25519AndC2X25519,
    /// A signature key pair and a KEM key pair (C2 holds both public keys),
    /// and C2's signature public key.
    SignatureAndKem,
}

/// The sizes and shape of a suite (zero where it has no such thing).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SuiteParams {
    /// Family.
    pub family: Family,
    /// Key material of a device.
    pub material: Material,
    /// Signature public key (the devices' and C2's).
    pub sig_public_key: usize,
    /// Signature secret key (Ed25519: `seed ‖ public`).
    pub sig_secret_key: usize,
    /// Signature.
    pub signature: usize,
    /// KEM public (encapsulation) key.
    pub kem_public_key: usize,
    /// KEM secret (decapsulation) key.
    pub kem_secret_key: usize,
    /// KEM ciphertext.
    pub kem_ciphertext: usize,
    /// KEM shared secret.
    pub shared_secret: usize,
    /// C2's public key as a device holds it (X25519, or C2's signature key).
    pub c2_public_key: usize,
}

const NONE: usize = 0;

const SYMMETRIC: SuiteParams = SuiteParams {
    family: Family::E4Symmetric,
    material: Material::SymmetricKey,
    sig_public_key: NONE,
    sig_secret_key: NONE,
    signature: NONE,
    kem_public_key: NONE,
    kem_secret_key: NONE,
    kem_ciphertext: NONE,
    shared_secret: NONE,
    c2_public_key: NONE,
};

const PUBKEY: SuiteParams = SuiteParams {
    family: Family::E4PublicKey,
    material: Material::Ed25519AndC2X25519,
    sig_public_key: ED25519_PK_LEN,
    sig_secret_key: ED25519_SK_LEN,
    signature: ED25519_SIG_LEN,
    kem_public_key: NONE,
    kem_secret_key: NONE,
    kem_ciphertext: NONE,
    shared_secret: NONE,
    c2_public_key: X25519_LEN,
};

/// ML-DSA-65 and ML-KEM-768 (FIPS 204/203); the draft versions have the
/// same sizes.
const ML_DSA_65_PK: usize = 1952;
const ML_DSA_65_SK: usize = 4032;
const ML_DSA_65_SIG: usize = 3309;
const ML_KEM_768_PK: usize = 1184;
const ML_KEM_768_SK: usize = 2400;
const ML_KEM_768_CT: usize = 1088;
const SHARED_SECRET: usize = 32;

const POST_QUANTUM: SuiteParams = SuiteParams {
    family: Family::Kem,
    material: Material::SignatureAndKem,
    sig_public_key: ML_DSA_65_PK,
    sig_secret_key: ML_DSA_65_SK,
    signature: ML_DSA_65_SIG,
    kem_public_key: ML_KEM_768_PK,
    kem_secret_key: ML_KEM_768_SK,
    kem_ciphertext: ML_KEM_768_CT,
    shared_secret: SHARED_SECRET,
    c2_public_key: ML_DSA_65_PK,
};

/// Ed25519 ‖ ML-DSA-65 signatures, ML-KEM-768 ‖ X25519 KEM; each
/// composite secret key carries the composite public key (the combiners
/// hash it).
const HYBRID: SuiteParams = SuiteParams {
    family: Family::Kem,
    material: Material::SignatureAndKem,
    sig_public_key: ED25519_PK_LEN + ML_DSA_65_PK,
    sig_secret_key: ED25519_SK_LEN + ML_DSA_65_SK + ED25519_PK_LEN + ML_DSA_65_PK,
    signature: ED25519_SIG_LEN + ML_DSA_65_SIG,
    kem_public_key: ML_KEM_768_PK + X25519_LEN,
    kem_secret_key: ML_KEM_768_SK + X25519_LEN + ML_KEM_768_PK + X25519_LEN,
    kem_ciphertext: ML_KEM_768_CT + X25519_LEN,
    shared_secret: SHARED_SECRET,
    c2_public_key: ED25519_PK_LEN + ML_DSA_65_PK,
};

impl SuiteId {
    /// Everything that follows from the suite (see the module docs).
    pub const fn params(self) -> &'static SuiteParams {
        match self {
            SuiteId::Symmetric => &SYMMETRIC,
            SuiteId::PubKey => &PUBKEY,
            SuiteId::PostQuantum | SuiteId::PqDraft => &POST_QUANTUM,
            SuiteId::Hybrid => &HYBRID,
        }
    }

    /// The family.
    pub const fn family(self) -> Family {
        self.params().family
    }

    /// Bytes a protected topic message adds to its payload: symmetric
    /// `ts ‖ SIV`; public key `ts ‖ sender id ‖ SIV ‖ Ed25519 signature`;
    /// KEM-based `ts ‖ suite ‖ sender id ‖ SIV ‖ signature`.
    pub const fn message_overhead(self) -> usize {
        let p = self.params();
        match p.family {
            Family::E4Symmetric => TIMESTAMP_LEN + SIV_LEN,
            Family::E4PublicKey => TIMESTAMP_LEN + ID_LEN + SIV_LEN + p.signature,
            Family::Kem => TIMESTAMP_LEN + 1 + ID_LEN + SIV_LEN + p.signature,
        }
    }

    /// Bytes a protected command adds to its plaintext: E4 suites
    /// `ts ‖ SIV`; KEM-based `ts ‖ suite ‖ KEM ciphertext ‖ SIV ‖ C2's
    /// signature`.
    pub const fn command_overhead(self) -> usize {
        let p = self.params();
        match p.family {
            Family::E4Symmetric | Family::E4PublicKey => TIMESTAMP_LEN + SIV_LEN,
            Family::Kem => TIMESTAMP_LEN + 1 + p.kem_ciphertext + SIV_LEN + p.signature,
        }
    }

    /// The argument lengths of the commands in this suite.
    pub const fn command_lengths(self) -> CommandLengths {
        let p = self.params();
        match p.family {
            Family::E4Symmetric => CommandLengths {
                id_key: Some(SYM_KEY_LEN),
                pubkey: ED25519_PK_LEN,
                c2_key: X25519_LEN,
                pubkey_ops: false,
            },
            Family::E4PublicKey => CommandLengths {
                id_key: Some(ED25519_SK_LEN),
                pubkey: ED25519_PK_LEN,
                c2_key: X25519_LEN,
                pubkey_ops: true,
            },
            // Devices generate their own keys: C2 cannot set them.
            Family::Kem => CommandLengths {
                id_key: None,
                pubkey: p.sig_public_key,
                c2_key: p.c2_public_key,
                pubkey_ops: true,
            },
        }
    }

    /// The plaintext length of command `opcode` in this suite (None: not
    /// a command of this suite).
    pub const fn command_len(self, opcode: u8) -> Option<usize> {
        let l = self.command_lengths();
        let args = match opcode {
            0x00 => TOPIC_HASH_LEN,
            0x01 => 0,
            0x02 => match l.id_key {
                Some(n) => n,
                None => return None,
            },
            0x03 => SYM_KEY_LEN + TOPIC_HASH_LEN,
            0x04..=0x07 if !l.pubkey_ops => return None,
            0x04 => ID_LEN,
            0x05 => 0,
            0x06 => l.pubkey + ID_LEN,
            0x07 => l.c2_key,
            _ => return None,
        };
        Some(1 + args)
    }

    /// Whether the suite signs topic messages (every suite but symmetric).
    pub const fn signs_messages(self) -> bool {
        self.params().signature != NONE
    }

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
            .ok_or(Error::UnknownSuite)
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
            .ok_or(Error::UnknownSuite)
    }

    /// True for suites whose format carries a suite byte and a KEM-based
    /// command key (post-quantum, draft, hybrid).
    pub const fn is_kem_suite(self) -> bool {
        matches!(self.family(), Family::Kem)
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

/// The argument lengths of the commands in one suite
/// ([`SuiteId::command_lengths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLengths {
    /// SetIdKey's key length, or None where C2 cannot set identity keys.
    pub id_key: Option<usize>,
    /// SetPubKey's key length.
    pub pubkey: usize,
    /// SetC2Key's key length.
    pub c2_key: usize,
    /// Whether opcodes 4 to 7 (public keys, C2 key) are supported.
    pub pubkey_ops: bool,
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

    /// The overheads of docs/formats.md, pinned: a change to the suite
    /// table (and so to the wire format) fails here as well as in the
    /// conformance suite, which checks every encoder against the table.
    #[test]
    fn overheads_are_pinned() {
        let pinned = [
            (SuiteId::Symmetric, 24, 24),
            (SuiteId::PubKey, 104, 24),
            (SuiteId::PostQuantum, 3_350, 4_422),
            (SuiteId::PqDraft, 3_350, 4_422),
            (SuiteId::Hybrid, 3_414, 4_518),
        ];
        assert_eq!(pinned.len(), SuiteId::ALL.len());
        for (suite, message, command) in pinned {
            assert_eq!(suite.message_overhead(), message, "{suite} message");
            assert_eq!(suite.command_overhead(), command, "{suite} command");
        }
    }

    #[test]
    fn codes_and_names_round_trip() {
        for s in SuiteId::ALL {
            assert_eq!(SuiteId::from_code(s.code()), Ok(s));
            assert_eq!(SuiteId::from_name(s.name()), Ok(s));
        }
        assert_eq!(SuiteId::from_code(0), Err(Error::UnknownSuite));
        assert_eq!(SuiteId::from_name("rot13"), Err(Error::UnknownSuite));
    }
}
