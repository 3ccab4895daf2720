//! The eight E4 commands (C2 to client), their exact encodings, and the
//! envelopes that protect them.
//!
//! E4 suites (symmetric, public key) protect a command exactly like a
//! symmetric message, under the client key or the X25519-derived command
//! key. Kem suites use their own envelope:
//!
//! ```text
//! ts(8) | suite(1) | kem ct(C) | SIV(16) | ct(n >= 1) | C2 signature(S)
//! ```
//!
//! signed by C2 over every byte before the signature; the AES-SIV key is
//! `SHA3-256("e4 kem command key v2" | suite | device id | device KEM pk | kem ct | shared secret)`
//! and its associated data is `ts | suite`. See `docs/formats.md`.

use crate::crypto::{CryptoProvider, Rng, SIV_LEN};
use crate::error::Error;
use crate::ids::{Id, TopicHash, ID_LEN, TOPIC_HASH_LEN};
use crate::keys::{SymKey, ED25519_SK_LEN, SYM_KEY_LEN};
use crate::message::open_into;
use crate::suite::{CommandLengths, Suite, SuiteId};
use crate::time::{self, TIMESTAMP_LEN};

/// Opcodes.
pub mod opcode {
    /// RemoveTopic.
    pub const REMOVE_TOPIC: u8 = 0x00;
    /// ResetTopics.
    pub const RESET_TOPICS: u8 = 0x01;
    /// SetIdKey.
    pub const SET_ID_KEY: u8 = 0x02;
    /// SetTopicKey.
    pub const SET_TOPIC_KEY: u8 = 0x03;
    /// RemovePubKey.
    pub const REMOVE_PUB_KEY: u8 = 0x04;
    /// ResetPubKeys.
    pub const RESET_PUB_KEYS: u8 = 0x05;
    /// SetPubKey.
    pub const SET_PUB_KEY: u8 = 0x06;
    /// SetC2Key.
    pub const SET_C2_KEY: u8 = 0x07;
}

/// A parsed command. Key material is borrowed from the decrypted buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Drop a topic's key (and its previous key).
    RemoveTopic(TopicHash),
    /// Drop every topic key.
    ResetTopics,
    /// Replace the client's identity key (32-byte symmetric key, or 64-byte
    /// Ed25519 `seed ‖ public`).
    SetIdKey(&'a [u8]),
    /// Set a topic's key.
    SetTopicKey {
        /// The new key.
        key: &'a [u8; SYM_KEY_LEN],
        /// The topic.
        topic: TopicHash,
    },
    /// Drop a device's public key.
    RemovePubKey(Id),
    /// Drop every public key.
    ResetPubKeys,
    /// Set a device's signature public key.
    SetPubKey {
        /// The key (Ed25519: 32 bytes; kem suites: the suite's length).
        key: &'a [u8],
        /// The device.
        id: Id,
    },
    /// Replace C2's public key (Curve25519, or C2's signature key in kem suites).
    SetC2Key(&'a [u8]),
}

impl core::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Command::RemoveTopic(t) => write!(f, "RemoveTopic({t})"),
            Command::ResetTopics => f.write_str("ResetTopics"),
            Command::SetIdKey(_) => f.write_str("SetIdKey(<redacted>)"),
            Command::SetTopicKey { topic, .. } => write!(f, "SetTopicKey(<redacted>, {topic})"),
            Command::RemovePubKey(id) => write!(f, "RemovePubKey({id})"),
            Command::ResetPubKeys => f.write_str("ResetPubKeys"),
            Command::SetPubKey { id, key } => write!(f, "SetPubKey({id}, {} bytes)", key.len()),
            Command::SetC2Key(k) => write!(f, "SetC2Key({} bytes)", k.len()),
        }
    }
}

impl<'a> Command<'a> {
    /// Parse command bytes the way e4go does: unknown opcode, then exact
    /// argument length, then whether the suite supports it.
    pub fn parse(bytes: &'a [u8], lengths: &CommandLengths) -> Result<Command<'a>, Error> {
        let (&op, args) = bytes.split_first().ok_or(Error::InvalidCommand)?;
        let exact = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(Error::InvalidCommandLength)
            }
        };
        let pk_only = |c: Command<'a>| {
            if lengths.pubkey_ops {
                Ok(c)
            } else {
                Err(Error::UnsupportedOperation)
            }
        };
        match op {
            opcode::REMOVE_TOPIC => {
                exact(TOPIC_HASH_LEN)?;
                Ok(Command::RemoveTopic(
                    TopicHash::from_slice(args).expect("16"),
                ))
            }
            opcode::RESET_TOPICS => exact(0).map(|_| Command::ResetTopics),
            opcode::SET_ID_KEY => match lengths.id_key {
                Some(n) => exact(n).map(|_| Command::SetIdKey(args)),
                None => Err(Error::UnsupportedOperation),
            },
            opcode::SET_TOPIC_KEY => {
                exact(SYM_KEY_LEN + TOPIC_HASH_LEN)?;
                let (key, topic) = args.split_at(SYM_KEY_LEN);
                Ok(Command::SetTopicKey {
                    key: key.try_into().expect("32"),
                    topic: TopicHash::from_slice(topic).expect("16"),
                })
            }
            opcode::REMOVE_PUB_KEY => {
                exact(ID_LEN)?;
                pk_only(Command::RemovePubKey(Id::from_slice(args).expect("16")))
            }
            opcode::RESET_PUB_KEYS => {
                exact(0)?;
                pk_only(Command::ResetPubKeys)
            }
            opcode::SET_PUB_KEY => {
                exact(lengths.pubkey + ID_LEN)?;
                let (key, id) = args.split_at(lengths.pubkey);
                pk_only(Command::SetPubKey {
                    key,
                    id: Id::from_slice(id).expect("16"),
                })
            }
            opcode::SET_C2_KEY => {
                exact(lengths.c2_key)?;
                pk_only(Command::SetC2Key(args))
            }
            _ => Err(Error::InvalidCommand),
        }
    }

    /// The opcode.
    pub fn opcode(&self) -> u8 {
        match self {
            Command::RemoveTopic(_) => opcode::REMOVE_TOPIC,
            Command::ResetTopics => opcode::RESET_TOPICS,
            Command::SetIdKey(_) => opcode::SET_ID_KEY,
            Command::SetTopicKey { .. } => opcode::SET_TOPIC_KEY,
            Command::RemovePubKey(_) => opcode::REMOVE_PUB_KEY,
            Command::ResetPubKeys => opcode::RESET_PUB_KEYS,
            Command::SetPubKey { .. } => opcode::SET_PUB_KEY,
            Command::SetC2Key(_) => opcode::SET_C2_KEY,
        }
    }

    /// The command's name, as in E4.
    pub fn name(&self) -> &'static str {
        name_of(self.opcode())
    }

    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Command::RemoveTopic(_) => TOPIC_HASH_LEN,
            Command::ResetTopics | Command::ResetPubKeys => 0,
            Command::SetIdKey(k) | Command::SetC2Key(k) => k.len(),
            Command::SetTopicKey { .. } => SYM_KEY_LEN + TOPIC_HASH_LEN,
            Command::RemovePubKey(_) => ID_LEN,
            Command::SetPubKey { key, .. } => key.len() + ID_LEN,
        }
    }

    /// Encode into `out`; returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let len = self.encoded_len();
        let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        out[0] = self.opcode();
        let args = &mut out[1..];
        match self {
            Command::RemoveTopic(t) => args.copy_from_slice(&t.0),
            Command::ResetTopics | Command::ResetPubKeys => {}
            Command::SetIdKey(k) | Command::SetC2Key(k) => args.copy_from_slice(k),
            Command::SetTopicKey { key, topic } => {
                args[..SYM_KEY_LEN].copy_from_slice(&key[..]);
                args[SYM_KEY_LEN..].copy_from_slice(&topic.0);
            }
            Command::RemovePubKey(id) => args.copy_from_slice(&id.0),
            Command::SetPubKey { key, id } => {
                args[..key.len()].copy_from_slice(key);
                args[key.len()..].copy_from_slice(&id.0);
            }
        }
        Ok(len)
    }

    /// Encode into a new vector (zeroize it if it carries keys).
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; self.encoded_len()];
        self.encode(&mut v).expect("exact length");
        v
    }
}

/// Whether `bytes` is a SetIdKey whose key has the length of the other E4
/// mode's identity key (64 bytes to a symmetric client, 32 to a public-key
/// client). e4go checks SetIdKey's length against both lengths (`len != 32
/// && len != 64`) before it knows the client's mode, so such a command
/// passes its length check and fails when the client applies it, as an
/// invalid argument (`ValidateSymKey` / `ValidateEd25519PrivKey`).
/// [`Command::parse`] checks the suite's exact length; the client turns
/// this case into [`Error::InvalidArgument`] (kem suites have no SetIdKey).
pub fn is_other_mode_id_key(bytes: &[u8], lengths: &CommandLengths) -> bool {
    match (bytes.split_first(), lengths.id_key) {
        (Some((&opcode::SET_ID_KEY, key)), Some(n)) => {
            key.len() != n && (key.len() == SYM_KEY_LEN || key.len() == ED25519_SK_LEN)
        }
        _ => false,
    }
}

/// The E4 name of an opcode.
pub fn name_of(op: u8) -> &'static str {
    match op {
        opcode::REMOVE_TOPIC => "RemoveTopic",
        opcode::RESET_TOPICS => "ResetTopics",
        opcode::SET_ID_KEY => "SetIdKey",
        opcode::SET_TOPIC_KEY => "SetTopicKey",
        opcode::REMOVE_PUB_KEY => "RemovePubKey",
        opcode::RESET_PUB_KEYS => "ResetPubKeys",
        opcode::SET_PUB_KEY => "SetPubKey",
        opcode::SET_C2_KEY => "SetC2Key",
        _ => "Unknown",
    }
}

/// v2: the device's KEM public key is hashed in (v1 did not bind it).
const KEM_COMMAND_LABEL: &[u8] = b"e4 kem command key v2";

/// The AES-SIV key of a kem-suite command:
/// `SHA3-256(label ‖ suite ‖ device id ‖ device KEM public key ‖ KEM ct ‖
/// shared secret)`. Hashing the recipient's public key with the ciphertext
/// and the secret, as X-Wing does, binds the key to the exact key pair the
/// command was encapsulated to, whatever the KEM's own binding.
pub fn kem_command_key(
    provider: &CryptoProvider,
    suite: SuiteId,
    device: &Id,
    device_kem_pk: &[u8],
    kem_ct: &[u8],
    shared: &SymKey,
) -> SymKey {
    SymKey::new(provider.hash.sha3_256(&[
        KEM_COMMAND_LABEL,
        &[suite.code()],
        &device.0,
        device_kem_pk,
        kem_ct,
        shared.as_bytes(),
    ]))
}

/// The E4 public-key command key: `SHA3-256(X25519(secret, public))`.
pub fn pubkey_command_key(
    provider: &CryptoProvider,
    suite: &Suite,
    secret: &[u8; 32],
    public: &[u8; 32],
) -> Result<SymKey, Error> {
    let shared = suite.x25519()?.diffie_hellman(secret, public);
    Ok(SymKey::new(provider.hash.sha3_256(&[&shared])))
}

/// C2 side: protect command bytes for a kem-suite device.
#[allow(clippy::too_many_arguments)]
pub fn seal_kem_command(
    provider: &CryptoProvider,
    suite: &Suite,
    c2_signing_key: &[u8],
    device: &Id,
    device_kem_pk: &[u8],
    ts: u64,
    cmd: &[u8],
    rng: &mut dyn Rng,
    out: &mut [u8],
) -> Result<usize, Error> {
    let kem = suite.kem()?;
    let sig = suite.sig()?;
    if cmd.is_empty() {
        return Err(Error::InvalidCommand);
    }
    let params = suite.id.params();
    let len = suite.id.command_overhead() + cmd.len();
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let ct_end = TIMESTAMP_LEN + 1 + params.kem_ciphertext;
    out[..TIMESTAMP_LEN].copy_from_slice(&time::encode(ts));
    out[TIMESTAMP_LEN] = suite.id.code();
    let shared = kem.encapsulate(rng, device_kem_pk, &mut out[TIMESTAMP_LEN + 1..ct_end])?;
    let key = kem_command_key(
        provider,
        suite.id,
        device,
        device_kem_pk,
        &out[TIMESTAMP_LEN + 1..ct_end],
        &shared,
    );
    let (signed, signature) = out.split_at_mut(len - params.signature);
    let (head, body) = signed.split_at_mut(ct_end + SIV_LEN);
    body.copy_from_slice(cmd);
    let tag = provider.siv.seal(&key, &head[..TIMESTAMP_LEN + 1], body);
    head[ct_end..].copy_from_slice(&tag);
    sig.sign(c2_signing_key, signed, signature)?;
    Ok(len)
}

/// Device side: check and decrypt a kem-suite command into `out`; returns
/// the command length. Order: length, suite byte, timestamp, C2 signature,
/// decapsulation, AES-SIV.
#[allow(clippy::too_many_arguments)]
pub fn open_kem_command(
    provider: &CryptoProvider,
    suite: &Suite,
    c2_public: &[u8],
    device: &Id,
    device_kem_sk: &[u8],
    device_kem_pk: &[u8],
    now: u64,
    msg: &[u8],
    out: &mut [u8],
) -> Result<(usize, u64, [u8; SIV_LEN]), Error> {
    let kem = suite.kem()?;
    let sig = suite.sig()?;
    let params = suite.id.params();
    if msg.len() < suite.id.command_overhead() + 1 {
        return Err(Error::TooShortCiphertext);
    }
    if msg[TIMESTAMP_LEN] != suite.id.code() {
        return Err(Error::UnsupportedSuite);
    }
    let ts = time::decode(msg);
    time::check_message(ts, now)?;
    let split = msg.len() - params.signature;
    sig.verify(c2_public, &msg[..split], &msg[split..])?;
    let ct_end = TIMESTAMP_LEN + 1 + params.kem_ciphertext;
    let kem_ct = &msg[TIMESTAMP_LEN + 1..ct_end];
    let shared = kem.decapsulate(device_kem_sk, kem_ct)?;
    let key = kem_command_key(provider, suite.id, device, device_kem_pk, kem_ct, &shared);
    let tag: [u8; SIV_LEN] = msg[ct_end..ct_end + SIV_LEN].try_into().expect("16");
    let n = open_into(
        provider.siv,
        &key,
        &msg[..TIMESTAMP_LEN + 1],
        &tag,
        &msg[ct_end + SIV_LEN..split],
        out,
    )?;
    Ok((n, ts, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYM: CommandLengths = SuiteId::Symmetric.command_lengths();
    const PK: CommandLengths = SuiteId::PubKey.command_lengths();

    #[test]
    fn encodings_match_e4() {
        let key = [7u8; 32];
        let c = Command::SetTopicKey {
            key: &key,
            topic: TopicHash([9; 16]),
        };
        let mut buf = [0u8; 64];
        let n = c.encode(&mut buf).unwrap();
        assert_eq!(n, 49);
        assert_eq!(buf[0], 3);
        assert_eq!(&buf[1..33], &key);
        assert_eq!(Command::parse(&buf[..n], &SYM), Ok(c));
        assert_eq!(Command::parse(&[1], &SYM), Ok(Command::ResetTopics));
        assert_eq!(Command::parse(&[5], &PK), Ok(Command::ResetPubKeys));
    }

    #[test]
    fn parse_errors_follow_e4go_order() {
        assert_eq!(Command::parse(&[8], &PK), Err(Error::InvalidCommand));
        assert_eq!(Command::parse(&[], &PK), Err(Error::InvalidCommand));
        assert_eq!(
            Command::parse(&[0; 16], &PK),
            Err(Error::InvalidCommandLength)
        );
        assert_eq!(
            Command::parse(&[1, 0], &PK),
            Err(Error::InvalidCommandLength)
        );
        assert_eq!(
            Command::parse(&[2; 33], &PK),
            Err(Error::InvalidCommandLength)
        );
        assert!(Command::parse(&[2; 33], &SYM).is_ok());
        let mut setpk = [0u8; 49];
        setpk[0] = 6;
        assert_eq!(
            Command::parse(&setpk, &SYM),
            Err(Error::UnsupportedOperation)
        );
        assert!(Command::parse(&setpk, &PK).is_ok());
        assert_eq!(
            Command::parse(&setpk[..48], &SYM),
            Err(Error::InvalidCommandLength)
        );
        let none = CommandLengths { id_key: None, ..PK };
        assert_eq!(
            Command::parse(&[2; 65], &none),
            Err(Error::UnsupportedOperation)
        );
    }

    #[test]
    fn other_mode_id_key_is_told_apart() {
        // the other E4 mode's length, in each mode
        assert!(is_other_mode_id_key(&[2; 65], &SYM));
        assert!(is_other_mode_id_key(&[2; 33], &PK));
        // the mode's own length, other lengths, other opcodes, kem suites
        assert!(!is_other_mode_id_key(&[2; 33], &SYM));
        assert!(!is_other_mode_id_key(&[2; 65], &PK));
        assert!(!is_other_mode_id_key(&[2; 34], &SYM));
        assert!(!is_other_mode_id_key(&[2; 64], &PK));
        assert!(!is_other_mode_id_key(&[3; 65], &SYM));
        assert!(!is_other_mode_id_key(&[], &SYM));
        let none = CommandLengths { id_key: None, ..PK };
        assert!(!is_other_mode_id_key(&[2; 33], &none));
        assert!(!is_other_mode_id_key(&[2; 65], &none));
    }
}
