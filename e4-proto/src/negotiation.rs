//! Suite negotiation and in-field upgrade (`docs/negotiation.md`).
//!
//! A device announces the suites it can move to, with fresh public keys for
//! each, authenticated under its *current* suite; C2 chooses the strongest
//! suite its policy allows and answers with a `SetSuite` command protected
//! like every command in the current suite; the device checks that the
//! answer is bound to its latest announce and never lowers its rank, moves
//! to the new suite and confirms with the new keys.
//!
//! ```text
//! Announce (device -> C2)
//!   ts(8) | kind=0x01 | device id(16) | current suite(1) | n(1) |
//!   n x ( suite(1) | sig pk len(2) | sig pk | kem pk len(2) | kem pk ) | auth
//! SetSuite (C2 -> device, a command on the control topic)
//!   opcode=0x08 | suite(1) | transcript(32) | C2 key for the new suite
//! Confirm (device -> C2)
//!   ts(8) | kind=0x02 | device id(16) | suite(1) | transcript(32) | auth
//!
//! transcript = SHA3-256("e4 negotiation v1" | Announce bytes)
//! auth, symmetric suite: AES-SIV tag over the empty string, AD = the bytes
//!   before, key SHA3-256("e4 announce key v1" | client key) (Announce) or
//!   SHA3-256("e4 confirm key v1" | client key) (Confirm)
//! auth, signed suites: the suite's signature over
//!   "e4 announce v1" | the bytes before (Announce), or
//!   "e4 confirm v1" | the bytes before (Confirm)
//! ```
//!
//! The module has three parts: the message types ([`Announce`],
//! [`SetSuite`], [`Confirm`]) with exact encodings; C2's side
//! ([`Policy`], [`choose`], [`verify_announce`], [`answer`],
//! [`verify_confirm`]); and the device's side ([`Negotiator`]). Every parser
//! takes untrusted bytes and returns a [`NegotiationError`], never panics.

use alloc::vec::Vec;
use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::c2::DeviceKey;
use crate::client::{Client, Identity, KemIdentity};
use crate::crypto::{CryptoProvider, Rng, SIV_LEN};
use crate::error::Error;
use crate::ids::{Id, ID_LEN};
use crate::keys::{is_all_zero, Ed25519Secret, SecretBytes, SymKey, SYM_KEY_LEN, X25519_LEN};
use crate::store::Store;
use crate::suite::SuiteId;
use crate::time::{self, Clock, TIMESTAMP_LEN};

/// The opcode of `SetSuite` (the first byte of the command plaintext).
/// `Command::parse` and `Client::process_command` refuse it as
/// [`Error::InvalidCommand`]: only the [`Negotiator`] reads it.
pub const SET_SUITE_OPCODE: u8 = 0x08;
/// The kind byte (byte 8) of an Announce: version 1.
pub const ANNOUNCE_KIND: u8 = 0x01;
/// The kind byte (byte 8) of a Confirm: version 1.
pub const CONFIRM_KIND: u8 = 0x02;
/// Length of a transcript hash.
pub const TRANSCRIPT_LEN: usize = 32;
/// Most offers an Announce may carry (one per known suite).
pub const MAX_OFFERS: usize = SuiteId::ALL.len();

const TRANSCRIPT_LABEL: &[u8] = b"e4 negotiation v1";
const ANNOUNCE_KEY_LABEL: &[u8] = b"e4 announce key v1";
const CONFIRM_KEY_LABEL: &[u8] = b"e4 confirm key v1";
const ANNOUNCE_SIG_LABEL: &[u8] = b"e4 announce v1";
const CONFIRM_SIG_LABEL: &[u8] = b"e4 confirm v1";

/// `ts | kind | device id | suite` (both Announce and Confirm start so).
const HEAD_LEN: usize = TIMESTAMP_LEN + 1 + ID_LEN + 1;
/// Announce: head plus the offer count.
const ANNOUNCE_FIXED: usize = HEAD_LEN + 1;
/// Confirm: head plus the transcript.
const CONFIRM_FIXED: usize = HEAD_LEN + TRANSCRIPT_LEN;
/// SetSuite: opcode, suite, transcript.
const SET_SUITE_FIXED: usize = 1 + 1 + TRANSCRIPT_LEN;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a negotiation message or step was refused. A refused step never
/// changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The bytes are not a well-formed message of the expected type
    /// (truncated, trailing bytes, impossible lengths).
    Malformed,
    /// The kind byte (Announce / Confirm) is not the expected one.
    WrongKind,
    /// The command is not a SetSuite (another opcode): hand it to
    /// `Client::process_command`.
    NotSetSuite,
    /// A suite code that names no known suite.
    UnknownSuite,
    /// A suite offered twice, or more offers than there are suites.
    DuplicateOffer,
    /// The message names another device.
    WrongDevice,
    /// The Announce's current suite is not the one registered for the
    /// device, or the Confirm names another suite than the pending one.
    WrongSuite,
    /// A key of the wrong length for its suite, all zero, or of the wrong
    /// kind for the suite.
    BadKey,
    /// The tag or signature did not verify.
    NotAuthentic,
    /// The timestamp is older than the 600 s freshness window.
    TooOld,
    /// The timestamp is in the future.
    InFuture,
    /// The Announce is not strictly newer than the last accepted one.
    NotNewer,
    /// The transcript does not match (the device's latest Announce, or
    /// C2's pending answer).
    TranscriptMismatch,
    /// The SetSuite names a suite the device did not offer.
    NotOffered,
    /// The SetSuite would move the device to a suite ranked no higher than
    /// its current one.
    Downgrade,
    /// A second SetSuite for the same Announce with another suite or key.
    Conflict,
    /// The device has no outstanding Announce (or nothing accepted yet).
    NoAnnounce,
    /// The device already accepted a SetSuite: finish it (Confirm, then the
    /// first command in the new suite) before announcing again.
    AlreadyAccepted,
    /// The suite is not compiled into the provider.
    UnsupportedSuite,
    /// A ranking that is not a permutation of every suite.
    InvalidRanking,
    /// The client passed in is not the one this negotiator belongs to.
    ClientMismatch,
    /// Persisted negotiator parts that are not consistent with each other.
    InvalidParts,
    /// The command could not be opened (freshness, authentication, …).
    Command(Error),
    /// A crypto backend failed (never caused by untrusted input).
    Crypto(Error),
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            NegotiationError::Malformed => "malformed negotiation message",
            NegotiationError::WrongKind => "unexpected negotiation message kind",
            NegotiationError::NotSetSuite => "command is not a SetSuite",
            NegotiationError::UnknownSuite => "unknown suite code",
            NegotiationError::DuplicateOffer => "suite offered twice",
            NegotiationError::WrongDevice => "message names another device",
            NegotiationError::WrongSuite => "unexpected suite",
            NegotiationError::BadKey => "key of the wrong length or kind",
            NegotiationError::NotAuthentic => "authentication failed",
            NegotiationError::TooOld => "timestamp too old",
            NegotiationError::InFuture => "timestamp in the future",
            NegotiationError::NotNewer => "announce not newer than the last accepted one",
            NegotiationError::TranscriptMismatch => "transcript mismatch",
            NegotiationError::NotOffered => "suite was not offered",
            NegotiationError::Downgrade => "refused downgrade",
            NegotiationError::Conflict => "conflicting SetSuite for the same announce",
            NegotiationError::NoAnnounce => "no outstanding announce",
            NegotiationError::AlreadyAccepted => "a SetSuite was already accepted",
            NegotiationError::UnsupportedSuite => "suite not compiled in",
            NegotiationError::InvalidRanking => "ranking is not a permutation of the suites",
            NegotiationError::ClientMismatch => "client does not match the negotiator",
            NegotiationError::InvalidParts => "inconsistent negotiator parts",
            NegotiationError::Command(e) => return write!(f, "command refused: {e}"),
            NegotiationError::Crypto(e) => return write!(f, "crypto failure: {e}"),
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NegotiationError {}

fn check_fresh(ts: u64, now: u64) -> Result<(), NegotiationError> {
    time::check_message(ts, now).map_err(|e| match e {
        Error::TimestampInFuture => NegotiationError::InFuture,
        _ => NegotiationError::TooOld,
    })
}

fn suite_from_code(code: u8) -> Result<SuiteId, NegotiationError> {
    SuiteId::from_code(code).map_err(|_| NegotiationError::UnknownSuite)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

// ---------------------------------------------------------------------------
// Suite sets, ranking, policy, choice
// ---------------------------------------------------------------------------

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

/// A total order of the suites, weakest first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ranking([SuiteId; SuiteId::ALL.len()]);

impl Ranking {
    /// `symmetric < pubkey < pq-draft < pq < hybrid`.
    pub const DEFAULT: Ranking = Ranking([
        SuiteId::Symmetric,
        SuiteId::PubKey,
        SuiteId::PqDraft,
        SuiteId::PostQuantum,
        SuiteId::Hybrid,
    ]);

    /// A ranking from every suite, weakest first; refused unless each suite
    /// appears exactly once.
    pub fn new(weakest_first: &[SuiteId]) -> Result<Ranking, NegotiationError> {
        let order: [SuiteId; SuiteId::ALL.len()] = weakest_first
            .try_into()
            .map_err(|_| NegotiationError::InvalidRanking)?;
        if SuiteSet::of(&order) != SuiteSet::ALL {
            return Err(NegotiationError::InvalidRanking);
        }
        Ok(Ranking(order))
    }

    /// The rank of `s` (0 = weakest).
    pub fn rank(&self, s: SuiteId) -> usize {
        self.0.iter().position(|x| *x == s).unwrap_or(0)
    }

    /// The suites, weakest first.
    pub fn order(&self) -> &[SuiteId] {
        &self.0
    }

    /// The strongest suite of `set`, if any.
    pub fn strongest(&self, set: SuiteSet) -> Option<SuiteId> {
        self.0.iter().rev().copied().find(|s| set.contains(*s))
    }

    /// The suites of `set` ranked strictly above `s`.
    pub fn above(&self, s: SuiteId, set: SuiteSet) -> SuiteSet {
        let r = self.rank(s);
        self.0[r + 1..]
            .iter()
            .fold(SuiteSet::EMPTY, |acc, x| acc.with(*x))
            .intersection(set)
    }
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking::DEFAULT
    }
}

/// C2's negotiation policy for one device.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Policy {
    /// The order of the suites.
    pub ranking: Ranking,
    /// The suites C2 may move a device to.
    pub allowed: SuiteSet,
    /// The weakest suite acceptable as a device's running suite.
    pub minimum: SuiteId,
}

impl Default for Policy {
    /// Default ranking, every suite allowed, no minimum beyond symmetric.
    fn default() -> Policy {
        Policy {
            ranking: Ranking::DEFAULT,
            allowed: SuiteSet::ALL,
            minimum: SuiteId::Symmetric,
        }
    }
}

impl Policy {
    /// The same policy with another allowed set.
    pub fn with_allowed(self, allowed: SuiteSet) -> Policy {
        Policy { allowed, ..self }
    }
    /// The same policy with another minimum.
    pub fn with_minimum(self, minimum: SuiteId) -> Policy {
        Policy { minimum, ..self }
    }
}

/// The fleet's policy: a default for every device and per-device overrides
/// of the allowed set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetPolicy {
    /// The policy of devices without an override.
    pub default: Policy,
    overrides: Vec<(Id, SuiteSet)>,
}

impl FleetPolicy {
    /// A fleet policy with no override.
    pub fn new(default: Policy) -> FleetPolicy {
        FleetPolicy {
            default,
            overrides: Vec::new(),
        }
    }
    /// Replace the allowed set of one device (ranking and minimum stay the
    /// fleet's).
    pub fn set_override(&mut self, device: Id, allowed: SuiteSet) {
        match self.overrides.iter_mut().find(|(id, _)| *id == device) {
            Some(slot) => slot.1 = allowed,
            None => self.overrides.push((device, allowed)),
        }
    }
    /// Drop a device's override.
    pub fn remove_override(&mut self, device: &Id) {
        self.overrides.retain(|(id, _)| id != device);
    }
    /// The effective policy of `device`.
    pub fn for_device(&self, device: &Id) -> Policy {
        match self.overrides.iter().find(|(id, _)| id == device) {
            Some((_, allowed)) => self.default.with_allowed(*allowed),
            None => self.default,
        }
    }
}

/// What a device offers: its current suite and the suites it can move to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Offer {
    /// The suite the device runs.
    pub current: SuiteId,
    /// The suites it offers.
    pub suites: SuiteSet,
}

/// C2's answer to an offer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Decision {
    /// Move the device to this suite (send a SetSuite).
    Upgrade(SuiteId),
    /// Keep the current suite (nothing better is offered and allowed).
    Stay,
    /// Nothing acceptable is offered and the current suite is ranked below
    /// the policy's minimum: the device keeps running, flagged.
    BelowMinimum,
}

/// The strongest suite in `offer ∩ compiled_in ∩ policy.allowed` ranked at
/// least `policy.minimum` and strictly above the current suite (a suite of
/// the current suite's rank is the current suite: there is no downgrade and
/// no sideways move). Without one: [`Decision::Stay`], or
/// [`Decision::BelowMinimum`] if the current suite is ranked below the
/// minimum.
pub fn choose(policy: &Policy, offer: &Offer, compiled_in: SuiteSet) -> Decision {
    let r = &policy.ranking;
    let min = r.rank(policy.minimum);
    let candidates = r.above(
        offer.current,
        offer
            .suites
            .intersection(compiled_in)
            .intersection(policy.allowed),
    );
    match r.strongest(candidates) {
        Some(s) if r.rank(s) >= min => Decision::Upgrade(s),
        _ if r.rank(offer.current) >= min => Decision::Stay,
        _ => Decision::BelowMinimum,
    }
}

// ---------------------------------------------------------------------------
// Key material
// ---------------------------------------------------------------------------

/// What C2 holds of a device in one suite: enough to protect commands for
/// it and to authenticate its Announce / Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeviceMaterial {
    /// Symmetric suite: the client key (a secret shared with C2).
    Symmetric(SymKey),
    /// Public-key suite: the device's Ed25519 public key.
    PubKey([u8; 32]),
    /// Kem suites: the device's signature and KEM public keys.
    Kem {
        /// Signature public key.
        sig_pk: Vec<u8>,
        /// KEM encapsulation key.
        kem_pk: Vec<u8>,
    },
}

impl DeviceMaterial {
    /// The material C2 registers for a device provisioned with `identity`.
    pub fn of_identity(identity: &Identity) -> DeviceMaterial {
        match identity {
            Identity::Symmetric(k) => DeviceMaterial::Symmetric(k.clone()),
            Identity::PubKey { signing, .. } => DeviceMaterial::PubKey(signing.public()),
            Identity::Kem(k) => DeviceMaterial::Kem {
                sig_pk: k.sig_pk.clone(),
                kem_pk: k.kem_pk.clone(),
            },
        }
    }

    /// The key to pass to [`crate::c2::seal_command`].
    pub fn device_key(&self) -> DeviceKey<'_> {
        match self {
            DeviceMaterial::Symmetric(k) => DeviceKey::Symmetric(k),
            DeviceMaterial::PubKey(pk) => DeviceKey::PubKey(pk),
            DeviceMaterial::Kem { kem_pk, .. } => DeviceKey::Kem(kem_pk),
        }
    }

    /// Whether the material has the shape of `suite`'s.
    fn fits(&self, suite: SuiteId) -> bool {
        matches!(
            (self, suite),
            (DeviceMaterial::Symmetric(_), SuiteId::Symmetric)
                | (DeviceMaterial::PubKey(_), SuiteId::PubKey)
        ) || (matches!(self, DeviceMaterial::Kem { .. }) && suite.is_kem_suite())
    }
}

/// The device's secret side of an authentication.
enum Signer<'a> {
    Symmetric(&'a SymKey),
    Signature(&'a [u8]),
}

fn signer_of(identity: &Identity) -> Signer<'_> {
    match identity {
        Identity::Symmetric(k) => Signer::Symmetric(k),
        Identity::PubKey { signing, .. } => Signer::Signature(signing.as_bytes()),
        Identity::Kem(k) => Signer::Signature(k.sig_sk.as_bytes()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Announce,
    Confirm,
}

impl Kind {
    fn key_label(self) -> &'static [u8] {
        match self {
            Kind::Announce => ANNOUNCE_KEY_LABEL,
            Kind::Confirm => CONFIRM_KEY_LABEL,
        }
    }
    fn sig_label(self) -> &'static [u8] {
        match self {
            Kind::Announce => ANNOUNCE_SIG_LABEL,
            Kind::Confirm => CONFIRM_SIG_LABEL,
        }
    }
}

fn labelled(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + body.len());
    m.extend_from_slice(label);
    m.extend_from_slice(body);
    m
}

fn derived_key(p: &CryptoProvider, kind: Kind, key: &SymKey) -> SymKey {
    SymKey::new(p.hash.sha3_256(&[kind.key_label(), key.as_bytes()]))
}

/// Append the authenticator of `body` (which is `out`) under `suite`.
fn authenticate(
    p: &CryptoProvider,
    suite: SuiteId,
    kind: Kind,
    signer: Signer<'_>,
    out: &mut Vec<u8>,
) -> Result<(), NegotiationError> {
    match (suite, signer) {
        (SuiteId::Symmetric, Signer::Symmetric(k)) => {
            let key = derived_key(p, kind, k);
            let tag = p.siv.seal(&key, out, &mut []);
            out.extend_from_slice(&tag);
            Ok(())
        }
        (s, Signer::Signature(sk)) if s != SuiteId::Symmetric => {
            let sig = p
                .suite(s)
                .and_then(|x| x.sig())
                .map_err(|_| NegotiationError::UnsupportedSuite)?;
            let mut signature = alloc::vec![0u8; sig.signature_len()];
            sig.sign(sk, &labelled(kind.sig_label(), out), &mut signature)
                .map_err(NegotiationError::Crypto)?;
            out.extend_from_slice(&signature);
            Ok(())
        }
        _ => Err(NegotiationError::BadKey),
    }
}

/// Check the authenticator `auth` of `body` under the device's `material`
/// for `suite`.
fn verify_auth(
    p: &CryptoProvider,
    suite: SuiteId,
    kind: Kind,
    material: &DeviceMaterial,
    body: &[u8],
    auth: &[u8],
) -> Result<(), NegotiationError> {
    if !material.fits(suite) {
        return Err(NegotiationError::BadKey);
    }
    let s = p
        .suite(suite)
        .map_err(|_| NegotiationError::UnsupportedSuite)?;
    match material {
        DeviceMaterial::Symmetric(k) => {
            let tag: &[u8; SIV_LEN] = auth
                .try_into()
                .map_err(|_| NegotiationError::NotAuthentic)?;
            p.siv
                .open(&derived_key(p, kind, k), body, tag, &mut [])
                .map_err(|_| NegotiationError::NotAuthentic)
        }
        DeviceMaterial::PubKey(pk) => verify_sig(s, pk, kind, body, auth),
        DeviceMaterial::Kem { sig_pk, .. } => verify_sig(s, sig_pk, kind, body, auth),
    }
}

fn verify_sig(
    s: &crate::suite::Suite,
    pk: &[u8],
    kind: Kind,
    body: &[u8],
    auth: &[u8],
) -> Result<(), NegotiationError> {
    let sig = s.sig().map_err(|_| NegotiationError::UnsupportedSuite)?;
    if auth.len() != sig.signature_len() {
        return Err(NegotiationError::NotAuthentic);
    }
    sig.verify(pk, &labelled(kind.sig_label(), body), auth)
        .map_err(|_| NegotiationError::NotAuthentic)
}

/// The (signature, KEM) public key lengths an offer of `suite` carries.
pub fn offer_key_lens(
    p: &CryptoProvider,
    suite: SuiteId,
) -> Result<(usize, usize), NegotiationError> {
    let s = p
        .suite(suite)
        .map_err(|_| NegotiationError::UnsupportedSuite)?;
    Ok(match suite {
        SuiteId::Symmetric => (0, 0),
        SuiteId::PubKey => (
            s.sig().map_err(NegotiationError::Crypto)?.public_key_len(),
            0,
        ),
        _ => (
            s.sig().map_err(NegotiationError::Crypto)?.public_key_len(),
            s.kem().map_err(NegotiationError::Crypto)?.public_key_len(),
        ),
    })
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// The transcript of an Announce: `SHA3-256("e4 negotiation v1" | bytes)`.
pub fn transcript_of(p: &CryptoProvider, announce: &[u8]) -> [u8; TRANSCRIPT_LEN] {
    p.hash.sha3_256(&[TRANSCRIPT_LABEL, announce])
}

/// One offered suite with the device's fresh public keys for it (both empty
/// for the symmetric suite; no KEM key for the public-key suite).
#[derive(Clone, PartialEq, Eq)]
pub struct OfferedKeys {
    /// The suite.
    pub suite: SuiteId,
    /// The signature public key.
    pub sig_pk: Vec<u8>,
    /// The KEM encapsulation key.
    pub kem_pk: Vec<u8>,
}

impl fmt::Debug for OfferedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OfferedKeys({}, sig pk {} B, kem pk {} B)",
            self.suite,
            self.sig_pk.len(),
            self.kem_pk.len()
        )
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NegotiationError> {
        let end = self.at.checked_add(n).ok_or(NegotiationError::Malformed)?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(NegotiationError::Malformed)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, NegotiationError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, NegotiationError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
}

fn push_u16(out: &mut Vec<u8>, n: usize) -> Result<(), NegotiationError> {
    let n = u16::try_from(n).map_err(|_| NegotiationError::BadKey)?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// A parsed Announce. Parsing checks the structure only; C2 authenticates
/// it with [`verify_announce`].
#[derive(Clone, PartialEq, Eq)]
pub struct Announce {
    ts: u64,
    device: Id,
    current: SuiteId,
    offers: Vec<OfferedKeys>,
    auth_at: usize,
    bytes: Vec<u8>,
}

impl fmt::Debug for Announce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announce")
            .field("ts", &self.ts)
            .field("device", &self.device)
            .field("current", &self.current)
            .field("offers", &self.offers)
            .finish_non_exhaustive()
    }
}

impl Announce {
    /// Parse untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Announce, NegotiationError> {
        if bytes.len() < ANNOUNCE_FIXED {
            return Err(NegotiationError::Malformed);
        }
        let mut r = Reader { bytes, at: 0 };
        let ts = time::decode(r.take(TIMESTAMP_LEN)?);
        if r.u8()? != ANNOUNCE_KIND {
            return Err(NegotiationError::WrongKind);
        }
        let device = Id::from_slice(r.take(ID_LEN)?).ok_or(NegotiationError::Malformed)?;
        let current = suite_from_code(r.u8()?)?;
        let n = usize::from(r.u8()?);
        if n > MAX_OFFERS {
            return Err(NegotiationError::DuplicateOffer);
        }
        let mut offers: Vec<OfferedKeys> = Vec::with_capacity(n);
        let mut seen = SuiteSet::EMPTY;
        for _ in 0..n {
            let suite = suite_from_code(r.u8()?)?;
            if seen.contains(suite) {
                return Err(NegotiationError::DuplicateOffer);
            }
            seen = seen.with(suite);
            let len = r.u16()?;
            let sig_pk = r.take(len)?.to_vec();
            let len = r.u16()?;
            let kem_pk = r.take(len)?.to_vec();
            offers.push(OfferedKeys {
                suite,
                sig_pk,
                kem_pk,
            });
        }
        let auth_at = r.at;
        if auth_at >= bytes.len() {
            return Err(NegotiationError::Malformed);
        }
        Ok(Announce {
            ts,
            device,
            current,
            offers,
            auth_at,
            bytes: bytes.to_vec(),
        })
    }

    /// The device's timestamp.
    pub fn ts(&self) -> u64 {
        self.ts
    }
    /// The device.
    pub fn device(&self) -> &Id {
        &self.device
    }
    /// The device's current suite.
    pub fn current(&self) -> SuiteId {
        self.current
    }
    /// The offered suites with their keys, in wire order.
    pub fn offers(&self) -> &[OfferedKeys] {
        &self.offers
    }
    /// The keys offered for `suite`.
    pub fn offered(&self, suite: SuiteId) -> Option<&OfferedKeys> {
        self.offers.iter().find(|o| o.suite == suite)
    }
    /// The offer, for [`choose`].
    pub fn offer(&self) -> Offer {
        Offer {
            current: self.current,
            suites: self
                .offers
                .iter()
                .fold(SuiteSet::EMPTY, |acc, o| acc.with(o.suite)),
        }
    }
    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The authenticator (tag or signature).
    pub fn auth(&self) -> &[u8] {
        &self.bytes[self.auth_at..]
    }
    /// The transcript hash a SetSuite answering this Announce carries.
    pub fn transcript(&self, p: &CryptoProvider) -> [u8; TRANSCRIPT_LEN] {
        transcript_of(p, &self.bytes)
    }
}

fn encode_announce_body(
    ts: u64,
    device: &Id,
    current: SuiteId,
    offers: &[OfferedKeys],
) -> Result<Vec<u8>, NegotiationError> {
    if offers.len() > MAX_OFFERS {
        return Err(NegotiationError::DuplicateOffer);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&time::encode(ts));
    out.push(ANNOUNCE_KIND);
    out.extend_from_slice(&device.0);
    out.push(current.code());
    out.push(offers.len() as u8);
    for o in offers {
        out.push(o.suite.code());
        push_u16(&mut out, o.sig_pk.len())?;
        out.extend_from_slice(&o.sig_pk);
        push_u16(&mut out, o.kem_pk.len())?;
        out.extend_from_slice(&o.kem_pk);
    }
    Ok(out)
}

/// A parsed SetSuite command. The key is C2's public key for the new suite
/// (X25519 for the public-key suite, the suite's signature public key for
/// kem suites), or, for a move to the symmetric suite, the new client key:
/// it is kept as a secret and zeroized.
#[derive(Clone, PartialEq, Eq)]
pub struct SetSuite {
    /// The suite to move to.
    pub suite: SuiteId,
    /// The transcript of the Announce it answers.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// C2's key for the new suite.
    pub key: SecretBytes,
}

impl fmt::Debug for SetSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetSuite({}, {} B key)", self.suite, self.key.len())
    }
}

impl SetSuite {
    /// Parse command plaintext (opcode included). Key length is checked
    /// against the suite by the device ([`SetSuite::key_len`]).
    pub fn parse(bytes: &[u8]) -> Result<SetSuite, NegotiationError> {
        let (&op, _) = bytes.split_first().ok_or(NegotiationError::Malformed)?;
        if op != SET_SUITE_OPCODE {
            return Err(NegotiationError::NotSetSuite);
        }
        if bytes.len() <= SET_SUITE_FIXED {
            return Err(NegotiationError::Malformed);
        }
        let suite = suite_from_code(bytes[1])?;
        let mut transcript = [0u8; TRANSCRIPT_LEN];
        transcript.copy_from_slice(&bytes[2..SET_SUITE_FIXED]);
        Ok(SetSuite {
            suite,
            transcript,
            key: SecretBytes::from_slice(&bytes[SET_SUITE_FIXED..]),
        })
    }

    /// The command plaintext, to protect with `c2::seal_command_vec` under
    /// the device's current suite.
    pub fn encode(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(SET_SUITE_FIXED + self.key.len());
        out.push(SET_SUITE_OPCODE);
        out.push(self.suite.code());
        out.extend_from_slice(&self.transcript);
        out.extend_from_slice(self.key.as_bytes());
        SecretBytes::new(out)
    }

    /// The length of the key a SetSuite for `suite` carries.
    pub fn key_len(p: &CryptoProvider, suite: SuiteId) -> Result<usize, NegotiationError> {
        let s = p
            .suite(suite)
            .map_err(|_| NegotiationError::UnsupportedSuite)?;
        Ok(match suite {
            SuiteId::Symmetric => SYM_KEY_LEN,
            SuiteId::PubKey => X25519_LEN,
            _ => s.sig().map_err(NegotiationError::Crypto)?.public_key_len(),
        })
    }
}

/// A parsed Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Confirm {
    /// The device's timestamp.
    pub ts: u64,
    /// The device.
    pub device: Id,
    /// The suite the device moved to.
    pub suite: SuiteId,
    /// The transcript of the Announce the SetSuite answered.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// The authenticator (tag or signature).
    pub auth: Vec<u8>,
}

impl Confirm {
    /// Parse untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Confirm, NegotiationError> {
        if bytes.len() <= CONFIRM_FIXED {
            return Err(NegotiationError::Malformed);
        }
        if bytes[TIMESTAMP_LEN] != CONFIRM_KIND {
            return Err(NegotiationError::WrongKind);
        }
        let device = Id::from_slice(&bytes[TIMESTAMP_LEN + 1..TIMESTAMP_LEN + 1 + ID_LEN])
            .ok_or(NegotiationError::Malformed)?;
        let suite = suite_from_code(bytes[HEAD_LEN - 1])?;
        let mut transcript = [0u8; TRANSCRIPT_LEN];
        transcript.copy_from_slice(&bytes[HEAD_LEN..CONFIRM_FIXED]);
        Ok(Confirm {
            ts: time::decode(bytes),
            device,
            suite,
            transcript,
            auth: bytes[CONFIRM_FIXED..].to_vec(),
        })
    }
}

fn seal_confirm(
    p: &CryptoProvider,
    device: &Id,
    suite: SuiteId,
    transcript: &[u8; TRANSCRIPT_LEN],
    identity: &Identity,
    ts: u64,
) -> Result<Vec<u8>, NegotiationError> {
    let mut out = Vec::with_capacity(CONFIRM_FIXED + 16);
    out.extend_from_slice(&time::encode(ts));
    out.push(CONFIRM_KIND);
    out.extend_from_slice(&device.0);
    out.push(suite.code());
    out.extend_from_slice(transcript);
    authenticate(p, suite, Kind::Confirm, signer_of(identity), &mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// C2 side
// ---------------------------------------------------------------------------

/// C2: check an Announce from `device`, whose registered suite is
/// `current` and material `registered`. `last_accepted` is the timestamp of
/// the last Announce C2 accepted from this device (None if none): the new
/// one must be strictly newer, and fresh (600 s window, not in the future).
///
/// Order: structure, device, suite, freshness, newer-than-last,
/// authentication, then the lengths of the offered keys of every suite
/// compiled in. On success the caller records `announce.ts()` as the new
/// last accepted timestamp and calls [`choose`].
pub fn verify_announce(
    p: &CryptoProvider,
    msg: &[u8],
    device: &Id,
    current: SuiteId,
    registered: &DeviceMaterial,
    last_accepted: Option<u64>,
    now: u64,
) -> Result<Announce, NegotiationError> {
    let a = Announce::parse(msg)?;
    if a.device != *device {
        return Err(NegotiationError::WrongDevice);
    }
    if a.current != current {
        return Err(NegotiationError::WrongSuite);
    }
    check_fresh(a.ts, now)?;
    if last_accepted.is_some_and(|last| a.ts <= last) {
        return Err(NegotiationError::NotNewer);
    }
    verify_auth(
        p,
        current,
        Kind::Announce,
        registered,
        &a.bytes[..a.auth_at],
        a.auth(),
    )?;
    for o in &a.offers {
        if let Ok((sig_len, kem_len)) = offer_key_lens(p, o.suite) {
            let ok = o.sig_pk.len() == sig_len
                && o.kem_pk.len() == kem_len
                && (sig_len == 0 || !is_all_zero(&o.sig_pk))
                && (kem_len == 0 || !is_all_zero(&o.kem_pk));
            if !ok {
                return Err(NegotiationError::BadKey);
            }
        }
    }
    Ok(a)
}

/// What C2 remembers between sending a SetSuite and receiving the Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pending {
    /// The device.
    pub device: Id,
    /// The suite C2 moves it to.
    pub suite: SuiteId,
    /// The transcript of the Announce answered.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// The timestamp of that Announce.
    pub announce_ts: u64,
    /// The device's material in the new suite (its offered keys, or the new
    /// symmetric key): what C2 registers once the Confirm verifies.
    pub material: DeviceMaterial,
}

/// C2: the SetSuite moving the device of `announce` (already verified) to
/// `suite` (the [`Decision::Upgrade`] of [`choose`]), and the [`Pending`]
/// state to keep until the Confirm.
///
/// `c2_public` is C2's public key for the new suite: its X25519 public key
/// (public-key suite) or its signature public key (kem suites); it must be
/// empty for the symmetric suite, whose new client key is drawn from `rng`.
/// Protect `SetSuite::encode()` with `c2::seal_command_vec` under the
/// device's current suite.
pub fn answer(
    p: &CryptoProvider,
    announce: &Announce,
    suite: SuiteId,
    c2_public: &[u8],
    rng: &mut dyn Rng,
) -> Result<(SetSuite, Pending), NegotiationError> {
    let offered = announce
        .offered(suite)
        .ok_or(NegotiationError::NotOffered)?;
    let (sig_len, kem_len) = offer_key_lens(p, suite)?;
    if offered.sig_pk.len() != sig_len || offered.kem_pk.len() != kem_len {
        return Err(NegotiationError::BadKey);
    }
    let key_len = SetSuite::key_len(p, suite)?;
    let (key, material) = match suite {
        SuiteId::Symmetric => {
            if !c2_public.is_empty() {
                return Err(NegotiationError::BadKey);
            }
            let mut k = Zeroizing::new([0u8; SYM_KEY_LEN]);
            while is_all_zero(&k[..]) {
                rng.fill(&mut k[..]);
            }
            (
                SecretBytes::from_slice(&k[..]),
                DeviceMaterial::Symmetric(SymKey::new(*k)),
            )
        }
        _ => {
            if c2_public.len() != key_len || is_all_zero(c2_public) {
                return Err(NegotiationError::BadKey);
            }
            let material = if suite == SuiteId::PubKey {
                DeviceMaterial::PubKey(
                    offered
                        .sig_pk
                        .as_slice()
                        .try_into()
                        .map_err(|_| NegotiationError::BadKey)?,
                )
            } else {
                DeviceMaterial::Kem {
                    sig_pk: offered.sig_pk.clone(),
                    kem_pk: offered.kem_pk.clone(),
                }
            };
            (SecretBytes::from_slice(c2_public), material)
        }
    };
    let transcript = announce.transcript(p);
    Ok((
        SetSuite {
            suite,
            transcript,
            key,
        },
        Pending {
            device: announce.device,
            suite,
            transcript,
            announce_ts: announce.ts,
            material,
        },
    ))
}

/// C2: check a Confirm against the pending answer: device, suite,
/// transcript (constant time), freshness, then the new suite's
/// authenticator with the offered keys. On success C2 commits: the device
/// runs `pending.suite` with `pending.material`, and C2 erases its
/// current-suite material.
pub fn verify_confirm(
    p: &CryptoProvider,
    msg: &[u8],
    pending: &Pending,
    now: u64,
) -> Result<Confirm, NegotiationError> {
    let c = Confirm::parse(msg)?;
    if c.device != pending.device {
        return Err(NegotiationError::WrongDevice);
    }
    if c.suite != pending.suite {
        return Err(NegotiationError::WrongSuite);
    }
    if !ct_eq(&c.transcript, &pending.transcript) {
        return Err(NegotiationError::TranscriptMismatch);
    }
    check_fresh(c.ts, now)?;
    verify_auth(
        p,
        pending.suite,
        Kind::Confirm,
        &pending.material,
        &msg[..CONFIRM_FIXED],
        &c.auth,
    )?;
    Ok(c)
}

// ---------------------------------------------------------------------------
// Device side
// ---------------------------------------------------------------------------

/// A plaintext buffer wiped on drop.
struct Wipe(Vec<u8>);

impl Drop for Wipe {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// The keys a device generated for one offered suite. Secrets are zeroized
/// on drop. Symmetric: all empty (C2 sends the key); public key: Ed25519
/// `seed ‖ public` and public key, no KEM keys.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GeneratedKeys {
    /// The suite.
    pub suite: SuiteId,
    /// Signature secret key.
    pub sig_sk: SecretBytes,
    /// Signature public key.
    pub sig_pk: Vec<u8>,
    /// KEM decapsulation key.
    pub kem_sk: SecretBytes,
    /// KEM encapsulation key.
    pub kem_pk: Vec<u8>,
}

impl Zeroize for GeneratedKeys {
    fn zeroize(&mut self) {
        self.sig_sk.zeroize();
        self.kem_sk.zeroize();
    }
}

impl GeneratedKeys {
    fn generate(
        p: &CryptoProvider,
        suite: SuiteId,
        rng: &mut dyn Rng,
    ) -> Result<GeneratedKeys, NegotiationError> {
        let s = p
            .suite(suite)
            .map_err(|_| NegotiationError::UnsupportedSuite)?;
        let mut keys = GeneratedKeys {
            suite,
            sig_sk: SecretBytes::default(),
            sig_pk: Vec::new(),
            kem_sk: SecretBytes::default(),
            kem_pk: Vec::new(),
        };
        if suite == SuiteId::Symmetric {
            return Ok(keys);
        }
        let sig = s.sig().map_err(NegotiationError::Crypto)?;
        let mut sk = alloc::vec![0u8; sig.secret_key_len()];
        let mut pk = alloc::vec![0u8; sig.public_key_len()];
        let r = sig.generate(rng, &mut sk, &mut pk);
        keys.sig_sk = SecretBytes::new(sk);
        r.map_err(NegotiationError::Crypto)?;
        keys.sig_pk = pk;
        if suite.is_kem_suite() {
            let kem = s.kem().map_err(NegotiationError::Crypto)?;
            let mut sk = alloc::vec![0u8; kem.secret_key_len()];
            let mut pk = alloc::vec![0u8; kem.public_key_len()];
            let r = kem.generate(rng, &mut sk, &mut pk);
            keys.kem_sk = SecretBytes::new(sk);
            r.map_err(NegotiationError::Crypto)?;
            keys.kem_pk = pk;
        }
        Ok(keys)
    }

    fn public(&self) -> OfferedKeys {
        OfferedKeys {
            suite: self.suite,
            sig_pk: self.sig_pk.clone(),
            kem_pk: self.kem_pk.clone(),
        }
    }

    /// The device identity in this suite with C2's `key` from the SetSuite.
    fn identity(&self, key: &[u8]) -> Result<Identity, NegotiationError> {
        if is_all_zero(key) {
            return Err(NegotiationError::BadKey);
        }
        Ok(match self.suite {
            SuiteId::Symmetric => {
                Identity::Symmetric(SymKey::from_slice(key).ok_or(NegotiationError::BadKey)?)
            }
            SuiteId::PubKey => Identity::PubKey {
                signing: Ed25519Secret::from_slice(self.sig_sk.as_bytes())
                    .ok_or(NegotiationError::BadKey)?,
                c2_public: key.try_into().map_err(|_| NegotiationError::BadKey)?,
            },
            _ => Identity::Kem(KemIdentity {
                sig_sk: self.sig_sk.clone(),
                sig_pk: self.sig_pk.clone(),
                kem_sk: self.kem_sk.clone(),
                kem_pk: self.kem_pk.clone(),
                c2_sig_pk: key.to_vec(),
            }),
        })
    }
}

/// What the device gets from an accepted SetSuite.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Accepted {
    /// The new suite.
    pub suite: SuiteId,
    /// The device's identity in it: build the new `Client` from it.
    pub identity: Identity,
    /// The Confirm to publish on the announce topic.
    pub confirm: Vec<u8>,
}

/// Everything a [`Negotiator`] must persist across a restart (persist it
/// before publishing what the negotiator produced).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NegotiatorParts {
    /// The device.
    pub id: Id,
    /// Its current suite.
    pub current: SuiteId,
    /// The suites it can run.
    pub capabilities: SuiteSet,
    /// The device's ranking (it never moves to a lower or equal rank).
    pub ranking: Ranking,
    /// The latest Announce (empty if none).
    pub announce: Vec<u8>,
    /// The keys generated for its offers (only the chosen suite's once a
    /// SetSuite was accepted).
    pub keys: Vec<GeneratedKeys>,
    /// The SetSuite accepted, if any.
    pub accepted: Option<SetSuite>,
}

/// The device's side of negotiation.
///
/// Lifecycle: [`Negotiator::announce`] (retry it on a timeout: each call
/// generates fresh keys and supersedes the previous Announce), then
/// [`Negotiator::accept`] a SetSuite received on the control topic (route a
/// control message to it when `Client::process_command` refused it with
/// `InvalidCommand`), build a `Client` of the new suite from
/// [`Accepted::identity`] while keeping the current one, publish
/// [`Accepted::confirm`] (re-sign it with [`Negotiator::confirm`] on a
/// timeout), and once the new client has processed its first command call
/// [`Negotiator::finish`] and drop the old client.
pub struct Negotiator {
    provider: &'static CryptoProvider,
    id: Id,
    current: SuiteId,
    capabilities: SuiteSet,
    ranking: Ranking,
    announce: Option<(Announce, [u8; TRANSCRIPT_LEN])>,
    keys: Vec<GeneratedKeys>,
    accepted: Option<SetSuite>,
}

impl Drop for Negotiator {
    fn drop(&mut self) {
        for k in &mut self.keys {
            k.zeroize();
        }
        if let Some(s) = &mut self.accepted {
            s.key.zeroize();
        }
    }
}

impl fmt::Debug for Negotiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Negotiator")
            .field("id", &self.id)
            .field("current", &self.current)
            .field("offered", &self.offered())
            .field("announced", &self.announce.is_some())
            .field("accepted", &self.accepted.as_ref().map(|s| s.suite))
            .finish()
    }
}

impl Negotiator {
    /// A negotiator for device `id` running `current`, able to run
    /// `capabilities` (those compiled into `provider` and ranked above
    /// `current` by `ranking` are offered).
    pub fn new(
        provider: &'static CryptoProvider,
        id: Id,
        current: SuiteId,
        capabilities: SuiteSet,
        ranking: Ranking,
    ) -> Result<Negotiator, NegotiationError> {
        if !provider.supports(current) {
            return Err(NegotiationError::UnsupportedSuite);
        }
        Ok(Negotiator {
            provider,
            id,
            current,
            capabilities,
            ranking,
            announce: None,
            keys: Vec::new(),
            accepted: None,
        })
    }

    /// [`Negotiator::new`] for `client`'s device and suite.
    pub fn for_client<S: Store, C: Clock, const R: usize>(
        client: &Client<S, C, R>,
        capabilities: SuiteSet,
        ranking: Ranking,
    ) -> Result<Negotiator, NegotiationError> {
        Negotiator::new(
            client.provider(),
            *client.id(),
            client.suite(),
            capabilities,
            ranking,
        )
    }

    /// The device's current suite.
    pub fn current(&self) -> SuiteId {
        self.current
    }
    /// The suites this device offers.
    pub fn offered(&self) -> SuiteSet {
        self.ranking.above(
            self.current,
            self.capabilities
                .intersection(SuiteSet::compiled_in(self.provider)),
        )
    }
    /// The latest Announce, if any.
    pub fn latest_announce(&self) -> Option<&[u8]> {
        self.announce.as_ref().map(|(a, _)| a.as_bytes())
    }
    /// The suite of the accepted SetSuite, if any.
    pub fn accepted_suite(&self) -> Option<SuiteId> {
        self.accepted.as_ref().map(|s| s.suite)
    }

    fn check_client<S: Store, C: Clock, const R: usize>(
        &self,
        client: &Client<S, C, R>,
    ) -> Result<(), NegotiationError> {
        if *client.id() != self.id || client.suite() != self.current {
            return Err(NegotiationError::ClientMismatch);
        }
        Ok(())
    }

    /// Build a new Announce at the client's clock, with fresh keys for each
    /// offered suite, authenticated with the client's current identity. It
    /// supersedes any previous Announce (whose keys are erased). Refused
    /// once a SetSuite was accepted.
    pub fn announce<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, NegotiationError> {
        self.check_client(client)?;
        if self.accepted.is_some() {
            return Err(NegotiationError::AlreadyAccepted);
        }
        let mut keys = Vec::new();
        for s in self.offered().iter() {
            keys.push(GeneratedKeys::generate(self.provider, s, rng)?);
        }
        let offers: Vec<OfferedKeys> = keys.iter().map(GeneratedKeys::public).collect();
        let mut bytes =
            encode_announce_body(client.clock().now(), &self.id, self.current, &offers)?;
        authenticate(
            self.provider,
            self.current,
            Kind::Announce,
            signer_of(client.identity()),
            &mut bytes,
        )?;
        let parsed = Announce::parse(&bytes)?;
        let transcript = parsed.transcript(self.provider);
        for k in &mut self.keys {
            k.zeroize();
        }
        self.keys = keys;
        self.announce = Some((parsed, transcript));
        Ok(bytes)
    }

    /// Authenticate a control-topic command with `client` (the device's
    /// current suite: freshness and C2's authentication) and, if it is a
    /// SetSuite answering the latest Announce for an offered suite ranked
    /// above the current one, accept it: returns the new identity and the
    /// Confirm. A SetSuite identical to the one already accepted returns the
    /// same identity and a freshly signed Confirm; any other is refused.
    pub fn accept<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        msg: &[u8],
    ) -> Result<Accepted, NegotiationError> {
        self.check_client(client)?;
        let mut buf = Wipe(alloc::vec![0u8; msg.len()]);
        let n = client
            .open_control(msg, &mut buf.0)
            .map_err(NegotiationError::Command)?;
        let set = SetSuite::parse(&buf.0[..n])?;
        let (_, transcript) = self.announce.as_ref().ok_or(NegotiationError::NoAnnounce)?;
        if !ct_eq(&set.transcript, transcript) {
            return Err(NegotiationError::TranscriptMismatch);
        }
        if let Some(prev) = &self.accepted {
            if prev.suite != set.suite || !ct_eq(prev.key.as_bytes(), set.key.as_bytes()) {
                return Err(NegotiationError::Conflict);
            }
        }
        if self.ranking.rank(set.suite) <= self.ranking.rank(self.current) {
            return Err(NegotiationError::Downgrade);
        }
        let keys = self
            .keys
            .iter()
            .find(|k| k.suite == set.suite)
            .ok_or(NegotiationError::NotOffered)?;
        if set.key.len() != SetSuite::key_len(self.provider, set.suite)? {
            return Err(NegotiationError::BadKey);
        }
        let identity = keys.identity(set.key.as_bytes())?;
        let confirm = seal_confirm(
            self.provider,
            &self.id,
            set.suite,
            transcript,
            &identity,
            client.clock().now(),
        )?;
        let suite = set.suite;
        // Only the chosen suite's keys are still needed.
        for k in self.keys.iter_mut().filter(|k| k.suite != suite) {
            k.zeroize();
        }
        self.keys.retain(|k| k.suite == suite);
        self.accepted = Some(set);
        Ok(Accepted {
            suite,
            identity,
            confirm,
        })
    }

    fn accepted_keys(&self) -> Result<(&SetSuite, &GeneratedKeys), NegotiationError> {
        let set = self.accepted.as_ref().ok_or(NegotiationError::NoAnnounce)?;
        let keys = self
            .keys
            .iter()
            .find(|k| k.suite == set.suite)
            .ok_or(NegotiationError::InvalidParts)?;
        Ok((set, keys))
    }

    /// The identity in the accepted suite (to rebuild the new client after
    /// a restart).
    pub fn new_identity(&self) -> Result<Identity, NegotiationError> {
        let (set, keys) = self.accepted_keys()?;
        keys.identity(set.key.as_bytes())
    }

    /// A Confirm of the accepted SetSuite signed at `now` (to retry when no
    /// command arrives in the new suite).
    pub fn confirm(&self, now: u64) -> Result<Vec<u8>, NegotiationError> {
        let (set, keys) = self.accepted_keys()?;
        let identity = keys.identity(set.key.as_bytes())?;
        seal_confirm(
            self.provider,
            &self.id,
            set.suite,
            &set.transcript,
            &identity,
            now,
        )
    }

    /// The new client has processed its first command, so C2 committed:
    /// the accepted suite becomes the current one and everything of the
    /// exchange is erased (drop the old client too). Returns the new suite.
    pub fn finish(&mut self) -> Result<SuiteId, NegotiationError> {
        let suite = self
            .accepted
            .as_ref()
            .ok_or(NegotiationError::NoAnnounce)?
            .suite;
        for k in &mut self.keys {
            k.zeroize();
        }
        self.keys.clear();
        self.accepted = None;
        self.announce = None;
        self.current = suite;
        Ok(suite)
    }

    /// The parts to persist.
    pub fn to_parts(&self) -> NegotiatorParts {
        NegotiatorParts {
            id: self.id,
            current: self.current,
            capabilities: self.capabilities,
            ranking: self.ranking,
            announce: self
                .announce
                .as_ref()
                .map(|(a, _)| a.as_bytes().to_vec())
                .unwrap_or_default(),
            keys: self.keys.clone(),
            accepted: self.accepted.clone(),
        }
    }

    /// Rebuild a negotiator from persisted parts, checking that they are
    /// consistent: the Announce parses and is this device's in its current
    /// suite, the keys are exactly those it offered (or, once a SetSuite was
    /// accepted, the chosen suite's), the accepted SetSuite answers it.
    pub fn from_parts(
        provider: &'static CryptoProvider,
        parts: NegotiatorParts,
    ) -> Result<Negotiator, NegotiationError> {
        let mut n = Negotiator::new(
            provider,
            parts.id,
            parts.current,
            parts.capabilities,
            parts.ranking,
        )?;
        n.keys = parts.keys;
        n.accepted = parts.accepted;
        if parts.announce.is_empty() {
            if !n.keys.is_empty() || n.accepted.is_some() {
                return Err(NegotiationError::InvalidParts);
            }
            return Ok(n);
        }
        let a = Announce::parse(&parts.announce).map_err(|_| NegotiationError::InvalidParts)?;
        if a.device != n.id || a.current != n.current {
            return Err(NegotiationError::InvalidParts);
        }
        let transcript = a.transcript(provider);
        let expected: Vec<&OfferedKeys> = match &n.accepted {
            Some(set) => {
                if !ct_eq(&set.transcript, &transcript) {
                    return Err(NegotiationError::InvalidParts);
                }
                a.offers.iter().filter(|o| o.suite == set.suite).collect()
            }
            None => a.offers.iter().collect(),
        };
        let consistent = expected.len() == n.keys.len()
            && expected.iter().zip(&n.keys).all(|(o, k)| **o == k.public());
        if !consistent {
            return Err(NegotiationError::InvalidParts);
        }
        if n.accepted.is_some() {
            n.new_identity()
                .map_err(|_| NegotiationError::InvalidParts)?;
        }
        n.announce = Some((a, transcript));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SuiteId::{Hybrid, PostQuantum as Pq, PqDraft, PubKey, Symmetric as Sym};

    #[test]
    fn suite_sets_and_rankings() {
        let s = SuiteSet::of(&[Sym, Hybrid]);
        assert!(s.contains(Sym) && s.contains(Hybrid) && !s.contains(Pq));
        assert_eq!(s.len(), 2);
        assert_eq!(s.with(Pq).without(Sym), SuiteSet::of(&[Pq, Hybrid]));
        assert_eq!(SuiteSet::ALL.len(), 5);
        assert!(SuiteSet::EMPTY.is_empty());
        assert_eq!(s.iter().collect::<Vec<_>>(), [Sym, Hybrid]);
        let r = Ranking::DEFAULT;
        assert_eq!(r.rank(Sym), 0);
        assert_eq!(r.rank(Hybrid), 4);
        assert!(r.rank(PqDraft) < r.rank(Pq));
        assert_eq!(
            r.above(PubKey, SuiteSet::ALL),
            SuiteSet::of(&[PqDraft, Pq, Hybrid])
        );
        assert_eq!(r.strongest(SuiteSet::of(&[PubKey, PqDraft])), Some(PqDraft));
        assert_eq!(r.strongest(SuiteSet::EMPTY), None);
        assert_eq!(Ranking::new(r.order()), Ok(r));
        assert_eq!(
            Ranking::new(&[Sym, Sym, Pq, PqDraft, Hybrid]),
            Err(NegotiationError::InvalidRanking)
        );
    }

    #[test]
    fn choose_never_moves_down() {
        let p = Policy::default();
        for cur in SuiteId::ALL {
            for bits in 0u8..32 {
                let offer = Offer {
                    current: cur,
                    suites: SuiteSet(bits),
                };
                match choose(&p, &offer, SuiteSet::ALL) {
                    Decision::Upgrade(s) => {
                        assert!(p.ranking.rank(s) > p.ranking.rank(cur));
                        assert!(offer.suites.contains(s));
                        assert_eq!(
                            p.ranking.strongest(offer.suites),
                            Some(s),
                            "strongest offered is chosen"
                        );
                    }
                    Decision::Stay => {
                        assert!(p.ranking.above(cur, offer.suites).is_empty())
                    }
                    Decision::BelowMinimum => unreachable!("minimum is symmetric"),
                }
            }
        }
    }

    #[test]
    fn set_suite_round_trips_and_parsers_refuse_garbage() {
        let s = SetSuite {
            suite: Pq,
            transcript: [7; 32],
            key: SecretBytes::from_slice(&[9; 40]),
        };
        let bytes = s.encode();
        assert_eq!(bytes.as_bytes()[0], SET_SUITE_OPCODE);
        assert_eq!(SetSuite::parse(bytes.as_bytes()), Ok(s));
        assert_eq!(SetSuite::parse(&[]), Err(NegotiationError::Malformed));
        assert_eq!(
            SetSuite::parse(&[3; 60]),
            Err(NegotiationError::NotSetSuite)
        );
        assert_eq!(SetSuite::parse(&[8; 34]), Err(NegotiationError::Malformed));
        assert_eq!(
            SetSuite::parse(&[8; 35]),
            Err(NegotiationError::UnknownSuite)
        );
        assert!(!alloc::format!(
            "{:?}",
            SetSuite::parse(&[8, 0x10, 0x41, 0x42, 0x43].repeat(9)).unwrap()
        )
        .contains("65"));

        // an Announce by hand: no offers, a 16-byte tag
        let mut a = alloc::vec![0u8; 8];
        a.push(ANNOUNCE_KIND);
        a.extend_from_slice(&[5; 16]);
        a.push(Sym.code());
        a.push(0);
        assert_eq!(Announce::parse(&a), Err(NegotiationError::Malformed));
        a.extend_from_slice(&[1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let p = Announce::parse(&a).unwrap();
        assert_eq!(p.offer().suites, SuiteSet::EMPTY);
        assert_eq!(p.auth().len(), 16);
        a[26] = 1; // one offer read from the tag: symmetric, no keys
        let p = Announce::parse(&a).unwrap();
        assert_eq!(p.offers()[0].suite, Sym);
        assert_eq!(p.auth(), &[1; 11]);
        a[26] = 2; // a second offer would be symmetric again
        assert_eq!(Announce::parse(&a), Err(NegotiationError::DuplicateOffer));
        a[26] = 6;
        assert_eq!(Announce::parse(&a), Err(NegotiationError::DuplicateOffer));
        a[8] = CONFIRM_KIND;
        assert_eq!(Announce::parse(&a), Err(NegotiationError::WrongKind));
        assert_eq!(Confirm::parse(&[2; 58]), Err(NegotiationError::Malformed));
        assert_eq!(Confirm::parse(&[1; 59]), Err(NegotiationError::WrongKind));
    }
}
