//! One error type for the whole protocol.
//!
//! The first thirteen variants map one-to-one onto the outcome categories of
//! the E4 cross-implementation vectors (`expect` values); [`Error::category`]
//! gives that name. The remaining variants cover situations e4go has no
//! category for (a suite that is not compiled in, or that does not exist, a
//! full fixed-capacity store, a replayed message, a caller's buffer that is
//! too small) and, in [`NegotiationError`], why a suite-negotiation or
//! state-report step was refused.

use core::fmt;

/// Every way an E4 operation can fail. Failing operations never change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A symmetric message or command of at most 24 bytes, or a public-key
    /// message whose SIV part is shorter than 16 bytes.
    TooShortCiphertext,
    /// A signed message too short for its format (public-key: at most 72 bytes).
    InvalidProtectedLen,
    /// The timestamp is older than the freshness window (or a transition key
    /// is older than the transition period).
    TimestampTooOld,
    /// The timestamp is in the future.
    TimestampInFuture,
    /// AES-SIV authentication failed.
    NotAuthentic,
    /// A signature did not verify.
    InvalidSignature,
    /// The signer's public key is unknown (or RemovePubKey of an unknown id).
    PubKeyNotFound,
    /// No key is held for the topic.
    TopicKeyNotFound,
    /// Unknown command opcode.
    InvalidCommand,
    /// A known opcode with arguments of the wrong length.
    InvalidCommandLength,
    /// A command the client's suite does not support.
    UnsupportedOperation,
    /// A well-formed command or call whose argument fails validation.
    InvalidArgument,
    /// A password shorter than 16 bytes.
    InvalidPassword,
    /// The suite is not compiled in, or a message names another suite.
    UnsupportedSuite,
    /// A fixed-capacity store has no room left.
    StoreFull,
    /// A byte-identical message was already accepted within the window.
    Replayed,
    /// The caller's output buffer is too small.
    BufferTooSmall,
    /// A backend failed internally (never caused by untrusted input).
    Crypto,
    /// A suite code or name that names no suite at all (whereas
    /// [`Error::UnsupportedSuite`] is a known suite this build lacks).
    UnknownSuite,
    /// A suite-negotiation or state-report message, or step, was refused.
    Negotiation(NegotiationError),
}

impl Error {
    /// The outcome category name used by the E4 vectors, or a name of our own
    /// for the variants e4go has no category for.
    pub const fn category(&self) -> &'static str {
        match self {
            Error::TooShortCiphertext => "too_short_ciphertext",
            Error::InvalidProtectedLen => "invalid_protected_len",
            Error::TimestampTooOld => "timestamp_too_old",
            Error::TimestampInFuture => "timestamp_in_future",
            Error::NotAuthentic => "not_authentic",
            Error::InvalidSignature => "invalid_signature",
            Error::PubKeyNotFound => "pubkey_not_found",
            Error::TopicKeyNotFound => "topic_key_not_found",
            Error::InvalidCommand => "invalid_command",
            Error::InvalidCommandLength => "invalid_command_length",
            Error::UnsupportedOperation => "unsupported_operation",
            Error::InvalidArgument => "invalid_argument",
            Error::InvalidPassword => "invalid_password",
            Error::UnsupportedSuite => "unsupported_suite",
            Error::StoreFull => "store_full",
            Error::Replayed => "replayed",
            Error::BufferTooSmall => "buffer_too_small",
            Error::Crypto => "crypto_failure",
            Error::UnknownSuite => "unknown_suite",
            Error::Negotiation(_) => "negotiation_refused",
        }
    }

    /// All variants without data, in declaration order.
    pub const ALL: [Error; 19] = [
        Error::TooShortCiphertext,
        Error::InvalidProtectedLen,
        Error::TimestampTooOld,
        Error::TimestampInFuture,
        Error::NotAuthentic,
        Error::InvalidSignature,
        Error::PubKeyNotFound,
        Error::TopicKeyNotFound,
        Error::InvalidCommand,
        Error::InvalidCommandLength,
        Error::UnsupportedOperation,
        Error::InvalidArgument,
        Error::InvalidPassword,
        Error::UnsupportedSuite,
        Error::StoreFull,
        Error::Replayed,
        Error::BufferTooSmall,
        Error::Crypto,
        Error::UnknownSuite,
    ];

    /// The variant for a category name, the inverse of [`Error::category`].
    pub fn from_category(name: &str) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.category() == name)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::TooShortCiphertext => "ciphertext too short",
            Error::InvalidProtectedLen => "invalid length of protected message",
            Error::TimestampTooOld => "timestamp too old",
            Error::TimestampInFuture => "timestamp received is in the future",
            Error::NotAuthentic => "authentication failed",
            Error::InvalidSignature => "invalid signature",
            Error::PubKeyNotFound => "signer public key not found",
            Error::TopicKeyNotFound => "topic key not found",
            Error::InvalidCommand => "invalid command",
            Error::InvalidCommandLength => "invalid command length",
            Error::UnsupportedOperation => "this operation is not supported",
            Error::InvalidArgument => "invalid argument",
            Error::InvalidPassword => "invalid password: must be at least 16 bytes",
            Error::UnsupportedSuite => "crypto suite not supported",
            Error::StoreFull => "key store is full",
            Error::Replayed => "message replayed",
            Error::BufferTooSmall => "output buffer too small",
            Error::Crypto => "crypto backend failure",
            Error::UnknownSuite => "unknown crypto suite",
            Error::Negotiation(e) => return write!(f, "negotiation refused: {e}"),
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

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
    /// A ranking that is not a permutation of every suite.
    InvalidRanking,
    /// The client passed in is not the one this negotiator belongs to.
    ClientMismatch,
    /// Persisted negotiator parts that are not consistent with each other.
    InvalidParts,
    /// A rekey (the current suite offered again with fresh keys) asked of
    /// a suite whose device keys negotiation does not replace: only the
    /// KEM suites' (symmetric and public-key devices get SetIdKey).
    RekeyUnsupported,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            NegotiationError::Malformed => "malformed negotiation message",
            NegotiationError::WrongKind => "unexpected negotiation message kind",
            NegotiationError::NotSetSuite => "command is not a SetSuite",
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
            NegotiationError::InvalidRanking => "ranking is not a permutation of the suites",
            NegotiationError::ClientMismatch => "client does not match the negotiator",
            NegotiationError::InvalidParts => "inconsistent negotiator parts",
            NegotiationError::RekeyUnsupported => {
                "only the device keys of a KEM suite are replaced by negotiation"
            }
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NegotiationError {}

impl From<NegotiationError> for Error {
    fn from(e: NegotiationError) -> Error {
        Error::Negotiation(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_and_are_unique() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(Error::from_category(e.category()), Some(*e));
            for other in &Error::ALL[i + 1..] {
                assert_ne!(e.category(), other.category());
            }
        }
        assert_eq!(Error::from_category("nonsense"), None);
    }
}
