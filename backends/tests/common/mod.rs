//! Shared fixtures of the e4-backends integration tests: clients of every
//! suite over a `MemStore` and a `FixedClock`, the C2 side that protects
//! commands for them, and a snapshot of a client's state.
#![allow(dead_code)]

use e4_backends::provider;
use e4_backends::rng::TestRng;
use e4_proto::client::KemIdentity;
use e4_proto::command::{self, Command};
use e4_proto::crypto::Rng;
use e4_proto::keys::{Ed25519Secret, SecretBytes, ED25519_SK_LEN};
use e4_proto::message;
use e4_proto::store::{MemStore, Store, TopicEntry};
use e4_proto::suite::CommandLengths;
use e4_proto::{Client, Clock, FixedClock, Id, Identity, SuiteId, SymKey, TopicHash};

/// The clock every fixture starts at.
pub const NOW: u64 = 1_795_451_461;

/// The data topic every fixture provisions.
pub const TOPIC: &str = "sensors/temperature";

/// The client type of the tests.
pub type TestClient = Client<MemStore, FixedClock>;

/// The suites to test: every suite compiled in.
pub fn suites() -> Vec<SuiteId> {
    provider().suites.iter().map(|s| s.id).collect()
}

/// A deterministic generator for `label` (PQ backends ignore it).
pub fn rng(label: &str) -> TestRng {
    TestRng::from_seed(label.as_bytes())
}

/// Random bytes from `rng`.
pub fn random_bytes(rng: &mut dyn Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v);
    v
}

/// A random non-zero 32-byte key.
pub fn random_key(rng: &mut dyn Rng) -> [u8; 32] {
    let mut k = [0u8; 32];
    rng.fill(&mut k);
    k[0] |= 1;
    k
}

/// Generate a signature key pair of `suite` (secret, public).
pub fn sig_keypair(suite: SuiteId, rng: &mut dyn Rng) -> (Vec<u8>, Vec<u8>) {
    let sig = provider().suite(suite).unwrap().sig().unwrap();
    let mut sk = vec![0u8; sig.secret_key_len()];
    let mut pk = vec![0u8; sig.public_key_len()];
    sig.generate(rng, &mut sk, &mut pk).unwrap();
    (sk, pk)
}

/// Generate a KEM key pair of `suite` (secret, public).
pub fn kem_keypair(suite: SuiteId, rng: &mut dyn Rng) -> (Vec<u8>, Vec<u8>) {
    let kem = provider().suite(suite).unwrap().kem().unwrap();
    let mut sk = vec![0u8; kem.secret_key_len()];
    let mut pk = vec![0u8; kem.public_key_len()];
    kem.generate(rng, &mut sk, &mut pk).unwrap();
    (sk, pk)
}

/// The C2 server of one suite: its secret keys.
pub struct C2 {
    /// The suite.
    pub suite: SuiteId,
    /// Public-key suite: C2's Curve25519 secret.
    pub x25519_secret: [u8; 32],
    /// Kem suites: C2's signature key pair (empty otherwise).
    pub sig_sk: Vec<u8>,
    /// Kem suites: C2's signature public key.
    pub sig_pk: Vec<u8>,
}

impl C2 {
    /// A C2 of `suite` with keys drawn from `rng`.
    pub fn new(suite: SuiteId, rng: &mut dyn Rng) -> C2 {
        let mut x25519_secret = [0u8; 32];
        rng.fill(&mut x25519_secret);
        let (sig_sk, sig_pk) = if suite.is_kem_suite() {
            sig_keypair(suite, rng)
        } else {
            (Vec::new(), Vec::new())
        };
        C2 {
            suite,
            x25519_secret,
            sig_sk,
            sig_pk,
        }
    }

    /// The public key a client must hold for this C2 (Curve25519 public key
    /// for the public-key suite, signature public key for kem suites; empty
    /// for symmetric).
    pub fn public(&self) -> Vec<u8> {
        match self.suite {
            SuiteId::Symmetric => Vec::new(),
            SuiteId::PubKey => {
                let x = provider().suite(SuiteId::PubKey).unwrap().x25519().unwrap();
                x.public_key(&self.x25519_secret).to_vec()
            }
            _ => self.sig_pk.clone(),
        }
    }

    /// Protect `cmd` (command bytes) for `client` at time `ts`, from the
    /// client's public material (or, symmetric, the shared client key):
    /// symmetric = `seal_symmetric` under the client key; public key = the
    /// same under `SHA3(X25519(c2 secret, Montgomery(client Ed25519 pk)))`;
    /// kem suites = `seal_kem_command`.
    pub fn protect(&self, client: &TestClient, ts: u64, cmd: &[u8]) -> Vec<u8> {
        let p = provider();
        let suite = p.suite(self.suite).unwrap();
        match client.identity() {
            Identity::Symmetric(key) => seal_sym(key, ts, cmd),
            Identity::PubKey { signing, .. } => {
                let x = suite.x25519().unwrap();
                let client_pk = x.public_from_ed25519(&signing.public()).unwrap();
                let key =
                    command::pubkey_command_key(p, suite, &self.x25519_secret, &client_pk).unwrap();
                seal_sym(&key, ts, cmd)
            }
            Identity::Kem(k) => {
                let mut out = vec![0u8; suite.id.command_overhead() + cmd.len()];
                let n = command::seal_kem_command(
                    p,
                    suite,
                    &self.sig_sk,
                    client.id(),
                    &k.kem_pk,
                    ts,
                    cmd,
                    &mut rng("c2 encapsulation"),
                    &mut out,
                )
                .unwrap();
                assert_eq!(n, out.len());
                out
            }
        }
    }

    /// Encode and protect a command for `client` at the client's clock.
    pub fn command(&self, client: &TestClient, cmd: &Command<'_>) -> Vec<u8> {
        self.protect(client, client.clock().now(), &cmd.to_vec())
    }
}

/// E4's symmetric format under `key`.
pub fn seal_sym(key: &SymKey, ts: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + message::SYM_OVERHEAD];
    let n = message::seal_symmetric(provider().siv, key, ts, payload, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// A client together with its own public keys.
pub struct Party {
    /// The client.
    pub client: TestClient,
    /// Its signature public key (empty for symmetric).
    pub sig_pk: Vec<u8>,
}

/// A fresh client of `suite` named `alias`, managed by `c2`, with no topic
/// or public key, its clock at [`NOW`].
pub fn new_party(suite: SuiteId, alias: &str, c2: &C2) -> Party {
    let p = provider();
    let mut rng = rng(alias);
    let id = Id::from_alias(p.hash, alias.as_bytes());
    let (identity, sig_pk) = match suite {
        SuiteId::Symmetric => (
            Identity::Symmetric(SymKey::new(random_key(&mut rng))),
            vec![],
        ),
        SuiteId::PubKey => {
            let (sk, pk) = sig_keypair(suite, &mut rng);
            let c2_public: [u8; 32] = c2.public().try_into().unwrap();
            let signing = Ed25519Secret::from_slice(&sk).unwrap();
            (Identity::PubKey { signing, c2_public }, pk)
        }
        _ => {
            let (sig_sk, sig_pk) = sig_keypair(suite, &mut rng);
            let (kem_sk, kem_pk) = kem_keypair(suite, &mut rng);
            let k = KemIdentity {
                sig_sk: SecretBytes::new(sig_sk),
                sig_pk: sig_pk.clone(),
                kem_sk: SecretBytes::new(kem_sk),
                kem_pk,
                c2_sig_pk: c2.public(),
            };
            (Identity::Kem(k), sig_pk)
        }
    };
    let client = Client::new(
        p,
        suite,
        id,
        identity,
        MemStore::new(),
        FixedClock::new(NOW),
    )
    .expect("a well-formed identity");
    Party { client, sig_pk }
}

/// Whether `suite` signs topic messages.
pub fn has_signatures(suite: SuiteId) -> bool {
    suite != SuiteId::Symmetric
}

/// A C2, a sender and a receiver of `suite`, both holding the key of
/// [`TOPIC`] (`topic_key`) and each other's signature public key.
pub fn pair(suite: SuiteId, topic_key: &SymKey) -> (C2, Party, Party) {
    let c2 = C2::new(suite, &mut rng(&format!("c2 {suite}")));
    let mut a = new_party(suite, &format!("sender {suite}"), &c2);
    let mut b = new_party(suite, &format!("receiver {suite}"), &c2);
    for party in [&mut a, &mut b] {
        let h = party.client.topic_hash(TOPIC);
        party.client.set_topic_key(&h, topic_key).unwrap();
    }
    if has_signatures(suite) {
        let (a_id, b_id) = (*a.client.id(), *b.client.id());
        a.client.set_pubkey(&b_id, &b.sig_pk).unwrap();
        b.client.set_pubkey(&a_id, &a.sig_pk).unwrap();
    }
    (c2, a, b)
}

/// Protect `payload` on `topic` with `client`.
pub fn protect(client: &TestClient, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + client.overhead()];
    let n = client.protect(topic, payload, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// Unprotect `msg` on `topic` with an output buffer as long as `msg`;
/// returns the plaintext of a message (empty for a command).
pub fn unprotect(
    client: &mut TestClient,
    topic: &str,
    msg: &[u8],
) -> Result<Vec<u8>, e4_proto::Error> {
    let mut out = vec![0u8; msg.len()];
    match client.unprotect(topic, msg, &mut out)? {
        e4_proto::Unprotected::Message(n) => {
            out.truncate(n);
            Ok(out)
        }
        e4_proto::Unprotected::Command(_) => Ok(Vec::new()),
    }
}

/// Unprotect a command on the client's control topic; returns the opcode.
pub fn apply(client: &mut TestClient, msg: &[u8]) -> Result<u8, e4_proto::Error> {
    let topic = client.control_topic().as_str().to_owned();
    let mut out = vec![0u8; msg.len()];
    match client.unprotect(&topic, msg, &mut out)? {
        e4_proto::Unprotected::Command(op) => Ok(op),
        other => panic!("a command gave {other:?}"),
    }
}

/// Everything observable about a client's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Topic entries, in hash order.
    pub topics: Vec<(TopicHash, TopicEntry)>,
    /// Public keys, in id order.
    pub pubkeys: Vec<(Id, Vec<u8>)>,
    /// The identity.
    pub identity: Identity,
}

/// Take a snapshot of `client`.
pub fn snapshot(client: &TestClient) -> Snapshot {
    let mut topics = Vec::new();
    client
        .store()
        .for_each_topic(&mut |h, e| topics.push((*h, e.clone())));
    let mut pubkeys = Vec::new();
    client
        .store()
        .for_each_pubkey(&mut |id, k| pubkeys.push((*id, k.to_vec())));
    Snapshot {
        topics,
        pubkeys,
        identity: client.identity().clone(),
    }
}

/// The command argument lengths of `suite`.
pub fn lengths(suite: SuiteId) -> CommandLengths {
    suite.command_lengths()
}

/// A fresh identity key for SetIdKey in `suite` (None where unsupported):
/// a 32-byte symmetric key, or a 64-byte Ed25519 `seed ‖ public`.
pub fn new_id_key(suite: SuiteId, rng: &mut dyn Rng) -> Option<Vec<u8>> {
    match suite {
        SuiteId::Symmetric => Some(random_key(rng).to_vec()),
        SuiteId::PubKey => {
            let (sk, _) = sig_keypair(suite, rng);
            assert_eq!(sk.len(), ED25519_SK_LEN);
            Some(sk)
        }
        _ => None,
    }
}
