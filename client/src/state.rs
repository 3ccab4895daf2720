//! The persisted client state and its versioned JSON encoding.
//!
//! ```text
//! {
//!   "format": "e4-client-state",
//!   "version": 1,
//!   "checksum": "<hex SHA3-256 of the exact text of the `state` value>",
//!   "state": {
//!     "suite": "symmetric" | "pubkey" | "pq" | "pq-draft" | "hybrid",
//!     "id": "<hex, 16 bytes>",
//!     "identity": {"type": "symmetric", "key": ..}
//!               | {"type": "pubkey", "signing_key": .., "c2_public": ..}
//!               | {"type": "kem", "sig_sk": .., "sig_pk": .., "kem_sk": .., "kem_pk": .., "c2_sig_pk": ..},
//!     "topics": [{"hash": .., "key": .., "previous": null | {"key": .., "set_at": <unix s>}}],
//!     "pubkeys": [{"id": .., "key": ..}],
//!     "commands": {"floor": null | <unix s>, "seen": [{"ts": <unix s>, "siv": ..}]},
//!     // optional (absent when unused, so older files load unchanged):
//!     "negotiation": {
//!       "capabilities": ["pq", "hybrid", ..],
//!       "negotiator": null | {
//!         "current": <suite>, "capabilities": [..], "ranking": [5 suites, weakest first],
//!         "announce": <hex>, "keys": [{"suite": .., "sig_sk": .., "sig_pk": .., "kem_sk": .., "kem_pk": ..}],
//!         "accepted": null | {"suite": .., "transcript": .., "key": ..}
//!       }
//!     },
//!     "topic_formats": [{"hash": .., "format": "symmetric"}],
//!     "mqtt": {"username": "<text>", "password": "<text>"}
//!   }
//! }
//! ```
//!
//! Every byte string is lowercase hex. The checksum catches truncation and
//! accidental damage (it is not a MAC: whoever can write the file can
//! recompute it). Buffers that hold keys are zeroized when dropped.

use e4_proto::client::KemIdentity;
use e4_proto::crypto::CryptoProvider;
use e4_proto::keys::{is_all_zero, Ed25519Secret, SecretBytes};
use e4_proto::store::{MemStore, PreviousKey, Store, TopicEntry};
use e4_proto::{Id, Identity, SuiteId, SymKey, TopicHash};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use e4_proto::negotiation::{
    GeneratedKeys, Negotiator, NegotiatorParts, Ranking, SetSuite, TRANSCRIPT_LEN,
};
use e4_proto::SuiteSet;

use crate::broker_credentials::BrokerCredentials;
use crate::negotiation::NegState;
use crate::replay::{CommandLog, SavedMessages, Tag, MESSAGE_REPLAY_SLOTS};

/// The `format` value of a state file.
pub const FORMAT: &str = "e4-client-state";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// Everything a client persists, borrowed from the live client.
pub(crate) struct StateRef<'a> {
    /// Broker credentials (optional: older files have none).
    pub broker: Option<&'a BrokerCredentials>,
    pub suite: SuiteId,
    pub id: &'a Id,
    pub identity: &'a Identity,
    pub store: &'a MemStore,
    pub commands: &'a CommandLog,
    pub neg: &'a NegState,
    /// The message replay cache, saved only by a clean close.
    pub messages: Option<&'a SavedMessages>,
}

/// A decoded state.
pub(crate) struct Snapshot {
    pub broker: Option<BrokerCredentials>,
    pub suite: SuiteId,
    pub id: Id,
    pub identity: Identity,
    pub store: MemStore,
    pub commands: CommandLog,
    pub neg: NegState,
    /// The message replay cache, if the last process closed cleanly.
    pub messages: Option<SavedMessages>,
}

/// Why a state could not be decoded (the file layer adds the path).
#[derive(Debug)]
pub(crate) enum DecodeError {
    NotAStateFile(String),
    UnsupportedVersion(u64),
    Corrupt(String),
    SuiteNotCompiled(SuiteId),
}

/// Secret bytes, written as hex, zeroized on drop.
#[derive(Default)]
struct Hex(Zeroizing<Vec<u8>>);

impl Hex {
    fn new(bytes: &[u8]) -> Hex {
        Hex(Zeroizing::new(bytes.to_vec()))
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Zeroizing::new(vec![0u8; self.0.len() * 2]);
        hex::encode_to_slice(&self.0[..], &mut buf[..]).expect("exact length");
        s.serialize_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Hex;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a lowercase hex string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hex, E> {
                if v.len() % 2 != 0 {
                    return Err(E::custom("hex string of odd length"));
                }
                let mut out = Zeroizing::new(vec![0u8; v.len() / 2]);
                hex::decode_to_slice(v, &mut out[..]).map_err(E::custom)?;
                Ok(Hex(out))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateV1 {
    suite: String,
    id: Hex,
    identity: IdentityV1,
    topics: Vec<TopicV1>,
    pubkeys: Vec<PubKeyV1>,
    commands: CommandsV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    negotiation: Option<NegotiationV1>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    topic_formats: Vec<TopicFormatV1>,
    /// Present only in a file written by a clean close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    messages: Option<MessagesV1>,
    /// Broker credentials; absent in files written before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mqtt: Option<MqttV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MqttV1 {
    username: String,
    password: Zeroizing<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesV1 {
    floor: Option<u64>,
    seen: Vec<MessageSeenV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageSeenV1 {
    topic: Hex,
    ts: u64,
    tag: Hex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegotiationV1 {
    capabilities: Vec<String>,
    negotiator: Option<NegotiatorV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegotiatorV1 {
    current: String,
    capabilities: Vec<String>,
    ranking: Vec<String>,
    announce: Hex,
    keys: Vec<KeysV1>,
    accepted: Option<AcceptedV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysV1 {
    suite: String,
    sig_sk: Hex,
    sig_pk: Hex,
    kem_sk: Hex,
    kem_pk: Hex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptedV1 {
    suite: String,
    transcript: Hex,
    key: Hex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFormatV1 {
    hash: Hex,
    format: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum IdentityV1 {
    Symmetric {
        key: Hex,
    },
    Pubkey {
        signing_key: Hex,
        c2_public: Hex,
    },
    Kem {
        sig_sk: Hex,
        sig_pk: Hex,
        kem_sk: Hex,
        kem_pk: Hex,
        c2_sig_pk: Hex,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicV1 {
    hash: Hex,
    key: Hex,
    previous: Option<PreviousV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousV1 {
    key: Hex,
    set_at: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PubKeyV1 {
    id: Hex,
    key: Hex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandsV1 {
    floor: Option<u64>,
    seen: Vec<SeenV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeenV1 {
    ts: u64,
    siv: Hex,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    format: Option<String>,
    version: Option<u64>,
    checksum: Option<String>,
    #[serde(borrow)]
    state: Option<&'a RawValue>,
}

fn checksum(p: &CryptoProvider, state_text: &[u8]) -> String {
    hex::encode(p.hash.sha3_256(&[state_text]))
}

fn to_v1(s: &StateRef<'_>) -> StateV1 {
    let identity = match s.identity {
        Identity::Symmetric(k) => IdentityV1::Symmetric {
            key: Hex::new(k.as_bytes()),
        },
        Identity::PubKey { signing, c2_public } => IdentityV1::Pubkey {
            signing_key: Hex::new(signing.as_bytes()),
            c2_public: Hex::new(c2_public),
        },
        Identity::Kem(k) => IdentityV1::Kem {
            sig_sk: Hex::new(k.sig_sk.as_bytes()),
            sig_pk: Hex::new(&k.sig_pk),
            kem_sk: Hex::new(k.kem_sk.as_bytes()),
            kem_pk: Hex::new(&k.kem_pk),
            c2_sig_pk: Hex::new(&k.c2_sig_pk),
        },
    };
    let mut topics = Vec::with_capacity(s.store.topic_count());
    s.store.for_each_topic(&mut |h, e| {
        topics.push(TopicV1 {
            hash: Hex::new(&h.0),
            key: Hex::new(e.key.as_bytes()),
            previous: e.previous.as_ref().map(|p| PreviousV1 {
                key: Hex::new(p.key.as_bytes()),
                set_at: p.set_at,
            }),
        })
    });
    let mut pubkeys = Vec::with_capacity(s.store.pubkey_count());
    s.store.for_each_pubkey(&mut |id, k| {
        pubkeys.push(PubKeyV1 {
            id: Hex::new(&id.0),
            key: Hex::new(k),
        })
    });
    StateV1 {
        suite: s.suite.name().to_owned(),
        id: Hex::new(&s.id.0),
        identity,
        topics,
        pubkeys,
        commands: CommandsV1 {
            floor: s.commands.floor(),
            seen: s
                .commands
                .seen()
                .iter()
                .map(|(ts, siv)| SeenV1 {
                    ts: *ts,
                    siv: Hex::new(siv),
                })
                .collect(),
        },
        negotiation: (!s.neg.capabilities.is_empty() || s.neg.parts.is_some()).then(|| {
            NegotiationV1 {
                capabilities: suite_names(s.neg.capabilities.iter()),
                negotiator: s.neg.parts.as_ref().map(negotiator_to_v1),
            }
        }),
        topic_formats: s
            .neg
            .formats
            .iter()
            .map(|(h, f)| TopicFormatV1 {
                hash: Hex::new(&h.0),
                format: f.name().to_owned(),
            })
            .collect(),
        mqtt: s.broker.map(|b| MqttV1 {
            username: b.username.clone(),
            password: b.password.clone(),
        }),
        messages: s.messages.map(|m| MessagesV1 {
            floor: m.floor,
            seen: m
                .seen
                .iter()
                .map(|(topic, ts, tag)| MessageSeenV1 {
                    topic: Hex::new(&topic.0),
                    ts: *ts,
                    tag: Hex::new(tag),
                })
                .collect(),
        }),
    }
}

fn suite_names(suites: impl Iterator<Item = SuiteId>) -> Vec<String> {
    suites.map(|s| s.name().to_owned()).collect()
}

fn negotiator_to_v1(p: &NegotiatorParts) -> NegotiatorV1 {
    NegotiatorV1 {
        current: p.current.name().to_owned(),
        capabilities: suite_names(p.capabilities.iter()),
        ranking: suite_names(p.ranking.order().iter().copied()),
        announce: Hex::new(&p.announce),
        keys: p
            .keys
            .iter()
            .map(|k| KeysV1 {
                suite: k.suite.name().to_owned(),
                sig_sk: Hex::new(k.sig_sk.as_bytes()),
                sig_pk: Hex::new(&k.sig_pk),
                kem_sk: Hex::new(k.kem_sk.as_bytes()),
                kem_pk: Hex::new(&k.kem_pk),
            })
            .collect(),
        accepted: p.accepted.as_ref().map(|a| AcceptedV1 {
            suite: a.suite.name().to_owned(),
            transcript: Hex::new(&a.transcript),
            key: Hex::new(a.key.as_bytes()),
        }),
    }
}

fn suite_of(name: &str) -> Result<SuiteId, DecodeError> {
    SuiteId::from_name(name).map_err(|_| DecodeError::Corrupt(format!("unknown suite `{name}`")))
}

fn suite_set(names: &[String]) -> Result<SuiteSet, DecodeError> {
    let mut set = SuiteSet::EMPTY;
    for n in names {
        let s = suite_of(n)?;
        if set.contains(s) {
            return Err(DecodeError::Corrupt(format!("suite `{n}` listed twice")));
        }
        set = set.with(s);
    }
    Ok(set)
}

fn negotiation_from_v1(
    p: &'static CryptoProvider,
    id: &Id,
    suite: SuiteId,
    v: &NegotiationV1,
) -> Result<NegState, DecodeError> {
    use DecodeError::Corrupt;
    let capabilities = suite_set(&v.capabilities)?;
    let parts = match &v.negotiator {
        None => None,
        Some(n) => {
            let ranking: Vec<SuiteId> = n
                .ranking
                .iter()
                .map(|s| suite_of(s))
                .collect::<Result<_, _>>()?;
            let keys = n
                .keys
                .iter()
                .map(|k| {
                    Ok(GeneratedKeys {
                        suite: suite_of(&k.suite)?,
                        sig_sk: SecretBytes::from_slice(&k.sig_sk.0),
                        sig_pk: k.sig_pk.0.to_vec(),
                        kem_sk: SecretBytes::from_slice(&k.kem_sk.0),
                        kem_pk: k.kem_pk.0.to_vec(),
                    })
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            let accepted = match &n.accepted {
                None => None,
                Some(a) => Some(SetSuite {
                    suite: suite_of(&a.suite)?,
                    transcript: fixed::<TRANSCRIPT_LEN>("transcript", &a.transcript)?,
                    key: SecretBytes::from_slice(&a.key.0),
                }),
            };
            let parts = NegotiatorParts {
                id: *id,
                current: suite_of(&n.current)?,
                capabilities: suite_set(&n.capabilities)?,
                ranking: Ranking::new(&ranking)
                    .map_err(|e| Corrupt(format!("negotiation ranking: {e}")))?,
                announce: n.announce.0.to_vec(),
                keys,
                accepted,
            };
            if parts.current != suite {
                return Err(Corrupt(format!(
                    "the negotiation started in suite `{}`, the client runs `{suite}`",
                    parts.current
                )));
            }
            // Checks that the parts are consistent with each other.
            Negotiator::from_parts(p, parts.clone())
                .map_err(|e| Corrupt(format!("negotiation state: {e}")))?;
            Some(parts)
        }
    };
    Ok(NegState {
        capabilities,
        parts,
        formats: Default::default(),
    })
}

/// Encode a state file. The buffer is sized up front so that no copy of
/// the keys is left behind by a reallocation.
pub(crate) fn encode(p: &CryptoProvider, s: &StateRef<'_>) -> Zeroizing<Vec<u8>> {
    let v1 = to_v1(s);
    let mut identity_len = 0;
    if let Identity::Kem(k) = s.identity {
        identity_len = k.sig_sk.len() + k.sig_pk.len() + k.kem_sk.len() + k.kem_pk.len();
        identity_len += k.c2_sig_pk.len();
    }
    let mut pubkeys_len = 0;
    s.store
        .for_each_pubkey(&mut |_, k| pubkeys_len += k.len() + 80);
    let estimate = 4096
        + 2 * identity_len
        + 300 * s.store.topic_count()
        + 2 * pubkeys_len
        + 80 * s.commands.seen().len()
        + s.messages.map_or(0, |m| 140 * m.seen.len())
        + 100 * s.neg.formats.len();
    let estimate = estimate
        + s.neg.parts.as_ref().map_or(0, |n| {
            2 * n.announce.len()
                + n.keys
                    .iter()
                    .map(|k| {
                        2 * (k.sig_sk.len() + k.sig_pk.len() + k.kem_sk.len() + k.kem_pk.len())
                            + 200
                    })
                    .sum::<usize>()
                + n.accepted.as_ref().map_or(0, |a| 2 * a.key.len() + 200)
                + 1024
        });
    let mut body = Zeroizing::new(Vec::with_capacity(estimate));
    serde_json::to_writer_pretty(&mut *body, &v1).expect("serializing to memory cannot fail");
    let mut indented = Zeroizing::new(Vec::with_capacity(body.len() * 2));
    for &b in body.iter() {
        indented.push(b);
        if b == b'\n' {
            indented.extend_from_slice(b"  ");
        }
    }
    let sum = checksum(p, &indented);
    let mut out = Zeroizing::new(Vec::with_capacity(indented.len() + 256));
    out.extend_from_slice(
        format!("{{\n  \"format\": \"{FORMAT}\",\n  \"version\": {VERSION},\n  \"checksum\": \"{sum}\",\n  \"state\": ")
            .as_bytes(),
    );
    out.extend_from_slice(&indented);
    out.extend_from_slice(b"\n}\n");
    out
}

/// Decode and validate a state file.
pub(crate) fn decode(p: &'static CryptoProvider, bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    use DecodeError::*;
    if bytes.is_empty() {
        return Err(Corrupt("the file is empty".into()));
    }
    let env: Envelope<'_> = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            NotAStateFile(format!("unexpected JSON content: {e}"))
        } else {
            Corrupt(format!("not valid JSON (truncated?): {e}"))
        }
    })?;
    match env.format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => return Err(NotAStateFile(format!("format is `{other}`"))),
        None => return Err(NotAStateFile("no `format` field".into())),
    }
    match env.version {
        Some(VERSION) => {}
        Some(v) => return Err(UnsupportedVersion(v)),
        None => return Err(Corrupt("no `version` field".into())),
    }
    let state = env
        .state
        .ok_or_else(|| Corrupt("no `state` field".into()))?;
    let expected = env
        .checksum
        .ok_or_else(|| Corrupt("no `checksum` field".into()))?;
    let actual = checksum(p, state.get().as_bytes());
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        actual.as_bytes(),
        expected.as_bytes(),
    )) {
        return Err(Corrupt(
            "checksum mismatch: the content was damaged or edited".into(),
        ));
    }
    let v1: StateV1 = serde_json::from_str(state.get())
        .map_err(|e| Corrupt(format!("invalid state content: {e}")))?;
    from_v1(p, v1)
}

fn fixed<const N: usize>(what: &str, h: &Hex) -> Result<[u8; N], DecodeError> {
    h.0.as_slice()
        .try_into()
        .map_err(|_| DecodeError::Corrupt(format!("{what} must be {N} bytes, found {}", h.0.len())))
}

fn from_v1(p: &'static CryptoProvider, v1: StateV1) -> Result<Snapshot, DecodeError> {
    use DecodeError::*;
    let suite = SuiteId::from_name(&v1.suite)
        .map_err(|_| Corrupt(format!("unknown suite `{}`", v1.suite)))?;
    if !p.supports(suite) {
        return Err(SuiteNotCompiled(suite));
    }
    let id = Id(fixed("id", &v1.id)?);
    let identity = match (suite, &v1.identity) {
        (SuiteId::Symmetric, IdentityV1::Symmetric { key }) => {
            let key = SymKey::new(fixed("client key", key)?);
            if key.is_zero() {
                return Err(Corrupt("the client key is all zeros".into()));
            }
            Identity::Symmetric(key)
        }
        (
            SuiteId::PubKey,
            IdentityV1::Pubkey {
                signing_key,
                c2_public,
            },
        ) => Identity::PubKey {
            signing: Ed25519Secret::new(fixed("signing key", signing_key)?),
            c2_public: fixed("C2 public key", c2_public)?,
        },
        (
            s,
            IdentityV1::Kem {
                sig_sk,
                sig_pk,
                kem_sk,
                kem_pk,
                c2_sig_pk,
            },
        ) if s.is_kem_suite() => {
            let k = KemIdentity {
                sig_sk: SecretBytes::from_slice(&sig_sk.0),
                sig_pk: sig_pk.0.to_vec(),
                kem_sk: SecretBytes::from_slice(&kem_sk.0),
                kem_pk: kem_pk.0.to_vec(),
                c2_sig_pk: c2_sig_pk.0.to_vec(),
            };
            crate::config::check_kem_identity(p, s, &k).map_err(|e| Corrupt(e.to_string()))?;
            Identity::Kem(k)
        }
        _ => {
            return Err(Corrupt(format!(
                "the identity does not belong to suite `{suite}`"
            )))
        }
    };
    let mut store = MemStore::new();
    for t in &v1.topics {
        let hash = TopicHash(fixed("topic hash", &t.hash)?);
        if store.topic(&hash).is_some() {
            return Err(Corrupt(format!("topic {hash} appears twice")));
        }
        let previous = match &t.previous {
            Some(prev) => Some(PreviousKey {
                key: SymKey::new(fixed("previous topic key", &prev.key)?),
                set_at: prev.set_at,
            }),
            None => None,
        };
        let entry = TopicEntry {
            key: SymKey::new(fixed("topic key", &t.key)?),
            previous,
        };
        store
            .set_topic(hash, entry)
            .map_err(|e| Corrupt(e.to_string()))?;
    }
    let pk_len = p
        .suite(suite)
        .ok()
        .and_then(|s| s.sig)
        .map(|s| s.public_key_len());
    for k in &v1.pubkeys {
        let id = Id(fixed("public key id", &k.id)?);
        match pk_len {
            None => return Err(Corrupt("public keys in a symmetric-suite state".into())),
            Some(n) if n != k.key.0.len() || is_all_zero(&k.key.0) => {
                return Err(Corrupt(format!("invalid public key for {id}")))
            }
            Some(_) => {}
        }
        if store.pubkey(&id).is_some() {
            return Err(Corrupt(format!("public key of {id} appears twice")));
        }
        store
            .set_pubkey(id, &k.key.0)
            .map_err(|e| Corrupt(e.to_string()))?;
    }
    let mut seen: Vec<Tag> = Vec::with_capacity(v1.commands.seen.len());
    for s in &v1.commands.seen {
        seen.push((s.ts, fixed("command SIV", &s.siv)?));
    }
    let commands = CommandLog::from_parts(v1.commands.floor, seen)
        .ok_or_else(|| Corrupt("too many remembered commands".into()))?;
    let mut neg = match &v1.negotiation {
        Some(n) => negotiation_from_v1(p, &id, suite, n)?,
        None => NegState::default(),
    };
    for f in &v1.topic_formats {
        let hash = TopicHash(fixed("topic hash", &f.hash)?);
        let format = suite_of(&f.format)?;
        if format != SuiteId::Symmetric || suite == SuiteId::Symmetric {
            return Err(Corrupt(format!(
                "topic {hash} has format `{format}` in a `{suite}` client"
            )));
        }
        if neg.formats.insert(hash, format).is_some() {
            return Err(Corrupt(format!("topic {hash} has two formats")));
        }
    }
    let messages = match &v1.messages {
        None => None,
        Some(m) if m.seen.len() > MESSAGE_REPLAY_SLOTS => {
            return Err(Corrupt("too many remembered messages".into()))
        }
        Some(m) => {
            let mut seen = Vec::with_capacity(m.seen.len());
            for e in &m.seen {
                seen.push((
                    TopicHash(fixed("message topic", &e.topic)?),
                    e.ts,
                    fixed("message tag", &e.tag)?,
                ));
            }
            Some(SavedMessages {
                floor: m.floor,
                seen,
            })
        }
    };
    Ok(Snapshot {
        broker: v1
            .mqtt
            .map(|m| BrokerCredentials::new(m.username, m.password.as_str())),
        suite,
        id,
        identity,
        store,
        commands,
        neg,
        messages,
    })
}
