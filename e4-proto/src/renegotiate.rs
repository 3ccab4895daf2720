//! Renegotiate: an e4-rs extension command (opcode 0x0A) asking a device to
//! announce itself again, so that C2 can move it to a suite its policy
//! allows now (an operator widened the policy, or a key-policy rule asks).
//!
//! ```text
//! 0x0A
//! ```
//!
//! Sealed by C2 like every command and opened by the device with
//! [`crate::Client::open_control`], which parses it into
//! [`crate::Control::Renegotiate`]. It carries nothing: the device answers
//! with an ordinary Announce ([`crate::negotiation`]), authenticated under
//! its current suite, and the exchange that follows is the usual one, with
//! every downgrade protection of a first Announce. C2 sends it only to
//! devices that announced before (e4go and libe4 devices refuse opcode
//! 0x0A as an invalid command, as for any opcode they do not define).

use crate::error::Error;

/// The opcode of Renegotiate (the whole command plaintext).
pub const RENEGOTIATE_OPCODE: u8 = 0x0A;

/// "Announce yourself again."
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Renegotiate;

impl Renegotiate {
    /// The command plaintext, to protect like any command.
    pub fn encode(&self) -> [u8; 1] {
        [RENEGOTIATE_OPCODE]
    }

    /// Parse command plaintext (opcode included): another opcode is
    /// [`Error::InvalidCommand`], anything after it
    /// [`Error::InvalidCommandLength`].
    pub fn parse(bytes: &[u8]) -> Result<Renegotiate, Error> {
        match bytes {
            [RENEGOTIATE_OPCODE] => Ok(Renegotiate),
            [RENEGOTIATE_OPCODE, ..] => Err(Error::InvalidCommandLength),
            _ => Err(Error::InvalidCommand),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_exactly() {
        assert_eq!(Renegotiate.encode(), [0x0A]);
        assert_eq!(Renegotiate::parse(&[0x0A]), Ok(Renegotiate));
        assert_eq!(
            Renegotiate::parse(&[0x0A, 0]),
            Err(Error::InvalidCommandLength)
        );
        assert_eq!(Renegotiate::parse(&[0x09]), Err(Error::InvalidCommand));
        assert_eq!(Renegotiate::parse(&[]), Err(Error::InvalidCommand));
    }
}
