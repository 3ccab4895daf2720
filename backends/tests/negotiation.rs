//! Suite negotiation (`docs/negotiation.md`, `e4_proto::negotiation`) end
//! to end with the real backends: every device capability shape from every
//! current suite under several C2 policies; an active attacker on the
//! message path; interrupted upgrades and device restarts; parsers fed
//! arbitrary bytes.
//!
//! The harness: [`C2`] is C2's record of one device (registered suite and
//! material, last accepted Announce, pending answer) driving the library's
//! C2-side functions; [`Device`] is a device with its current client, the
//! client of the accepted suite while the upgrade is unconfirmed, and its
//! [`Negotiator`]; it can be persisted and restored.

mod common;

use common::{kem_keypair, random_key, rng, sig_keypair};
use e4_backends::provider;
use e4_proto::c2::{seal_command_vec, C2Secret};
use e4_proto::client::KemIdentity;
use e4_proto::command::{opcode, Command};
use e4_proto::crypto::Rng;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::negotiation::*;
use e4_proto::store::{MemStore, Store, TopicEntry};
use e4_proto::{
    Client, Clock, Error, FixedClock, Id, Identity, SuiteId, SuiteSet, SymKey, TopicHash,
};
use e4_testkit::TestRng;
use proptest::prelude::*;
use std::collections::HashMap;

use SuiteId::{Hybrid, PostQuantum as Pq, PqDraft, PubKey, Symmetric as Sym};

const T0: u64 = 1_800_000_000;
const TOPIC: &str = "sensors/temperature";

type Dev = Client<MemStore, &'static FixedClock>;

fn new_clock() -> &'static FixedClock {
    Box::leak(Box::new(FixedClock::new(T0)))
}

fn tick(clock: &FixedClock, secs: u64) {
    clock.set(clock.now() + secs);
}

/// The default ranking, written out independently of `Ranking`.
const ORDER: [SuiteId; 5] = [Sym, PubKey, PqDraft, Pq, Hybrid];

fn rank(s: SuiteId) -> usize {
    ORDER.iter().position(|x| *x == s).unwrap()
}

fn compiled() -> SuiteSet {
    SuiteSet::compiled_in(provider())
}

// ---------------------------------------------------------------------------
// C2
// ---------------------------------------------------------------------------

/// C2's own keys: X25519 for the public-key suite, a signature key pair per
/// kem suite.
struct C2Keys {
    x25519_sk: [u8; 32],
    sig: HashMap<SuiteId, (Vec<u8>, Vec<u8>)>,
}

impl C2Keys {
    fn new(label: &str) -> C2Keys {
        let mut r = rng(label);
        let mut x25519_sk = [0u8; 32];
        r.fill(&mut x25519_sk);
        let sig = provider()
            .suites
            .iter()
            .filter(|s| s.id.is_kem_suite())
            .map(|s| (s.id, sig_keypair(s.id, &mut r)))
            .collect();
        C2Keys { x25519_sk, sig }
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

/// C2's record of one device.
struct C2 {
    keys: C2Keys,
    policy: FleetPolicy,
    id: Id,
    suite: SuiteId,
    material: DeviceMaterial,
    last_announce: Option<u64>,
    pending: Option<Pending>,
    committed: Option<Pending>,
    clock: &'static FixedClock,
    rng: TestRng,
    topic_key: u8,
}

impl C2 {
    fn new(
        keys: C2Keys,
        policy: FleetPolicy,
        id: Id,
        suite: SuiteId,
        identity: &Identity,
        clock: &'static FixedClock,
    ) -> C2 {
        C2 {
            keys,
            policy,
            id,
            suite,
            material: DeviceMaterial::of_identity(identity),
            last_announce: None,
            pending: None,
            committed: None,
            clock,
            rng: rng("c2 negotiation"),
            topic_key: 1,
        }
    }

    /// A message on the announce topic: Announce or Confirm.
    fn receive(&mut self, msg: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match msg.get(8) {
            Some(&ANNOUNCE_KIND) => self.on_announce(msg).map(|(_, cmd)| cmd),
            Some(&CONFIRM_KIND) => self.on_confirm(msg).map(Some),
            _ => Err(Error::Negotiation(NegotiationError::Malformed)),
        }
    }

    /// Verify, choose, answer: returns the decision and the protected
    /// SetSuite command if it is an upgrade.
    fn on_announce(&mut self, msg: &[u8]) -> Result<(Decision, Option<Vec<u8>>), Error> {
        let p = provider();
        let now = self.clock.now();
        let a = verify_announce(
            p,
            msg,
            &self.id,
            self.suite,
            &self.material,
            self.last_announce,
            now,
        )?;
        self.last_announce = Some(a.ts());
        let decision = choose(&self.policy.for_device(&self.id), &a.offer(), compiled());
        self.pending = None;
        let cmd = match decision {
            Decision::Upgrade(s) | Decision::Rekey(s) => {
                let (set, pending) = answer(p, &a, s, &self.keys.public(s), &mut self.rng)?;
                self.pending = Some(pending);
                Some(self.seal(set.encode().as_bytes()))
            }
            _ => None,
        };
        Ok((decision, cmd))
    }

    /// Verify a Confirm; commit on the first, and answer every valid one
    /// with a command in the new suite (the device finishes on it).
    fn on_confirm(&mut self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let p = provider();
        let now = self.clock.now();
        if let Some(pending) = &self.pending {
            if verify_confirm(p, msg, pending, now).is_ok() {
                let pending = self.pending.take().unwrap();
                self.suite = pending.suite;
                self.material = pending.material.clone();
                self.committed = Some(pending);
                return Ok(self.topic_command());
            }
        }
        let committed = self
            .committed
            .as_ref()
            .ok_or(Error::Negotiation(NegotiationError::NoAnnounce))?;
        verify_confirm(p, msg, committed, now)?;
        Ok(self.topic_command())
    }

    /// A fresh SetTopicKey in the registered suite.
    fn topic_command(&mut self) -> Vec<u8> {
        self.topic_key = self.topic_key.wrapping_add(1).max(1);
        let key = [self.topic_key; 32];
        let topic = TopicHash::of(provider().hash, TOPIC.as_bytes());
        let cmd = Command::SetTopicKey { key: &key, topic }.to_vec();
        self.seal(&cmd)
    }

    fn seal(&mut self, cmd: &[u8]) -> Vec<u8> {
        seal_command_vec(
            provider(),
            self.suite,
            &self.id,
            self.material.device_key(),
            self.keys.secret(self.suite),
            self.clock.now(),
            cmd,
            &mut self.rng,
        )
        .unwrap()
    }
}

// ---------------------------------------------------------------------------
// Device
// ---------------------------------------------------------------------------

fn provision(suite: SuiteId, alias: &str, keys: &C2Keys) -> (Id, Identity) {
    let p = provider();
    let mut r = rng(alias);
    let id = Id::from_alias(p.hash, alias.as_bytes());
    let identity = match suite {
        Sym => Identity::Symmetric(SymKey::new(random_key(&mut r))),
        PubKey => {
            let (sk, _) = sig_keypair(suite, &mut r);
            Identity::PubKey {
                signing: Ed25519Secret::from_slice(&sk).unwrap(),
                c2_public: keys.public(PubKey).try_into().unwrap(),
            }
        }
        s => {
            let (sig_sk, sig_pk) = sig_keypair(s, &mut r);
            let (kem_sk, kem_pk) = kem_keypair(s, &mut r);
            Identity::Kem(KemIdentity {
                sig_sk: SecretBytes::new(sig_sk),
                sig_pk,
                kem_sk: SecretBytes::new(kem_sk),
                kem_pk,
                c2_sig_pk: keys.public(s),
            })
        }
    };
    (id, identity)
}

fn client(suite: SuiteId, id: Id, identity: Identity, clock: &'static FixedClock) -> Dev {
    Client::new(provider(), suite, id, identity, MemStore::new(), clock).unwrap()
}

/// What a device persists.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Persisted {
    suite: SuiteId,
    id: Id,
    identity: Identity,
    topics: Vec<(TopicHash, TopicEntry)>,
    neg: NegotiatorParts,
}

#[derive(Debug, PartialEq, Eq)]
enum DevOut {
    /// An ordinary command applied by the current client.
    Applied(u8),
    /// A SetSuite accepted: publish this Confirm.
    Confirm(Vec<u8>),
    /// The first command of the new suite: the upgrade is finished.
    Committed(u8),
}

struct Device {
    clock: &'static FixedClock,
    client: Dev,
    next: Option<Dev>,
    neg: Negotiator,
    rng: TestRng,
}

impl Device {
    fn new(
        suite: SuiteId,
        id: Id,
        identity: Identity,
        caps: SuiteSet,
        ranking: Ranking,
        clock: &'static FixedClock,
    ) -> Device {
        let client = client(suite, id, identity, clock);
        let neg = Negotiator::for_client(&client, caps, ranking).unwrap();
        Device {
            clock,
            client,
            next: None,
            neg,
            rng: rng(&format!("device {id}")),
        }
    }

    fn suite(&self) -> SuiteId {
        self.client.suite()
    }

    fn announce(&mut self) -> Result<Vec<u8>, Error> {
        self.neg.announce(&self.client, &mut self.rng)
    }

    fn announce_rekey(&mut self) -> Result<Vec<u8>, Error> {
        self.neg.announce_rekey(&self.client, &mut self.rng)
    }

    /// What a device sends when nothing happened for a while: its Confirm
    /// again once it accepted a SetSuite, otherwise a new Announce.
    fn timeout(&mut self) -> Vec<u8> {
        if self.neg.accepted_suite().is_some() {
            self.neg.confirm(self.clock.now()).unwrap()
        } else {
            self.announce().unwrap()
        }
    }

    /// A message on the control topic.
    fn receive(&mut self, msg: &[u8]) -> Result<DevOut, Error> {
        let mut scratch = vec![0u8; msg.len()];
        if let Some(next) = &mut self.next {
            if let Ok(op) = next.process_command(msg, &mut scratch) {
                self.client = self.next.take().unwrap();
                self.neg.finish().unwrap();
                return Ok(DevOut::Committed(op));
            }
        }
        match self.client.process_command(msg, &mut scratch) {
            Ok(op) => Ok(DevOut::Applied(op)),
            Err(Error::InvalidCommand) => {
                let acc = self.neg.accept(&self.client, msg)?;
                if self.next.is_none() {
                    let mut next = client(acc.suite, *self.client.id(), acc.identity, self.clock);
                    copy_topics(&self.client, &mut next);
                    self.next = Some(next);
                }
                Ok(DevOut::Confirm(acc.confirm))
            }
            Err(e) => Err(e),
        }
    }

    fn persist(&self) -> Persisted {
        let mut topics = Vec::new();
        self.client
            .store()
            .for_each_topic(&mut |h, e| topics.push((*h, e.clone())));
        Persisted {
            suite: self.client.suite(),
            id: *self.client.id(),
            identity: self.client.identity().clone(),
            topics,
            neg: self.neg.to_parts(),
        }
    }

    fn restore(p: Persisted, clock: &'static FixedClock) -> Device {
        let mut c = client(p.suite, p.id, p.identity, clock);
        for (h, e) in p.topics {
            c.set_topic_key(&h, &e.key).unwrap();
        }
        let neg = Negotiator::from_parts(provider(), p.neg).unwrap();
        let next = neg.accepted_suite().map(|s| {
            let mut n = client(s, p.id, neg.new_identity().unwrap(), clock);
            copy_topics(&c, &mut n);
            n
        });
        Device {
            clock,
            client: c,
            next,
            neg,
            rng: rng(&format!("device {} restarted at {}", p.id, clock.now())),
        }
    }

    /// Restart: rebuild everything from what was persisted.
    fn restart(&mut self) {
        *self = Device::restore(self.persist(), self.clock);
    }
}

fn copy_topics(from: &Dev, to: &mut Dev) {
    let mut topics = Vec::new();
    from.store()
        .for_each_topic(&mut |h, e| topics.push((*h, e.key.clone())));
    for (h, k) in topics {
        to.set_topic_key(&h, &k).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// Device capability shapes (each includes the suites it may start from).
fn shapes() -> Vec<SuiteSet> {
    let all: &[&[SuiteId]] = &[
        &[Sym],
        &[PubKey],
        &[Sym, PubKey],
        &[Sym, Pq],
        &[Sym, PubKey, Pq],
        &[PubKey, PqDraft],
        &[Sym, PubKey, Pq, Hybrid],
        &[Pq, Hybrid],
        &[PqDraft, Pq],
        &[Sym, Hybrid],
        &[PubKey, PqDraft, Pq],
        &[Sym, PubKey, PqDraft, Pq, Hybrid],
    ];
    all.iter()
        .map(|s| SuiteSet::of(s).intersection(compiled()))
        .collect()
}

/// The policies to test, by name. The override one gives the device under
/// test {pubkey, pq-draft} and another device {hybrid}.
fn policies(device: &Id) -> Vec<(&'static str, FleetPolicy)> {
    let default = Policy::default();
    let mut over = FleetPolicy::new(default);
    over.set_override(*device, SuiteSet::of(&[PubKey, PqDraft]));
    over.set_override(Id([0xee; 16]), SuiteSet::of(&[Hybrid]));
    vec![
        ("default", FleetPolicy::new(default)),
        ("minimum pq", FleetPolicy::new(default.with_minimum(Pq))),
        (
            "no hybrid",
            FleetPolicy::new(default.with_allowed(SuiteSet::ALL.without(Hybrid))),
        ),
        ("override", over),
    ]
}

/// The expected decision, computed by brute force with the default ranking.
fn expected(policy: &Policy, current: SuiteId, caps: SuiteSet) -> Decision {
    let mut best: Option<SuiteId> = None;
    for s in SuiteId::ALL {
        let ok = caps.contains(s)
            && compiled().contains(s)
            && policy.allowed.contains(s)
            && rank(s) > rank(current)
            && rank(s) >= rank(policy.minimum);
        if ok && best.is_none_or(|b| rank(s) > rank(b)) {
            best = Some(s);
        }
    }
    // (A device offers its current suite only when it asks for a rekey,
    // which these exchanges do not.)
    match best {
        Some(s) => Decision::Upgrade(s),
        None if rank(current) >= rank(policy.minimum) => Decision::Stay,
        None => Decision::BelowMinimum,
    }
}

fn target(d: Decision, current: SuiteId) -> SuiteId {
    match d {
        Decision::Upgrade(s) => s,
        _ => current,
    }
}

struct World {
    clock: &'static FixedClock,
    dev: Device,
    c2: C2,
}

fn world(current: SuiteId, caps: SuiteSet, policy: FleetPolicy, alias: &str) -> World {
    let clock = new_clock();
    let keys = C2Keys::new("c2 keys");
    let (id, identity) = provision(current, alias, &keys);
    let c2 = C2::new(keys, policy, id, current, &identity, clock);
    let dev = Device::new(current, id, identity, caps, Ranking::DEFAULT, clock);
    World { clock, dev, c2 }
}

fn device_id(alias: &str) -> Id {
    Id::from_alias(provider().hash, alias.as_bytes())
}

/// One honest exchange; returns C2's decision.
fn negotiate(w: &mut World) -> Decision {
    let a = w.dev.announce().unwrap();
    let (d, cmd) = w.c2.on_announce(&a).unwrap();
    if let Some(cmd) = cmd {
        let DevOut::Confirm(confirm) = w.dev.receive(&cmd).unwrap() else {
            panic!("SetSuite not accepted");
        };
        let first = w.c2.on_confirm(&confirm).unwrap();
        assert_eq!(
            w.dev.receive(&first).unwrap(),
            DevOut::Committed(opcode::SET_TOPIC_KEY)
        );
    }
    d
}

/// Both sides run `suite` and a command from C2 goes through.
fn assert_settled(w: &mut World, suite: SuiteId, what: &str) {
    assert_eq!(w.dev.suite(), suite, "device, {what}");
    assert!(w.dev.next.is_none(), "device still upgrading, {what}");
    assert_eq!(w.c2.suite, suite, "C2, {what}");
    tick(w.clock, 1);
    let cmd = w.c2.topic_command();
    assert_eq!(
        w.dev.receive(&cmd),
        Ok(DevOut::Applied(opcode::SET_TOPIC_KEY)),
        "{what}"
    );
}

// ---------------------------------------------------------------------------
// Tests: policy
// ---------------------------------------------------------------------------

#[test]
fn choice_follows_the_policy() {
    let all = SuiteSet::ALL;
    let p = Policy::default();
    let c = |cur, s: &[SuiteId]| Offer {
        current: cur,
        suites: SuiteSet::of(s),
    };
    assert_eq!(
        choose(&p, &c(Sym, &[PubKey, Pq, Hybrid]), all),
        Decision::Upgrade(Hybrid)
    );
    assert_eq!(
        choose(&p, &c(Sym, &[PubKey, Pq, Hybrid]), all.without(Hybrid)),
        Decision::Upgrade(Pq)
    );
    assert_eq!(choose(&p, &c(Hybrid, &[PubKey, Pq]), all), Decision::Stay);
    assert_eq!(choose(&p, &c(Pq, &[PqDraft]), all), Decision::Stay);
    let min = p.with_minimum(Pq);
    assert_eq!(
        choose(&min, &c(Sym, &[PubKey]), all),
        Decision::BelowMinimum
    );
    assert_eq!(
        choose(&min, &c(Sym, &[PubKey, PqDraft]), all),
        Decision::BelowMinimum
    );
    assert_eq!(choose(&min, &c(PqDraft, &[]), all), Decision::BelowMinimum);
    assert_eq!(
        choose(&min, &c(Sym, &[PubKey, Pq]), all),
        Decision::Upgrade(Pq)
    );
    assert_eq!(choose(&min, &c(Pq, &[]), all), Decision::Stay);
    let no_hybrid = p.with_allowed(all.without(Hybrid));
    assert_eq!(
        choose(&no_hybrid, &c(PubKey, &[Pq, Hybrid]), all),
        Decision::Upgrade(Pq)
    );
    // an unranked-by-allowed current suite is never left for a weaker one
    let only_pubkey = p.with_allowed(SuiteSet::of(&[PubKey]));
    assert_eq!(choose(&only_pubkey, &c(Pq, &[Hybrid]), all), Decision::Stay);
    // a custom ranking
    let r = Ranking::new(&[Sym, PubKey, Pq, PqDraft, Hybrid]).unwrap();
    let custom = Policy { ranking: r, ..p };
    assert_eq!(
        choose(&custom, &c(Sym, &[Pq, PqDraft]), all),
        Decision::Upgrade(PqDraft)
    );
    assert_eq!(
        Ranking::new(&[Sym, PubKey, Pq, Pq, Hybrid]),
        Err(Error::Negotiation(NegotiationError::InvalidRanking))
    );
    assert_eq!(
        Ranking::new(&[Sym, PubKey]),
        Err(Error::Negotiation(NegotiationError::InvalidRanking))
    );

    let dev = device_id("override");
    let mut fleet = FleetPolicy::new(p);
    fleet.set_override(dev, SuiteSet::of(&[PubKey, PqDraft]));
    assert_eq!(
        fleet.for_device(&dev).allowed,
        SuiteSet::of(&[PubKey, PqDraft])
    );
    assert_eq!(fleet.for_device(&Id([1; 16])), p);
    fleet.remove_override(&dev);
    assert_eq!(fleet.for_device(&dev), p);

    // the brute-force oracle agrees with hand-written expectations
    let caps = SuiteSet::ALL.intersection(compiled());
    assert_eq!(expected(&p, Sym, caps), Decision::Upgrade(Hybrid));
    assert_eq!(
        expected(&p.with_allowed(SuiteSet::of(&[PubKey, PqDraft])), Sym, caps),
        Decision::Upgrade(PqDraft)
    );
    assert_eq!(
        expected(&min, Sym, SuiteSet::of(&[Sym, PubKey])),
        Decision::BelowMinimum
    );
}

// ---------------------------------------------------------------------------
// Tests: every shape, every start, every policy
// ---------------------------------------------------------------------------

#[test]
fn kem_devices_rekey_in_their_suite_and_the_old_keys_read_nothing_after() {
    let p = Policy::default();
    let all = SuiteSet::ALL;
    let offer = |cur, s: &[SuiteId]| Offer {
        current: cur,
        suites: SuiteSet::of(s),
    };
    // C2 answers a rekey only when nothing stronger is offered and allowed,
    // only for a KEM suite, and never below the minimum.
    assert_eq!(choose(&p, &offer(Pq, &[Pq]), all), Decision::Rekey(Pq));
    assert_eq!(
        choose(&p, &offer(Pq, &[Pq, Hybrid]), all),
        Decision::Upgrade(Hybrid)
    );
    assert_eq!(choose(&p, &offer(PubKey, &[PubKey]), all), Decision::Stay);
    assert_eq!(choose(&p, &offer(Sym, &[Sym]), all), Decision::Stay);
    assert_eq!(
        choose(&p, &offer(Pq, &[Pq]), all.without(Pq)),
        Decision::Stay
    );
    assert_eq!(
        choose(&p.with_minimum(Hybrid), &offer(Pq, &[Pq]), all),
        Decision::BelowMinimum
    );
    // Rekeying keeps the suite, so the allowed set (where C2 may move a
    // device) does not stop it.
    assert_eq!(
        choose(
            &p.with_allowed(SuiteSet::of(&[Hybrid])),
            &offer(Pq, &[Pq]),
            all
        ),
        Decision::Rekey(Pq)
    );

    for suite in [PqDraft, Pq, Hybrid] {
        if !compiled().contains(suite) {
            continue;
        }
        let what = format!("rekey in {suite}");
        let mut w = world(suite, SuiteSet::EMPTY, FleetPolicy::default(), &what);
        let old_identity = w.dev.client.identity().clone();
        let mut old = client(suite, w.c2.id, old_identity.clone(), w.clock);
        // Before: a command C2 seals can be read with the old keys.
        tick(w.clock, 1);
        let before = w.c2.topic_command();
        let mut scratch = vec![0u8; before.len()];
        assert!(old.process_command(&before, &mut scratch).is_ok(), "{what}");
        assert!(w.dev.receive(&before).is_ok(), "{what}");

        tick(w.clock, 1);
        let a = w.dev.announce_rekey().unwrap();
        let (d, cmd) = w.c2.on_announce(&a).unwrap();
        assert_eq!(d, Decision::Rekey(suite), "{what}");
        let DevOut::Confirm(confirm) = w.dev.receive(&cmd.unwrap()).unwrap() else {
            panic!("{what}: SetSuite not accepted");
        };
        let first = w.c2.on_confirm(&confirm).unwrap();
        assert_eq!(
            w.dev.receive(&first).unwrap(),
            DevOut::Committed(opcode::SET_TOPIC_KEY),
            "{what}"
        );
        assert_settled(&mut w, suite, &what);
        let Identity::Kem(new) = w.dev.client.identity().clone() else {
            panic!("{what}: not a KEM identity")
        };
        let Identity::Kem(was) = old_identity else {
            panic!("{what}: not a KEM identity")
        };
        assert_ne!(new.kem_pk, was.kem_pk, "{what}: new decapsulation key");
        assert_ne!(new.sig_pk, was.sig_pk, "{what}: new signature key");
        assert!(
            matches!(&w.c2.material, DeviceMaterial::Kem { kem_pk, .. } if *kem_pk == new.kem_pk),
            "{what}: C2 holds the new key"
        );
        // After: what C2 seals is for the new keys only.
        tick(w.clock, 1);
        let after = w.c2.topic_command();
        let mut scratch = vec![0u8; after.len()];
        assert_eq!(
            old.process_command(&after, &mut scratch),
            Err(Error::NotAuthentic),
            "{what}: the old keys read a command sealed after the rekey"
        );
        assert!(w.dev.receive(&after).is_ok(), "{what}");
    }

    // A device that did not offer its suite again refuses a SetSuite for
    // it; a rekey is refused for suites whose keys C2 sets (SetIdKey).
    let mut w = world(
        Pq,
        SuiteSet::of(&[Hybrid]),
        FleetPolicy::default(),
        "no rekey asked",
    );
    let a = w.dev.announce().unwrap();
    let parsed = Announce::parse(&a).unwrap();
    let set = set(Pq, parsed.transcript(provider()), &w.c2.keys.public(Pq));
    let cmd = w.c2.seal(set.encode().as_bytes());
    assert_eq!(
        w.dev.receive(&cmd),
        Err(Error::Negotiation(NegotiationError::Downgrade))
    );
    for suite in [Sym, PubKey] {
        let mut w = world(
            suite,
            SuiteSet::EMPTY,
            FleetPolicy::default(),
            "rekey refused",
        );
        assert_eq!(
            w.dev.announce_rekey(),
            Err(Error::Negotiation(NegotiationError::RekeyUnsupported))
        );
    }
}

#[test]
fn every_shape_from_every_suite_under_every_policy() {
    let mut upgrades = 0;
    let mut runs = 0;
    for caps in shapes() {
        for current in caps.iter() {
            let alias = format!("device {caps:?} from {current}");
            for (name, fleet) in policies(&device_id(&alias)) {
                let policy = fleet.for_device(&device_id(&alias));
                let want = expected(&policy, current, caps);
                let mut w = world(current, caps, fleet, &alias);
                let what = format!("{caps:?} from {current}, policy {name}");
                let got = negotiate(&mut w);
                assert_eq!(got, want, "{what}");
                assert_settled(&mut w, target(want, current), &what);
                // a second round changes nothing
                tick(w.clock, 1);
                let again = negotiate(&mut w);
                assert!(
                    !matches!(again, Decision::Upgrade(_)),
                    "{what}: second round gave {again:?}"
                );
                assert_settled(&mut w, target(want, current), &what);
                upgrades += usize::from(matches!(want, Decision::Upgrade(_)));
                runs += 1;
            }
        }
    }
    assert!(runs >= 100, "{runs} runs");
    assert!(upgrades >= 40, "{upgrades} upgrades of {runs}");
}

#[test]
fn symmetric_can_be_a_target_under_a_custom_ranking() {
    // A fleet that ranks symmetric above pubkey: the SetSuite carries the
    // new client key, the Confirm is an AES-SIV tag under it.
    let r = Ranking::new(&[PubKey, Sym, PqDraft, Pq, Hybrid]).unwrap();
    let policy = Policy {
        ranking: r,
        ..Policy::default()
    };
    let clock = new_clock();
    let keys = C2Keys::new("c2 keys");
    let (id, identity) = provision(PubKey, "to symmetric", &keys);
    let c2 = C2::new(keys, FleetPolicy::new(policy), id, PubKey, &identity, clock);
    let dev = Device::new(PubKey, id, identity, SuiteSet::of(&[PubKey, Sym]), r, clock);
    let mut w = World { clock, dev, c2 };
    assert_eq!(negotiate(&mut w), Decision::Upgrade(Sym));
    assert_settled(&mut w, Sym, "pubkey to symmetric");
    // and onwards from symmetric with the new key
    tick(clock, 1);
    assert_eq!(negotiate(&mut w), Decision::Stay);
}

#[test]
fn process_command_still_refuses_set_suite_and_open_control_applies_nothing() {
    let mut w = world(
        Sym,
        SuiteSet::of(&[Sym, Pq]),
        FleetPolicy::default(),
        "opcode 8",
    );
    let a = w.dev.announce().unwrap();
    let (_, cmd) = w.c2.on_announce(&a).unwrap();
    let cmd = cmd.unwrap();
    let before = w.dev.persist();
    let mut scratch = vec![0u8; cmd.len()];
    assert_eq!(
        w.dev.client.process_command(&cmd, &mut scratch),
        Err(Error::InvalidCommand)
    );
    assert_eq!(w.dev.persist(), before);
    // open_control authenticates and decrypts without applying
    let topic_cmd = w.c2.topic_command();
    let opened = w.dev.client.open_control(&topic_cmd, &mut scratch).unwrap();
    assert_eq!(opened.plaintext().len(), 49);
    assert!(matches!(
        opened.parse(Sym),
        Ok(e4_proto::Control::Command(
            e4_proto::Command::SetTopicKey { .. }
        ))
    ));
    assert_eq!(scratch[0], opcode::SET_TOPIC_KEY);
    assert_eq!(w.dev.persist(), before);
    let mut bad = topic_cmd.clone();
    bad[10] ^= 1;
    assert_eq!(
        w.dev.client.open_control(&bad, &mut scratch).unwrap_err(),
        Error::NotAuthentic
    );
    // The SetSuite parses into the one control enum; process_command
    // (e4go's API) refused it above.
    let mut scratch = vec![0u8; cmd.len()];
    let opened = w.dev.client.open_control(&cmd, &mut scratch).unwrap();
    match opened.parse(Sym) {
        Ok(e4_proto::Control::SetSuite(s)) => assert_eq!(s.suite, Pq),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tests: C2-side verification
// ---------------------------------------------------------------------------

#[test]
fn c2_refuses_bad_announces_and_confirms() {
    for current in [Sym, PubKey, PqDraft] {
        let caps = SuiteSet::of(&[current, Pq, Hybrid]).intersection(compiled());
        let alias = format!("c2 checks {current}");
        let mut w = world(current, caps, FleetPolicy::default(), &alias);
        let p = provider();
        let a = w.dev.announce().unwrap();
        let now = w.clock.now();
        let m = &w.c2.material.clone();
        let id = w.c2.id;
        let v = |msg: &[u8], id: &Id, s, m: &DeviceMaterial, last, now| {
            verify_announce(p, msg, id, s, m, last, now).map(|_| ())
        };
        assert_eq!(v(&a, &id, current, m, None, now), Ok(()));
        assert_eq!(
            v(&a, &Id([9; 16]), current, m, None, now),
            Err(Error::Negotiation(NegotiationError::WrongDevice))
        );
        assert_eq!(
            v(&a, &id, Hybrid, m, None, now),
            Err(Error::Negotiation(NegotiationError::WrongSuite))
        );
        assert_eq!(
            v(&a, &id, current, m, None, now + 600),
            Err(Error::Negotiation(NegotiationError::TooOld))
        );
        assert_eq!(
            v(&a, &id, current, m, None, now - 1),
            Err(Error::Negotiation(NegotiationError::InFuture))
        );
        assert_eq!(
            v(&a, &id, current, m, Some(now), now),
            Err(Error::Negotiation(NegotiationError::NotNewer))
        );
        assert_eq!(v(&a, &id, current, m, Some(now - 1), now), Ok(()));
        // someone else's material (another device of the same suite)
        let (_, other) = provision(current, "another device", &w.c2.keys);
        let other = DeviceMaterial::of_identity(&other);
        assert_eq!(
            v(&a, &id, current, &other, None, now),
            Err(Error::Negotiation(NegotiationError::NotAuthentic))
        );

        // Confirm checks
        let (_, cmd) = w.c2.on_announce(&a).unwrap();
        let DevOut::Confirm(conf) = w.dev.receive(&cmd.unwrap()).unwrap() else {
            panic!()
        };
        let pending = w.c2.pending.clone().unwrap();
        assert!(verify_confirm(p, &conf, &pending, now).is_ok());
        let mut wrong = pending.clone();
        wrong.transcript[0] ^= 1;
        assert_eq!(
            verify_confirm(p, &conf, &wrong, now).map(|_| ()),
            Err(Error::Negotiation(NegotiationError::TranscriptMismatch))
        );
        let mut wrong = pending.clone();
        wrong.device = Id([3; 16]);
        assert_eq!(
            verify_confirm(p, &conf, &wrong, now).map(|_| ()),
            Err(Error::Negotiation(NegotiationError::WrongDevice))
        );
        assert_eq!(
            verify_confirm(p, &conf, &pending, now + 600).map(|_| ()),
            Err(Error::Negotiation(NegotiationError::TooOld))
        );
        // a Confirm signed by keys other than the offered ones
        let (_, impostor) = provision(pending.suite, "impostor", &w.c2.keys);
        let mut wrong = pending.clone();
        wrong.material = DeviceMaterial::of_identity(&impostor);
        assert_eq!(
            verify_confirm(p, &conf, &wrong, now).map(|_| ()),
            Err(Error::Negotiation(NegotiationError::NotAuthentic))
        );
        // an Announce is not a Confirm and vice versa
        assert_eq!(
            verify_confirm(p, &a, &pending, now).map(|_| ()),
            Err(Error::Negotiation(NegotiationError::WrongKind))
        );
        assert_eq!(
            v(&conf, &id, current, m, None, now),
            Err(Error::Negotiation(NegotiationError::WrongKind))
        );
    }
}

// ---------------------------------------------------------------------------
// Tests: device-side checks against an authentic but wrong SetSuite
// ---------------------------------------------------------------------------

#[test]
fn device_refuses_wrong_set_suites_even_from_c2() {
    // current pq-draft, offering pq and hybrid
    let caps = SuiteSet::of(&[PubKey, PqDraft, Pq, Hybrid]);
    let mut w = world(PqDraft, caps, FleetPolicy::default(), "strict device");
    let p = provider();
    let a_bytes = w.dev.announce().unwrap();
    let a = Announce::parse(&a_bytes).unwrap();
    assert_eq!(a.offer().suites, SuiteSet::of(&[Pq, Hybrid]));
    let h = a.transcript(p);
    let c2_pq = w.c2.keys.public(Pq);
    let cases: Vec<(SetSuite, Error)> = vec![
        (
            set(PubKey, h, &[7; 32]),
            Error::Negotiation(NegotiationError::Downgrade),
        ),
        (
            set(PqDraft, h, &w.c2.keys.public(PqDraft)),
            Error::Negotiation(NegotiationError::Downgrade),
        ),
        (
            set(Sym, h, &[7; 32]),
            Error::Negotiation(NegotiationError::Downgrade),
        ),
        (
            set(Pq, [0; 32], &c2_pq),
            Error::Negotiation(NegotiationError::TranscriptMismatch),
        ),
        (
            set(Pq, h, &c2_pq[1..]),
            Error::Negotiation(NegotiationError::BadKey),
        ),
        (
            set(Pq, h, &vec![0; c2_pq.len()]),
            Error::Negotiation(NegotiationError::BadKey),
        ),
    ];
    let before = w.dev.persist();
    for (s, err) in cases {
        let cmd = w.c2.seal(s.encode().as_bytes());
        assert_eq!(w.dev.receive(&cmd), Err(err), "{s:?}");
        assert_eq!(w.dev.persist(), before, "{s:?}");
    }
    // malformed plaintexts behind a valid envelope
    for bad in [
        vec![SET_SUITE_OPCODE],
        vec![SET_SUITE_OPCODE, Pq.code()],
        [&[SET_SUITE_OPCODE, 0x33][..], &h[..], &c2_pq[..]].concat(),
        [&[SET_SUITE_OPCODE, Pq.code()][..], &h[..]].concat(),
    ] {
        let cmd = w.c2.seal(&bad);
        assert!(w.dev.receive(&cmd).is_err());
        assert_eq!(w.dev.persist(), before);
    }
    // the right one, then a conflicting one for the same Announce
    let cmd = w.c2.seal(set(Pq, h, &c2_pq).encode().as_bytes());
    assert!(matches!(w.dev.receive(&cmd), Ok(DevOut::Confirm(_))));
    let mid = w.dev.persist();
    let cmd = w.c2.seal(
        set(Hybrid, h, &w.c2.keys.public(Hybrid))
            .encode()
            .as_bytes(),
    );
    assert_eq!(
        w.dev.receive(&cmd),
        Err(Error::Negotiation(NegotiationError::Conflict))
    );
    // and an announce is refused until the upgrade is finished
    assert_eq!(
        w.dev.announce(),
        Err(Error::Negotiation(NegotiationError::AlreadyAccepted))
    );
    assert_eq!(w.dev.persist(), mid);
    // the same SetSuite again (a replay, or C2 retrying) gives a new Confirm
    tick(w.clock, 2);
    let cmd = w.c2.seal(set(Pq, h, &c2_pq).encode().as_bytes());
    let DevOut::Confirm(c) = w.dev.receive(&cmd).unwrap() else {
        panic!()
    };
    assert_eq!(Confirm::parse(&c).unwrap().suite, Pq);

    // no Announce at all
    let mut fresh = world(
        Sym,
        SuiteSet::of(&[Sym, Pq]),
        FleetPolicy::default(),
        "never announced",
    );
    let cmd = fresh.c2.seal(set(Pq, h, &c2_pq).encode().as_bytes());
    assert_eq!(
        fresh.dev.receive(&cmd),
        Err(Error::Negotiation(NegotiationError::NoAnnounce))
    );
}

fn set(suite: SuiteId, transcript: [u8; 32], key: &[u8]) -> SetSuite {
    SetSuite {
        suite,
        transcript,
        key: SecretBytes::from_slice(key),
    }
}

// ---------------------------------------------------------------------------
// Tests: the attacker on the message path
// ---------------------------------------------------------------------------

fn tamper(msg: &[u8], r: u64) -> Vec<u8> {
    let mut m = msg.to_vec();
    match r % 4 {
        0 | 1 => {
            let i = (r / 4) as usize % m.len();
            m[i] ^= 1 << ((r / 7) % 8);
        }
        2 => m.truncate((r / 4) as usize % m.len()),
        _ => m.push((r >> 8) as u8),
    }
    m
}

#[test]
fn modified_announces_never_move_anyone() {
    for current in [Sym, PubKey, Pq] {
        let caps = SuiteSet::of(&[current, PqDraft, Pq, Hybrid]).intersection(compiled());
        let mut w = world(
            current,
            caps,
            FleetPolicy::default(),
            &format!("tamper {current}"),
        );
        let a = w.dev.announce().unwrap();
        let parsed = Announce::parse(&a).unwrap();
        // every byte of the header and of the first key, and some of the rest
        let mut positions: Vec<usize> = (0..60.min(a.len())).collect();
        positions.extend((60..a.len()).step_by(97));
        positions.push(a.len() - 1);
        for i in positions {
            let mut m = a.clone();
            m[i] ^= 0x10;
            assert!(w.c2.on_announce(&m).is_err(), "{current}: byte {i}");
        }
        for n in [0, 8, 27, a.len() - parsed.auth().len(), a.len() - 1] {
            assert!(
                w.c2.on_announce(&a[..n]).is_err(),
                "{current}: truncated to {n}"
            );
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(w.c2.on_announce(&longer).is_err());
        // an offer's keys replaced by the attacker's own, re-encoded
        // exactly, with the original authenticator
        let evil = C2Keys::new("attacker");
        let (_, fake) = provision(Hybrid, "attacker device", &evil);
        let Identity::Kem(fake) = fake else { panic!() };
        let mut forged = a[..27].to_vec();
        for o in parsed.offers() {
            let (sig_pk, kem_pk) = if o.suite == Hybrid {
                (fake.sig_pk.clone(), fake.kem_pk.clone())
            } else {
                (o.sig_pk.clone(), o.kem_pk.clone())
            };
            forged.push(o.suite.code());
            forged.extend_from_slice(&(sig_pk.len() as u16).to_le_bytes());
            forged.extend_from_slice(&sig_pk);
            forged.extend_from_slice(&(kem_pk.len() as u16).to_le_bytes());
            forged.extend_from_slice(&kem_pk);
        }
        forged.extend_from_slice(parsed.auth());
        assert_eq!(forged.len(), a.len());
        assert_eq!(
            Announce::parse(&forged)
                .unwrap()
                .offered(Hybrid)
                .unwrap()
                .sig_pk,
            fake.sig_pk
        );
        assert_eq!(
            w.c2.on_announce(&forged).unwrap_err(),
            Error::Negotiation(NegotiationError::NotAuthentic)
        );
        assert!(w.c2.last_announce.is_none() && w.c2.pending.is_none());
        assert_eq!(negotiate(&mut w), Decision::Upgrade(Hybrid));
        assert_settled(&mut w, Hybrid, "after tampering");
    }
}

#[test]
fn replayed_old_announce_offering_fewer_suites_gains_nothing() {
    let alias = "firmware update";
    let caps_old = SuiteSet::of(&[PubKey, PqDraft]);
    let caps_new = SuiteSet::of(&[PubKey, PqDraft, Pq, Hybrid]);

    // Case 1: the attacker delivers only the old Announce.
    let mut w = world(PubKey, caps_old, FleetPolicy::default(), alias);
    let old = w.dev.announce().unwrap();
    tick(w.clock, 5);
    w.dev.neg = Negotiator::for_client(&w.dev.client, caps_new, Ranking::DEFAULT).unwrap();
    let new = w.dev.announce().unwrap();
    let (d, cmd) = w.c2.on_announce(&old).unwrap();
    assert_eq!(d, Decision::Upgrade(PqDraft));
    assert_eq!(
        w.dev.receive(&cmd.unwrap()),
        Err(Error::Negotiation(NegotiationError::TranscriptMismatch))
    );
    assert_eq!(w.dev.suite(), PubKey);
    assert!(w.dev.next.is_none());
    // the new one, delivered late, is newer: hybrid
    let (d, cmd) = w.c2.on_announce(&new).unwrap();
    assert_eq!(d, Decision::Upgrade(Hybrid));
    let DevOut::Confirm(c) = w.dev.receive(&cmd.unwrap()).unwrap() else {
        panic!()
    };
    let first = w.c2.on_confirm(&c).unwrap();
    w.dev.receive(&first).unwrap();
    assert_settled(&mut w, Hybrid, "case 1");
    // replaying either announce now does nothing
    assert!(w.c2.on_announce(&old).is_err());
    assert!(w.c2.on_announce(&new).is_err());

    // Case 2: new first, then the old one: refused as not newer.
    let mut w = world(PubKey, caps_old, FleetPolicy::default(), alias);
    let old = w.dev.announce().unwrap();
    tick(w.clock, 5);
    w.dev.neg = Negotiator::for_client(&w.dev.client, caps_new, Ranking::DEFAULT).unwrap();
    let new = w.dev.announce().unwrap();
    let (_, cmd) = w.c2.on_announce(&new).unwrap();
    assert_eq!(
        w.c2.on_announce(&old).unwrap_err(),
        Error::Negotiation(NegotiationError::NotNewer)
    );
    assert_eq!(w.c2.pending.as_ref().unwrap().suite, Hybrid);
    let DevOut::Confirm(c) = w.dev.receive(&cmd.unwrap()).unwrap() else {
        panic!()
    };
    let first = w.c2.on_confirm(&c).unwrap();
    w.dev.receive(&first).unwrap();
    assert_settled(&mut w, Hybrid, "case 2");
}

#[test]
fn replayed_old_set_suite_for_a_weaker_suite_is_refused() {
    let alias = "old setsuite";
    let caps = SuiteSet::of(&[Sym, PubKey, Pq]);
    let mut fleet = FleetPolicy::default();
    fleet.set_override(device_id(alias), SuiteSet::of(&[PubKey]));
    let mut w = world(Sym, caps, fleet, alias);
    let a1 = w.dev.announce().unwrap();
    let (d, ss1) = w.c2.on_announce(&a1).unwrap();
    assert_eq!(d, Decision::Upgrade(PubKey));
    let ss1 = ss1.unwrap(); // captured and dropped by the attacker
                            // the operator lifts the override; the device announces again
    w.c2.policy.remove_override(&device_id(alias));
    tick(w.clock, 30);
    let a2 = w.dev.announce().unwrap();
    let (d, ss2) = w.c2.on_announce(&a2).unwrap();
    assert_eq!(d, Decision::Upgrade(Pq));
    let ss2 = ss2.unwrap();
    // the old SetSuite (authentic, still fresh) is refused
    let before = w.dev.persist();
    assert_eq!(
        w.dev.receive(&ss1),
        Err(Error::Negotiation(NegotiationError::TranscriptMismatch))
    );
    assert_eq!(w.dev.persist(), before);
    let DevOut::Confirm(c) = w.dev.receive(&ss2).unwrap() else {
        panic!()
    };
    // while unconfirmed, the old one is still refused
    assert_eq!(
        w.dev.receive(&ss1),
        Err(Error::Negotiation(NegotiationError::TranscriptMismatch))
    );
    let first = w.c2.on_confirm(&c).unwrap();
    assert_eq!(
        w.dev.receive(&first),
        Ok(DevOut::Committed(opcode::SET_TOPIC_KEY))
    );
    // afterwards the old suite's commands mean nothing to the device
    assert!(w.dev.receive(&ss1).is_err());
    assert!(w.dev.receive(&ss2).is_err());
    assert_settled(&mut w, Pq, "after replays");
}

#[test]
fn attacker_cannot_forge_a_set_suite_even_knowing_the_transcript() {
    for current in [Sym, PubKey, PqDraft] {
        let caps = SuiteSet::of(&[current, Pq, Hybrid]).intersection(compiled());
        let alias = format!("forgery {current}");
        let mut w = world(current, caps, FleetPolicy::default(), &alias);
        let a = w.dev.announce().unwrap();
        let h = Announce::parse(&a).unwrap().transcript(provider());
        // The attacker's own C2 keys and a device key of its choosing.
        let evil = C2Keys::new("attacker");
        let (_, fake) = provision(current, "the attacker's guess", &evil);
        let fake_material = DeviceMaterial::of_identity(&fake);
        let before = w.dev.persist();
        for s in [Pq, Hybrid] {
            let plain = set(s, h, &evil.public(s)).encode();
            let cmd = seal_command_vec(
                provider(),
                current,
                &w.c2.id,
                fake_material.device_key(),
                evil.secret(current),
                w.clock.now(),
                plain.as_bytes(),
                &mut rng("evil"),
            )
            .unwrap();
            assert!(w.dev.receive(&cmd).is_err(), "{current} -> {s}");
            assert_eq!(w.dev.persist(), before);
        }
        // bit flips of the genuine SetSuite
        let (_, cmd) = w.c2.on_announce(&a).unwrap();
        let cmd = cmd.unwrap();
        for r in 0..64u64 {
            let m = tamper(&cmd, r.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ r);
            assert!(w.dev.receive(&m).is_err(), "{current}: tamper {r}");
            assert_eq!(w.dev.persist(), before);
        }
        let DevOut::Confirm(c) = w.dev.receive(&cmd).unwrap() else {
            panic!()
        };
        // tampered Confirms never commit C2
        for r in 0..32u64 {
            let m = tamper(&c, r.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ r);
            assert!(
                w.c2.on_confirm(&m).is_err(),
                "{current}: confirm tamper {r}"
            );
            assert_eq!(w.c2.suite, current);
        }
        let first = w.c2.on_confirm(&c).unwrap();
        w.dev.receive(&first).unwrap();
        assert_settled(&mut w, Hybrid, &alias);
    }
}

// ---------------------------------------------------------------------------
// Tests: interrupted upgrades and restarts
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    None,
    AnnounceLost,
    SetSuiteLost,
    ConfirmLost,
    FirstCommandLost,
}

#[test]
fn interrupted_upgrades_recover_by_retrying() {
    let starts: &[(SuiteId, &[SuiteId])] = &[
        (Sym, &[Sym, PubKey, Pq, Hybrid]),
        (PubKey, &[PubKey, Pq]),
        (PqDraft, &[PqDraft, Hybrid]),
        (Sym, &[Sym, PubKey]),
        (Pq, &[Pq, Hybrid]),
    ];
    for &(current, caps) in starts {
        let caps = SuiteSet::of(caps);
        let want = target(expected(&Policy::default(), current, caps), current);
        for cut in [
            Cut::None,
            Cut::AnnounceLost,
            Cut::SetSuiteLost,
            Cut::ConfirmLost,
            Cut::FirstCommandLost,
        ] {
            for restart in [false, true] {
                let what = format!("{current} -> {want}, {cut:?}, restart {restart}");
                let mut w = world(current, caps, FleetPolicy::default(), &what);
                let step = |w: &mut World| {
                    tick(w.clock, 7);
                    if restart {
                        w.dev.restart();
                    }
                };
                let mut a = w.dev.announce().unwrap();
                step(&mut w);
                if cut == Cut::AnnounceLost {
                    a = w.dev.timeout();
                    step(&mut w);
                }
                let (_, ss) = w.c2.on_announce(&a).unwrap();
                let mut ss = ss.unwrap();
                step(&mut w);
                if cut == Cut::SetSuiteLost {
                    let a2 = w.dev.timeout();
                    step(&mut w);
                    let lost = ss;
                    ss = w.c2.on_announce(&a2).unwrap().1.unwrap();
                    step(&mut w);
                    // the lost one shows up late: refused
                    assert_eq!(
                        w.dev.receive(&lost),
                        Err(Error::Negotiation(NegotiationError::TranscriptMismatch)),
                        "{what}"
                    );
                }
                let DevOut::Confirm(mut c) = w.dev.receive(&ss).unwrap() else {
                    panic!("{what}")
                };
                step(&mut w);
                assert_eq!(w.dev.neg.accepted_suite(), Some(want), "{what}");
                if cut == Cut::ConfirmLost {
                    c = w.dev.timeout();
                    step(&mut w);
                }
                let mut first = w.c2.on_confirm(&c).unwrap();
                assert_eq!(w.c2.suite, want, "{what}");
                step(&mut w);
                if cut == Cut::FirstCommandLost {
                    // the device still runs both suites and confirms again
                    assert!(w.dev.next.is_some(), "{what}");
                    let c2 = w.dev.timeout();
                    step(&mut w);
                    first = w.c2.on_confirm(&c2).unwrap();
                    step(&mut w);
                }
                assert_eq!(
                    w.dev.receive(&first),
                    Ok(DevOut::Committed(opcode::SET_TOPIC_KEY)),
                    "{what}"
                );
                if restart {
                    w.dev.restart();
                }
                assert_settled(&mut w, want, &what);
            }
        }
    }
}

#[test]
fn persisted_parts_are_checked() {
    let mut w = world(
        Sym,
        SuiteSet::of(&[Sym, PubKey, Pq]),
        FleetPolicy::default(),
        "parts",
    );
    let a = w.dev.announce().unwrap();
    let parts = w.dev.neg.to_parts();
    assert_eq!(parts.announce, a);
    assert_eq!(parts.keys.len(), 2);
    let p = provider();
    assert!(Negotiator::from_parts(p, parts.clone()).is_ok());
    let mut bad = parts.clone();
    bad.keys.pop();
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    let mut bad = parts.clone();
    bad.keys.swap(0, 1);
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    let mut bad = parts.clone();
    bad.announce[12] ^= 1;
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    let mut bad = parts.clone();
    bad.current = PubKey;
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    let mut bad = parts.clone();
    bad.announce.clear();
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    let mut bad = parts.clone();
    bad.accepted = Some(set(Pq, [0; 32], &w.c2.keys.public(Pq)));
    assert_eq!(
        Negotiator::from_parts(p, bad).unwrap_err(),
        Error::Negotiation(NegotiationError::InvalidParts)
    );
    // debug output never shows secrets
    let shown = format!("{:?}", parts);
    assert!(!shown.contains(&format!("{:?}", parts.keys[1].sig_sk.as_bytes())));
}

// ---------------------------------------------------------------------------
// Tests: a random active attacker
// ---------------------------------------------------------------------------

struct Dice(TestRng);

impl Dice {
    fn next(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Check the safety invariants: nobody runs or accepts anything but the
/// start suite or the expected one, C2 commits only to a suite the device
/// already holds, and the device drops its old suite only after C2
/// committed.
fn check_invariants(w: &World, start: SuiteId, want: SuiteId, what: &str) {
    let ok = |s: SuiteId| s == start || s == want;
    assert!(ok(w.dev.suite()), "{what}: device runs {}", w.dev.suite());
    assert!(ok(w.c2.suite), "{what}: C2 registered {}", w.c2.suite);
    if let Some(n) = &w.dev.next {
        assert_eq!(n.suite(), want, "{what}: device accepted {}", n.suite());
    }
    if let Some(p) = &w.c2.pending {
        assert_eq!(p.suite, want, "{what}: C2 pending {}", p.suite);
    }
    if w.c2.suite != start {
        assert!(
            w.dev.next.is_some() || w.dev.suite() == w.c2.suite,
            "{what}: C2 committed before the device accepted"
        );
    }
    if w.dev.suite() != start {
        assert_eq!(
            w.c2.suite,
            w.dev.suite(),
            "{what}: device finished before C2 committed"
        );
    }
}

#[test]
fn random_attacker_never_downgrades_and_honest_delivery_converges() {
    let configs: Vec<(SuiteId, SuiteSet, usize)> = vec![
        (Sym, SuiteSet::of(&[Sym, PubKey, Pq, Hybrid]), 0),
        (Sym, SuiteSet::of(&[Sym, PubKey, Pq, Hybrid]), 2),
        (PubKey, SuiteSet::of(&[PubKey, PqDraft, Pq]), 0),
        (PubKey, SuiteSet::of(&[PubKey, PqDraft, Pq]), 3),
        (PqDraft, SuiteSet::of(&[PqDraft, Hybrid]), 0),
        (Sym, SuiteSet::of(&[Sym, PubKey]), 1),
        (Pq, SuiteSet::of(&[Pq, Hybrid]), 1),
        (Sym, SuiteSet::of(&[Sym]), 0),
    ];
    let mut upgraded = 0;
    let mut under_attack = 0;
    for seed in 0..64u64 {
        let (start, caps, pol) = configs[seed as usize % configs.len()];
        let alias = format!("random attacker {seed}");
        let (pname, fleet) = policies(&device_id(&alias)).swap_remove(pol);
        let want = target(
            expected(&fleet.for_device(&device_id(&alias)), start, caps),
            start,
        );
        let mut w = world(start, caps, fleet, &alias);
        let mut dice = Dice(rng(&alias));
        let mut to_c2: Vec<Vec<u8>> = Vec::new();
        let mut to_dev: Vec<Vec<u8>> = Vec::new();
        let mut history: Vec<(bool, Vec<u8>)> = Vec::new();
        let evil = C2Keys::new("random attacker keys");
        let what =
            |step: usize| format!("seed {seed}, {start} {caps:?} policy {pname}, step {step}");

        for step in 0..80 {
            let what = what(step);
            match dice.below(10) {
                0 | 1 => {
                    let m = w.dev.timeout();
                    history.push((true, m.clone()));
                    to_c2.push(m);
                }
                2 | 3 if !to_c2.is_empty() => {
                    let m = to_c2.swap_remove(dice.below(to_c2.len()));
                    let tampered = dice.below(4) == 0;
                    let m = if tampered { tamper(&m, dice.next()) } else { m };
                    let (suite, pending) = (w.c2.suite, w.c2.pending.clone());
                    match w.c2.receive(&m) {
                        Ok(Some(cmd)) => {
                            assert!(!tampered, "{what}: C2 took a tampered message");
                            history.push((false, cmd.clone()));
                            to_dev.push(cmd);
                        }
                        Ok(None) => assert!(!tampered, "{what}"),
                        Err(_) => {
                            assert_eq!((w.c2.suite, &w.c2.pending), (suite, &pending), "{what}")
                        }
                    }
                }
                4 | 5 if !to_dev.is_empty() => {
                    let m = to_dev.swap_remove(dice.below(to_dev.len()));
                    let tampered = dice.below(4) == 0;
                    let m = if tampered { tamper(&m, dice.next()) } else { m };
                    let before = w.dev.persist();
                    match w.dev.receive(&m) {
                        Ok(out) => {
                            assert!(!tampered, "{what}: device took a tampered command");
                            if let DevOut::Confirm(c) = out {
                                history.push((true, c.clone()));
                                to_c2.push(c);
                            }
                        }
                        Err(_) => assert_eq!(w.dev.persist(), before, "{what}"),
                    }
                }
                6 if !history.is_empty() => {
                    // replay anything ever sent, to either side
                    let (_, m) = history[dice.below(history.len())].clone();
                    if dice.below(2) == 0 {
                        if let Ok(Some(cmd)) = w.c2.receive(&m) {
                            to_dev.push(cmd);
                        }
                    } else {
                        let before = w.dev.persist();
                        match w.dev.receive(&m) {
                            Ok(DevOut::Confirm(c)) => to_c2.push(c),
                            Ok(_) => {}
                            Err(_) => assert_eq!(w.dev.persist(), before, "{what}"),
                        }
                    }
                }
                7 => {
                    // drop something
                    if dice.below(2) == 0 && !to_c2.is_empty() {
                        to_c2.swap_remove(dice.below(to_c2.len()));
                    } else if !to_dev.is_empty() {
                        to_dev.swap_remove(dice.below(to_dev.len()));
                    }
                }
                8 => {
                    // forge a SetSuite for the weakest offered suite with the
                    // transcript of the latest Announce seen on the wire
                    let latest = history
                        .iter()
                        .rev()
                        .find(|(up, m)| *up && m.get(8) == Some(&ANNOUNCE_KIND));
                    if let Some((_, a)) = latest {
                        let a = Announce::parse(a).unwrap();
                        if let Some(o) = a.offers().first() {
                            let (_, fake) = provision(a.current(), "the attacker's guess", &evil);
                            let plain =
                                set(o.suite, a.transcript(provider()), &evil.public(o.suite))
                                    .encode();
                            let cmd = seal_command_vec(
                                provider(),
                                a.current(),
                                a.device(),
                                DeviceMaterial::of_identity(&fake).device_key(),
                                evil.secret(a.current()),
                                w.clock.now(),
                                plain.as_bytes(),
                                &mut rng("forge"),
                            )
                            .unwrap();
                            let before = w.dev.persist();
                            assert!(w.dev.receive(&cmd).is_err(), "{what}: forged SetSuite");
                            assert_eq!(w.dev.persist(), before, "{what}");
                        }
                    }
                }
                _ => {
                    if dice.below(3) == 0 {
                        w.dev.restart();
                    } else {
                        tick(w.clock, 1 + dice.below(90) as u64);
                    }
                }
            }
            check_invariants(&w, start, want, &what);
        }

        if want != start && w.dev.suite() == want {
            under_attack += 1;
        }
        // Honest delivery from now on: the exchange completes by retrying.
        let mut rounds = 0;
        while !(w.dev.suite() == want && w.dev.next.is_none() && w.c2.suite == want) {
            rounds += 1;
            assert!(rounds <= 4, "{}: no convergence", what(99));
            tick(w.clock, 3);
            let mut up = vec![w.dev.timeout()];
            for _ in 0..4 {
                let mut down = Vec::new();
                for m in up.drain(..) {
                    if let Ok(Some(cmd)) = w.c2.receive(&m) {
                        down.push(cmd);
                    }
                }
                for m in down {
                    if let Ok(DevOut::Confirm(c)) = w.dev.receive(&m) {
                        up.push(c);
                    }
                }
                check_invariants(&w, start, want, &what(100 + rounds));
            }
        }
        assert_settled(&mut w, want, &what(200));
        upgraded += usize::from(want != start);
    }
    assert!(upgraded >= 32, "{upgraded}");
    // the attacker is not so strong that nothing ever completes under it
    assert!(
        under_attack >= 4,
        "{under_attack} of {upgraded} completed under attack"
    );
}

// ---------------------------------------------------------------------------
// Tests: parsers on arbitrary bytes
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Announce::parse(&bytes);
        let _ = Confirm::parse(&bytes);
        let _ = SetSuite::parse(&bytes);
        let p = provider();
        let id = Id([0; 16]);
        let m = DeviceMaterial::Symmetric(SymKey::new([1; 32]));
        prop_assert!(verify_announce(p, &bytes, &id, Sym, &m, None, T0).is_err());
        let pending = Pending {
            device: id,
            suite: PubKey,
            transcript: [0; 32],
            announce_ts: T0,
            material: DeviceMaterial::PubKey([2; 32]),
        };
        prop_assert!(verify_confirm(p, &bytes, &pending, T0).is_err());
    }

    #[test]
    fn structured_garbage_never_panics(
        kind in prop_oneof![Just(ANNOUNCE_KIND), Just(CONFIRM_KIND), any::<u8>()],
        suite in prop_oneof![Just(0x01u8), Just(0x02), Just(0x10), Just(0x11), Just(0x20), any::<u8>()],
        n in 0u8..8,
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = T0.to_le_bytes().to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&[0; 16]);
        bytes.push(suite);
        bytes.push(n);
        bytes.extend_from_slice(&rest);
        if let Ok(a) = Announce::parse(&bytes) {
            prop_assert!(a.offers().len() == usize::from(n));
            prop_assert!(!a.auth().is_empty());
        }
        let _ = Confirm::parse(&bytes);
        let mut set = vec![SET_SUITE_OPCODE, suite];
        set.extend_from_slice(&rest);
        let _ = SetSuite::parse(&set);
        let parts = NegotiatorParts {
            id: Id([0; 16]),
            current: Sym,
            capabilities: SuiteSet::ALL,
            ranking: Ranking::DEFAULT,
            announce: bytes.clone(),
            keys: Vec::new(),
            accepted: None,
        };
        let _ = Negotiator::from_parts(provider(), parts);
    }

    #[test]
    fn mutated_genuine_announces_are_refused(i in 0usize..4000, bit in 0u8..8, cut in any::<bool>()) {
        thread_local! {
            static FIXTURE: (Vec<u8>, Id, DeviceMaterial) = {
                let w = world(PubKey, SuiteSet::of(&[PubKey, Pq, Hybrid]), FleetPolicy::default(), "proptest");
                let mut dev = w.dev;
                let a = dev.announce().unwrap();
                (a, w.c2.id, w.c2.material.clone())
            };
        }
        FIXTURE.with(|(a, id, m)| {
            let mut b = a.clone();
            let i = i % b.len();
            if cut { b.truncate(i) } else { b[i] ^= 1 << bit }
            prop_assert!(verify_announce(provider(), &b, id, PubKey, m, None, T0).is_err());
            prop_assert!(verify_announce(provider(), a, id, PubKey, m, None, T0).is_ok());
            Ok(())
        })?;
    }
}
