//! Suite negotiation and per-topic formats in e4-client: a simulated C2
//! built from `e4_proto::negotiation`'s C2 side drives devices through
//! upgrades (library level, with state files and restarts), and, over a
//! real broker, a C2 task answering on `e4c2/announce/+` upgrades a device
//! running in `E4Mqtt` without any help from the application.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::{random, Broker};
use e4_backends::provider;
use e4_backends::rng::OsRng;
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig, NegotiationEvent};
use e4_client::negotiation::{
    announce_topic, NegotiationError, NegotiationStatus, SetTopicFormat, SuiteSet,
};
use e4_client::{Client, CommandInfo, Config, Error, ManualClock, Negotiated, Unprotected};
use e4_proto::c2::{seal_command_vec, C2Secret};
use e4_proto::command::{opcode, Command};
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::negotiation::{
    answer, choose, transcript_of, verify_announce, verify_confirm, Decision, DeviceMaterial,
    Pending, Policy, SetSuite, ANNOUNCE_KIND, CONFIRM_KIND,
};
use e4_proto::time::SystemClock;
use e4_proto::{Clock, Id, SuiteId, SymKey, TopicHash};
use rumqttc::{AsyncClient, Event as RawEvent, MqttOptions, Packet, QoS};

use SuiteId::{Hybrid, PostQuantum as Pq, PubKey, Symmetric as Sym};

const T0: u64 = 1_800_000_000;
const SHARED: &str = "plant/shared";
const OTHER: &str = "plant/other";

fn hash(topic: &str) -> TopicHash {
    TopicHash::of(provider().hash, topic.as_bytes())
}

// ---------------------------------------------------------------------------
// Simulated C2
// ---------------------------------------------------------------------------

/// C2's own keys: X25519 for the public-key suite, a signature key pair per
/// kem suite.
struct C2Keys {
    x25519_sk: [u8; 32],
    sig: HashMap<SuiteId, (Vec<u8>, Vec<u8>)>,
}

impl C2Keys {
    fn new() -> C2Keys {
        let sig = provider()
            .suites
            .iter()
            .filter(|s| s.id.is_kem_suite())
            .map(|s| {
                let sig = s.sig().unwrap();
                let mut sk = vec![0u8; sig.secret_key_len()];
                let mut pk = vec![0u8; sig.public_key_len()];
                sig.generate(&mut OsRng, &mut sk, &mut pk).unwrap();
                (s.id, (sk, pk))
            })
            .collect();
        C2Keys {
            x25519_sk: random(),
            sig,
        }
    }

    fn public(&self, suite: SuiteId) -> Vec<u8> {
        match suite {
            Sym => Vec::new(),
            PubKey => {
                let x = provider().suite(PubKey).unwrap().x25519().unwrap();
                x.public_key(&self.x25519_sk).to_vec()
            }
            s => self.sig[&s].1.clone(),
        }
    }

    fn secret(&self, suite: SuiteId) -> C2Secret<'_> {
        match suite {
            Sym => C2Secret::None,
            PubKey => C2Secret::X25519(&self.x25519_sk),
            s => C2Secret::Signing(&self.sig[&s].0),
        }
    }
}

/// C2's record of one device, driving the library's C2-side functions.
struct C2 {
    keys: C2Keys,
    policy: Policy,
    id: Id,
    suite: SuiteId,
    material: DeviceMaterial,
    last_announce: Option<u64>,
    pending: Option<Pending>,
    committed: Option<Pending>,
    clock: Box<dyn Clock + Send>,
}

impl C2 {
    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Verify an Announce, choose, answer: the sealed SetSuite if C2 moves
    /// the device.
    fn on_announce(&mut self, msg: &[u8]) -> Result<Option<Vec<u8>>, e4_proto::Error> {
        let p = provider();
        let a = verify_announce(
            p,
            msg,
            &self.id,
            self.suite,
            &self.material,
            self.last_announce,
            self.now(),
        )?;
        self.last_announce = Some(a.ts());
        self.pending = None;
        match choose(&self.policy, &a.offer(), SuiteSet::compiled_in(p)) {
            Decision::Upgrade(s) | Decision::Rekey(s) => {
                let (set, pending) = answer(p, &a, s, &self.keys.public(s), &mut OsRng)?;
                self.pending = Some(pending);
                Ok(Some(self.seal(set.encode().as_bytes())))
            }
            _ => Ok(None),
        }
    }

    /// Verify a Confirm and commit (or re-confirm a committed upgrade).
    fn on_confirm(&mut self, msg: &[u8]) -> Result<(), e4_proto::Error> {
        let p = provider();
        if let Some(pending) = &self.pending {
            if verify_confirm(p, msg, pending, self.now()).is_ok() {
                let pending = self.pending.take().unwrap();
                self.suite = pending.suite;
                self.material = pending.material.clone();
                self.committed = Some(pending);
                return Ok(());
            }
        }
        let committed = self
            .committed
            .as_ref()
            .ok_or(e4_proto::Error::from(NegotiationError::NoAnnounce))?;
        verify_confirm(p, msg, committed, self.now()).map(|_| ())
    }

    fn seal(&self, cmd: &[u8]) -> Vec<u8> {
        self.seal_as(self.suite, &self.material, cmd)
    }

    fn seal_as(&self, suite: SuiteId, material: &DeviceMaterial, cmd: &[u8]) -> Vec<u8> {
        seal_command_vec(
            provider(),
            suite,
            &self.id,
            material.device_key(),
            self.keys.secret(suite),
            self.now(),
            cmd,
            &mut OsRng,
        )
        .unwrap()
    }

    fn set_topic_key(&self, topic: &str, key: &SymKey) -> Vec<u8> {
        self.seal(
            &Command::SetTopicKey {
                key: key.as_bytes(),
                topic: hash(topic),
            }
            .to_vec(),
        )
    }

    fn set_topic_format(&self, topic: &str, format: SuiteId) -> Vec<u8> {
        self.seal(
            &SetTopicFormat {
                topic: hash(topic),
                format,
            }
            .encode(),
        )
    }
}

/// A device of `suite` (state at `state` if given) and C2's record of it.
fn device(
    suite: SuiteId,
    keys: C2Keys,
    clock: ManualClock,
    state: Option<&Path>,
) -> (Client<ManualClock>, C2) {
    let (config, sym_key) = match suite {
        Sym => {
            let k = SymKey::new(random());
            (Config::sym_id_and_key(None, k.clone()), Some(k))
        }
        PubKey => {
            let sig = provider().suite(PubKey).unwrap().sig().unwrap();
            let mut sk = vec![0u8; 64];
            let mut pk = vec![0u8; 32];
            sig.generate(&mut OsRng, &mut sk, &mut pk).unwrap();
            let c2_public = keys.public(PubKey).try_into().unwrap();
            let key = Ed25519Secret::from_slice(&sk).unwrap();
            (Config::pub_id_and_key(None, key, c2_public), None)
        }
        s => (Config::kem_generate(s, None, &keys.public(s)), None),
    };
    let client = match state {
        Some(p) => Client::create_with_clock(p, config, clock.clone()).unwrap(),
        None => Client::with_clock(config, clock.clone()).unwrap(),
    };
    let material = match suite {
        Sym => DeviceMaterial::Symmetric(sym_key.unwrap()),
        PubKey => DeviceMaterial::PubKey(client.public_key().unwrap().try_into().unwrap()),
        _ => DeviceMaterial::Kem {
            sig_pk: client.public_key().unwrap(),
            kem_pk: client.kem_public_key().unwrap().to_vec(),
        },
    };
    let c2 = C2 {
        keys,
        policy: Policy::default(),
        id: *client.id(),
        suite,
        material,
        last_announce: None,
        pending: None,
        committed: None,
        clock: Box::new(clock),
    };
    (client, c2)
}

fn apply(c: &mut Client<ManualClock>, msg: &[u8]) -> Result<CommandInfo, Error> {
    let topic = c.control_topic().to_string();
    match c.unprotect(msg, &topic)? {
        Unprotected::Command(info) => Ok(info),
        Unprotected::Message(_) => panic!("a message on the control topic"),
    }
}

fn message(c: &mut Client<ManualClock>, wire: &[u8], topic: &str) -> Result<Vec<u8>, Error> {
    match c.unprotect(wire, topic)? {
        Unprotected::Message(m) => Ok(m),
        Unprotected::Command(c) => panic!("unexpected command {}", c.name()),
    }
}

fn state_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Announce, answer, accept: returns the Confirm.
fn announce_and_accept(dev: &mut Client<ManualClock>, c2: &mut C2, to: SuiteId) -> Vec<u8> {
    let (topic, announce) = dev.announce().unwrap().expect("something to offer");
    assert_eq!(topic, announce_topic(dev.id()));
    assert_eq!(topic, format!("e4c2/announce/{}", hex::encode(dev.id().0)));
    assert_eq!(announce[8], ANNOUNCE_KIND);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Announced);
    let set_suite = c2.on_announce(&announce).unwrap().expect("an upgrade");
    let info = apply(dev, &set_suite).unwrap();
    assert_eq!(info.opcode, 0x08);
    assert_eq!(info.name(), "SetSuite");
    assert_eq!(info.negotiation, Some(Negotiated::Accepted { suite: to }));
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Accepted(to));
    let (topic, confirm) = dev.take_confirm().expect("a confirm");
    assert_eq!(topic, dev.announce_topic());
    assert_eq!(confirm[8], CONFIRM_KIND);
    assert!(dev.take_confirm().is_none());
    confirm
}

// ---------------------------------------------------------------------------
// Library level
// ---------------------------------------------------------------------------

#[test]
fn upgrades_carry_topic_keys_over() {
    let cases = [
        (Sym, SuiteSet::of(&[Pq]), Pq),
        (Sym, SuiteSet::of(&[Pq, Hybrid]), Hybrid),
        (PubKey, SuiteSet::of(&[Pq]), Pq),
        (PubKey, SuiteSet::of(&[Sym, Hybrid]), Hybrid),
        (Pq, SuiteSet::of(&[Hybrid]), Hybrid),
    ];
    for (from, caps, to) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.e4");
        let clock = ManualClock::new(T0);
        let (mut dev, mut c2) = device(from, C2Keys::new(), clock.clone(), Some(&path));
        let shared_key = SymKey::new(random());
        let other_key = SymKey::new(random());
        let info = apply(&mut dev, &c2.set_topic_key(SHARED, &shared_key)).unwrap();
        assert_eq!(info, CommandInfo::applied(opcode::SET_TOPIC_KEY));
        apply(&mut dev, &c2.set_topic_key(OTHER, &other_key)).unwrap();
        if from == PubKey {
            dev.set_pubkey(&Id([9; 16]), &[7; 32]).unwrap();
        }
        let old_overhead = dev.overhead();
        let old_public = dev.public_key();

        dev.set_capabilities(caps).unwrap();
        clock.advance(1);
        let confirm = announce_and_accept(&mut dev, &mut c2, to);
        // Until C2 commits, the device runs its old suite.
        assert_eq!(dev.suite(), from);
        assert_eq!(dev.protect(b"x", SHARED).unwrap().len(), 1 + old_overhead);
        // An old-suite command is still applied.
        clock.advance(1);
        let info = apply(&mut dev, &c2.set_topic_key(SHARED, &shared_key)).unwrap();
        assert_eq!(info.negotiation, None);
        assert_eq!(dev.suite(), from);

        clock.advance(1);
        let old_material = c2.material.clone();
        c2.on_confirm(&confirm).unwrap();
        assert_eq!(c2.suite, to);
        // C2 re-sends the key of one topic under the new suite.
        let info = apply(&mut dev, &c2.set_topic_key(SHARED, &shared_key)).unwrap();
        assert_eq!(info.opcode, opcode::SET_TOPIC_KEY);
        assert_eq!(info.negotiation, Some(Negotiated::Upgraded { from, to }));
        assert_eq!(dev.suite(), to, "{from} -> {to}");
        assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
        assert_ne!(dev.public_key(), old_public);
        assert!(dev.has_topic_key(SHARED) && dev.has_topic_key(OTHER));
        assert!(dev.pubkey_ids().is_empty(), "public keys are not carried");
        // The new suite is the floor: no topic is kept in a weaker format
        // on the device's own authority (issue 12, item 7) ...
        assert_eq!(dev.topic_format(OTHER), to);
        assert_eq!(dev.topic_format(SHARED), to);
        // ... only C2 marks a topic legacy, under the new suite.
        let legacy = if from == Sym {
            apply(&mut dev, &c2.set_topic_format(OTHER, Sym)).unwrap();
            Sym
        } else {
            to
        };
        assert_eq!(dev.topic_format(OTHER), legacy);
        assert_eq!(dev.topic_format(SHARED), to);
        assert!(dev.offered().is_empty());

        // Commands under the old suite are refused now.
        clock.advance(1);
        let stale = c2.seal_as(from, &old_material, &Command::ResetTopics.to_vec());
        assert!(apply(&mut dev, &stale).is_err());
        assert!(dev.has_topic_key(SHARED));

        // The state survives a restart.
        drop(dev);
        let dev = Client::open_with_clock(&path, clock.clone()).unwrap();
        assert_eq!(dev.suite(), to);
        assert_eq!(dev.topic_format(OTHER), legacy);
        assert_eq!(dev.topic_format(SHARED), to);
        assert_eq!(dev.capabilities(), caps);
        assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
    }
}

#[test]
fn nothing_to_offer_means_an_empty_announce_and_no_capabilities_none() {
    let clock = ManualClock::new(T0);
    for (suite, caps) in [
        (Sym, SuiteSet::of(&[Sym])),
        (PubKey, SuiteSet::of(&[Sym])),
        (Pq, SuiteSet::of(&[Sym, PubKey])),
        (Hybrid, SuiteSet::ALL),
    ] {
        let (mut dev, _) = device(suite, C2Keys::new(), clock.clone(), None);
        assert_eq!(dev.capabilities(), SuiteSet::EMPTY);
        // No capabilities: the device does not negotiate at all.
        assert_eq!(dev.announce().unwrap(), None);
        assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
        dev.set_capabilities(caps).unwrap();
        assert!(dev.offered().is_empty(), "{suite} {caps:?}");
        // Capabilities but nothing above its suite: an Announce offering
        // nothing (C2 learns the device negotiates, and answers nothing).
        let (topic, bytes) = dev.announce().unwrap().expect("an empty Announce");
        assert_eq!(topic, dev.announce_topic());
        let a = e4_proto::negotiation::Announce::parse(&bytes).unwrap();
        assert!(a.offers().is_empty());
        assert_eq!(a.current(), suite);
        assert!(matches!(
            dev.confirm_retry(),
            Err(Error::Protocol(e4_proto::Error::Negotiation(
                NegotiationError::NoAnnounce
            )))
        ));
    }
}

#[test]
fn set_suite_refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.e4");
    let clock = ManualClock::new(T0);
    let (mut dev, mut c2) = device(Sym, C2Keys::new(), clock.clone(), Some(&path));
    dev.set_capabilities(SuiteSet::of(&[Pq])).unwrap();
    // A SetSuite answering an announce this device never made.
    let (_, first) = dev.announce().unwrap().unwrap();
    let stale = c2.on_announce(&first).unwrap().unwrap();
    clock.advance(1);
    let (_, second) = dev.announce().unwrap().unwrap();
    let before = state_bytes(&path);
    assert!(matches!(
        apply(&mut dev, &stale),
        Err(Error::Protocol(e4_proto::Error::Negotiation(
            NegotiationError::TranscriptMismatch
        )))
    ));
    assert_eq!(state_bytes(&path), before);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Announced);
    // A forged one: sealed with a key that is not the device's.
    let forged_set = SetSuite {
        suite: Pq,
        transcript: transcript_of(provider(), &second),
        key: SecretBytes::from_slice(&c2.keys.public(Pq)),
    };
    let forged = c2.seal_as(
        Sym,
        &DeviceMaterial::Symmetric(SymKey::new(random())),
        forged_set.encode().as_bytes(),
    );
    assert_eq!(
        apply(&mut dev, &forged).unwrap_err().protocol(),
        Some(e4_proto::Error::NotAuthentic)
    );
    assert_eq!(state_bytes(&path), before);
    // The genuine answer to the latest announce is accepted.
    let genuine = c2.on_announce(&second).unwrap().unwrap();
    let info = apply(&mut dev, &genuine).unwrap();
    assert_eq!(info.negotiation, Some(Negotiated::Accepted { suite: Pq }));
    // Another SetSuite (another key) answering the same announce: conflict.
    let conflicting = c2.seal(
        SetSuite {
            suite: Pq,
            transcript: transcript_of(provider(), &second),
            key: SecretBytes::from_slice(&C2Keys::new().public(Pq)),
        }
        .encode()
        .as_bytes(),
    );
    let before = state_bytes(&path);
    assert!(matches!(
        apply(&mut dev, &conflicting),
        Err(Error::Protocol(e4_proto::Error::Negotiation(
            NegotiationError::Conflict
        )))
    ));
    assert_eq!(state_bytes(&path), before);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Accepted(Pq));

    let (mut dev2, mut c2b) = device(Sym, C2Keys::new(), clock.clone(), None);
    // No announce at all.
    let set_suite = {
        dev2.set_capabilities(SuiteSet::of(&[Pq])).unwrap();
        let (_, a) = dev2.announce().unwrap().unwrap();
        c2b.on_announce(&a).unwrap().unwrap()
    };
    dev2.set_capabilities(SuiteSet::of(&[Hybrid])).unwrap(); // drops the announce
    assert_eq!(dev2.negotiation_status(), NegotiationStatus::Idle);
    assert!(matches!(
        apply(&mut dev2, &set_suite),
        Err(Error::Protocol(e4_proto::Error::Negotiation(
            NegotiationError::NoAnnounce
        )))
    ));
    assert_eq!(dev2.suite(), Sym);
    assert_eq!(dev.suite(), Sym);
}

#[test]
fn symmetric_format_topics_are_shared_with_symmetric_devices() {
    let clock = ManualClock::new(T0);
    let topic_key = SymKey::new(random());
    // An upgraded device (symmetric -> pq) and a symmetric one.
    let (mut up, mut c2) = device(Sym, C2Keys::new(), clock.clone(), None);
    apply(&mut up, &c2.set_topic_key(SHARED, &topic_key)).unwrap();
    up.set_capabilities(SuiteSet::of(&[Pq])).unwrap();
    let confirm = announce_and_accept(&mut up, &mut c2, Pq);
    c2.on_confirm(&confirm).unwrap();
    apply(&mut up, &c2.set_topic_format(SHARED, Sym)).unwrap();
    assert_eq!(up.suite(), Pq);
    assert_eq!(up.topic_format(SHARED), Sym);
    // A public-key device told to use the symmetric format.
    let (mut pk, c2pk) = device(PubKey, C2Keys::new(), clock.clone(), None);
    apply(&mut pk, &c2pk.set_topic_key(SHARED, &topic_key)).unwrap();
    let info = apply(&mut pk, &c2pk.set_topic_format(SHARED, Sym)).unwrap();
    assert_eq!(info.opcode, 0x09);
    assert_eq!(info.name(), "SetTopicFormat");
    assert_eq!(
        info.negotiation,
        Some(Negotiated::TopicFormat {
            topic: hash(SHARED),
            format: Sym
        })
    );
    let (mut sym, c2s) = device(Sym, C2Keys::new(), clock.clone(), None);
    apply(&mut sym, &c2s.set_topic_key(SHARED, &topic_key)).unwrap();

    for dev in [&mut up, &mut pk] {
        assert_eq!(dev.overhead_for(SHARED), 24);
        let wire = dev.protect(b"from e4-rs", SHARED).unwrap();
        assert_eq!(wire.len(), 10 + 24);
        // The symmetric format is E4's: the same bytes as a symmetric
        // client with that topic key at that time.
        let mut twin = Client::with_clock(
            Config::sym_id_and_key(None, SymKey::new(random())),
            clock.clone(),
        )
        .unwrap();
        twin.set_topic_key(SHARED, &topic_key).unwrap();
        assert_eq!(twin.protect(b"from e4-rs", SHARED).unwrap(), wire);
        assert_eq!(message(&mut sym, &wire, SHARED).unwrap(), b"from e4-rs");
        clock.advance(1);
        let wire = sym.protect(b"from symmetric", SHARED).unwrap();
        assert_eq!(message(dev, &wire, SHARED).unwrap(), b"from symmetric");
        assert!(matches!(
            message(dev, &wire, SHARED),
            Err(Error::Protocol(e4_proto::Error::Replayed))
        ));
    }

    // Back to the device's own format: symmetric devices cannot read it.
    clock.advance(1);
    let info = apply(&mut up, &c2.set_topic_format(SHARED, Pq)).unwrap();
    assert_eq!(
        info.negotiation,
        Some(Negotiated::TopicFormat {
            topic: hash(SHARED),
            format: Pq
        })
    );
    assert_eq!(up.topic_format(SHARED), Pq);
    assert!(up.topic_formats().is_empty());
    let wire = up.protect(b"pq only", SHARED).unwrap();
    assert_eq!(wire.len(), 7 + up.overhead());
    assert!(message(&mut sym, &wire, SHARED).is_err());
}

#[test]
fn unusable_topic_formats_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    for (suite, bad) in [
        (Pq, PubKey),
        (Pq, Hybrid),
        (PubKey, Pq),
        (Sym, Pq),
        (Hybrid, Pq),
    ] {
        let path = dir.path().join(format!("{suite}-{bad}.e4"));
        let (mut dev, c2) = device(suite, C2Keys::new(), clock.clone(), Some(&path));
        apply(&mut dev, &c2.set_topic_key(SHARED, &SymKey::new(random()))).unwrap();
        let before = state_bytes(&path);
        let r = apply(&mut dev, &c2.set_topic_format(SHARED, bad));
        match r {
            Err(Error::TopicFormat {
                topic,
                format,
                suite: s,
            }) => assert_eq!((topic, format, s), (hash(SHARED), bad, suite)),
            other => panic!("{suite}/{bad}: {other:?}"),
        }
        assert_eq!(state_bytes(&path), before);
        assert_eq!(dev.topic_format(SHARED), suite);
        // An unknown suite byte, and a wrong length.
        let mut unknown = SetTopicFormat {
            topic: hash(SHARED),
            format: Sym,
        }
        .encode();
        unknown[17] = 0x33;
        assert_eq!(
            apply(&mut dev, &c2.seal(&unknown)).unwrap_err().protocol(),
            Some(e4_proto::Error::UnknownSuite)
        );
        assert_eq!(
            apply(&mut dev, &c2.seal(&unknown[..17]))
                .unwrap_err()
                .protocol(),
            Some(e4_proto::Error::InvalidCommandLength)
        );
        assert_eq!(state_bytes(&path), before);
    }
    // A replayed SetTopicFormat is refused like any replayed command.
    let (mut dev, c2) = device(PubKey, C2Keys::new(), clock.clone(), None);
    let cmd = c2.set_topic_format(SHARED, Sym);
    apply(&mut dev, &cmd).unwrap();
    assert_eq!(
        apply(&mut dev, &cmd).unwrap_err().protocol(),
        Some(e4_proto::Error::Replayed)
    );
}

#[test]
fn a_restart_at_each_step_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.e4");
    let clock = ManualClock::new(T0);
    let (mut dev, mut c2) = device(Sym, C2Keys::new(), clock.clone(), Some(&path));
    let key = SymKey::new(random());
    apply(&mut dev, &c2.set_topic_key(SHARED, &key)).unwrap();
    dev.set_capabilities(SuiteSet::of(&[Pq, Hybrid])).unwrap();
    let reopen = |dev: Client<ManualClock>| {
        drop(dev);
        Client::open_with_clock(&path, clock.clone()).unwrap()
    };
    let mut dev = reopen(dev);
    assert_eq!(dev.capabilities(), SuiteSet::of(&[Pq, Hybrid]));

    // Restart after announcing: the persisted announce is still answered.
    clock.advance(1);
    let (_, announce) = dev.announce().unwrap().unwrap();
    let mut dev = reopen(dev);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Announced);
    let set_suite = c2.on_announce(&announce).unwrap().unwrap();
    clock.advance(1);
    let info = apply(&mut dev, &set_suite).unwrap();
    assert_eq!(
        info.negotiation,
        Some(Negotiated::Accepted { suite: Hybrid })
    );
    let first_confirm = dev.take_confirm().unwrap().1;

    // Restart after accepting (the confirm was lost): a re-signed one.
    let dev = reopen(dev);
    assert_eq!(
        dev.negotiation_status(),
        NegotiationStatus::Accepted(Hybrid)
    );
    assert_eq!(dev.suite(), Sym);
    clock.advance(5);
    let (topic, confirm) = dev.confirm_retry().unwrap();
    assert_eq!(topic, dev.announce_topic());
    assert_ne!(confirm, first_confirm);
    c2.on_confirm(&confirm).unwrap();
    // A replayed SetSuite only yields the same upgrade again.
    let mut dev = reopen(dev);
    let info = apply(&mut dev, &set_suite).unwrap();
    assert_eq!(
        info.negotiation,
        Some(Negotiated::Accepted { suite: Hybrid })
    );
    // Announcing again is refused while the upgrade is outstanding.
    assert!(matches!(
        dev.announce(),
        Err(Error::Protocol(e4_proto::Error::Negotiation(
            NegotiationError::AlreadyAccepted
        )))
    ));

    // Restart after C2 committed: the first new-suite command finishes.
    let mut dev = reopen(dev);
    clock.advance(1);
    let info = apply(&mut dev, &c2.set_topic_format(SHARED, Sym)).unwrap();
    assert_eq!(info.opcode, 0x09);
    assert_eq!(
        info.negotiation,
        Some(Negotiated::Upgraded {
            from: Sym,
            to: Hybrid
        })
    );
    let mut dev = reopen(dev);
    assert_eq!(dev.suite(), Hybrid);
    assert_eq!(dev.topic_format(SHARED), Sym);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
    clock.advance(1);
    let info = apply(&mut dev, &c2.set_topic_key(OTHER, &key)).unwrap();
    assert_eq!(info, CommandInfo::applied(opcode::SET_TOPIC_KEY));
    assert_eq!(dev.topic_format(OTHER), Hybrid);
    assert_eq!(dev.protect(b"x", OTHER).unwrap().len(), 1 + dev.overhead());
}

/// Issue 12, item 4: C2 asks a KEM device to rekey (Renegotiate with the
/// rekey flag); the Announce offering its suite again is persisted with
/// the command, survives a restart, and the exchange replaces the keys
/// while topic keys and other devices' public keys stay. Devices of other
/// suites refuse a rekey.
#[test]
fn a_requested_rekey_survives_a_restart_and_keeps_topics_and_pubkeys() {
    use e4_client::negotiation::Renegotiate;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.e4");
    let clock = ManualClock::new(T0);
    let (mut dev, mut c2) = device(Pq, C2Keys::new(), clock.clone(), Some(&path));
    let key = SymKey::new(random());
    apply(&mut dev, &c2.set_topic_key(SHARED, &key)).unwrap();
    let other = Id([0x42; 16]);
    let other_pk = vec![7u8; dev.public_key().unwrap().len()];
    clock.advance(1);
    let set_pk = c2.seal(
        &Command::SetPubKey {
            key: &other_pk,
            id: other,
        }
        .to_vec(),
    );
    apply(&mut dev, &set_pk).unwrap();
    let old_kem = dev.kem_public_key().unwrap().to_vec();
    let old_sig = dev.public_key().unwrap();

    clock.advance(1);
    let info = apply(&mut dev, &c2.seal(Renegotiate::REKEY.encode())).unwrap();
    assert_eq!(info.negotiation, Some(Negotiated::RekeyRequested));
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Announced);
    assert!(dev.offered().contains(Pq));
    drop(dev);
    let mut dev = Client::open_with_clock(&path, clock.clone()).unwrap();
    // After the restart, a retry still offers the current suite.
    clock.advance(1);
    let (_, announce) = dev.announce().unwrap().expect("the rekey Announce");
    let set_suite = c2.on_announce(&announce).unwrap().expect("a rekey answer");
    let info = apply(&mut dev, &set_suite).unwrap();
    assert_eq!(info.negotiation, Some(Negotiated::Accepted { suite: Pq }));
    let (_, confirm) = dev.take_confirm().unwrap();
    c2.on_confirm(&confirm).unwrap();
    clock.advance(1);
    let info = apply(&mut dev, &c2.set_topic_key(OTHER, &key)).unwrap();
    assert_eq!(
        info.negotiation,
        Some(Negotiated::Upgraded { from: Pq, to: Pq })
    );
    assert_ne!(dev.kem_public_key().unwrap(), &old_kem[..]);
    assert_ne!(dev.public_key().unwrap(), old_sig);
    assert!(dev.has_topic_key(SHARED) && dev.has_topic_key(OTHER));
    assert_eq!(dev.pubkey_ids(), vec![other]);
    assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
    assert!(!dev.offered().contains(Pq));

    // Symmetric and public-key devices get SetIdKey instead.
    for suite in [Sym, PubKey] {
        let (mut dev, c2) = device(suite, C2Keys::new(), clock.clone(), None);
        assert!(matches!(
            dev.announce_rekey(),
            Err(Error::Protocol(e4_proto::Error::Negotiation(
                NegotiationError::RekeyUnsupported
            )))
        ));
        clock.advance(1);
        assert!(apply(&mut dev, &c2.seal(Renegotiate::REKEY.encode())).is_err());
        assert_eq!(dev.negotiation_status(), NegotiationStatus::Idle);
    }
}

#[test]
fn old_state_files_without_negotiation_load() {
    // A state written without negotiation has no new fields at all.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.e4");
    let clock = ManualClock::new(T0);
    let (dev, _) = device(PubKey, C2Keys::new(), clock.clone(), Some(&path));
    drop(dev);
    let text = String::from_utf8(state_bytes(&path)).unwrap();
    assert!(!text.contains("negotiation") && !text.contains("topic_formats"));
    let dev = Client::open_with_clock(&path, clock).unwrap();
    assert_eq!(dev.capabilities(), SuiteSet::EMPTY);
}

// ---------------------------------------------------------------------------
// MQTT level
// ---------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(60);

/// A C2 on the broker: answers Announces and Confirms on
/// `e4c2/announce/+`; after committing an upgrade it re-sends the topic key
/// and format under the new suite.
fn spawn_c2(port: u16, mut c2: C2, key: SymKey) -> tokio::task::JoinHandle<()> {
    let mut opts = MqttOptions::new(
        format!("c2-{}", hex::encode(random::<4>())),
        "127.0.0.1",
        port,
    );
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 64);
    tokio::spawn(async move {
        let control = c2.id.control_topic().to_string();
        loop {
            match el.poll().await {
                Ok(RawEvent::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("e4c2/announce/+", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(RawEvent::Incoming(Packet::Publish(p))) => {
                    assert_eq!(p.topic, announce_topic(&c2.id));
                    let out = match p.payload.get(8) {
                        Some(&ANNOUNCE_KIND) => c2
                            .on_announce(&p.payload)
                            .ok()
                            .flatten()
                            .into_iter()
                            .collect(),
                        Some(&CONFIRM_KIND) => match c2.on_confirm(&p.payload) {
                            Ok(()) => vec![
                                c2.set_topic_key(SHARED, &key),
                                c2.set_topic_format(SHARED, Sym),
                            ],
                            Err(_) => Vec::new(),
                        },
                        _ => Vec::new(),
                    };
                    for cmd in out {
                        client
                            .publish(&control, QoS::ExactlyOnce, false, cmd)
                            .await
                            .unwrap();
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_upgrades_by_itself_over_mqtt() {
    let Some(broker) = Broker::start("a_device_upgrades_by_itself_over_mqtt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.e4");
    let key = SymKey::new(random());
    let sym_key = SymKey::new(random());
    let mut dev = Client::create(&path, Config::sym_id_and_key(None, sym_key.clone())).unwrap();
    dev.set_topic_key(SHARED, &key).unwrap();
    dev.set_capabilities(SuiteSet::of(&[Pq, Hybrid])).unwrap();
    let c2 = C2 {
        keys: C2Keys::new(),
        policy: Policy::default().with_allowed(SuiteSet::of(&[Sym, Pq])),
        id: *dev.id(),
        suite: Sym,
        material: DeviceMaterial::Symmetric(sym_key),
        last_announce: None,
        pending: None,
        committed: None,
        clock: Box::new(SystemClock),
    };
    let c2_task = spawn_c2(broker.port, c2, key.clone());

    let mut config = MqttConfig::new("127.0.0.1", broker.port);
    config.negotiation_retry = Duration::from_millis(200);
    config.max_negotiation_retry = Duration::from_secs(2);
    let mut m = E4Mqtt::connect(dev, config).unwrap();
    let mut seen = Vec::new();
    let upgraded = tokio::time::timeout(WAIT, async {
        loop {
            let e = m.next_event().await.expect("the connection task ended");
            let done = matches!(
                e,
                Event::Negotiation(NegotiationEvent::TopicFormat { format: Sym, .. })
            ) && m.with_client(|c| c.suite()) == Pq;
            seen.push(e);
            if done {
                break;
            }
        }
    })
    .await;
    assert!(upgraded.is_ok(), "no upgrade; events: {seen:?}");
    c2_task.abort();
    let announced = seen
        .iter()
        .any(|e| matches!(e, Event::Negotiation(NegotiationEvent::Announced { offered }) if *offered == SuiteSet::of(&[Pq, Hybrid])));
    let accepted = seen.iter().any(|e| {
        matches!(
            e,
            Event::Negotiation(NegotiationEvent::Accepted { suite: Pq })
        )
    });
    let upgrade = seen.iter().any(|e| {
        matches!(
            e,
            Event::Negotiation(NegotiationEvent::Upgraded { from: Sym, to: Pq })
        )
    });
    assert!(announced && accepted && upgrade, "events: {seen:?}");
    let dev = m.disconnect().await;
    assert_eq!(dev.suite(), Pq);
    assert_eq!(dev.topic_format(SHARED), Sym);
    // Hybrid is still offered (C2's policy kept the device at pq).
    assert_eq!(dev.offered(), SuiteSet::of(&[Hybrid]));
    drop(dev);
    let dev = Client::open(&path).unwrap();
    assert_eq!(dev.suite(), Pq);
    assert!(dev.has_topic_key(SHARED));
}
