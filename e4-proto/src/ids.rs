//! Client ids, topic hashes and control topics.

use crate::crypto::Sha3;
use core::fmt;

/// Length of a client id.
pub const ID_LEN: usize = 16;
/// Length of a topic hash.
pub const TOPIC_HASH_LEN: usize = 16;

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// A 16-byte client id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u8; ID_LEN]);

impl Id {
    /// The id of an alias (device name): `SHA3-256(alias)[..16]`.
    pub fn from_alias(hash: &dyn Sha3, alias: &[u8]) -> Id {
        let digest = hash.sha3_256(&[alias]);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Id(id)
    }

    /// An id from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Id> {
        bytes.try_into().ok().map(Id)
    }

    /// The client's control topic, `e4/<lowercase hex id>`.
    pub fn control_topic(&self) -> ControlTopic {
        ControlTopic::new(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Id(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// A 16-byte topic hash: `SHA3-256(topic)[..16]`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicHash(pub [u8; TOPIC_HASH_LEN]);

impl TopicHash {
    /// Hash a topic name (its exact UTF-8 bytes).
    pub fn of(hash: &dyn Sha3, topic: &[u8]) -> TopicHash {
        let digest = hash.sha3_256(&[topic]);
        let mut h = [0u8; TOPIC_HASH_LEN];
        h.copy_from_slice(&digest[..TOPIC_HASH_LEN]);
        TopicHash(h)
    }

    /// A topic hash from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<TopicHash> {
        bytes.try_into().ok().map(TopicHash)
    }
}

impl fmt::Debug for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TopicHash(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// Maximum length of a control topic: `e4/` plus 32 hex digits.
pub const CONTROL_TOPIC_MAX: usize = 3 + 2 * ID_LEN;

/// A control topic held in a fixed buffer (no heap).
///
/// e4go builds it from ids of any length, so this type does too (up to 16
/// bytes); ids from the protocol are always 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlTopic {
    buf: [u8; CONTROL_TOPIC_MAX],
    len: u8,
}

impl ControlTopic {
    /// `e4/` followed by the lowercase hex of `id` (at most 16 bytes are used).
    pub fn new(id: &[u8]) -> ControlTopic {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let id = &id[..id.len().min(ID_LEN)];
        let mut buf = [0u8; CONTROL_TOPIC_MAX];
        buf[..3].copy_from_slice(b"e4/");
        for (i, b) in id.iter().enumerate() {
            buf[3 + 2 * i] = HEX[(b >> 4) as usize];
            buf[4 + 2 * i] = HEX[(b & 15) as usize];
        }
        ControlTopic {
            buf,
            len: (3 + 2 * id.len()) as u8,
        }
    }

    /// The topic's bytes (ASCII). Comparing bytes avoids pulling UTF-8
    /// validation tables into RAM on 8-bit targets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII was written.
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for ControlTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ControlTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_topic_is_lower_hex() {
        let t = ControlTopic::new(&[0xde, 0xad, 0x01, 0xff]);
        assert_eq!(t.as_str(), "e4/dead01ff");
        let full = Id([0xab; 16]).control_topic();
        assert_eq!(full.as_str().len(), CONTROL_TOPIC_MAX);
        assert!(full.as_str().starts_with("e4/abab"));
    }
}
