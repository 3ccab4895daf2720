//! What arrives on a device's control topic, opened and parsed once.
//!
//! C2 seals every control message the same way (`c2::seal_command_vec`,
//! under the device's suite); the plaintext's first byte says what it is:
//!
//! | opcode | message | defined in |
//! |---|---|---|
//! | 0x00–0x07 | the eight E4 commands | [`crate::command`] |
//! | 0x08 | SetSuite (suite negotiation, e4-rs) | `crate::negotiation` |
//! | 0x09 | SetTopicFormat (e4-rs) | [`crate::topic_format`] |
//! | 0x0A | Renegotiate (e4-rs) | [`crate::renegotiate`] |
//!
//! [`crate::Client::open_control`] authenticates and decrypts a message into
//! an [`Opened`]; [`Opened::parse`] turns it into one [`Control`] value, so
//! a device dispatches on the kind of message instead of trying one parser
//! after another. [`crate::Client::apply`] applies an opened E4 command.

use crate::command::{self, Command};
use crate::crypto::SIV_LEN;
use crate::error::Error;
#[cfg(feature = "alloc")]
use crate::negotiation::{SetSuite, SET_SUITE_OPCODE};
use crate::renegotiate::{Renegotiate, RENEGOTIATE_OPCODE};
use crate::suite::{CommandLengths, SuiteId};
use crate::topic_format::{SetTopicFormat, SET_TOPIC_FORMAT_OPCODE};

/// A control message, parsed.
#[derive(Debug)]
pub enum Control<'a> {
    /// One of the eight E4 commands.
    Command(Command<'a>),
    /// Suite negotiation's SetSuite.
    #[cfg(feature = "alloc")]
    SetSuite(SetSuite),
    /// SetTopicFormat.
    SetTopicFormat(SetTopicFormat),
    /// Renegotiate: announce again (with the rekey flag: offering fresh
    /// keys for the current suite too).
    Renegotiate(Renegotiate),
}

impl<'a> Control<'a> {
    /// Parse the plaintext of a control message for a device of `suite`.
    /// The opcode picks the parser; each reports its own errors. An opcode
    /// nobody defines is [`Error::InvalidCommand`], as in e4go.
    pub fn parse(plain: &'a [u8], suite: SuiteId) -> Result<Control<'a>, Error> {
        match plain.first() {
            #[cfg(feature = "alloc")]
            Some(&SET_SUITE_OPCODE) => SetSuite::parse(plain).map(Control::SetSuite),
            Some(&SET_TOPIC_FORMAT_OPCODE) => {
                SetTopicFormat::parse(plain).map(Control::SetTopicFormat)
            }
            Some(&RENEGOTIATE_OPCODE) => Renegotiate::parse(plain).map(Control::Renegotiate),
            _ => parse_command(plain, &suite.command_lengths()).map(Control::Command),
        }
    }

    /// The opcode (the plaintext's first byte).
    pub fn opcode(&self) -> u8 {
        match self {
            Control::Command(c) => c.opcode(),
            #[cfg(feature = "alloc")]
            Control::SetSuite(_) => SET_SUITE_OPCODE,
            Control::SetTopicFormat(_) => SET_TOPIC_FORMAT_OPCODE,
            Control::Renegotiate(_) => RENEGOTIATE_OPCODE,
        }
    }
}

/// Parse an E4 command as a device receiving it does: as
/// [`Command::parse`], except that an identity key of the other E4 mode's
/// length is [`Error::InvalidArgument`] (it passes e4go's length check and
/// fails when applied; see [`command::is_other_mode_id_key`]).
pub fn parse_command<'a>(bytes: &'a [u8], lengths: &CommandLengths) -> Result<Command<'a>, Error> {
    match Command::parse(bytes, lengths) {
        Err(Error::InvalidCommandLength) if command::is_other_mode_id_key(bytes, lengths) => {
            Err(Error::InvalidArgument)
        }
        parsed => parsed,
    }
}

/// A control message that [`crate::Client::open_control`] authenticated
/// (C2's key or signature, freshness) and decrypted, not yet applied. Only
/// `open_control` makes one. It borrows the caller's buffer, which holds the
/// plaintext: wipe it once done.
#[derive(Debug)]
pub struct Opened<'a> {
    pub(crate) plain: &'a [u8],
    pub(crate) ts: u64,
    pub(crate) tag: [u8; SIV_LEN],
}

impl<'a> Opened<'a> {
    /// The plaintext (opcode first).
    pub fn plaintext(&self) -> &'a [u8] {
        self.plain
    }

    /// The message's timestamp (seconds).
    pub fn timestamp(&self) -> u64 {
        self.ts
    }

    /// The message's SIV: with the timestamp, what identifies it for replay
    /// rejection.
    pub fn tag(&self) -> &[u8; SIV_LEN] {
        &self.tag
    }

    /// Parse the plaintext for a device of `suite` ([`Control::parse`]).
    pub fn parse(&self, suite: SuiteId) -> Result<Control<'a>, Error> {
        Control::parse(self.plain, suite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::opcode;
    use crate::error::NegotiationError;
    use crate::ids::TopicHash;
    use proptest::prelude::*;
    use SuiteId::{PostQuantum as Pq, PubKey, Symmetric as Sym};

    #[test]
    fn the_opcode_picks_the_parser() {
        let topic = TopicHash([7; 16]);
        let mut set_key = [opcode::SET_TOPIC_KEY; 49];
        set_key[1..33].fill(1);
        match Control::parse(&set_key, Sym) {
            Ok(Control::Command(Command::SetTopicKey { topic: t, .. })) => {
                assert_eq!(t, TopicHash([opcode::SET_TOPIC_KEY; 16]))
            }
            other => panic!("{other:?}"),
        }
        match Control::parse(&[RENEGOTIATE_OPCODE], Sym) {
            Ok(c @ Control::Renegotiate(_)) => assert_eq!(c.opcode(), RENEGOTIATE_OPCODE),
            other => panic!("{other:?}"),
        }
        let fmt = SetTopicFormat { topic, format: Sym }.encode();
        match Control::parse(&fmt, Pq) {
            Ok(c @ Control::SetTopicFormat(f)) => {
                assert_eq!((f.topic, f.format), (topic, Sym));
                assert_eq!(c.opcode(), SET_TOPIC_FORMAT_OPCODE);
            }
            other => panic!("{other:?}"),
        }
        #[cfg(feature = "alloc")]
        {
            let set = SetSuite {
                suite: Pq,
                transcript: [3; 32],
                key: crate::keys::SecretBytes::from_slice(&[9; 40]),
            };
            match Control::parse(set.encode().as_bytes(), Sym) {
                Ok(c @ Control::SetSuite(_)) => {
                    assert_eq!(c.opcode(), SET_SUITE_OPCODE);
                    assert!(matches!(c, Control::SetSuite(s) if s == set));
                }
                other => panic!("{other:?}"),
            }
            // A malformed SetSuite is the negotiation's error, not "unknown".
            assert_eq!(
                Control::parse(&[SET_SUITE_OPCODE, Pq.code()], Sym).unwrap_err(),
                Error::Negotiation(NegotiationError::Malformed)
            );
        }
    }

    #[test]
    fn each_parser_reports_its_own_error() {
        assert_eq!(Control::parse(&[], Sym).unwrap_err(), Error::InvalidCommand);
        // An opcode nobody defines.
        assert_eq!(
            Control::parse(&[0x0b], Sym).unwrap_err(),
            Error::InvalidCommand
        );
        // Renegotiate takes no byte or the rekey flag (0x01), nothing else.
        assert_eq!(
            Control::parse(&[RENEGOTIATE_OPCODE, 0], Sym).unwrap_err(),
            Error::InvalidCommand
        );
        assert_eq!(
            Control::parse(&[RENEGOTIATE_OPCODE, 1, 0], Sym).unwrap_err(),
            Error::InvalidCommandLength
        );
        assert_eq!(
            Control::parse(&[SET_TOPIC_FORMAT_OPCODE, 1, 2], Sym).unwrap_err(),
            Error::InvalidCommandLength
        );
        let mut fmt = SetTopicFormat {
            topic: TopicHash([1; 16]),
            format: Sym,
        }
        .encode();
        fmt[17] = 0xee;
        assert_eq!(Control::parse(&fmt, Sym).unwrap_err(), Error::UnknownSuite);
        // SetIdKey of the other E4 mode's length: e4go's invalid argument.
        let mut id_key = [0u8; 65];
        id_key[0] = opcode::SET_ID_KEY;
        assert_eq!(
            Control::parse(&id_key, Sym).unwrap_err(),
            Error::InvalidArgument
        );
        assert_eq!(
            Control::parse(&id_key[..33], PubKey).unwrap_err(),
            Error::InvalidArgument
        );
        assert!(Control::parse(&id_key[..33], Sym).is_ok());
        assert_eq!(
            Control::parse(&id_key[..20], Sym).unwrap_err(),
            Error::InvalidCommandLength
        );
    }

    proptest! {
        #[test]
        fn whatever_parses_keeps_its_opcode(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for suite in SuiteId::ALL {
                if let Ok(c) = Control::parse(&bytes, suite) {
                    prop_assert_eq!(c.opcode(), bytes[0]);
                    if let Control::Command(cmd) = c {
                        prop_assert_eq!(cmd.encoded_len(), bytes.len());
                    }
                }
            }
        }
    }
}
