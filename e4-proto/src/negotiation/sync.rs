//! State reports: a device tells C2 what it holds, so that C2 can send
//! exactly the commands that bring it up to date (after an offline period,
//! a lost broker session, a first connection) and knows which devices hold
//! the current keys.
//!
//! ```text
//! Sync (device -> C2, on e4c2/announce/<hex id>)
//!   ts(8) | kind=0x03 | device id(16) | suite(1) | flags(1) | C2 key fp(16) |
//!   n(2, LE) | n x ( topic hash(16) | key fp(16) ) | auth
//!
//! flags: bit 0 = new session (the broker kept nothing for the device on
//!   this connection: whatever C2 sent before is lost); other bits zero
//!
//! topic key fp  = SHA3-256("e4 topic key fp v1" | topic hash | key)[..16]
//! C2 key fp     = SHA3-256("e4 c2 key fp v1" | C2 public key)[..16]
//!                 (all zero for the symmetric suite, which has none)
//! auth: as Announce and Confirm, with the labels "e4 sync key v1" (AES-SIV
//!   key, symmetric suite) and "e4 sync v1" (signed suites)
//! ```
//!
//! A report is authenticated with the device's current key material, so
//! it is bound to it; C2 accepts one only if it is fresh (600 s) and newer
//! than the last one it accepted from the device (a replay is refused).
//! Fingerprints reveal nothing of the keys (a hash of a 256-bit secret);
//! the topic hashes are the ones the device subscribes with anyway.
//! Public keys of other devices are not reported: C2 sends them only when
//! the operator says so (SetPubKey, RemovePubKey, ResetPubKeys).

use super::*;

/// Length of a key fingerprint.
pub const FINGERPRINT_LEN: usize = 16;
/// A key fingerprint.
pub type Fingerprint = [u8; FINGERPRINT_LEN];
/// The most topics one report carries (a larger store is reported in part:
/// C2 then re-sends the keys of the topics missing from it).
pub const MAX_REPORTED_TOPICS: usize = 600;

const TOPIC_KEY_FP_LABEL: &[u8] = b"e4 topic key fp v1";
const C2_KEY_FP_LABEL: &[u8] = b"e4 c2 key fp v1";
/// ts, kind, id, suite, flags, C2 key fingerprint, count.
const SYNC_FIXED: usize = HEAD_LEN + 1 + FINGERPRINT_LEN + 2;
/// Flag: the report is the first of a connection on which the broker had
/// no session for the device.
pub const SYNC_NEW_SESSION: u8 = 0x01;
const TOPIC_ENTRY_LEN: usize = crate::ids::TOPIC_HASH_LEN + FINGERPRINT_LEN;

fn truncate(h: [u8; 32]) -> Fingerprint {
    let mut fp = [0u8; FINGERPRINT_LEN];
    fp.copy_from_slice(&h[..FINGERPRINT_LEN]);
    fp
}

/// The fingerprint of a topic key.
pub fn topic_key_fingerprint(p: &CryptoProvider, topic: &TopicHash, key: &SymKey) -> Fingerprint {
    truncate(
        p.hash
            .sha3_256(&[TOPIC_KEY_FP_LABEL, &topic.0, key.as_bytes()]),
    )
}

/// The fingerprint of a C2 public key (all zero for an empty key: the
/// symmetric suite has none).
pub fn c2_key_fingerprint(p: &CryptoProvider, c2_public: &[u8]) -> Fingerprint {
    if c2_public.is_empty() {
        return [0; FINGERPRINT_LEN];
    }
    truncate(p.hash.sha3_256(&[C2_KEY_FP_LABEL, c2_public]))
}

/// The C2 public key a device's identity holds (empty for the symmetric
/// suite).
pub fn held_c2_key(identity: &Identity) -> &[u8] {
    match identity {
        Identity::Symmetric(_) => &[],
        Identity::PubKey { c2_public, .. } => c2_public,
        Identity::Kem(k) => &k.c2_sig_pk,
    }
}

/// A parsed state report. Parsing checks the structure only; C2
/// authenticates it with [`verify_sync`].
#[derive(Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub(super) ts: u64,
    pub(super) device: Id,
    pub(super) suite: SuiteId,
    pub(super) flags: u8,
    pub(super) c2_key: Fingerprint,
    pub(super) topics: Vec<(TopicHash, Fingerprint)>,
    pub(super) auth_at: usize,
    pub(super) bytes: Vec<u8>,
}

impl fmt::Debug for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncReport")
            .field("ts", &self.ts)
            .field("device", &self.device)
            .field("suite", &self.suite)
            .field("topics", &self.topics.len())
            .finish_non_exhaustive()
    }
}

impl SyncReport {
    /// Parse untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<SyncReport, Error> {
        if bytes.len() < SYNC_FIXED {
            return Err(NegotiationError::Malformed.into());
        }
        let mut r = Reader { bytes, at: 0 };
        let ts = time::decode(r.take(TIMESTAMP_LEN)?);
        if r.u8()? != SYNC_KIND {
            return Err(NegotiationError::WrongKind.into());
        }
        let device =
            Id::from_slice(r.take(ID_LEN)?).ok_or(Error::from(NegotiationError::Malformed))?;
        let suite = suite_from_code(r.u8()?)?;
        let flags = r.u8()?;
        if flags & !SYNC_NEW_SESSION != 0 {
            return Err(NegotiationError::Malformed.into());
        }
        let c2_key = fingerprint(r.take(FINGERPRINT_LEN)?);
        let n = r.u16()?;
        if n > MAX_REPORTED_TOPICS {
            return Err(NegotiationError::Malformed.into());
        }
        let entries = r.take(n * TOPIC_ENTRY_LEN)?;
        let mut topics: Vec<(TopicHash, Fingerprint)> = Vec::with_capacity(n);
        for e in entries.chunks_exact(TOPIC_ENTRY_LEN) {
            let (h, fp) = e.split_at(crate::ids::TOPIC_HASH_LEN);
            let mut hash = [0u8; crate::ids::TOPIC_HASH_LEN];
            hash.copy_from_slice(h);
            let hash = TopicHash(hash);
            // Strictly ascending: no topic twice, one encoding per state.
            if topics.last().is_some_and(|(last, _)| last.0 >= hash.0) {
                return Err(NegotiationError::Malformed.into());
            }
            topics.push((hash, fingerprint(fp)));
        }
        let auth_at = r.at;
        if auth_at >= bytes.len() {
            return Err(NegotiationError::Malformed.into());
        }
        Ok(SyncReport {
            ts,
            device,
            suite,
            flags,
            c2_key,
            topics,
            auth_at,
            bytes: bytes.to_vec(),
        })
    }

    /// The device's timestamp.
    pub fn ts(&self) -> u64 {
        self.ts
    }
    /// The device.
    pub fn device(&self) -> &Id {
        &self.device
    }
    /// The suite the device runs.
    pub fn suite(&self) -> SuiteId {
        self.suite
    }
    /// Whether the broker had no session for the device on the connection
    /// this report was made on (anything sent before did not arrive).
    pub fn new_session(&self) -> bool {
        self.flags & SYNC_NEW_SESSION != 0
    }
    /// The fingerprint of the C2 key the device holds (zero: none).
    pub fn c2_key(&self) -> &Fingerprint {
        &self.c2_key
    }
    /// The topics the device holds a key for, with the key's fingerprint,
    /// by ascending topic hash.
    pub fn topics(&self) -> &[(TopicHash, Fingerprint)] {
        &self.topics
    }
    /// Whether the report lists every topic the device holds (false when
    /// it held more than [`MAX_REPORTED_TOPICS`]: the rest are unknown).
    pub fn is_complete(&self) -> bool {
        self.topics.len() < MAX_REPORTED_TOPICS
    }
    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn fingerprint(b: &[u8]) -> Fingerprint {
    let mut fp = [0u8; FINGERPRINT_LEN];
    fp.copy_from_slice(b);
    fp
}

/// Device: the report of what `client` holds now, stamped with its clock;
/// `new_session` when the broker had no session for the device on this
/// connection. At most [`MAX_REPORTED_TOPICS`] topics are listed (the
/// first by hash).
pub fn sync_report<S: Store, C: Clock, const R: usize>(
    client: &Client<S, C, R>,
    new_session: bool,
) -> Result<Vec<u8>, Error> {
    let p = client.provider();
    let mut topics: Vec<(TopicHash, Fingerprint)> = Vec::new();
    client.store().for_each_topic(&mut |hash, entry| {
        if topics.len() < MAX_REPORTED_TOPICS {
            topics.push((*hash, topic_key_fingerprint(p, hash, &entry.key)));
        }
    });
    let mut out = Vec::with_capacity(SYNC_FIXED + topics.len() * TOPIC_ENTRY_LEN);
    out.extend_from_slice(&time::encode(client.clock().now()));
    out.push(SYNC_KIND);
    out.extend_from_slice(&client.id().0);
    out.push(client.suite().code());
    out.push(if new_session { SYNC_NEW_SESSION } else { 0 });
    out.extend_from_slice(&c2_key_fingerprint(p, held_c2_key(client.identity())));
    push_u16(&mut out, topics.len())?;
    for (hash, fp) in &topics {
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(fp);
    }
    authenticate(
        p,
        client.suite(),
        Kind::Sync,
        signer_of(client.identity()),
        &mut out,
    )?;
    Ok(out)
}

/// C2: check a report from `device`, whose registered suite is `current`
/// and material `registered`. `last_accepted` is the timestamp of the last
/// report C2 accepted from this device: the new one must be strictly newer,
/// and fresh (600 s window, not in the future).
pub fn verify_sync(
    p: &CryptoProvider,
    msg: &[u8],
    device: &Id,
    current: SuiteId,
    registered: &DeviceMaterial,
    last_accepted: Option<u64>,
    now: u64,
) -> Result<SyncReport, Error> {
    let s = SyncReport::parse(msg)?;
    if s.device != *device {
        return Err(NegotiationError::WrongDevice.into());
    }
    if s.suite != current {
        return Err(NegotiationError::WrongSuite.into());
    }
    check_fresh(s.ts, now)?;
    if last_accepted.is_some_and(|last| s.ts <= last) {
        return Err(NegotiationError::NotNewer.into());
    }
    verify_auth(
        p,
        current,
        Kind::Sync,
        registered,
        &s.bytes[..s.auth_at],
        &s.bytes[s.auth_at..],
    )?;
    Ok(s)
}
