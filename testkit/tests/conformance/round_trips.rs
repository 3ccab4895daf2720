//! Round trips through the client state machine: topic messages, every
//! command of the suite (sealed by the C2 side with
//! `e4_proto::c2::seal_command_vec`, applied by `Client::unprotect` on the
//! control topic), key transition.

use e4_proto::command::{opcode, Command};
use e4_proto::store::{PreviousKey, Store, TopicEntry};
use e4_proto::{Clock, Error, Id, Identity, SuiteId, SymKey};
use e4_testkit::*;

/// Move both clients' clocks to `t`.
fn sync(a: &TestClient, b: &TestClient, t: u64) {
    a.clock().set(t);
    b.clock().set(t);
}

conformance!(messages_round_trip, |provider, suite| {
    let key = SymKey::new([0x5a; 32]);
    let (_c2, mut a, mut b) = pair(provider, suite, &key);
    let before = snapshot(&b.client);
    for len in [0usize, 1, 16, 1000] {
        let pt = payload(len);
        let msg = protect(&a.client, TOPIC, &pt);
        let got = unprotect(&mut b.client, TOPIC, &msg);
        if suite == SuiteId::Symmetric && len == 0 {
            // E4 protects an empty payload but refuses to unprotect it.
            assert_eq!(got, Err(Error::TooShortCiphertext));
        } else {
            assert_eq!(got, Ok(pt), "{len} bytes");
        }
    }
    // and the other way round
    let msg = protect(&b.client, TOPIC, b"pong");
    assert_eq!(unprotect(&mut a.client, TOPIC, &msg), Ok(b"pong".to_vec()));
    // messages never change the receiver's keys
    assert_eq!(snapshot(&b.client), before);
    // a topic the receiver has no key for
    let h = a.client.topic_hash("elsewhere");
    a.client.set_topic_key(&h, &key).unwrap();
    let msg = protect(&a.client, "elsewhere", b"x");
    assert_eq!(
        unprotect(&mut b.client, "elsewhere", &msg),
        Err(Error::TopicKeyNotFound)
    );
});

/// Seal `cmd` for `dev` one second after its last command and apply it.
fn send(c2: &C2, dev: &mut TestClient, cmd: &Command<'_>) -> Result<u8, Error> {
    dev.clock().set(dev.clock().now() + 1);
    let sealed = c2.command(dev, cmd);
    apply(dev, &sealed)
}

/// `cmd` fails with `err` and changes nothing.
fn refused(c2: &C2, dev: &mut TestClient, cmd: &Command<'_>, err: Error) {
    let before = snapshot(dev);
    assert_eq!(send(c2, dev, cmd), Err(err), "{cmd:?}");
    assert_eq!(snapshot(dev), before, "{cmd:?} changed the state");
}

conformance!(every_command_round_trips, |provider, suite| {
    let c2 = C2::new(provider, suite, &mut rng(&format!("cmd c2 {suite}")));
    let mut dev = Party::new(provider, suite, &format!("cmd device {suite}"), &c2).client;
    let mut r = rng(&format!("cmd keys {suite}"));
    let (h1, h2) = (dev.topic_hash("a/b"), dev.topic_hash("c/d"));
    let (k1, k2) = (random_key(&mut r), random_key(&mut r));
    let supported = |op: u8| suite.command_len(op).is_some();
    for op in [
        opcode::REMOVE_TOPIC,
        opcode::RESET_TOPICS,
        opcode::SET_TOPIC_KEY,
    ] {
        assert!(supported(op), "every suite has opcode {op}");
    }

    // SetTopicKey, then a new key: the old one is kept, stamped with the
    // device's clock
    let set1 = Command::SetTopicKey {
        key: &k1,
        topic: h1,
    };
    assert_eq!(send(&c2, &mut dev, &set1), Ok(opcode::SET_TOPIC_KEY));
    let first = TopicEntry {
        key: SymKey::new(k1),
        previous: None,
    };
    assert_eq!(dev.store().topic(&h1), Some(&first));
    let set2 = Command::SetTopicKey {
        key: &k2,
        topic: h1,
    };
    assert_eq!(send(&c2, &mut dev, &set2), Ok(opcode::SET_TOPIC_KEY));
    let second = TopicEntry {
        key: SymKey::new(k2),
        previous: Some(PreviousKey {
            key: SymKey::new(k1),
            set_at: dev.clock().now(),
        }),
    };
    assert_eq!(dev.store().topic(&h1), Some(&second));
    let set3 = Command::SetTopicKey {
        key: &k1,
        topic: h2,
    };
    assert_eq!(send(&c2, &mut dev, &set3), Ok(opcode::SET_TOPIC_KEY));
    // RemoveTopic drops one topic, ResetTopics every topic
    let cmd = Command::RemoveTopic(h1);
    assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::REMOVE_TOPIC));
    assert_eq!(dev.store().topic(&h1), None);
    assert_eq!(dev.store().topic_count(), 1);
    assert_eq!(
        send(&c2, &mut dev, &Command::ResetTopics),
        Ok(opcode::RESET_TOPICS)
    );
    assert_eq!(dev.store().topic_count(), 0);

    // the public-key commands
    let l = suite.command_lengths();
    let pk_a = random_bytes(&mut r, l.pubkey);
    let id_a = Id([0xa0; 16]);
    let set_a = Command::SetPubKey {
        key: &pk_a,
        id: id_a,
    };
    let new_c2 = C2::new(provider, suite, &mut rng(&format!("new c2 {suite}")));
    let new_public = new_c2.public();
    let other_c2_key = vec![0x42u8; l.c2_key];
    if supported(opcode::SET_PUB_KEY) {
        assert!(l.pubkey_ops);
        assert_eq!(send(&c2, &mut dev, &set_a), Ok(opcode::SET_PUB_KEY));
        assert_eq!(dev.store().pubkey(&id_a), Some(&pk_a[..]));
        let remove = Command::RemovePubKey(id_a);
        assert_eq!(send(&c2, &mut dev, &remove), Ok(opcode::REMOVE_PUB_KEY));
        assert_eq!(dev.store().pubkey(&id_a), None);
        refused(&c2, &mut dev, &remove, Error::PubKeyNotFound);
        assert_eq!(send(&c2, &mut dev, &set_a), Ok(opcode::SET_PUB_KEY));
        assert_eq!(
            send(&c2, &mut dev, &Command::ResetPubKeys),
            Ok(opcode::RESET_PUB_KEYS)
        );
        assert_eq!(dev.store().pubkey_count(), 0);
    } else {
        assert_eq!(suite, SuiteId::Symmetric);
        for cmd in [
            set_a,
            Command::RemovePubKey(id_a),
            Command::ResetPubKeys,
            Command::SetC2Key(&other_c2_key),
        ] {
            assert!(!supported(cmd.opcode()));
            refused(&c2, &mut dev, &cmd, Error::UnsupportedOperation);
        }
    }

    // SetIdKey: the new key is the device's, C2's commands under the old
    // one are refused
    match new_id_key(provider, suite, &mut r) {
        Some(new_key) => {
            assert!(supported(opcode::SET_ID_KEY));
            dev.clock().set(dev.clock().now() + 1);
            let stale = c2.command(&dev, &set1);
            let cmd = Command::SetIdKey(&new_key);
            assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_ID_KEY));
            match dev.identity() {
                Identity::Symmetric(k) => assert_eq!(k.as_bytes()[..], new_key[..]),
                Identity::PubKey { signing, c2_public } => {
                    assert_eq!(signing.as_bytes()[..], new_key[..]);
                    assert_eq!(c2_public[..], c2.public()[..]);
                }
                other => panic!("{other:?}"),
            }
            let before = snapshot(&dev);
            assert_eq!(apply(&mut dev, &stale), Err(Error::NotAuthentic));
            assert_eq!(snapshot(&dev), before);
            // C2 seals for the new key
            assert_eq!(send(&c2, &mut dev, &set1), Ok(opcode::SET_TOPIC_KEY));
        }
        None => {
            assert!(!supported(opcode::SET_ID_KEY));
            refused(
                &c2,
                &mut dev,
                &Command::SetIdKey(&[7u8; 32]),
                Error::UnsupportedOperation,
            );
        }
    }

    // SetC2Key: the new C2 is obeyed, the old one no longer
    if supported(opcode::SET_C2_KEY) {
        let cmd = Command::SetC2Key(&new_public);
        assert_eq!(send(&c2, &mut dev, &cmd), Ok(opcode::SET_C2_KEY));
        match dev.identity() {
            Identity::PubKey { c2_public, .. } => assert_eq!(c2_public[..], new_public[..]),
            Identity::Kem(k) => assert_eq!(k.c2_sig_pk, new_public),
            other => panic!("{other:?}"),
        }
        let old_c2 = if suite == SuiteId::PubKey {
            Error::NotAuthentic
        } else {
            Error::InvalidSignature
        };
        refused(&c2, &mut dev, &set3, old_c2);
        assert_eq!(send(&new_c2, &mut dev, &set3), Ok(opcode::SET_TOPIC_KEY));
        assert_eq!(
            dev.store().topic(&h2).map(|e| e.key.clone()),
            Some(SymKey::new(k1))
        );
    }
});

conformance!(key_transition, |provider, suite| {
    let old = SymKey::new([0x11; 32]);
    let new = [0x22u8; 32];
    let (c2, mut a, mut b) = pair(provider, suite, &old);
    let h = b.client.topic_hash(TOPIC);
    let rotate = Command::SetTopicKey {
        key: &new,
        topic: h,
    };
    let sealed = c2.command(&b.client, &rotate);
    assert_eq!(apply(&mut b.client, &sealed), Ok(opcode::SET_TOPIC_KEY));
    let entry = b.client.store().topic(&h).unwrap().clone();
    assert_eq!(entry.previous.as_ref().map(|p| p.set_at), Some(NOW));

    // the sender still has the old key: accepted for 3600 s
    sync(&a.client, &b.client, NOW + 3599);
    let msg = protect(&a.client, TOPIC, b"late");
    assert_eq!(unprotect(&mut b.client, TOPIC, &msg), Ok(b"late".to_vec()));
    sync(&a.client, &b.client, NOW + 3600);
    let msg = protect(&a.client, TOPIC, b"too late");
    assert_eq!(
        unprotect(&mut b.client, TOPIC, &msg),
        Err(Error::TimestampTooOld)
    );
    // the new key works
    a.client.set_topic_key(&h, &SymKey::new(new)).unwrap();
    let msg = protect(&a.client, TOPIC, b"current");
    assert_eq!(
        unprotect(&mut b.client, TOPIC, &msg),
        Ok(b"current".to_vec())
    );
    assert_eq!(b.client.store().topic(&h), Some(&entry));

    // within the period, a key that was never the topic's is not authentic
    // (and the old one still is)
    let (c2, mut c, mut d) = pair(provider, suite, &old);
    let sealed = c2.command(&d.client, &rotate);
    assert_eq!(apply(&mut d.client, &sealed), Ok(opcode::SET_TOPIC_KEY));
    sync(&c.client, &d.client, NOW + 10);
    c.client
        .set_topic_key(&h, &SymKey::new([0x33; 32]))
        .unwrap();
    let msg = protect(&c.client, TOPIC, b"wrong");
    assert_eq!(
        unprotect(&mut d.client, TOPIC, &msg),
        Err(Error::NotAuthentic)
    );
    c.client.set_topic_key(&h, &old).unwrap();
    let msg = protect(&c.client, TOPIC, b"old");
    assert_eq!(unprotect(&mut d.client, TOPIC, &msg), Ok(b"old".to_vec()));
});
