//! Fixtures shared by the fuzz targets: a receiving client of each suite
//! (fixed clock, one provisioned topic, the sender's public key), the
//! sender, the C2 side that protects commands, and a snapshot of a client's
//! state so that targets can check that failures change nothing.
//!
//! Key material is generated once per process. Building a client costs an
//! X25519 operation (public-key suite), so [`with_receiver`] reuses one
//! receiver per suite while its state is pristine: between inputs its replay
//! cache is cleared, and it is rebuilt as soon as an input changed its keys.
//! Runs therefore do not depend on each other.

use e4_backends::provider;
use e4_proto::command;
use e4_proto::crypto::Rng;
use e4_proto::message;
use e4_proto::store::MemStore;
use e4_proto::suite::CommandLengths;
use e4_proto::{Client, Error, FixedClock, Id, Identity, SuiteId, SymKey};
use e4_testkit::{identity, sig_keypair, TestRng};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

/// The receiver's clock.
pub const NOW: u64 = 1_795_451_461;
/// The provisioned data topic.
pub const TOPIC: &str = "sensors/temperature";

/// The client type of the targets.
pub type FuzzClient = Client<MemStore, FixedClock>;

/// The suites the targets exercise (every implemented suite compiled in).
pub const SUITES: [SuiteId; 4] = [
    SuiteId::Symmetric,
    SuiteId::PubKey,
    SuiteId::PostQuantum,
    SuiteId::PqDraft,
];

/// Key material of one suite: a sender, a receiver and their C2.
pub struct SuiteKeys {
    /// The suite.
    pub suite: SuiteId,
    /// The topic key of [`TOPIC`].
    pub topic_key: SymKey,
    /// Sender id and identity.
    pub sender_id: Id,
    sender: Identity,
    sender_sig_pk: Vec<u8>,
    /// Receiver id and identity.
    pub receiver_id: Id,
    receiver: Identity,
    /// C2's Curve25519 secret (public-key suite).
    c2_x25519: [u8; 32],
    /// C2's signature secret key (kem suites).
    c2_sig_sk: Vec<u8>,
}

impl SuiteKeys {
    fn generate(suite: SuiteId) -> SuiteKeys {
        let p = provider();
        let mut rng = TestRng::from_seed(suite.name().as_bytes());
        let mut c2_x25519 = [0u8; 32];
        rng.fill(&mut c2_x25519);
        let (c2_sig_sk, c2_public) = match suite {
            SuiteId::Symmetric => (Vec::new(), Vec::new()),
            SuiteId::PubKey => {
                let x = p.suite(suite).unwrap().x25519().unwrap();
                (Vec::new(), x.public_key(&c2_x25519).to_vec())
            }
            _ => sig_keypair(p, suite, &mut rng),
        };
        let (sender, sender_sig_pk) = identity(p, suite, &mut rng, &c2_public);
        let (receiver, _) = identity(p, suite, &mut rng, &c2_public);
        let mut k = [0u8; 32];
        rng.fill(&mut k);
        SuiteKeys {
            suite,
            topic_key: SymKey::new(k),
            sender_id: Id::from_alias(p.hash, b"fuzz sender"),
            sender,
            sender_sig_pk,
            receiver_id: Id::from_alias(p.hash, b"fuzz receiver"),
            receiver,
            c2_x25519,
            c2_sig_sk,
        }
    }

    fn client(&self, id: Id, identity: &Identity) -> FuzzClient {
        let mut c = Client::new(
            provider(),
            self.suite,
            id,
            identity.clone(),
            MemStore::new(),
            FixedClock::new(NOW),
        )
        .unwrap();
        let h = c.topic_hash(TOPIC);
        c.set_topic_key(&h, &self.topic_key).unwrap();
        c
    }

    /// A fresh receiver: [`TOPIC`] provisioned, the sender's key known.
    pub fn receiver(&self) -> FuzzClient {
        let mut c = self.client(self.receiver_id, &self.receiver);
        if self.suite != SuiteId::Symmetric {
            c.set_pubkey(&self.sender_id, &self.sender_sig_pk).unwrap();
        }
        c
    }

    /// A fresh sender.
    pub fn sender(&self) -> FuzzClient {
        self.client(self.sender_id, &self.sender)
    }

    /// C2: protect command bytes `cmd` for `client` at `ts` (kem suites
    /// refuse an empty command: None). Every kem-suite command sealed here
    /// is recorded for [`SuiteKeys::sealed_by_c2`].
    pub fn protect_command(&self, client: &FuzzClient, ts: u64, cmd: &[u8]) -> Option<Vec<u8>> {
        self.protect_command_for(client.id(), client.identity(), ts, cmd)
    }

    /// [`SuiteKeys::protect_command`] for a device `id` holding `identity`.
    fn protect_command_for(
        &self,
        id: &Id,
        identity: &Identity,
        ts: u64,
        cmd: &[u8],
    ) -> Option<Vec<u8>> {
        let p = provider();
        let suite = p.suite(self.suite).unwrap();
        let sym = |key: &SymKey| {
            let mut out = vec![0u8; cmd.len() + message::SYM_OVERHEAD];
            message::seal_symmetric(p.siv, key, ts, cmd, &mut out).unwrap();
            out
        };
        match identity {
            Identity::Symmetric(k) => Some(sym(k)),
            Identity::PubKey { signing, .. } => {
                let x = suite.x25519().unwrap();
                let pk = x.public_from_ed25519(&signing.public()).unwrap();
                Some(sym(&command::pubkey_command_key(
                    p,
                    suite,
                    &self.c2_x25519,
                    &pk,
                )
                .unwrap()))
            }
            Identity::Kem(k) => {
                if cmd.is_empty() {
                    return None;
                }
                let mut out = vec![0u8; suite.id.command_overhead() + cmd.len()];
                let mut rng = TestRng::from_seed(b"fuzz encapsulation");
                command::seal_kem_command(
                    p,
                    suite,
                    &self.c2_sig_sk,
                    id,
                    &k.kem_pk,
                    ts,
                    cmd,
                    &mut rng,
                    &mut out,
                )
                .unwrap();
                SEALED.with(|s| s.borrow_mut().insert(fingerprint(&out)));
                Some(out)
            }
        }
    }

    /// Whether C2 produced `msg` for the device `id` holding `identity`
    /// (its state before `msg` was applied), as the protection of `cmd` at
    /// [`NOW`]: byte-identical to C2's protection of `cmd` (deterministic
    /// for the E4 suites, whose commands are AES-SIV under a fixed key, and
    /// for kem suites whose KEM draws from the seeded RNG) or, for kem
    /// suites whose encapsulation takes its randomness from the OS, one of
    /// the commands sealed by this process.
    pub fn sealed_by_c2(&self, id: &Id, identity: &Identity, msg: &[u8], cmd: &[u8]) -> bool {
        if matches!(identity, Identity::Kem(_))
            && SEALED.with(|s| s.borrow().contains(&fingerprint(msg)))
        {
            return true;
        }
        self.protect_command_for(id, identity, NOW, cmd).as_deref() == Some(msg)
    }

    /// Whether the command `msg` (the protection of `cmd`, applied once)
    /// still authenticates under the keys the device holds now
    /// (`identity`): a command that replaced the device key (SetIdKey) or
    /// C2's key (SetC2Key) with different material is judged against the
    /// new keys, as the device derives them (E4 public-key suite: the
    /// X25519 secret from the Ed25519 seed, with C2's Curve25519 key).
    /// The error is the one the device must give: `NotAuthentic` for
    /// AES-SIV, the signature scheme's for C2's signature (kem suites).
    pub fn authentic_under(
        &self,
        identity: &Identity,
        msg: &[u8],
        cmd: &[u8],
    ) -> Result<(), Error> {
        let p = provider();
        let suite = p.suite(self.suite).unwrap();
        let resealed = |key: &SymKey| {
            let mut out = vec![0u8; cmd.len() + message::SYM_OVERHEAD];
            message::seal_symmetric(p.siv, key, NOW, cmd, &mut out).unwrap();
            if out == msg {
                Ok(())
            } else {
                Err(Error::NotAuthentic)
            }
        };
        match identity {
            Identity::Symmetric(k) => resealed(k),
            Identity::PubKey { signing, c2_public } => {
                let x = suite.x25519().unwrap();
                let secret = x.secret_from_ed25519_seed(signing.seed());
                resealed(&command::pubkey_command_key(p, suite, &secret, c2_public).unwrap())
            }
            Identity::Kem(k) => {
                // Only C2's key can change (SetIdKey is unsupported); the
                // device's KEM key, hence the rest of the check, is as before.
                let sig = suite.sig().unwrap();
                let split = msg.len() - suite.id.params().signature;
                sig.verify(&k.c2_sig_pk, &msg[..split], &msg[split..])
            }
        }
    }
}

thread_local! {
    /// Fingerprints of the kem-suite commands sealed by this process.
    static SEALED: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
    /// Per suite: whether the sender's protection is deterministic (None:
    /// not checked yet in this process).
    static DETERMINISTIC: Cell<[Option<bool>; 4]> = const { Cell::new([None; 4]) };
    /// Fingerprints of the messages the sender produced in this process,
    /// for the suites whose protection is not deterministic.
    static SENT: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// A 64-bit fingerprint of `bytes` (SipHash with fixed keys).
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The message the genuine sender of `suite` produces for `payload` on
/// [`TOPIC`] at [`NOW`] (the sender's clock). Whether the suite's protection
/// is deterministic is checked once per suite and process (AES-SIV and
/// Ed25519 are; ML-DSA signing may be hedged, with fresh randomness, as the
/// default provider's is): if it is not, every message produced is recorded
/// for [`is_genuine_message`].
pub fn genuine_message(suite: SuiteId, payload: &[u8]) -> Vec<u8> {
    let protect = || {
        with_sender(suite, |tx| {
            let mut msg = vec![0u8; payload.len() + tx.overhead()];
            let n = tx.protect(TOPIC, payload, &mut msg).unwrap();
            assert_eq!(n, msg.len());
            msg
        })
    };
    let msg = protect();
    let i = slot(suite);
    let mut d = DETERMINISTIC.with(Cell::get);
    if d[i].is_none() {
        d[i] = Some(protect() == msg);
        DETERMINISTIC.with(|c| c.set(d));
    }
    if d[i] == Some(false) {
        SENT.with(|s| s.borrow_mut().insert(fingerprint(&msg)));
    }
    msg
}

/// Whether `msg`, which a receiver accepted with `payload`, is the genuine
/// sender's: byte-identical to the sender's protection of `payload` at
/// [`NOW`] (deterministic suites), or one of the messages the sender
/// produced in this process (suites that sign with fresh randomness: a
/// valid signature the sender did not make is a forgery too).
pub fn is_genuine_message(suite: SuiteId, msg: &[u8], payload: &[u8]) -> bool {
    if genuine_message(suite, payload) == msg {
        return true;
    }
    DETERMINISTIC.with(Cell::get)[slot(suite)] == Some(false)
        && SENT.with(|s| s.borrow().contains(&fingerprint(msg)))
}

/// The key material of `suite`, generated on first use.
pub fn keys(suite: SuiteId) -> &'static SuiteKeys {
    static KEYS: OnceLock<Vec<SuiteKeys>> = OnceLock::new();
    let all = KEYS.get_or_init(|| SUITES.iter().map(|&s| SuiteKeys::generate(s)).collect());
    all.iter().find(|k| k.suite == suite).unwrap()
}

/// A receiver of `suite` and the snapshot of its pristine state.
struct Cached {
    client: FuzzClient,
    pristine: Snapshot,
}

thread_local! {
    static RECEIVERS: RefCell<Vec<Option<Cached>>> =
        RefCell::new(SUITES.iter().map(|_| None).collect());
    static SENDERS: RefCell<Vec<Option<FuzzClient>>> =
        RefCell::new(SUITES.iter().map(|_| None).collect());
}

fn slot(suite: SuiteId) -> usize {
    SUITES.iter().position(|&s| s == suite).unwrap()
}

/// Run `f` on a receiver of `suite` in its initial state (fresh replay
/// cache, [`TOPIC`] provisioned, the sender's key known).
pub fn with_receiver<R>(suite: SuiteId, f: impl FnOnce(&mut FuzzClient) -> R) -> R {
    let i = slot(suite);
    let cached = RECEIVERS.with(|r| r.borrow_mut()[i].take());
    let mut cached = cached.unwrap_or_else(|| {
        let client = keys(suite).receiver();
        let pristine = snapshot(&client);
        Cached { client, pristine }
    });
    cached.client.set_replay_protection(true); // also clears the cache
    let r = f(&mut cached.client);
    if snapshot(&cached.client) == cached.pristine {
        RECEIVERS.with(|r| r.borrow_mut()[i] = Some(cached));
    }
    r
}

/// Run `f` on the sender of `suite` (whose state protecting never changes).
pub fn with_sender<R>(suite: SuiteId, f: impl FnOnce(&FuzzClient) -> R) -> R {
    let i = slot(suite);
    SENDERS.with(|s| {
        let mut s = s.borrow_mut();
        f(s[i].get_or_insert_with(|| keys(suite).sender()))
    })
}

/// The suite selected by a fuzz byte.
pub fn suite_of(byte: u8) -> SuiteId {
    SUITES[usize::from(byte) % SUITES.len()]
}

/// Every suite's command lengths.
pub fn all_lengths() -> Vec<CommandLengths> {
    provider()
        .suites
        .iter()
        .map(|s| s.id.command_lengths())
        .collect()
}

/// Everything observable about a client's state, and taking it.
pub use e4_testkit::{snapshot, Snapshot};

/// Apply fuzz-chosen edits to `msg`: each 3-byte group `(lo, hi, x)` XORs
/// `x` into byte `(hi:lo) mod len`, or truncates there when `x == 0`.
pub fn edit(msg: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut out = msg.to_vec();
    for e in edits.chunks_exact(3) {
        if out.is_empty() {
            break;
        }
        let pos = usize::from(u16::from_le_bytes([e[0], e[1]])) % out.len();
        if e[2] == 0 {
            out.truncate(pos);
        } else {
            out[pos] ^= e[2];
        }
    }
    out
}

/// Patch a fresh timestamp (`NOW - age`), the suite byte and, for signed
/// messages, the sender id into fuzz bytes, so that they get past the cheap
/// checks to the cryptography.
pub fn steer(suite: SuiteId, bytes: &mut [u8], age: u8, sender: Option<&Id>) {
    if bytes.len() >= 8 {
        bytes[..8].copy_from_slice(&(NOW - u64::from(age)).to_le_bytes());
    }
    let kem = suite.is_kem_suite();
    if kem && bytes.len() > 8 {
        bytes[8] = suite.code();
    }
    let at = if kem { 9 } else { 8 };
    if let Some(id) = sender {
        if bytes.len() >= at + 16 {
            bytes[at..at + 16].copy_from_slice(&id.0);
        }
    }
}
