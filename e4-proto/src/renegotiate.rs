//! Renegotiate: an e4-rs extension command (opcode 0x0A) asking a device to
//! announce itself again, so that C2 can move it to a suite its policy
//! allows now (an operator widened the policy, or a key-policy rule asks),
//! or, with the rekey flag, to replace its keys in its current suite.
//!
//! ```text
//! 0x0A            announce again
//! 0x0A | 0x01     announce again, offering the current suite with fresh
//!                 keys too (a rekey: the device keys of a KEM suite)
//! ```
//!
//! Sealed by C2 like every command and opened by the device with
//! [`crate::Client::open_control`], which parses it into
//! [`crate::Control::Renegotiate`]. It carries no key: the device answers
//! with an ordinary Announce ([`crate::negotiation`]), authenticated under
//! its current suite, and the exchange that follows is the usual one, with
//! every downgrade protection of a first Announce. C2 sends it only to
//! devices that announced before (e4go and libe4 devices refuse opcode
//! 0x0A as an invalid command, as for any opcode they do not define).

use crate::error::Error;

/// The opcode of Renegotiate (the first byte of the command plaintext).
pub const RENEGOTIATE_OPCODE: u8 = 0x0A;
/// The flag byte asking for a rekey.
pub const REKEY_FLAG: u8 = 0x01;

/// "Announce yourself again" (and, with `rekey`, "offer fresh keys for
/// your current suite").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Renegotiate {
    /// Offer the current suite with fresh keys ([`REKEY_FLAG`]).
    pub rekey: bool,
}

impl Renegotiate {
    /// Announce again.
    pub const ANNOUNCE: Renegotiate = Renegotiate { rekey: false };
    /// Announce again, offering fresh keys for the current suite.
    pub const REKEY: Renegotiate = Renegotiate { rekey: true };

    /// The command plaintext, to protect like any command.
    pub fn encode(&self) -> &'static [u8] {
        if self.rekey {
            &[RENEGOTIATE_OPCODE, REKEY_FLAG]
        } else {
            &[RENEGOTIATE_OPCODE]
        }
    }

    /// Parse command plaintext (opcode included): another opcode or flag
    /// byte is [`Error::InvalidCommand`], anything after the flag
    /// [`Error::InvalidCommandLength`].
    pub fn parse(bytes: &[u8]) -> Result<Renegotiate, Error> {
        match bytes {
            [RENEGOTIATE_OPCODE] => Ok(Renegotiate::ANNOUNCE),
            [RENEGOTIATE_OPCODE, REKEY_FLAG] => Ok(Renegotiate::REKEY),
            [RENEGOTIATE_OPCODE, _] => Err(Error::InvalidCommand),
            [RENEGOTIATE_OPCODE, ..] => Err(Error::InvalidCommandLength),
            _ => Err(Error::InvalidCommand),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_or_the_rekey_flag() {
        assert_eq!(Renegotiate::ANNOUNCE.encode(), [0x0A]);
        assert_eq!(Renegotiate::REKEY.encode(), [0x0A, 0x01]);
        assert_eq!(Renegotiate::parse(&[0x0A]), Ok(Renegotiate::ANNOUNCE));
        assert_eq!(Renegotiate::parse(&[0x0A, 0x01]), Ok(Renegotiate::REKEY));
        assert_eq!(Renegotiate::parse(&[0x0A, 0]), Err(Error::InvalidCommand));
        assert_eq!(
            Renegotiate::parse(&[0x0A, 1, 0]),
            Err(Error::InvalidCommandLength)
        );
        assert_eq!(Renegotiate::parse(&[0x09]), Err(Error::InvalidCommand));
        assert_eq!(Renegotiate::parse(&[]), Err(Error::InvalidCommand));
    }
}
