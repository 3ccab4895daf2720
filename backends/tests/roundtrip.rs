//! Round trips through the client state machine for every suite compiled
//! in (`common::suites()`): topic messages, the eight commands, key transition, replay rejection, freshness
//! and message overhead.

mod common;

use common::*;
use e4_backends::provider;
use e4_proto::command::{opcode, Command};

use e4_proto::store::{PreviousKey, Store, TopicEntry};
use e4_proto::{Clock, Error, Id, Identity, SuiteId, SymKey, TopicHash};

/// Set both clients' clocks to `t`.
fn sync(a: &TestClient, b: &TestClient, t: u64) {
    a.clock().set(t);
    b.clock().set(t);
}

/// Advance a client's clock by `secs`.
fn tick(client: &TestClient, secs: u64) {
    client.clock().set(client.clock().now() + secs);
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn every_implemented_suite_is_tested() {
    let s = suites();
    for id in [
        SuiteId::Symmetric,
        SuiteId::PubKey,
        SuiteId::PostQuantum,
        SuiteId::PqDraft,
    ] {
        assert!(s.contains(&id), "{id} is not compiled in");
    }
}

#[test]
fn messages_round_trip_in_every_suite() {
    for suite in suites() {
        let key = SymKey::new([0x5a; 32]);
        let (c2, mut a, mut b) = pair(suite, &key);
        let before = snapshot(&b.client);
        for len in [0usize, 1, 16, 1000] {
            let pt = payload(len);
            let msg = protect(&a.client, TOPIC, &pt);
            let got = unprotect(&mut b.client, TOPIC, &msg);
            if suite == SuiteId::Symmetric && len == 0 {
                // E4 protects an empty payload but refuses to unprotect it.
                assert_eq!(got, Err(Error::TooShortCiphertext), "{suite}");
            } else {
                assert_eq!(got, Ok(pt), "{suite}, {len} bytes");
            }
        }
        // and the other way round
        let msg = protect(&b.client, TOPIC, b"pong");
        assert_eq!(unprotect(&mut a.client, TOPIC, &msg), Ok(b"pong".to_vec()));
        // messages never change the receiver's keys
        assert_eq!(snapshot(&b.client), before, "{suite}");

        // a topic the receiver has no key for
        let mut out = vec![0u8; 64 + a.client.overhead()];
        let mut other = new_party(suite, &format!("third {suite}"), &c2);
        let h = other.client.topic_hash("elsewhere");
        other.client.set_topic_key(&h, &key).unwrap();
        let n = other.client.protect("elsewhere", b"x", &mut out).unwrap();
        assert_eq!(
            unprotect(&mut b.client, "elsewhere", &out[..n]),
            Err(Error::TopicKeyNotFound),
            "{suite}"
        );
        // a sender the receiver has no public key for
        let h = b.client.topic_hash(TOPIC);
        other.client.set_topic_key(&h, &key).unwrap();
        let msg = protect(&other.client, TOPIC, b"from a stranger");
        let expect = if has_signatures(suite) {
            Err(Error::PubKeyNotFound)
        } else {
            Ok(b"from a stranger".to_vec())
        };
        assert_eq!(unprotect(&mut b.client, TOPIC, &msg), expect, "{suite}");
    }
}

#[test]
fn overhead_matches_the_format() {
    for suite in suites() {
        let (_c2, a, _b) = pair(suite, &SymKey::new([1; 32]));
        let expected = match suite {
            SuiteId::Symmetric => 24,
            SuiteId::PubKey => 104,
            _ => {
                let sig = provider().suite(suite).unwrap().sig().unwrap();
                if matches!(suite, SuiteId::PostQuantum | SuiteId::PqDraft) {
                    // ML-DSA-65 and the draft Dilithium3 both sign in 3309 bytes.
                    assert_eq!(sig.signature_len(), 3309, "{suite}");
                }
                41 + sig.signature_len()
            }
        };
        assert_eq!(a.client.overhead(), expected, "{suite}");
        // The suite table agrees with the provider's algorithms.
        assert_eq!(suite.message_overhead(), expected, "{suite}");
        assert_eq!(suite.params().signature, sig_len(suite), "{suite}");
        for len in [0usize, 1, 16, 1000] {
            let msg = protect(&a.client, TOPIC, &payload(len));
            assert_eq!(msg.len(), len + expected, "{suite}, {len} bytes");
        }
        // a buffer one byte short is refused
        let mut out = vec![0u8; 15 + expected];
        assert_eq!(
            a.client.protect(TOPIC, &payload(16), &mut out),
            Err(Error::BufferTooSmall)
        );
    }
}

fn sig_len(suite: SuiteId) -> usize {
    provider()
        .suite(suite)
        .unwrap()
        .sig
        .map_or(0, |s| s.signature_len())
}

/// Protect `cmd` for `client` at its clock and apply it.
fn deliver(c2: &C2, client: &mut TestClient, cmd: &Command<'_>) -> Result<u8, Error> {
    let msg = c2.command(client, cmd);
    apply(client, &msg)
}

/// Apply `cmd` (encoded) to `client` one second after the previous command.
fn send(c2: &C2, client: &mut TestClient, cmd: &Command<'_>) -> Result<u8, Error> {
    tick(client, 1);
    let msg = c2.command(client, cmd);
    apply(client, &msg)
}

/// Apply `cmd` and check that it failed with `err` and changed nothing.
fn refused(c2: &C2, client: &mut TestClient, cmd: &Command<'_>, err: Error) {
    let before = snapshot(client);
    assert_eq!(send(c2, client, cmd), Err(err), "{:?}", cmd);
    assert_eq!(snapshot(client), before, "{:?} changed the state", cmd);
}

#[test]
fn every_command_has_its_effect_in_every_suite() {
    for suite in suites() {
        let c2 = new_c2(suite, &mut rng(&format!("cmd c2 {suite}")));
        let mut dev = new_party(suite, &format!("cmd device {suite}"), &c2).client;
        let mut r = rng(&format!("cmd keys {suite}"));
        let h1 = dev.topic_hash("a/b");
        let h2 = dev.topic_hash("c/d");
        let (k1, k2) = (random_key(&mut r), random_key(&mut r));

        // SetTopicKey: a new topic has no previous key
        let cmd = Command::SetTopicKey {
            key: &k1,
            topic: h1,
        };
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
        let expected = TopicEntry {
            key: SymKey::new(k1),
            previous: None,
        };
        assert_eq!(dev.store().topic(&h1), Some(&expected), "{suite}");
        // a new key keeps the old one, stamped with the local clock
        let cmd = Command::SetTopicKey {
            key: &k2,
            topic: h1,
        };
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
        let expected = TopicEntry {
            key: SymKey::new(k2),
            previous: Some(PreviousKey {
                key: SymKey::new(k1),
                set_at: dev.clock().now(),
            }),
        };
        assert_eq!(dev.store().topic(&h1), Some(&expected), "{suite}");
        // re-sending the current key changes nothing
        let before = snapshot(&dev);
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
        assert_eq!(snapshot(&dev), before, "{suite}");
        let cmd = Command::SetTopicKey {
            key: &k1,
            topic: h2,
        };
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
        assert_eq!(dev.store().topic_count(), 2);

        // RemoveTopic drops the topic (and its previous key), not the others
        let cmd = Command::RemoveTopic(h1);
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::REMOVE_TOPIC));
        assert_eq!(dev.store().topic(&h1), None, "{suite}");
        assert!(dev.store().topic(&h2).is_some(), "{suite}");
        // removing an absent topic is not an error
        let cmd = Command::RemoveTopic(TopicHash([0xee; 16]));
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::REMOVE_TOPIC));
        assert_eq!(dev.store().topic_count(), 1);

        // ResetTopics
        let cmd = Command::SetTopicKey {
            key: &k2,
            topic: h1,
        };
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
        assert_eq!(dev.store().topic_count(), 2);
        assert_eq!(
            send(&c2, &mut dev, &Command::ResetTopics),
            Ok(opcode::RESET_TOPICS)
        );
        assert_eq!(dev.store().topic_count(), 0, "{suite}");

        // the public-key commands
        let l = lengths(suite);
        let pk_a = random_bytes(&mut r, l.pubkey);
        let pk_b = random_bytes(&mut r, l.pubkey);
        let zero = vec![0u8; l.pubkey];
        let (id_a, id_b) = (Id([0xa0; 16]), Id([0xb0; 16]));
        let set_a = Command::SetPubKey {
            key: &pk_a,
            id: id_a,
        };
        let set_b = Command::SetPubKey {
            key: &pk_b,
            id: id_b,
        };
        let set_zero = Command::SetPubKey {
            key: &zero,
            id: Id([0xc0; 16]),
        };
        let c2_key = vec![0x42u8; l.c2_key];
        if suite == SuiteId::Symmetric {
            let unsupported = Error::UnsupportedOperation;
            refused(&c2, &mut dev, &set_a, unsupported);
            refused(&c2, &mut dev, &Command::RemovePubKey(id_a), unsupported);
            refused(&c2, &mut dev, &Command::ResetPubKeys, unsupported);
            refused(&c2, &mut dev, &Command::SetC2Key(&c2_key), unsupported);
        } else {
            assert_eq!(send(&c2, &mut dev, &set_a), Ok(opcode::SET_PUB_KEY));
            assert_eq!(send(&c2, &mut dev, &set_b), Ok(opcode::SET_PUB_KEY));
            assert_eq!(dev.store().pubkey(&id_a), Some(&pk_a[..]), "{suite}");
            assert_eq!(dev.store().pubkey(&id_b), Some(&pk_b[..]), "{suite}");
            // e4go: an all-zero key is accepted and not stored
            let before = snapshot(&dev);
            assert_eq!(send(&c2, &mut dev, &set_zero), Ok(opcode::SET_PUB_KEY));
            assert_eq!(snapshot(&dev), before, "{suite}");

            let cmd = Command::RemovePubKey(id_a);
            assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::REMOVE_PUB_KEY));
            assert_eq!(dev.store().pubkey(&id_a), None, "{suite}");
            assert_eq!(dev.store().pubkey_count(), 1, "{suite}");
            refused(&c2, &mut dev, &cmd, Error::PubKeyNotFound);

            assert_eq!(send(&c2, &mut dev, &set_a), Ok(opcode::SET_PUB_KEY));
            assert_eq!(
                send(&c2, &mut dev, &Command::ResetPubKeys),
                Ok(opcode::RESET_PUB_KEYS)
            );
            assert_eq!(dev.store().pubkey_count(), 0, "{suite}");
        }

        // SetIdKey
        match new_id_key(suite, &mut r) {
            Some(new_key) => {
                // a command sealed under the current key, delivered late
                let stale = {
                    let cmd = Command::SetTopicKey {
                        key: &k1,
                        topic: h1,
                    };
                    tick(&dev, 1);
                    c2.command(&dev, &cmd)
                };
                let cmd = Command::SetIdKey(&new_key);
                assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_ID_KEY));
                match dev.identity() {
                    Identity::Symmetric(k) => assert_eq!(k.as_bytes()[..], new_key[..]),
                    Identity::PubKey { signing, c2_public } => {
                        assert_eq!(signing.as_bytes()[..], new_key[..]);
                        assert_eq!(c2_public[..], c2.public()[..]);
                    }
                    other => panic!("{suite}: {other:?}"),
                }
                // the old command key is gone, the new one works
                let before = snapshot(&dev);
                assert_eq!(apply(&mut dev, &stale), Err(Error::NotAuthentic));
                assert_eq!(snapshot(&dev), before);
                let cmd = Command::SetTopicKey {
                    key: &k1,
                    topic: h1,
                };
                assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
                // an all-zero key is refused
                let zero = vec![0u8; new_key.len()];
                refused(
                    &c2,
                    &mut dev,
                    &Command::SetIdKey(&zero),
                    Error::InvalidArgument,
                );
            }
            None => {
                let key = [7u8; 32];
                refused(
                    &c2,
                    &mut dev,
                    &Command::SetIdKey(&key),
                    Error::UnsupportedOperation,
                );
            }
        }

        // SetC2Key: the new C2 is obeyed, the old one no longer
        if suite != SuiteId::Symmetric {
            let new_c2 = new_c2(suite, &mut rng(&format!("new c2 {suite}")));
            let new_public = new_c2.public();
            let cmd = Command::SetC2Key(&new_public);
            assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_C2_KEY));
            match dev.identity() {
                Identity::PubKey { c2_public, .. } => assert_eq!(c2_public[..], new_public[..]),
                Identity::Kem(k) => assert_eq!(k.c2_sig_pk, new_public),
                other => panic!("{suite}: {other:?}"),
            }
            let cmd = Command::SetTopicKey {
                key: &k2,
                topic: h2,
            };
            let old_c2_err = if suite == SuiteId::PubKey {
                Error::NotAuthentic
            } else {
                Error::InvalidSignature
            };
            refused(&c2, &mut dev, &cmd, old_c2_err);
            assert_eq!(send(&new_c2, &mut dev, &cmd), Ok(opcode::SET_TOPIC_KEY));
            assert_eq!(
                dev.store().topic(&h2).map(|e| e.key.clone()),
                Some(SymKey::new(k2))
            );
            let zero = vec![0u8; l.c2_key];
            refused(
                &new_c2,
                &mut dev,
                &Command::SetC2Key(&zero),
                Error::InvalidArgument,
            );
        }
    }
}

#[test]
fn commands_are_checked_for_freshness() {
    for suite in suites() {
        let c2 = new_c2(suite, &mut rng(&format!("fresh c2 {suite}")));
        let mut dev = new_party(suite, &format!("fresh device {suite}"), &c2).client;
        let before = snapshot(&dev);
        let cmd = Command::ResetTopics.to_vec();
        let now = dev.clock().now();
        let old = c2.protect(&dev, now - 600, &cmd);
        assert_eq!(
            apply(&mut dev, &old),
            Err(Error::TimestampTooOld),
            "{suite}"
        );
        let future = c2.protect(&dev, now + 1, &cmd);
        assert_eq!(
            apply(&mut dev, &future),
            Err(Error::TimestampInFuture),
            "{suite}"
        );
        assert_eq!(snapshot(&dev), before);
        let ok = c2.protect(&dev, now - 599, &cmd);
        assert_eq!(apply(&mut dev, &ok), Ok(opcode::RESET_TOPICS), "{suite}");
    }
}

#[test]
fn previous_key_is_accepted_for_the_transition_period_only() {
    for suite in suites() {
        let old = SymKey::new([0x11; 32]);
        let new = [0x22u8; 32];
        let (c2, mut a, mut b) = pair(suite, &old);
        let h = b.client.topic_hash(TOPIC);
        let set_new = Command::SetTopicKey {
            key: &new,
            topic: h,
        };
        assert_eq!(deliver(&c2, &mut b.client, &set_new), Ok(3));
        let entry = b.client.store().topic(&h).unwrap().clone();
        assert_eq!(entry.previous.as_ref().map(|p| p.set_at), Some(NOW));

        // re-sending the current key during the transition changes nothing
        sync(&a.client, &b.client, NOW + 10);
        assert_eq!(deliver(&c2, &mut b.client, &set_new), Ok(3));
        assert_eq!(b.client.store().topic(&h), Some(&entry), "{suite}");

        // within the period a key that was never the topic's is not authentic
        sync(&a.client, &b.client, NOW + 3599);
        a.client
            .set_topic_key(&h, &SymKey::new([0x33; 32]))
            .unwrap();
        let msg = protect(&a.client, TOPIC, b"wrong");
        a.client.set_topic_key(&h, &old).unwrap();
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Err(Error::NotAuthentic),
            "{suite}"
        );
        // the sender still uses the old key

        let msg = protect(&a.client, TOPIC, b"late");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Ok(b"late".to_vec()),
            "{suite}"
        );
        sync(&a.client, &b.client, NOW + 3600);
        let msg = protect(&a.client, TOPIC, b"too late");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Err(Error::TimestampTooOld),
            "{suite}"
        );
        // after the period, any key but the current one fails on the age
        // of the previous key (as e4go)
        a.client
            .set_topic_key(&h, &SymKey::new([0x33; 32]))
            .unwrap();
        let msg = protect(&a.client, TOPIC, b"wrong");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Err(Error::TimestampTooOld),
            "{suite}"
        );
        // the new key works
        a.client.set_topic_key(&h, &SymKey::new(new)).unwrap();
        let msg = protect(&a.client, TOPIC, b"current");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Ok(b"current".to_vec()),
            "{suite}"
        );
        assert_eq!(b.client.store().topic(&h), Some(&entry), "{suite}");
    }
}

#[test]
fn remove_and_reset_topics_drop_the_previous_key() {
    for suite in suites() {
        let old = SymKey::new([0x11; 32]);
        let new = [0x22u8; 32];
        let (c2, a, mut b) = pair(suite, &old);
        let h = b.client.topic_hash(TOPIC);
        let set_new = Command::SetTopicKey {
            key: &new,
            topic: h,
        };
        let mut t = NOW;
        for drop in [Command::RemoveTopic(h), Command::ResetTopics] {
            b.client.set_topic_key(&h, &old).unwrap();
            t += 1;
            sync(&a.client, &b.client, t);
            assert_eq!(deliver(&c2, &mut b.client, &set_new), Ok(3));
            t += 1;
            sync(&a.client, &b.client, t);
            let msg = protect(&a.client, TOPIC, b"old key");
            assert_eq!(
                unprotect(&mut b.client, TOPIC, &msg),
                Ok(b"old key".to_vec()),
                "{suite}"
            );
            t += 1;
            sync(&a.client, &b.client, t);
            assert_eq!(deliver(&c2, &mut b.client, &drop), Ok(drop.opcode()));
            assert_eq!(b.client.store().topic(&h), None, "{suite}");
            t += 1;
            sync(&a.client, &b.client, t);
            assert_eq!(deliver(&c2, &mut b.client, &set_new), Ok(3));
            assert_eq!(
                b.client.store().topic(&h).unwrap().previous,
                None,
                "{suite}: {drop:?}"
            );
            t += 1;
            sync(&a.client, &b.client, t);
            let msg = protect(&a.client, TOPIC, b"old key again");
            assert_eq!(
                unprotect(&mut b.client, TOPIC, &msg),
                Err(Error::NotAuthentic),
                "{suite}: {drop:?}"
            );
        }
    }
}

#[test]
fn replays_are_refused_by_default_and_accepted_when_off() {
    for suite in suites() {
        let (c2, a, mut b) = pair(suite, &SymKey::new([0x44; 32]));
        assert!(b.client.replay_protection());
        let msg = protect(&a.client, TOPIC, b"once");
        assert_eq!(unprotect(&mut b.client, TOPIC, &msg), Ok(b"once".to_vec()));
        let before = snapshot(&b.client);
        let mut out = vec![0xffu8; msg.len()];
        assert_eq!(
            b.client.unprotect(TOPIC, &msg, &mut out),
            Err(Error::Replayed),
            "{suite}"
        );
        assert!(
            out[..4].iter().all(|&x| x == 0),
            "{suite}: plaintext left in out"
        );
        assert_eq!(snapshot(&b.client), before);
        // another message of the same second is not a replay
        let msg2 = protect(&a.client, TOPIC, b"twice");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg2),
            Ok(b"twice".to_vec())
        );

        // commands too
        let h = TopicHash([0x77; 16]);
        let key = [0x55u8; 32];
        let cmd = c2.command(
            &b.client,
            &Command::SetTopicKey {
                key: &key,
                topic: h,
            },
        );
        assert_eq!(apply(&mut b.client, &cmd), Ok(3));
        b.client
            .set_topic_key(&h, &SymKey::new([0x66; 32]))
            .unwrap();
        let before = snapshot(&b.client);
        assert_eq!(apply(&mut b.client, &cmd), Err(Error::Replayed), "{suite}");
        assert_eq!(
            snapshot(&b.client),
            before,
            "{suite}: a replayed command was applied"
        );

        // e4go's behaviour: no replay rejection
        b.client.set_replay_protection(false);
        assert!(!b.client.replay_protection());
        for _ in 0..2 {
            assert_eq!(
                unprotect(&mut b.client, TOPIC, &msg),
                Ok(b"once".to_vec()),
                "{suite}"
            );
        }
        assert_eq!(apply(&mut b.client, &cmd), Ok(3), "{suite}");
        assert_eq!(
            b.client.store().topic(&h).map(|e| e.key.clone()),
            Some(SymKey::new(key))
        );
        // and back on: a fresh cache
        b.client.set_replay_protection(true);
        assert_eq!(unprotect(&mut b.client, TOPIC, &msg), Ok(b"once".to_vec()));
        assert_eq!(unprotect(&mut b.client, TOPIC, &msg), Err(Error::Replayed));
    }
}

#[test]
fn messages_outside_the_window_are_refused() {
    for suite in suites() {
        let (_c2, a, mut b) = pair(suite, &SymKey::new([0x21; 32]));
        a.client.clock().set(NOW - 600);
        let msg = protect(&a.client, TOPIC, b"old");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Err(Error::TimestampTooOld),
            "{suite}"
        );
        a.client.clock().set(NOW + 1);
        let msg = protect(&a.client, TOPIC, b"future");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Err(Error::TimestampInFuture),
            "{suite}"
        );
        a.client.clock().set(NOW - 599);
        let msg = protect(&a.client, TOPIC, b"just in time");
        assert_eq!(
            unprotect(&mut b.client, TOPIC, &msg),
            Ok(b"just in time".to_vec()),
            "{suite}"
        );
    }
}

#[test]
fn messages_and_commands_are_not_interchangeable() {
    // The control topic is recognised by name: a topic message published
    // there is processed as a command and refused, and a command published
    // on a data topic is processed as a topic message and refused.
    for suite in suites() {
        let (c2, mut a, mut b) = pair(suite, &SymKey::new([0x31; 32]));
        let control = b.client.control_topic().as_str().to_owned();
        let h = a.client.topic_hash(&control);
        a.client
            .set_topic_key(&h, &SymKey::new([0x31; 32]))
            .unwrap();
        let msg = protect(&a.client, &control, &[opcode::RESET_TOPICS]);
        let before = snapshot(&b.client);
        assert_ne!(before.topics.len(), 0);
        let expected = if suite.is_kem_suite() {
            // shorter than the smallest kem command envelope
            Error::TooShortCiphertext
        } else {
            Error::NotAuthentic
        };
        assert_eq!(apply(&mut b.client, &msg), Err(expected), "{suite}");
        assert_eq!(snapshot(&b.client), before, "{suite}");

        let cmd = c2.command(&b.client, &Command::ResetTopics);
        let mut out = vec![0u8; cmd.len()];
        let r = b.client.unprotect(TOPIC, &cmd, &mut out);
        assert!(
            matches!(
                r,
                Err(Error::NotAuthentic | Error::PubKeyNotFound | Error::InvalidProtectedLen)
            ),
            "{suite}: {r:?}"
        );
        assert_eq!(snapshot(&b.client), before, "{suite}");
        // delivered where it belongs, it is applied
        assert_eq!(apply(&mut b.client, &cmd), Ok(opcode::RESET_TOPICS));
        assert_eq!(b.client.store().topic_count(), 0, "{suite}");
    }
}

/// The suite table of `e4-proto` (sizes every crate derives its formats
/// from) is what the provider's algorithms produce.
#[test]
fn the_suite_table_matches_the_algorithms() {
    for s in provider().suites {
        let p = s.id.params();
        match s.sig {
            Some(sig) => {
                assert_eq!(sig.public_key_len(), p.sig_public_key, "{}", s.id);
                assert_eq!(sig.secret_key_len(), p.sig_secret_key, "{}", s.id);
                assert_eq!(sig.signature_len(), p.signature, "{}", s.id);
            }
            None => assert_eq!((p.sig_public_key, p.signature), (0, 0), "{}", s.id),
        }
        match s.kem {
            Some(kem) => {
                assert_eq!(kem.public_key_len(), p.kem_public_key, "{}", s.id);
                assert_eq!(kem.secret_key_len(), p.kem_secret_key, "{}", s.id);
                assert_eq!(kem.ciphertext_len(), p.kem_ciphertext, "{}", s.id);
            }
            None => assert_eq!((p.kem_public_key, p.kem_ciphertext), (0, 0), "{}", s.id),
        }
        assert_eq!(
            s.x25519.is_some(),
            s.id.family() == e4_proto::Family::E4PublicKey,
            "{}",
            s.id
        );
    }
}
