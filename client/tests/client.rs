//! The library client: e4go constructors and vectors, every suite, commands,
//! key transition, replay rejection.

mod common;

use common::{hexv, now, random, vectors, C2, SUITES};
use e4_client::replay::MESSAGE_REPLAY_SLOTS;
use e4_client::{Client, Config, ConfigError, Error, ManualClock, Unprotected};
use e4_proto::command::{opcode, Command};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{Clock, Id, SuiteId, SymKey};

const T0: u64 = 1_800_000_000;

fn msg(u: Unprotected) -> Vec<u8> {
    match u {
        Unprotected::Message(m) => m,
        Unprotected::Command(c) => panic!("unexpected command {}", c.name()),
    }
}

fn proto(e: Error) -> e4_proto::Error {
    e.protocol()
        .unwrap_or_else(|| panic!("not a protocol error: {e}"))
}

#[test]
fn name_and_password_match_e4go() {
    for v in vectors("derived.jsonl") {
        match v["kind"].as_str().unwrap() {
            "symkey_from_password" => {
                let pw = v["password"].as_str().unwrap();
                let name = v["client_name"].as_str().unwrap_or("some-device");
                let r = Client::new(Config::sym_name_and_password(name, pw));
                if v["expect"] == "ok" {
                    let c = r.unwrap();
                    assert_eq!(c.id().0.to_vec(), hexv(&v["client_id"]), "{}", v["case"]);
                    // The derived key is the command key: a command sealed
                    // with e4go's key is accepted.
                    let key = SymKey::from_slice(&hexv(&v["key"])).unwrap();
                    let c2 = C2::new(SuiteId::Symmetric);
                    let dev = c2.register_symmetric(*c.id(), &key);
                    let mut c = c;
                    let cmd = c2.set_topic_key(&dev, "t", &SymKey::new([5; 32]), now());
                    let topic = c.control_topic().to_string();
                    assert!(matches!(
                        c.unprotect(&cmd, &topic),
                        Ok(Unprotected::Command(_))
                    ));
                } else {
                    assert!(
                        matches!(
                            r,
                            Err(Error::Config(ConfigError::PasswordTooShort { min: 16, .. }))
                        ),
                        "{}",
                        v["case"]
                    );
                }
            }
            "ed25519_from_password" if v["expect"] == "ok" => {
                let pw = v["password"].as_str().unwrap();
                let c = Client::new(Config::pub_name_and_password("dev", pw, [9; 32])).unwrap();
                assert_eq!(c.public_key().unwrap(), hexv(&v["ed25519_public_key"]));
            }
            _ => {}
        }
    }
}

#[test]
fn symmetric_vectors_through_the_library() {
    for v in vectors("symkey_messages.jsonl") {
        let clock = ManualClock::new(v["now"].as_u64().unwrap());
        let id = Id::from_slice(&hexv(&v["client_id"]));
        let key = SymKey::from_slice(&hexv(&v["client_key"])).unwrap();
        let mut c = Client::with_clock(Config::sym_id_and_key(id, key), clock).unwrap();
        let topic = v["topic"].as_str().unwrap();
        c.set_topic_key(topic, &SymKey::from_slice(&hexv(&v["topic_key"])).unwrap())
            .unwrap();
        let protected = hexv(&v["protected"]);
        if v["timestamp"] == v["now"] {
            assert_eq!(c.protect(&hexv(&v["plaintext"]), topic).unwrap(), protected);
        }
        match c.unprotect(&protected, topic) {
            Ok(m) => {
                assert_eq!(v["expect"], "ok", "{}", v["case"]);
                assert_eq!(msg(m), hexv(&v["plaintext"]));
            }
            Err(e) => assert_eq!(proto(e).category(), v["expect"], "{}", v["case"]),
        }
    }
}

#[test]
fn pubkey_vectors_through_the_library() {
    for v in vectors("pubkey_messages.jsonl") {
        let now = v["now"].as_u64().unwrap();
        let topic = v["topic"].as_str().unwrap();
        let topic_key = SymKey::from_slice(&hexv(&v["topic_key"])).unwrap();
        let c2: [u8; 32] = hexv(&v["c2_curve25519_public_key"]).try_into().unwrap();
        let sk = |f: &str| Ed25519Secret::from_slice(&hexv(&v[f])).unwrap();
        let mut rx = Client::with_clock(
            Config::pub_id_and_key(
                Id::from_slice(&hexv(&v["receiver_id"])),
                sk("receiver_ed25519_private_key"),
                c2,
            ),
            ManualClock::new(now),
        )
        .unwrap();
        rx.set_topic_key(topic, &topic_key).unwrap();
        for k in v["receiver_known_pubkeys"].as_array().unwrap() {
            rx.set_pubkey(
                &Id::from_slice(&hexv(&k["id"])).unwrap(),
                &hexv(&k["public_key"]),
            )
            .unwrap();
        }
        let protected = hexv(&v["protected"]);
        if v["timestamp"] == v["now"] {
            let mut tx = Client::with_clock(
                Config::pub_id_and_key(
                    Id::from_slice(&hexv(&v["sender_id"])),
                    sk("sender_ed25519_private_key"),
                    c2,
                ),
                ManualClock::new(now),
            )
            .unwrap();
            tx.set_topic_key(topic, &topic_key).unwrap();
            assert_eq!(
                tx.protect(&hexv(&v["plaintext"]), topic).unwrap(),
                protected
            );
        }
        match rx.unprotect(&protected, topic) {
            Ok(m) => {
                assert_eq!(v["expect"], "ok", "{}", v["case"]);
                assert_eq!(msg(m), hexv(&v["plaintext"]));
            }
            Err(e) => assert_eq!(proto(e).category(), v["expect"], "{}", v["case"]),
        }
    }
}

#[test]
fn symmetric_command_vectors_change_the_state_like_e4go() {
    for v in vectors("commands_symkey.jsonl") {
        let clock = ManualClock::new(v["now"].as_u64().unwrap());
        let key = SymKey::from_slice(&hexv(&v["client_key"])).unwrap();
        let id = Id::from_slice(&hexv(&v["client_id"]));
        let mut c = Client::with_clock(Config::sym_id_and_key(id, key), clock).unwrap();
        for t in v["initial_state"]["topic_keys"].as_array().unwrap() {
            let h = e4_proto::TopicHash::from_slice(&hexv(&t["topic_hash"])).unwrap();
            c.set_topic_key_hashed(&h, &SymKey::from_slice(&hexv(&t["key"])).unwrap())
                .unwrap();
        }
        let r = c.unprotect(
            &hexv(&v["protected"]),
            v["receiving_topic"].as_str().unwrap(),
        );
        match r {
            Ok(Unprotected::Command(info)) => {
                assert_eq!(v["expect"], "ok_command", "{}", v["case"]);
                assert_eq!(u64::from(info.opcode), v["command_code"].as_u64().unwrap());
            }
            Ok(Unprotected::Message(_)) => panic!("{}: a message on the control topic", v["case"]),
            Err(e) => assert_eq!(proto(e).category(), v["expect"], "{}", v["case"]),
        }
        let mut after: Vec<Vec<u8>> = v["state_after"]["topic_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| hexv(&t["topic_hash"]))
            .collect();
        after.sort();
        let held: Vec<Vec<u8>> = c.topics().iter().map(|t| t.hash.0.to_vec()).collect();
        assert_eq!(held, after, "{}", v["case"]);
    }
}

/// Two clients of `suite` provisioned by C2 commands for `topic`.
fn provisioned_pair(
    suite: SuiteId,
    topic: &str,
    clock: &ManualClock,
) -> (Client<ManualClock>, Client<ManualClock>, C2) {
    let c2 = C2::new(suite);
    let mut clients = Vec::new();
    let mut devices = Vec::new();
    for _ in 0..2 {
        let (config, sym_key) = match suite {
            SuiteId::Symmetric => {
                let k = SymKey::new(random());
                (Config::sym_id_and_key(None, k.clone()), Some(k))
            }
            _ => (c2.device_config(), None),
        };
        let c = Client::with_clock(config, clock.clone()).unwrap();
        devices.push(match sym_key {
            Some(k) => c2.register_symmetric(*c.id(), &k),
            None => c2.register(&c),
        });
        clients.push(c);
    }
    let key = SymKey::new(random());
    for (i, c) in clients.iter_mut().enumerate() {
        let control = c.control_topic().to_string();
        let cmd = c2.set_topic_key(&devices[i], topic, &key, clock.now());
        let r = c.unprotect(&cmd, &control).unwrap();
        assert_eq!(
            r,
            Unprotected::Command(e4_client::CommandInfo::applied(opcode::SET_TOPIC_KEY))
        );
        if suite != SuiteId::Symmetric {
            let cmd = c2.set_pubkey(&devices[i], &devices[1 - i], clock.now());
            c.unprotect(&cmd, &control).unwrap();
        }
    }
    let b = clients.pop().unwrap();
    let a = clients.pop().unwrap();
    (a, b, c2)
}

#[test]
fn every_suite_exchanges_messages_provisioned_by_c2_commands() {
    for suite in SUITES {
        let clock = ManualClock::new(T0);
        let (a, mut b, _) = provisioned_pair(suite, "plant/line-1", &clock);
        assert_eq!(a.suite(), suite);
        let wire = a.protect(b"pressure 3.2 bar", "plant/line-1").unwrap();
        assert_eq!(wire.len(), 16 + a.overhead(), "{suite}");
        assert_eq!(
            msg(b.unprotect(&wire, "plant/line-1").unwrap()),
            b"pressure 3.2 bar"
        );
        // A topic without a key, and the control topic, are refused.
        assert_eq!(
            proto(a.protect(b"x", "other").unwrap_err()),
            e4_proto::Error::TopicKeyNotFound
        );
        let control = a.control_topic().to_string();
        assert!(matches!(
            a.protect(b"x", &control),
            Err(Error::ControlTopic { .. })
        ));
        // A message altered in transit is refused.
        let mut bad = a.protect(b"pressure 3.3 bar", "plant/line-1").unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(b.unprotect(&bad, "plant/line-1").is_err(), "{suite}");
    }
}

#[test]
fn replayed_messages_are_refused_unless_protection_is_off() {
    let clock = ManualClock::new(T0);
    let (a, mut b, _) = provisioned_pair(SuiteId::Symmetric, "t", &clock);
    assert!(b.replay_protection());
    let m1 = a.protect(b"open valve", "t").unwrap();
    b.unprotect(&m1, "t").unwrap();
    clock.advance(30);
    assert_eq!(
        proto(b.unprotect(&m1, "t").unwrap_err()),
        e4_proto::Error::Replayed
    );
    // Another message stamped in the same second is not a replay.
    clock.set(T0);
    let m2 = a.protect(b"close valve", "t").unwrap();
    b.unprotect(&m2, "t").unwrap();
    // After the window E4's own check refuses it.
    clock.set(T0 + 600);
    assert_eq!(
        proto(b.unprotect(&m1, "t").unwrap_err()),
        e4_proto::Error::TimestampTooOld
    );
    // e4go's behaviour on request.
    clock.set(T0 + 1);
    b.set_replay_protection(false);
    assert!(!b.replay_protection());
    b.unprotect(&m1, "t").unwrap();
    b.unprotect(&m1, "t").unwrap();
}

#[test]
fn replay_memory_is_bounded_and_overflow_never_accepts_a_replay() {
    let clock = ManualClock::new(T0);
    let (a, mut b, _) = provisioned_pair(SuiteId::Symmetric, "t", &clock);
    let first = a.protect(b"first", "t").unwrap();
    b.unprotect(&first, "t").unwrap();
    for i in 0..MESSAGE_REPLAY_SLOTS {
        clock.set(T0 + 1 + (i as u64 / 100));
        let m = a.protect(format!("m{i}").as_bytes(), "t").unwrap();
        b.unprotect(&m, "t").unwrap();
    }
    // `first` left the cache; its timestamp is now below the floor.
    assert_eq!(
        proto(b.unprotect(&first, "t").unwrap_err()),
        e4_proto::Error::Replayed
    );
}

#[test]
fn replayed_commands_are_refused_even_with_message_replay_off() {
    let clock = ManualClock::new(T0);
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let mut c =
        Client::with_clock(Config::sym_id_and_key(None, key.clone()), clock.clone()).unwrap();
    c.set_replay_protection(false);
    let dev = c2.register_symmetric(*c.id(), &key);
    let control = c.control_topic().to_string();
    let k1 = SymKey::new([1; 32]);
    let k2 = SymKey::new([2; 32]);
    let set1 = c2.set_topic_key(&dev, "t", &k1, T0);
    let set2 = c2.set_topic_key(&dev, "t", &k2, T0);
    c.unprotect(&set1, &control).unwrap();
    c.unprotect(&set2, &control).unwrap();
    // Replaying the first command would roll the key back: refused.
    assert_eq!(
        proto(c.unprotect(&set1, &control).unwrap_err()),
        e4_proto::Error::Replayed
    );
    let mut probe =
        Client::with_clock(Config::sym_id_and_key(None, SymKey::new([3; 32])), clock).unwrap();
    probe.set_topic_key("t", &k2).unwrap();
    let m = probe.protect(b"still k2", "t").unwrap();
    assert_eq!(msg(c.unprotect(&m, "t").unwrap()), b"still k2");
}

fn sym_client(clock: &ManualClock, topic: &str, key: &SymKey) -> Client<ManualClock> {
    let mut c = Client::with_clock(
        Config::sym_id_and_key(None, SymKey::new(random())),
        clock.clone(),
    )
    .unwrap();
    c.set_topic_key(topic, key).unwrap();
    c
}

#[test]
fn key_transition_accepts_the_previous_key_for_an_hour() {
    let clock = ManualClock::new(T0);
    let (k0, k1) = (SymKey::new([10; 32]), SymKey::new([11; 32]));
    let old_sender = sym_client(&clock, "t", &k0);
    let new_sender = sym_client(&clock, "t", &k1);
    let mut rx = sym_client(&clock, "t", &k0);
    rx.set_topic_key("t", &k1).unwrap();
    assert_eq!(rx.topics()[0].replaced_at, Some(T0));
    let m = old_sender.protect(b"old key", "t").unwrap();
    assert_eq!(msg(rx.unprotect(&m, "t").unwrap()), b"old key");
    clock.set(T0 + 3599);
    let m = old_sender.protect(b"old key, late", "t").unwrap();
    assert_eq!(msg(rx.unprotect(&m, "t").unwrap()), b"old key, late");
    clock.set(T0 + 3600);
    let m = old_sender.protect(b"old key, too late", "t").unwrap();
    assert_eq!(
        proto(rx.unprotect(&m, "t").unwrap_err()),
        e4_proto::Error::TimestampTooOld
    );
    let m = new_sender.protect(b"new key", "t").unwrap();
    assert_eq!(msg(rx.unprotect(&m, "t").unwrap()), b"new key");
    // Re-sending the current key changes nothing.
    rx.set_topic_key("t", &k1).unwrap();
    assert_eq!(rx.topics()[0].replaced_at, Some(T0));
}

#[test]
fn invalid_configurations_are_refused_with_typed_errors() {
    type Check = fn(&ConfigError) -> bool;
    let cases: Vec<(Config, Check)> = vec![
        (Config::sym_id_and_key(None, SymKey::new([0; 32])), |e| {
            matches!(e, ConfigError::ZeroKey(_))
        }),
        (Config::sym_name_and_password("", "0123456789abcdef"), |e| {
            matches!(e, ConfigError::NameLength(0))
        }),
        (Config::sym_name_and_password("n", "short"), |e| {
            matches!(e, ConfigError::PasswordTooShort { got: 5, .. })
        }),
        (
            Config::pub_id_and_key(None, Ed25519Secret::new([7; 64]), [1; 32]),
            |e| matches!(e, ConfigError::Ed25519Mismatch),
        ),
        (
            Config::kem_generate(SuiteId::Symmetric, None, &[1; 32]),
            |e| matches!(e, ConfigError::WrongSuite(SuiteId::Symmetric)),
        ),
        (
            Config::kem_generate(SuiteId::PostQuantum, None, &[1; 32]),
            |e| matches!(e, ConfigError::KeyLength { got: 32, .. }),
        ),
    ];
    for (config, check) in cases {
        match Client::new(config) {
            Err(Error::Config(e)) => assert!(check(&e), "unexpected {e:?}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
    let seed = [3u8; 32];
    let mut sk = [0u8; 64];
    sk[..32].copy_from_slice(&seed);
    sk[32..].copy_from_slice(&e4_backends::ed25519::public_from_seed(&seed));
    let zero_c2 = Client::new(Config::pub_id_and_key(
        None,
        Ed25519Secret::new(sk),
        [0; 32],
    ));
    assert!(matches!(
        zero_c2,
        Err(Error::Config(ConfigError::ZeroKey(_)))
    ));
}

#[test]
fn failed_commands_change_nothing() {
    let clock = ManualClock::new(T0);
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let mut c = Client::with_clock(Config::sym_id_and_key(None, key.clone()), clock).unwrap();
    let dev = c2.register_symmetric(*c.id(), &key);
    let control = c.control_topic().to_string();
    let mut cmd = c2.set_topic_key(&dev, "t", &SymKey::new([1; 32]), T0);
    cmd[30] ^= 1;
    assert_eq!(
        proto(c.unprotect(&cmd, &control).unwrap_err()),
        e4_proto::Error::NotAuthentic
    );
    let stale = c2.set_topic_key(&dev, "t", &SymKey::new([1; 32]), T0 - 600);
    assert_eq!(
        proto(c.unprotect(&stale, &control).unwrap_err()),
        e4_proto::Error::TimestampTooOld
    );
    let unknown = c2.seal(&dev, &Command::ResetPubKeys, T0);
    assert_eq!(
        proto(c.unprotect(&unknown, &control).unwrap_err()),
        e4_proto::Error::UnsupportedOperation
    );
    assert!(c.topics().is_empty());
    assert!(!c.has_topic_key("t"));
}

/// Two pubkey devices publish the same payload in the same second (same
/// SIV): each is accepted once, from its own sender; copies are refused.
#[test]
fn replays_are_tracked_per_sender() {
    let clock = ManualClock::new(1_800_000_000);
    let device = |seed: &str| {
        let sk = e4_client::config::ed25519_from_password(seed).unwrap();
        let pk = sk.public().to_vec();
        let c =
            Client::with_clock(Config::pub_id_and_key(None, sk, [9; 32]), clock.clone()).unwrap();
        (c, pk)
    };
    let key = SymKey::new([5; 32]);
    let (mut a, pk_a) = device("device a password, 16+ bytes");
    let (mut b, pk_b) = device("device b password, 16+ bytes");
    let (mut rx, _) = device("receiver password, 16+ bytes");
    for c in [&mut a, &mut b, &mut rx] {
        c.set_topic_key("plant/t", &key).unwrap();
    }
    let (id_a, id_b) = (*a.id(), *b.id());
    rx.set_pubkey(&id_a, &pk_a).unwrap();
    rx.set_pubkey(&id_b, &pk_b).unwrap();
    let from_a = a.protect(b"ON", "plant/t").unwrap();
    let from_b = b.protect(b"ON", "plant/t").unwrap();
    assert_eq!(msg(rx.unprotect(&from_a, "plant/t").unwrap()), b"ON");
    assert_eq!(msg(rx.unprotect(&from_b, "plant/t").unwrap()), b"ON");
    for copy in [&from_a, &from_b] {
        let e = rx.unprotect(copy, "plant/t").unwrap_err();
        assert_eq!(e.protocol(), Some(e4_proto::Error::Replayed));
    }
}
