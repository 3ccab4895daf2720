//! Tamper and truncation properties (proptest), per provider and suite: any
//! single-bit flip or truncation of a protected topic message or command is
//! refused and leaves the client's state unchanged, and the genuine bytes
//! are accepted afterwards. (backends/tests/tamper_props.rs goes deeper
//! with the default provider: exhaustive flips, arbitrary bytes, parsers.)
//!
//! `PROPTEST_CASES` overrides the number of cases per property.

use e4_proto::command::Command;
use e4_proto::store::Store;
use e4_proto::{Error, Id, SuiteId, SymKey, TopicHash};
use e4_testkit::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;

/// Cases per property: kem suites sign and verify kilobyte signatures.
fn cases(suite: SuiteId) -> u32 {
    let default = if suite.is_kem_suite() { 24 } else { 96 };
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn check<S: Strategy>(
    what: &str,
    suite: SuiteId,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(cases(suite))
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{what}: {e}");
    }
}

/// How genuine bytes are damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Flip this bit (modulo the bit length).
    Flip(Index),
    /// Keep this many bytes (modulo the length).
    Truncate(Index),
}

impl Damage {
    fn apply(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Damage::Flip(i) => {
                let bit = i.index(msg.len() * 8);
                let mut bad = msg.to_vec();
                bad[bit / 8] ^= 1 << (bit % 8);
                bad
            }
            Damage::Truncate(i) => msg[..i.index(msg.len())].to_vec(),
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Flip),
        any::<Index>().prop_map(Damage::Truncate),
    ]
}

conformance!(damaged_messages_are_refused, |provider, suite| {
    let (_c2, a, b) = pair(provider, suite, &SymKey::new([0x3c; 32]));
    let link = RefCell::new((a.client, b.client, NOW));
    check(
        "topic message",
        suite,
        (vec(any::<u8>(), 1..64), damage()),
        |(pt, damage)| {
            let mut l = link.borrow_mut();
            // one second per case: the receiver's replay cache never refuses
            // a genuine message
            l.2 += 1;
            let t = l.2;
            l.0.clock().set(t);
            l.1.clock().set(t);
            let msg = protect(&l.0, TOPIC, &pt);
            let bad = damage.apply(&msg);
            let before = snapshot(&l.1);
            let r = unprotect(&mut l.1, TOPIC, &bad);
            prop_assert!(r.is_err(), "{:?} accepted: {:?}", damage, r);
            prop_assert_eq!(&snapshot(&l.1), &before);
            prop_assert_eq!(unprotect(&mut l.1, TOPIC, &msg), Ok(pt));
            prop_assert_eq!(&snapshot(&l.1), &before);
            Ok(())
        },
    );
});

/// A command from fuzz material: SetTopicKey, RemoveTopic, ResetTopics,
/// then SetIdKey (symmetric) or SetPubKey (the others).
fn command_of<'a>(
    suite: SuiteId,
    (kind, key, hash, pk): &'a (u8, [u8; 32], [u8; 16], Vec<u8>),
) -> Command<'a> {
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

conformance!(damaged_commands_are_refused, |provider, suite| {
    let c2 = C2::new(provider, suite, &mut rng(&format!("tamper c2 {suite}")));
    let mut dev = Party::new(provider, suite, &format!("tamper device {suite}"), &c2).client;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let h = dev.topic_hash(name);
        dev.set_topic_key(&h, &SymKey::new([i as u8 + 1; 32]))
            .unwrap();
    }
    let state = RefCell::new((dev, NOW));
    let pk_len = suite.command_lengths().pubkey;
    let seeds = (
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
    );
    check("command", suite, (seeds, damage()), |(seed, damage)| {
        let mut s = state.borrow_mut();
        s.1 += 1;
        let t = s.1;
        s.0.clock().set(t);
        let cmd = command_of(suite, &seed);
        let sealed = c2.protect(&s.0, t, &cmd.to_vec());
        let bad = damage.apply(&sealed);
        let before = snapshot(&s.0);
        let r = apply(&mut s.0, &bad);
        prop_assert!(r.is_err(), "{:?} of {:?} accepted: {:?}", damage, cmd, r);
        prop_assert_eq!(&snapshot(&s.0), &before);
        // the genuine command is still accepted, and applied
        prop_assert_eq!(apply(&mut s.0, &sealed), Ok(cmd.opcode()));
        if let Command::SetTopicKey { key, topic } = cmd {
            let got = s.0.store().topic(&topic).map(|e| e.key.clone());
            prop_assert_eq!(got, Some(SymKey::new(*key)));
        }
        Ok(())
    });
});

conformance!(replays_are_tracked_per_sender, |provider, suite| {
    // Two members publish the same payload in the same second: in the
    // signed formats the SIV is the same (the sender is not part of it).
    let key = SymKey::new([0x24; 32]);
    let (c2, a, mut r) = pair(provider, suite, &key);
    let mut b = Party::new(provider, suite, &format!("second sender {suite}"), &c2);
    b.join(TOPIC, &key);
    r.trust(&b);
    let from_a = protect(&a.client, TOPIC, b"ON");
    let from_b = protect(&b.client, TOPIC, b"ON");
    assert_eq!(unprotect(&mut r.client, TOPIC, &from_a).unwrap(), b"ON");
    if suite.signs_messages() {
        assert_ne!(from_a, from_b);
        // b's genuine message is its own, not a replay of a's
        assert_eq!(unprotect(&mut r.client, TOPIC, &from_b).unwrap(), b"ON");
        assert_eq!(
            unprotect(&mut r.client, TOPIC, &from_b),
            Err(Error::Replayed)
        );
    } else {
        // symmetric messages carry no sender: the same bytes are one message
        assert_eq!(from_a, from_b);
    }
    assert_eq!(
        unprotect(&mut r.client, TOPIC, &from_a),
        Err(Error::Replayed)
    );
});
