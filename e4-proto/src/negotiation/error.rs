//! Why a negotiation message or step was refused.

use super::*;

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
    /// The message is not strictly newer than the last one of its kind
    /// accepted from the device (a replay).
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
            NegotiationError::NotNewer => {
                "not newer than the last message of its kind accepted from this device"
            }
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

pub(super) fn check_fresh(ts: u64, now: u64) -> Result<(), NegotiationError> {
    time::check_message(ts, now).map_err(|e| match e {
        Error::TimestampInFuture => NegotiationError::InFuture,
        _ => NegotiationError::TooOld,
    })
}

pub(super) fn suite_from_code(code: u8) -> Result<SuiteId, NegotiationError> {
    SuiteId::from_code(code).map_err(|_| NegotiationError::UnknownSuite)
}

pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
