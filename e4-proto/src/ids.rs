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
        ControlTopic::of_bytes(&self.0)
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

/// The longest id a client takes for itself ([`ClientId`]): 64 bytes with
/// the `long-ids` feature (on with `std`), else 16, so that an 8-bit device
/// keeps its id and control topic small.
///
/// e4go's symmetric clients take ids of any non-zero length and listen on
/// `e4/` + the hex of the whole id; its public-key clients, and every id
/// carried inside a message or command, are 16 bytes ([`Id`]).
#[cfg(feature = "long-ids")]
pub const CLIENT_ID_MAX: usize = 64;
/// The longest id a client takes for itself ([`ClientId`]): 16 bytes
/// without the `long-ids` feature.
#[cfg(not(feature = "long-ids"))]
pub const CLIENT_ID_MAX: usize = ID_LEN;

/// Maximum length of a control topic: `e4/` plus the hex of the longest id.
pub const CONTROL_TOPIC_MAX: usize = 3 + 2 * CLIENT_ID_MAX;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A client's own id: the 16-byte [`Id`] of the protocol, or, for a
/// symmetric-key client as e4go allows, 1 to [`CLIENT_ID_MAX`] bytes.
///
/// Only the control topic depends on it in the symmetric suite; the other
/// suites put the sender's id in every message and need 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    buf: [u8; CLIENT_ID_MAX],
    len: u8,
}

impl ClientId {
    /// An id of 1 to [`CLIENT_ID_MAX`] bytes (None otherwise).
    pub fn from_slice(bytes: &[u8]) -> Option<ClientId> {
        if bytes.is_empty() || bytes.len() > CLIENT_ID_MAX {
            return None;
        }
        let mut buf = [0u8; CLIENT_ID_MAX];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(ClientId {
            buf,
            len: bytes.len() as u8,
        })
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// Its length in bytes (1 to [`CLIENT_ID_MAX`]).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Never true: an id has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The protocol [`Id`], if this id is 16 bytes long.
    pub fn as_id(&self) -> Option<Id> {
        Id::from_slice(self.as_bytes())
    }

    /// A 16-byte stand-in for ids of another length: the id's bytes,
    /// zero-padded or cut to 16. It names the control topic's replay slot
    /// and is what [`crate::Client::id`] reports for such a client; it is
    /// never sent.
    pub fn slot_id(&self) -> Id {
        let mut id = [0u8; ID_LEN];
        let n = self.len().min(ID_LEN);
        id[..n].copy_from_slice(&self.buf[..n]);
        Id(id)
    }

    /// The client's control topic, `e4/<lowercase hex id>`.
    pub fn control_topic(&self) -> ControlTopic {
        ControlTopic::of_bytes(self.as_bytes())
    }

    /// Whether `topic` is this id's control topic (compared in place,
    /// without building the topic).
    pub fn is_control_topic(&self, topic: &[u8]) -> bool {
        let id = self.as_bytes();
        topic.len() == 3 + 2 * id.len()
            && topic.starts_with(b"e4/")
            && topic[3..].chunks_exact(2).zip(id).all(|(pair, b)| {
                pair[0] == HEX[(b >> 4) as usize] && pair[1] == HEX[(b & 15) as usize]
            })
    }
}

impl From<Id> for ClientId {
    fn from(id: Id) -> ClientId {
        let mut buf = [0u8; CLIENT_ID_MAX];
        buf[..ID_LEN].copy_from_slice(&id.0);
        ClientId {
            buf,
            len: ID_LEN as u8,
        }
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientId(")?;
        write_hex(f, self.as_bytes())?;
        f.write_str(")")
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.as_bytes())
    }
}

/// A control topic held in a fixed buffer (no heap).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlTopic {
    buf: [u8; CONTROL_TOPIC_MAX],
    len: u8,
}

impl ControlTopic {
    /// `e4/` followed by the lowercase hex of the whole `id`, as e4go's
    /// `TopicForID` (None if `id` is longer than [`CLIENT_ID_MAX`]).
    pub fn new(id: &[u8]) -> Option<ControlTopic> {
        (id.len() <= CLIENT_ID_MAX).then(|| ControlTopic::of_bytes(id))
    }

    fn of_bytes(id: &[u8]) -> ControlTopic {
        let mut buf = [0u8; CONTROL_TOPIC_MAX];
        buf[..3].copy_from_slice(b"e4/");
        for (i, b) in id.iter().take(CLIENT_ID_MAX).enumerate() {
            buf[3 + 2 * i] = HEX[(b >> 4) as usize];
            buf[4 + 2 * i] = HEX[(b & 15) as usize];
        }
        ControlTopic {
            buf,
            len: (3 + 2 * id.len().min(CLIENT_ID_MAX)) as u8,
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
        let t = ControlTopic::new(&[0xde, 0xad, 0x01, 0xff]).unwrap();
        assert_eq!(t.as_str(), "e4/dead01ff");
        let full = Id([0xab; 16]).control_topic();
        assert_eq!(full.as_str().len(), 3 + 32);
        assert!(full.as_str().starts_with("e4/abab"));
        assert!(ControlTopic::new(&[1; CLIENT_ID_MAX + 1]).is_none());
    }

    #[test]
    fn client_ids_of_other_lengths() {
        assert!(ClientId::from_slice(&[]).is_none());
        assert!(ClientId::from_slice(&[0; CLIENT_ID_MAX + 1]).is_none());
        let one = ClientId::from_slice(&[0x27]).unwrap();
        assert_eq!(one.control_topic().as_str(), "e4/27");
        assert!(one.is_control_topic(b"e4/27"));
        assert!(!one.is_control_topic(b"e4/2700"));
        assert!(!one.is_control_topic(b"e4/28"));
        assert!(!one.is_control_topic(b"e5/27"));
        assert!(!one.is_control_topic(b"e4/2"));
        assert_eq!(one.as_id(), None);
        assert_eq!(
            one.slot_id(),
            Id([0x27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        );

        let id = Id([0xc4; 16]);
        let full = ClientId::from(id);
        assert_eq!(full.as_id(), Some(id));
        assert_eq!(full.slot_id(), id);
        assert_eq!(full.control_topic(), id.control_topic());
        assert!(full.is_control_topic(id.control_topic().as_bytes()));
        assert!(!full.is_control_topic(b"e4/C4C4C4C4C4C4C4C4C4C4C4C4C4C4C4C4"));
    }

    #[cfg(feature = "long-ids")]
    #[test]
    fn a_64_byte_id_has_its_whole_hex_as_topic() {
        let bytes: [u8; 64] = core::array::from_fn(|i| i as u8);
        let id = ClientId::from_slice(&bytes).unwrap();
        let topic = id.control_topic();
        assert_eq!(topic.as_bytes().len(), 3 + 128);
        assert!(topic.as_str().ends_with("3d3e3f"));
        assert!(id.is_control_topic(topic.as_bytes()));
    }

    proptest::proptest! {
        #[test]
        fn is_control_topic_agrees_with_the_built_topic(
            id in proptest::collection::vec(proptest::num::u8::ANY, 1..=CLIENT_ID_MAX),
            other in proptest::collection::vec(proptest::num::u8::ANY, 0..=CLIENT_ID_MAX),
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..140),
        ) {
            let cid = ClientId::from_slice(&id).unwrap();
            let own = cid.control_topic();
            proptest::prop_assert!(cid.is_control_topic(own.as_bytes()));
            let theirs = ControlTopic::new(&other).unwrap();
            proptest::prop_assert_eq!(cid.is_control_topic(theirs.as_bytes()), id == other);
            proptest::prop_assert_eq!(cid.is_control_topic(&junk), junk == own.as_bytes());
        }
    }
}
