//! Domain types shared by the service and both APIs, and input validation.

use crate::error::{C2Error, C2Result};
use e4_proto::SuiteSet;
use e4_proto::{CryptoProvider, Id, SuiteId, TopicHash};

/// Default page size.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size.
pub const MAX_PAGE: u32 = 1000;
/// Longest client name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest topic name, in bytes (MQTT allows 65535; E4 commands carry only the hash).
pub const MAX_TOPIC_LEN: usize = 1024;
/// Largest payload accepted by protect/unprotect.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// A client addressed by name or by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRef {
    /// By name.
    Name(String),
    /// By id.
    Id(Id),
}

impl ClientRef {
    /// From the API's `(name, id)` pair: exactly one must be set.
    pub fn from_parts(name: &str, id: &[u8]) -> C2Result<ClientRef> {
        match (name.is_empty(), id.is_empty()) {
            (false, true) => Ok(ClientRef::Name(name.to_string())),
            (true, false) => Id::from_slice(id)
                .map(ClientRef::Id)
                .ok_or_else(|| C2Error::invalid("a client id is 16 bytes")),
            (true, true) => Err(C2Error::invalid("a client name or id is required")),
            (false, false) => Err(C2Error::invalid("give a client name or an id, not both")),
        }
    }
}

impl std::fmt::Display for ClientRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientRef::Name(n) => write!(f, "client {n:?}"),
            ClientRef::Id(id) => write!(f, "client id {id}"),
        }
    }
}

/// What is known of a client (never its secret key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Name (unique).
    pub name: String,
    /// Id (unique).
    pub id: Id,
    /// Suite.
    pub suite: SuiteId,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Signature public key (public-key and kem suites).
    pub sig_pk: Option<Vec<u8>>,
    /// Per-device override of the suites it may be moved to (None: the
    /// fleet policy's).
    pub allowed_suites: Option<SuiteSet>,
    /// The device has announced itself (it runs e4-rs and negotiates).
    pub negotiates: bool,
    /// It runs a suite below the policy's minimum and offered nothing
    /// acceptable.
    pub below_minimum: bool,
    /// Suite of an upgrade awaiting the device's Confirm.
    pub pending_suite: Option<SuiteId>,
    /// What it reported holding.
    pub state: DeviceState,
}

/// What C2 knows of the keys a device holds, from its state reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceState {
    /// When its last report was accepted (unix ms); None: it never
    /// reported (an e4go or libe4 device, or one not connected yet).
    pub reported_at: Option<i64>,
    /// Its topics whose current key it did not confirm in that report (all
    /// of them when it never reported).
    pub topics_unconfirmed: u64,
    /// Topics it reported holding without being a member.
    pub stale_topics: u64,
    /// Whether it reported holding C2's current key (None: its suite has
    /// no C2 key, or it never reported).
    pub c2_key_current: Option<bool>,
}

impl DeviceState {
    /// Whether it holds every current key and nothing it should not: None
    /// when it never reported.
    pub fn up_to_date(&self) -> Option<bool> {
        self.reported_at?;
        Some(
            self.topics_unconfirmed == 0
                && self.stale_topics == 0
                && self.c2_key_current != Some(false),
        )
    }
}

/// What is known of a topic (never its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// E4 topic hash.
    pub hash: TopicHash,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last key change, unix ms.
    pub key_updated_at: i64,
    /// Message format (a suite), fixed by the first member if not given.
    pub format: Option<SuiteId>,
    /// Key version (1, then one more per rotation).
    pub key_version: i64,
    /// Members that confirmed holding the current key (state reports;
    /// shown for one topic, not in listings).
    pub members_confirmed: Option<u64>,
}

/// Commands written to the outbox by one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    /// How many.
    pub count: u64,
    /// First outbox id (0 when none).
    pub first_id: i64,
    /// Last outbox id (0 when none).
    pub last_id: i64,
}

/// Delivery progress of a range of commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Commands in the range.
    pub total: u64,
    /// Acknowledged by the broker (or pruned after acknowledgement).
    pub sent: u64,
    /// Still queued.
    pub pending: u64,
    /// Given up (cannot be sealed).
    pub failed: u64,
    /// Devices these commands went to.
    pub devices: u64,
    /// Of those, devices that reported holding every current key since the
    /// commands were queued ("confirmed by devices"; devices that never
    /// report, such as e4go and libe4 ones, never count here).
    pub devices_confirmed: u64,
}

/// A page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub count: u32,
}

impl Page {
    /// Validate; a count of 0 means the default.
    pub fn new(offset: u64, count: u32) -> C2Result<Page> {
        let count = if count == 0 { DEFAULT_PAGE } else { count };
        if count > MAX_PAGE {
            return Err(C2Error::invalid(format!(
                "count must be at most {MAX_PAGE}"
            )));
        }
        if offset > i64::MAX as u64 {
            return Err(C2Error::invalid("offset too large"));
        }
        Ok(Page { offset, count })
    }
}

/// A request to register a client. Its Debug prints no key.
#[derive(Clone, Default)]
pub struct NewClient {
    /// Name.
    pub name: String,
    /// Explicit id (default: hash of the name).
    pub id: Option<Vec<u8>>,
    /// Suite name (default symmetric).
    pub suite: Option<String>,
    /// Symmetric key (generated when absent).
    pub key: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// Signature public key (pubkey: Ed25519).
    pub sig_pk: Option<Vec<u8>>,
    /// KEM public key (kem suites).
    pub kem_pk: Option<Vec<u8>>,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClient")
            .field("name", &self.name)
            .field("id", &self.id.as_deref().map(hex::encode))
            .field("suite", &self.suite)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("sig_pk", &self.sig_pk.as_deref().map(hex::encode))
            .field("kem_pk", &self.kem_pk.as_deref().map(hex::encode))
            .finish()
    }
}

/// A device's broker credentials, as issued (the password is shown once).
/// Its Debug prints no password.
#[derive(Clone)]
pub struct MqttCredentials {
    /// MQTT user name: the device id in hex.
    pub username: String,
    /// The password.
    pub password: zeroize::Zeroizing<String>,
}

impl MqttCredentials {
    /// The credentials of device `id`.
    pub fn of(id: &Id, password: zeroize::Zeroizing<String>) -> MqttCredentials {
        MqttCredentials {
            username: crate::mqtt::credentials::device_user(id),
            password,
        }
    }
}

impl std::fmt::Debug for MqttCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MqttCredentials({}, <redacted>)", self.username)
    }
}

/// A newly registered client, with the secrets shown only now.
#[derive(Debug)]
pub struct Registered {
    /// The client.
    pub info: ClientInfo,
    /// Its symmetric key, when C2 generated it.
    pub key: Option<zeroize::Zeroizing<[u8; 32]>>,
    /// Its broker credentials.
    pub mqtt: MqttCredentials,
}

/// Events published to the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Kind.
    pub kind: EventKind,
    /// Client name (when about a client).
    pub client: Option<String>,
    /// Client id.
    pub client_id: Option<Id>,
    /// Topic (when about a topic).
    pub topic: Option<String>,
    /// Automation rule (rule events).
    pub rule: Option<String>,
    /// What happened, in a line (rule events).
    pub detail: Option<String>,
    /// Unix ms.
    pub timestamp: i64,
}

/// Event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A client joined a topic.
    ClientJoined,
    /// A client left a topic.
    ClientLeft,
    /// A topic's key changed.
    TopicKeyRotated,
    /// A client was registered.
    ClientAdded,
    /// A client was removed.
    ClientRemoved,
    /// A topic was created.
    TopicAdded,
    /// A topic was removed.
    TopicRemoved,
    /// A C2 key pair was replaced.
    C2KeyRotated,
    /// A device announced itself; C2 answered with a SetSuite.
    SuiteOffered,
    /// A device confirmed: it runs a new suite.
    SuiteUpgraded,
    /// A device confirmed a rekey: it runs its suite with new keys.
    ClientRekeyed,
    /// A device announced nothing acceptable and runs below the minimum.
    SuiteBelowMinimum,
    /// A topic's message format changed.
    TopicFormatChanged,
    /// An operator sent a device its whole state again.
    ClientResynced,
    /// An automation rule fired (its commands are queued).
    RuleFired,
    /// An automation rule skipped slots missed while no C2 ran.
    RuleSkipped,
    /// An automation rule failed to fire (nothing was queued).
    RuleFailed,
    /// A device's MQTT password was replaced.
    MqttPasswordIssued,
}

impl EventKind {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ClientJoined => "client_joined",
            EventKind::ClientLeft => "client_left",
            EventKind::TopicKeyRotated => "topic_key_rotated",
            EventKind::ClientAdded => "client_added",
            EventKind::ClientRemoved => "client_removed",
            EventKind::TopicAdded => "topic_added",
            EventKind::TopicRemoved => "topic_removed",
            EventKind::C2KeyRotated => "c2_key_rotated",
            EventKind::SuiteOffered => "suite_offered",
            EventKind::SuiteUpgraded => "suite_upgraded",
            EventKind::ClientRekeyed => "client_rekeyed",
            EventKind::SuiteBelowMinimum => "suite_below_minimum",
            EventKind::TopicFormatChanged => "topic_format_changed",
            EventKind::ClientResynced => "client_resynced",
            EventKind::RuleFired => "rule_fired",
            EventKind::RuleSkipped => "rule_skipped",
            EventKind::RuleFailed => "rule_failed",
            EventKind::MqttPasswordIssued => "mqtt_password_issued",
        }
    }
}

/// Check a client name.
pub fn check_client_name(name: &str) -> C2Result<()> {
    if name.is_empty() {
        return Err(C2Error::invalid("the client name is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(C2Error::invalid(format!(
            "the client name is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(C2Error::invalid(
            "the client name contains control characters",
        ));
    }
    Ok(())
}

/// Check a topic name: the rules shared with the client and the `e4` tool
/// ([`e4_proto::topic_name::check_topic_name`]: not empty, no control
/// character, no wildcard, `e4/` and `e4c2/` reserved), and at most
/// [`MAX_TOPIC_LEN`] bytes, C2's own limit.
pub fn check_topic(topic: &str) -> C2Result<()> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(C2Error::invalid(format!(
            "the topic is longer than {MAX_TOPIC_LEN} bytes"
        )));
    }
    e4_proto::topic_name::check_topic_name(topic).map_err(|e| C2Error::invalid(e.to_string()))
}

/// Parse a suite name (default symmetric) and check that this C2's crypto
/// provider has it.
pub fn parse_suite(provider: &CryptoProvider, name: Option<&str>) -> C2Result<SuiteId> {
    let name = name.filter(|s| !s.is_empty()).unwrap_or("symmetric");
    let names = |suites: &mut dyn Iterator<Item = SuiteId>| {
        suites.map(|s| s.name()).collect::<Vec<_>>().join(", ")
    };
    let suite = SuiteId::from_name(name).map_err(|_| {
        C2Error::invalid(format!(
            "unknown suite {name:?} (known: {})",
            names(&mut SuiteId::ALL.into_iter())
        ))
    })?;
    if !provider.supports(suite) {
        return Err(C2Error::invalid(format!(
            "suite {name:?} is not compiled into this C2 (its provider {:?} has: {})",
            provider.name,
            names(&mut provider.suites.iter().map(|s| s.id))
        )));
    }
    Ok(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(check_topic("sensors/temp").is_ok());
        for bad in ["", "a/+/b", "a/#", "e4/abcd", "a\0b"] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
        assert!(check_client_name("dev-1").is_ok());
        assert!(check_client_name("").is_err());
        assert!(check_client_name("a\nb").is_err());
        assert!(Page::new(0, 1001).is_err());
        assert_eq!(Page::new(5, 0).unwrap().count, DEFAULT_PAGE);
        let p = e4_backends::provider();
        assert_eq!(parse_suite(p, None).unwrap(), SuiteId::Symmetric);
        assert_eq!(parse_suite(p, Some("pq-draft")).unwrap(), SuiteId::PqDraft);
        assert!(parse_suite(p, Some("hybrid")).is_ok());
        let e = parse_suite(p, Some("rot13")).unwrap_err().to_string();
        assert!(e.contains("unknown suite") && e.contains("pq-draft"), "{e}");
        assert!(ClientRef::from_parts("", &[]).is_err());
        assert!(ClientRef::from_parts("a", &[1; 16]).is_err());
        assert!(ClientRef::from_parts("", &[1; 15]).is_err());
    }
}
