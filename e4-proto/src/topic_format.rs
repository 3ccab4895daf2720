//! SetTopicFormat: an e4-rs extension command (opcode 0x09) telling a
//! device which suite's *message format* a topic uses.
//!
//! ```text
//! 0x09 | topic hash (16) | suite id byte (1)
//! ```
//!
//! Sealed by C2 like every command (`c2::seal_command_vec`) and opened by
//! the device with [`crate::Client::open_control`], which parses it into
//! [`crate::Control::SetTopicFormat`]; `Command::parse` and
//! [`crate::Client::process_command`] refuse opcode 0x09 as
//! [`Error::InvalidCommand`]. Two values are meaningful for a device: the
//! symmetric format on a device whose suite is not symmetric (it then
//! protects and unprotects that topic in E4's symmetric format with the
//! topic key, [`crate::Client::protect_symmetric_hashed`] /
//! [`crate::Client::unprotect_symmetric_hashed`]), so that it can share the
//! topic with symmetric devices; or the device's own suite, which removes
//! such an override. The codec here only checks the encoding.

use crate::error::Error;
use crate::ids::{TopicHash, TOPIC_HASH_LEN};
use crate::suite::SuiteId;

/// The opcode of SetTopicFormat (the first byte of the command plaintext).
pub const SET_TOPIC_FORMAT_OPCODE: u8 = 0x09;
/// Length of a SetTopicFormat plaintext: opcode, topic hash, suite byte.
pub const SET_TOPIC_FORMAT_LEN: usize = 1 + TOPIC_HASH_LEN + 1;

/// "Messages on `topic` use `format`'s message format."
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SetTopicFormat {
    /// The topic.
    pub topic: TopicHash,
    /// The suite whose message format the topic uses.
    pub format: SuiteId,
}

impl SetTopicFormat {
    /// The command plaintext, to protect like any command.
    pub fn encode(&self) -> [u8; SET_TOPIC_FORMAT_LEN] {
        let mut out = [0u8; SET_TOPIC_FORMAT_LEN];
        out[0] = SET_TOPIC_FORMAT_OPCODE;
        out[1..1 + TOPIC_HASH_LEN].copy_from_slice(&self.topic.0);
        out[1 + TOPIC_HASH_LEN] = self.format.code();
        out
    }

    /// Parse command plaintext (opcode included): another opcode is
    /// [`Error::InvalidCommand`], another length
    /// [`Error::InvalidCommandLength`], an unknown suite byte
    /// [`Error::UnknownSuite`].
    pub fn parse(bytes: &[u8]) -> Result<SetTopicFormat, Error> {
        match bytes.first() {
            Some(&SET_TOPIC_FORMAT_OPCODE) => {}
            _ => return Err(Error::InvalidCommand),
        }
        if bytes.len() != SET_TOPIC_FORMAT_LEN {
            return Err(Error::InvalidCommandLength);
        }
        let topic = TopicHash::from_slice(&bytes[1..1 + TOPIC_HASH_LEN])
            .ok_or(Error::InvalidCommandLength)?;
        let format = SuiteId::from_code(bytes[1 + TOPIC_HASH_LEN])?;
        Ok(SetTopicFormat { topic, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_suite() {
        for (i, format) in SuiteId::ALL.into_iter().enumerate() {
            let c = SetTopicFormat {
                topic: TopicHash([i as u8 + 1; TOPIC_HASH_LEN]),
                format,
            };
            let bytes = c.encode();
            assert_eq!(bytes[0], 0x09);
            assert_eq!(&bytes[1..17], &c.topic.0);
            assert_eq!(bytes[17], format.code());
            assert_eq!(SetTopicFormat::parse(&bytes), Ok(c));
        }
    }

    #[test]
    fn refuses_garbage() {
        let good = SetTopicFormat {
            topic: TopicHash([7; TOPIC_HASH_LEN]),
            format: SuiteId::Symmetric,
        }
        .encode();
        assert_eq!(SetTopicFormat::parse(&[]), Err(Error::InvalidCommand));
        let mut other = good;
        other[0] = 0x08;
        assert_eq!(SetTopicFormat::parse(&other), Err(Error::InvalidCommand));
        assert_eq!(
            SetTopicFormat::parse(&good[..17]),
            Err(Error::InvalidCommandLength)
        );
        let mut long = [0u8; 19];
        long[..18].copy_from_slice(&good);
        assert_eq!(
            SetTopicFormat::parse(&long),
            Err(Error::InvalidCommandLength)
        );
        for code in [0x00, 0x03, 0x12, 0x21, 0xff] {
            let mut b = good;
            b[17] = code;
            assert_eq!(SetTopicFormat::parse(&b), Err(Error::UnknownSuite));
        }
    }

    #[test]
    fn command_parser_refuses_the_opcode() {
        let bytes = SetTopicFormat {
            topic: TopicHash([1; TOPIC_HASH_LEN]),
            format: SuiteId::Symmetric,
        }
        .encode();
        let lengths = SuiteId::PubKey.command_lengths();
        assert_eq!(
            crate::command::Command::parse(&bytes, &lengths).err(),
            Some(Error::InvalidCommand)
        );
    }
}
