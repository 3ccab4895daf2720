//! Property tests, for every suite compiled in:
//!
//! * flipping any single bit of a protected topic message or command, or
//!   truncating it to any shorter length, makes `unprotect` fail and leaves
//!   the client's state (topic entries, public keys, identity) unchanged,
//!   and the genuine bytes are still accepted afterwards;
//! * arbitrary bytes never panic `unprotect` (data and control topics), nor
//!   any parser (`Command::parse`, `SymMessage::parse`,
//!   `SignedMessage::parse_pubkey`, `SignedMessage::parse_kem`), and what
//!   the parsers accept is what their formats say.

mod common;

use common::*;

use e4_proto::command::Command;
use e4_proto::message::{SignedMessage, SymMessage, KEM_HEADER, SYM_OVERHEAD};
use e4_proto::store::Store;
use e4_proto::suite::CommandLengths;
use e4_proto::{Clock, Error, Id, Identity, SuiteId, SymKey, TopicHash};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;

/// Cases per property: PQ suites sign and verify ~3 KB signatures, so fewer.
fn cases(suite: SuiteId) -> u32 {
    if suite.is_kem_suite() {
        64
    } else {
        256
    }
}

/// Run `test` on `cases` values of `strategy`, panicking with the minimal
/// failing input.
fn check<S: Strategy>(
    what: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{what}: {e}");
    }
}

fn flip(msg: &[u8], bit: usize) -> Vec<u8> {
    let mut bad = msg.to_vec();
    bad[bit / 8] ^= 1 << (bit % 8);
    bad
}

/// How a genuine message is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Flip the bit at this index (modulo the bit length).
    Flip(Index),
    /// Truncate to this length (modulo the length).
    Truncate(Index),
}

impl Damage {
    fn apply(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Damage::Flip(i) => flip(msg, i.index(msg.len() * 8)),
            Damage::Truncate(i) => msg[..i.index(msg.len())].to_vec(),
        }
    }
}

fn flips() -> impl Strategy<Value = Damage> {
    any::<Index>().prop_map(Damage::Flip)
}

fn truncations() -> impl Strategy<Value = Damage> {
    any::<Index>().prop_map(Damage::Truncate)
}

// ---------------------------------------------------------------------
// (a), (b): topic messages
// ---------------------------------------------------------------------

/// A sender and a receiver; each case is one second after the previous one
/// (so that the receiver's replay cache never refuses a genuine message).
struct Link {
    a: TestClient,
    b: TestClient,
    t: u64,
}

impl Link {
    fn new(suite: SuiteId) -> RefCell<Link> {
        let (_c2, a, b) = pair(suite, &SymKey::new([0x3c; 32]));
        RefCell::new(Link {
            a: a.client,
            b: b.client,
            t: NOW,
        })
    }

    fn tick(&mut self) {
        self.t += 1;
        self.a.clock().set(self.t);
        self.b.clock().set(self.t);
    }
}

fn message_damage_is_rejected(suite: SuiteId, damage: impl Strategy<Value = Damage>) {
    let link = Link::new(suite);
    check(
        &format!("{suite} topic message"),
        cases(suite),
        (vec(any::<u8>(), 1..48), damage),
        |(pt, damage)| {
            let mut l = link.borrow_mut();
            l.tick();
            let msg = protect(&l.a, TOPIC, &pt);
            let bad = damage.apply(&msg);
            let before = snapshot(&l.b);
            let r = unprotect(&mut l.b, TOPIC, &bad);
            prop_assert!(r.is_err(), "{:?} accepted: {:?}", damage, r);
            prop_assert_eq!(&snapshot(&l.b), &before);
            // the failure left no trace: the genuine message still passes
            prop_assert_eq!(unprotect(&mut l.b, TOPIC, &msg), Ok(pt));
            prop_assert_eq!(&snapshot(&l.b), &before);
            Ok(())
        },
    );
}

/// Every single-bit flip and every truncation of one message, exhaustively
/// for the E4 suites; for kem suites (each check verifies a 3309-byte
/// signature) every bit of the header and SIV part, and truncations that cut
/// into the header or the signature.
fn every_damage_of_one_message_is_rejected(suite: SuiteId) {
    let mut l = Link::new(suite).into_inner();
    l.tick();
    let msg = protect(&l.a, TOPIC, b"sixteen bytes!!!");
    let before = snapshot(&l.b);
    let (bits, lens): (Vec<usize>, Vec<usize>) = if suite.is_kem_suite() {
        let head = KEM_HEADER + 16;
        (
            (0..head * 8)
                .chain(msg.len() * 8 - 64..msg.len() * 8)
                .collect(),
            (0..head).chain(msg.len() - 64..msg.len()).collect(),
        )
    } else {
        ((0..msg.len() * 8).collect(), (0..msg.len()).collect())
    };
    for bit in bits {
        let r = unprotect(&mut l.b, TOPIC, &flip(&msg, bit));
        assert!(r.is_err(), "{suite}: flipping bit {bit} was accepted");
    }
    for len in lens {
        let r = unprotect(&mut l.b, TOPIC, &msg[..len]);
        assert!(r.is_err(), "{suite}: truncation to {len} was accepted");
    }
    assert_eq!(snapshot(&l.b), before);
    assert_eq!(
        unprotect(&mut l.b, TOPIC, &msg),
        Ok(b"sixteen bytes!!!".to_vec())
    );
}

// ---------------------------------------------------------------------
// (c): commands
// ---------------------------------------------------------------------

/// A C2 and its device, one second per case.
struct Managed {
    c2: C2,
    dev: TestClient,
    t: u64,
}

impl Managed {
    fn new(suite: SuiteId) -> RefCell<Managed> {
        let c2 = new_c2(suite, &mut rng(&format!("tamper c2 {suite}")));
        let mut dev = new_party(suite, &format!("tamper device {suite}"), &c2).client;
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let h = dev.topic_hash(name);
            dev.set_topic_key(&h, &SymKey::new([i as u8 + 1; 32]))
                .unwrap();
        }
        RefCell::new(Managed { c2, dev, t: NOW })
    }
}

/// The raw material of a command: kind, a 32-byte key, a 16-byte hash or id,
/// and bytes for a public key.
type CommandSeed = (u8, [u8; 32], [u8; 16], Vec<u8>);

fn command_seeds(suite: SuiteId) -> impl Strategy<Value = CommandSeed> {
    let pk_len = lengths(suite).pubkey;
    (
        0u8..4,
        any::<[u8; 32]>().prop_map(|mut k| {
            k[0] |= 1;
            k
        }),
        any::<[u8; 16]>(),
        vec(any::<u8>(), pk_len..=pk_len).prop_map(|mut k| {
            k[0] |= 1;
            k
        }),
    )
}

/// The command a seed stands for in `suite`: SetTopicKey, RemoveTopic,
/// ResetTopics, then SetIdKey (symmetric) or SetPubKey (others).
fn command_of<'a>(suite: SuiteId, seed: &'a CommandSeed) -> Command<'a> {
    let (kind, key, hash, pk) = seed;
    match kind {
        0 => Command::SetTopicKey {
            key,
            topic: TopicHash(*hash),
        },
        1 => Command::RemoveTopic(TopicHash(*hash)),
        2 => Command::ResetTopics,
        _ if suite == SuiteId::Symmetric => Command::SetIdKey(&key[..]),
        _ => Command::SetPubKey {
            key: pk,
            id: Id(*hash),
        },
    }
}

/// Check that `cmd` took effect on `dev`.
fn took_effect(dev: &TestClient, cmd: &Command<'_>) -> Result<(), TestCaseError> {
    match *cmd {
        Command::SetTopicKey { key, topic } => {
            let entry = dev.store().topic(&topic);
            prop_assert_eq!(entry.map(|e| e.key.clone()), Some(SymKey::new(*key)));
        }
        Command::RemoveTopic(topic) => prop_assert!(dev.store().topic(&topic).is_none()),
        Command::ResetTopics => prop_assert_eq!(dev.store().topic_count(), 0),
        Command::SetIdKey(key) => match dev.identity() {
            Identity::Symmetric(k) => prop_assert_eq!(&k.as_bytes()[..], key),
            other => prop_assert!(false, "identity {:?}", other),
        },
        Command::SetPubKey { key, id } => prop_assert_eq!(dev.store().pubkey(&id), Some(key)),
        other => prop_assert!(false, "unexpected {:?}", other),
    }
    Ok(())
}

fn command_damage_is_rejected(suite: SuiteId, damage: impl Strategy<Value = Damage>) {
    let managed = Managed::new(suite);
    check(
        &format!("{suite} command"),
        cases(suite),
        (command_seeds(suite), damage),
        |(seed, damage)| {
            let mut m = managed.borrow_mut();
            m.t += 1;
            let t = m.t;
            m.dev.clock().set(t);
            let cmd = command_of(suite, &seed);
            let msg = m.c2.protect(&m.dev, t, &cmd.to_vec());
            let bad = damage.apply(&msg);
            let before = snapshot(&m.dev);
            let r = apply(&mut m.dev, &bad);
            prop_assert!(r.is_err(), "{:?} of {:?} accepted: {:?}", damage, cmd, r);
            prop_assert_eq!(&snapshot(&m.dev), &before);
            // the genuine command is still accepted, and applied
            prop_assert_eq!(apply(&mut m.dev, &msg), Ok(cmd.opcode()));
            took_effect(&m.dev, &cmd)
        },
    );
}

// ---------------------------------------------------------------------
// (d): arbitrary bytes
// ---------------------------------------------------------------------

/// Optional patches that steer random bytes past the cheap checks: a fresh
/// timestamp, the right suite byte, a known sender id.
#[derive(Debug, Clone, Copy)]
struct Steer {
    ts: bool,
    suite_byte: bool,
    sender: bool,
}

fn steers() -> impl Strategy<Value = Steer> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(ts, suite_byte, sender)| Steer {
        ts,
        suite_byte,
        sender,
    })
}

impl Steer {
    /// Patch `bytes` as a message (`command = false`) or a command of
    /// `suite` for a client whose clock reads `now` and which knows `sender`.
    fn apply(self, suite: SuiteId, bytes: &mut [u8], now: u64, sender: &Id, command: bool) {
        if self.ts && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(&now.to_le_bytes());
        }
        let kem = suite.is_kem_suite();
        if kem && self.suite_byte && bytes.len() > 8 {
            bytes[8] = suite.code();
        }
        let at = if kem { 9 } else { 8 };
        if self.sender && !command && suite != SuiteId::Symmetric && bytes.len() >= at + 16 {
            bytes[at..at + 16].copy_from_slice(&sender.0);
        }
    }
}

/// A receiver with a topic key and a known sender.
struct Target {
    b: TestClient,
    sender: Id,
}

impl Target {
    fn new(suite: SuiteId) -> RefCell<Target> {
        let (_c2, a, b) = pair(suite, &SymKey::new([0x5e; 32]));
        RefCell::new(Target {
            b: b.client,
            sender: *a.client.id(),
        })
    }
}

fn garbage_never_panics(suite: SuiteId, lens: std::ops::Range<usize>, cases: u32) {
    let target = Target::new(suite);
    let strategy = (vec(any::<u8>(), lens), steers(), any::<bool>(), 0usize..16);
    check(
        &format!("{suite} arbitrary bytes"),
        cases,
        strategy,
        |(mut bytes, steer, control, short)| {
            let mut t = target.borrow_mut();
            let now = t.b.clock().now();
            let sender = t.sender;
            steer.apply(suite, &mut bytes, now, &sender, control);
            let topic = if control {
                t.b.control_topic().as_str().to_owned()
            } else {
                TOPIC.to_owned()
            };
            let before = snapshot(&t.b);
            let mut out = vec![0u8; bytes.len()];
            let r = t.b.unprotect(&topic, &bytes, &mut out);
            prop_assert!(r.is_err(), "accepted: {:?}", r);
            prop_assert_eq!(&snapshot(&t.b), &before);
            // an output buffer shorter than the input is refused, not a panic
            let mut out = vec![0u8; bytes.len().saturating_sub(short + 1)];
            let r = t.b.unprotect(&topic, &bytes, &mut out);
            prop_assert!(r.is_err(), "accepted: {:?}", r);
            prop_assert_eq!(&snapshot(&t.b), &before);
            Ok(())
        },
    );
}

/// Arbitrary bytes of every length up to 600, and for kem suites also
/// around the sizes of real messages and command envelopes.
fn arbitrary_bytes_never_panic_unprotect(suite: SuiteId) {
    garbage_never_panics(suite, 0..600, 4 * cases(suite));
    if suite.is_kem_suite() {
        let message = suite.message_overhead();
        let envelope = suite.command_overhead() + 1;
        garbage_never_panics(suite, message - 4..message + 48, cases(suite));
        garbage_never_panics(suite, envelope - 4..envelope + 64, cases(suite));
    }
}

/// Every suite's command lengths.
fn all_lengths() -> Vec<CommandLengths> {
    SuiteId::ALL.iter().map(|s| s.command_lengths()).collect()
}

/// Byte strings shaped like commands: a (mostly known) opcode and argument
/// lengths near the real ones.
fn command_like() -> impl Strategy<Value = Vec<u8>> {
    let mut lens: Vec<usize> = vec![0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65];
    for l in all_lengths() {
        for n in [l.pubkey + 16, l.c2_key] {
            lens.extend([n - 1, n, n + 1]);
        }
    }
    (0u8..10, proptest::sample::select(lens)).prop_flat_map(|(op, n)| {
        vec(any::<u8>(), n..=n).prop_map(move |mut args| {
            args.insert(0, op);
            args
        })
    })
}

#[test]
fn command_parse_never_panics_and_re_encodes() {
    let lengths = all_lengths();
    let strategy = prop_oneof![vec(any::<u8>(), 0..600), command_like()];
    check("Command::parse", 4096, strategy, |bytes| {
        for l in &lengths {
            let Ok(cmd) = Command::parse(&bytes, l) else {
                continue;
            };
            prop_assert_eq!(cmd.opcode(), bytes[0]);
            prop_assert_eq!(cmd.encoded_len(), bytes.len());
            let mut out = vec![0u8; bytes.len()];
            prop_assert_eq!(cmd.encode(&mut out), Ok(bytes.len()));
            prop_assert_eq!(&out, &bytes);
            prop_assert_eq!(cmd.to_vec(), bytes.clone());
            if bytes.len() > 1 {
                let mut short = vec![0u8; bytes.len() - 1];
                prop_assert_eq!(cmd.encode(&mut short), Err(Error::BufferTooSmall));
            }
        }
        Ok(())
    });
}

#[test]
fn command_parse_accepts_exactly_the_documented_lengths() {
    let lengths = all_lengths();
    check("Command::parse lengths", 1024, command_like(), |bytes| {
        let op = bytes[0];
        let args = bytes.len() - 1;
        for l in &lengths {
            let r = Command::parse(&bytes, l);
            let exact = match op {
                0 => Some(16),
                1 | 5 => Some(0),
                2 => l.id_key,
                3 => Some(48),
                4 => Some(16),
                6 => Some(l.pubkey + 16),
                7 => Some(l.c2_key),
                _ => None,
            };
            let expected = match exact {
                None if op > 7 => Err(Error::InvalidCommand),
                None => Err(Error::UnsupportedOperation),
                Some(n) if n != args => Err(Error::InvalidCommandLength),
                Some(_) if op >= 4 && !l.pubkey_ops => Err(Error::UnsupportedOperation),
                Some(_) => Ok(op),
            };
            prop_assert_eq!(r.map(|c| c.opcode()), expected, "{:?}", l);
        }
        Ok(())
    });
}

#[test]
fn message_parsers_never_panic_and_split_as_documented() {
    let strategy = (vec(any::<u8>(), 0..800), any::<u8>(), any::<Index>());
    check(
        "message parsers",
        4096,
        strategy,
        |(mut bytes, suite_byte, pick)| {
            // SymMessage: ts | SIV | ct, more than 24 bytes
            match SymMessage::parse(&bytes) {
                Ok(m) => {
                    prop_assert!(bytes.len() > SYM_OVERHEAD);
                    prop_assert_eq!(m.ad, &bytes[..8]);
                    prop_assert_eq!(m.ts, u64::from_le_bytes(bytes[..8].try_into().unwrap()));
                    prop_assert_eq!(&m.siv[..], &bytes[8..24]);
                    prop_assert_eq!(m.ct, &bytes[24..]);
                }
                Err(e) => {
                    prop_assert!(bytes.len() <= SYM_OVERHEAD);
                    prop_assert_eq!(e, Error::TooShortCiphertext);
                }
            }
            // E4 public key: more than 72 bytes
            match SignedMessage::parse_pubkey(&bytes) {
                Ok(m) => {
                    prop_assert!(bytes.len() > 72);
                    let split = bytes.len() - 64;
                    prop_assert_eq!(m.ad, &bytes[..8]);
                    prop_assert_eq!(&m.sender.0[..], &bytes[8..24]);
                    prop_assert_eq!(m.signed, &bytes[..split]);
                    prop_assert_eq!(m.sig, &bytes[split..]);
                    match m.siv_part() {
                        Ok((siv, ct)) => {
                            prop_assert_eq!(&siv[..], &bytes[24..40]);
                            prop_assert_eq!(ct, &bytes[40..split]);
                        }
                        Err(Error::InvalidProtectedLen) => prop_assert!(split < 24),
                        Err(Error::TooShortCiphertext) => {
                            prop_assert!((24..40).contains(&split))
                        }
                        Err(e) => prop_assert!(false, "{:?}", e),
                    }
                }
                Err(e) => {
                    prop_assert!(bytes.len() <= 72);
                    prop_assert_eq!(e, Error::InvalidProtectedLen);
                }
            }
            // kem suites: ts | suite | sender | SIV | ct | sig
            if bytes.len() > 8 && suite_byte % 2 == 0 {
                // make the suite byte right half of the time
                bytes[8] = SuiteId::ALL[pick.index(SuiteId::ALL.len())].code();
            }
            for suite in SuiteId::ALL.into_iter().filter(|s| s.is_kem_suite()) {
                {
                    let sig_len = suite.params().signature;
                    match SignedMessage::parse_kem(&bytes, suite) {
                        Ok(m) => {
                            prop_assert!(bytes.len() >= KEM_HEADER + sig_len);
                            prop_assert_eq!(bytes[8], suite.code());
                            let split = bytes.len() - sig_len;
                            prop_assert_eq!(m.ad, &bytes[..9]);
                            prop_assert_eq!(&m.sender.0[..], &bytes[9..25]);
                            prop_assert_eq!(m.sig, &bytes[split..]);
                            let (siv, ct) = m
                                .siv_part()
                                .map_err(|e| TestCaseError::fail(format!("siv_part: {e:?}")))?;
                            prop_assert_eq!(&siv[..], &bytes[25..41]);
                            prop_assert_eq!(ct, &bytes[41..split]);
                        }
                        Err(Error::InvalidProtectedLen) => {
                            prop_assert!(bytes.len() < KEM_HEADER + sig_len)
                        }
                        Err(Error::UnsupportedSuite) => prop_assert!(bytes[8] != suite.code()),
                        Err(e) => prop_assert!(false, "{:?}", e),
                    }
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------
// One test per property and suite.
// ---------------------------------------------------------------------

macro_rules! per_suite {
    ($($name:ident => $suite:expr),* $(,)?) => {
        /// The suites covered below: every implemented suite compiled in.
        const COVERED: &[SuiteId] = &[$($suite),*];

        $(
            mod $name {
                use super::*;
                const SUITE: SuiteId = $suite;

                #[test]
                fn message_bit_flip_is_rejected() {
                    message_damage_is_rejected(SUITE, flips());
                }

                #[test]
                fn message_truncation_is_rejected() {
                    message_damage_is_rejected(SUITE, truncations());
                }

                #[test]
                fn command_bit_flip_is_rejected() {
                    command_damage_is_rejected(SUITE, flips());
                }

                #[test]
                fn command_truncation_is_rejected() {
                    command_damage_is_rejected(SUITE, truncations());
                }

                #[test]
                fn arbitrary_bytes_never_panic() {
                    arbitrary_bytes_never_panic_unprotect(SUITE);
                }

                #[test]
                fn every_bit_flip_and_truncation_of_a_message_is_rejected() {
                    every_damage_of_one_message_is_rejected(SUITE);
                }
            }
        )*
    };
}

per_suite! {
    symmetric => SuiteId::Symmetric,
    pubkey => SuiteId::PubKey,
    post_quantum => SuiteId::PostQuantum,
    pq_draft => SuiteId::PqDraft,
    hybrid => SuiteId::Hybrid,
}

#[test]
fn every_implemented_suite_is_covered() {
    for suite in suites() {
        assert!(COVERED.contains(&suite), "{suite} has no property tests");
    }
}
