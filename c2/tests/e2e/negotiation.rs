//! Suite negotiation end to end: C2 (its announce listener, database and
//! outbox) and e4-client devices over a real broker, with an active
//! attacker in between (`support/mqtt_proxy.rs`: a TCP proxy that drops,
//! modifies, duplicates, delays, replays and injects MQTT publishes). The
//! attacker never gets a device and C2 to settle below the strongest suite
//! both support and policy allows, and never gets a forged or replayed
//! command accepted; an upgrade interrupted at any step completes after a
//! restart.

#[path = "../support/mqtt_proxy.rs"]
mod mqtt_proxy;

use crate::common::external::Postgres;
use crate::common::{options, C2, PATIENCE};
use e4_c2::model::{ClientRef, NewClient};
use e4_c2::service::Service;
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig};
use e4_client::{Client, Config, SuiteSet};
use e4_proto::{Id, SuiteId, SymKey};
use mqtt_proxy::{Action, Direction, MqttProxy, Rule};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "plant/line-1";

async fn register_symmetric(svc: &Service, name: &str) -> (Id, SymKey) {
    let id = Id::from_alias(svc.provider.hash, name.as_bytes());
    let (_, key) = svc
        .new_client(NewClient {
            name: name.into(),
            id: Some(id.0.to_vec()),
            suite: Some("symmetric".into()),
            key: None,
            sig_pk: None,
            kem_pk: None,
        })
        .await
        .unwrap();
    (id, SymKey::new(*key.unwrap()))
}

/// Connect `client`, able to run `caps`, to the broker at `addr`.
fn connect(mut client: Client, caps: &[SuiteId], addr: std::net::SocketAddr) -> E4Mqtt {
    client.set_capabilities(SuiteSet::of(caps)).unwrap();
    E4Mqtt::connect(client, config(addr)).unwrap()
}

fn config(addr: std::net::SocketAddr) -> MqttConfig {
    let mut cfg = MqttConfig::new(addr.ip().to_string(), addr.port());
    cfg.negotiation_retry = Duration::from_millis(200);
    cfg.max_negotiation_retry = Duration::from_millis(800);
    cfg.event_capacity = 4096;
    cfg
}

/// Take events until `done` holds for the device's client (liveness bound
/// only); returns the events seen.
async fn until(dev: &mut E4Mqtt, what: &str, done: impl Fn(&mut Client) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while !dev.with_client(&done) {
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}: {seen:?}"
        );
        if let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await
        {
            seen.push(ev);
        }
    }
    seen
}

async fn c2_suite(svc: &Service, id: &Id) -> (SuiteId, Option<SuiteId>) {
    let c = svc.get_client(&ClientRef::Id(*id)).await.unwrap();
    (c.suite, c.pending_suite)
}

async fn wait_c2(svc: &Service, id: &Id, suite: SuiteId) {
    let start = Instant::now();
    while c2_suite(svc, id).await != (suite, None) {
        assert!(start.elapsed() < PATIENCE, "C2 never committed {suite}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_on_the_broker_cannot_hold_back_or_forge_an_upgrade() {
    attacker_scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_scenario_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    attacker_scenario(Some(pg.url.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_upgrade_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    interrupted_upgrade(Some(pg.url.clone())).await;
}

/// A C2 (SQLite, or PostgreSQL at `db`) with its embedded broker, and the
/// attacker's proxy in front of that broker.
async fn c2_and_proxy(db: Option<String>) -> (tempfile::TempDir, C2, Arc<Service>, MqttProxy) {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), db, None)).await;
    let svc = c2.running.service.clone();
    let (host, port) = c2.mqtt();
    let proxy = MqttProxy::start(format!("{host}:{port}").parse().unwrap())
        .await
        .unwrap();
    (dir, c2, svc, proxy)
}

async fn attacker_scenario(db: Option<String>) {
    let (_dir, c2, svc, proxy) = c2_and_proxy(db).await;

    let (id, key) = register_symmetric(&svc, "sensor-a").await;
    svc.new_topic_with_format(TOPIC, Some(SuiteId::Symmetric))
        .await
        .unwrap();

    // The attacker: modifies the first Announce (C2 must refuse it), drops
    // the second, lets the third through; duplicates every command; drops
    // the first Confirm.
    let announces = Arc::new(AtomicUsize::new(0));
    let a2 = announces.clone();
    proxy.set_rule(Rule::new(move |dir, topic, payload, _| {
        if dir == Direction::ToBroker && topic.starts_with("e4c2/announce/") {
            let n = a2.fetch_add(1, Ordering::SeqCst);
            return match (payload.get(8), n) {
                (Some(1), 0) => Action::Modify(Box::new(|p: &mut Vec<u8>| {
                    let last = p.len() - 1;
                    p[last] ^= 1;
                })),
                (Some(1), 1) => Action::Drop,
                (Some(2), _) if n < 4 => Action::Drop,
                _ => Action::Forward,
            };
        }
        if dir == Direction::ToClient && topic.starts_with("e4/") {
            return Action::Duplicate;
        }
        Action::Forward
    }));

    let client = Client::new(Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(
        client,
        &[SuiteId::PostQuantum, SuiteId::Hybrid],
        proxy.addr(),
    );
    dev.subscribe(TOPIC).await.unwrap();

    until(&mut dev, "the upgrade to hybrid", |c| {
        c.suite() == SuiteId::Hybrid
    })
    .await;
    wait_c2(&svc, &id, SuiteId::Hybrid).await;
    // C2 holds the device's new public key (its old symmetric key is gone).
    let info = svc.get_client(&ClientRef::Id(id)).await.unwrap();
    assert_eq!(info.sig_pk, dev.with_client(|c| c.public_key()));
    assert!(
        announces.load(Ordering::SeqCst) >= 3,
        "the device announced again after the modified and the dropped Announce"
    );
    assert!(
        svc.metrics.negotiation_refused.get() >= 1,
        "C2 refused the modified Announce"
    );

    // The device is a member of a symmetric-format topic: it gets the key
    // and the format under its new suite.
    svc.add_client_to_topic(&ClientRef::Id(id), TOPIC)
        .await
        .unwrap();
    until(&mut dev, "the topic key and format", |c| {
        c.has_topic_key(TOPIC) && c.topic_format(TOPIC) == SuiteId::Symmetric
    })
    .await;

    // Let the legitimate traffic (and the attacker's duplicates) settle.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(800) {
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }

    // Replays: every Announce and Confirm captured, sent again to C2, and
    // every command sent again to the device; nothing changes.
    proxy.clear_rule();
    let captured = proxy.captured();
    let mut replayed = 0;
    for (i, c) in captured.iter().enumerate() {
        if c.topic.starts_with("e4c2/announce/") || c.topic.starts_with("e4/") {
            proxy.replay(i).await.unwrap();
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "{replayed}");
    // Forged commands: random bytes and a truncated copy of a real one.
    let control = format!("e4/{}", hex::encode(id.0));
    let real = captured
        .iter()
        .find(|c| c.topic == control)
        .expect("a command was captured");
    proxy
        .inject(
            &control,
            vec![0x42; real.payload.len()],
            Direction::ToClient,
        )
        .await
        .unwrap();
    proxy
        .inject(
            &control,
            real.payload[..real.payload.len() - 1].to_vec(),
            Direction::ToClient,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rejected = 0;
    while let Ok(Some(ev)) =
        tokio::time::timeout(Duration::from_millis(100), dev.next_event()).await
    {
        match ev {
            Event::Rejected { .. } => rejected += 1,
            Event::Command(c) => panic!("a replayed or forged command was applied: {c:?}"),
            _ => {}
        }
    }
    assert!(
        rejected >= 2,
        "forged commands were not reported as refused"
    );
    // C2 refused the replayed Announces and Confirms (none is newer than
    // the last one it accepted).
    let refused_before = svc.metrics.negotiation_refused.get();
    assert!(refused_before >= 3, "{refused_before}");
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Hybrid);
    assert_eq!(c2_suite(&svc, &id).await, (SuiteId::Hybrid, None));
    assert!(dev.with_client(|c| c.has_topic_key(TOPIC)));

    // Messages still flow in the topic's symmetric format.
    dev.publish(TOPIC, b"after the attack").await.unwrap();
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < PATIENCE,
            "its own message never came back"
        );
        if let Ok(Some(Event::Message { topic, payload, .. })) =
            tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await
        {
            assert_eq!(
                (topic.as_str(), payload.as_slice()),
                (TOPIC, &b"after the attack"[..])
            );
            break;
        }
    }
    dev.disconnect().await;
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_override_caps_the_upgrade_and_an_interrupted_upgrade_resumes_after_restart() {
    interrupted_upgrade(None).await;
}

async fn interrupted_upgrade(db: Option<String>) {
    let (dir, c2, svc, proxy) = c2_and_proxy(db).await;

    // The device could run hybrid, but its policy allows only pq.
    let (id, key) = register_symmetric(&svc, "sensor-b").await;
    svc.set_client_policy(
        &ClientRef::Id(id),
        Some(SuiteSet::of(&[SuiteId::PostQuantum])),
    )
    .await
    .unwrap();

    // Every Confirm is dropped: the device accepts the SetSuite, C2 never
    // commits.
    proxy.set_rule(
        Rule::new(|_, _, payload, _| match payload.get(8) {
            Some(2) => Action::Drop,
            _ => Action::Forward,
        })
        .direction(Direction::ToBroker)
        .topic("e4c2/announce/+"),
    );
    let state = dir.path().join("sensor-b.json");
    let client = Client::create(&state, Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(
        client,
        &[SuiteId::PostQuantum, SuiteId::Hybrid],
        proxy.addr(),
    );
    until(&mut dev, "the SetSuite to be accepted", |c| {
        format!("{:?}", c.negotiation_status()).contains("Accepted")
    })
    .await;
    assert_eq!(
        c2_suite(&svc, &id).await,
        (SuiteId::Symmetric, Some(SuiteId::PostQuantum))
    );
    // The device still runs its old suite until C2 commits.
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Symmetric);

    // Power loss; the attacker goes away; the device restarts from its
    // state file and finishes the exchange.
    drop(dev.disconnect().await);
    proxy.clear_rule();
    let client = Client::open(&state).unwrap();
    assert_eq!(client.suite(), SuiteId::Symmetric);
    let mut dev = E4Mqtt::connect(client, config(proxy.addr())).unwrap();
    until(&mut dev, "the upgrade to pq", |c| {
        c.suite() == SuiteId::PostQuantum
    })
    .await;
    wait_c2(&svc, &id, SuiteId::PostQuantum).await;
    drop(dev.disconnect().await);
    // The upgrade survived in the state file.
    assert_eq!(Client::open(&state).unwrap().suite(), SuiteId::PostQuantum);
    c2.stop().await;
}

/// A symmetric device `name` (state file in `dir`) whose Confirms the
/// proxy drops, once it accepted C2's SetSuite to pq: C2 has the upgrade
/// pending. Returns its id, state file and connection.
async fn upgrade_held_at_confirm(
    dir: &std::path::Path,
    svc: &Service,
    proxy: &MqttProxy,
    name: &str,
) -> (Id, std::path::PathBuf, E4Mqtt) {
    let (id, key) = register_symmetric(svc, name).await;
    proxy.set_rule(
        Rule::new(|_, _, payload, _| match payload.get(8) {
            Some(2) => Action::Drop,
            _ => Action::Forward,
        })
        .direction(Direction::ToBroker)
        .topic("e4c2/announce/+"),
    );
    let state = dir.join(format!("{name}.json"));
    let client = Client::create(&state, Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(client, &[SuiteId::PostQuantum], proxy.addr());
    until(&mut dev, "the SetSuite to be accepted", |c| {
        format!("{:?}", c.negotiation_status()).contains("Accepted")
    })
    .await;
    assert_eq!(
        c2_suite(svc, &id).await,
        (SuiteId::Symmetric, Some(SuiteId::PostQuantum))
    );
    (id, state, dev)
}

/// Let Confirms through; the device restarts from `state` and sends its
/// Confirm again; until `done`.
async fn release_confirm(
    dev: E4Mqtt,
    state: &std::path::Path,
    proxy: &MqttProxy,
    what: &str,
    done: impl Fn() -> bool,
) -> E4Mqtt {
    proxy.clear_rule();
    drop(dev.disconnect().await);
    let client = Client::open(state).unwrap();
    let mut dev = E4Mqtt::connect(client, config(proxy.addr())).unwrap();
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::timeout(Duration::from_millis(50), dev.next_event())
            .await
            .ok();
    }
    dev
}

/// Issue 12, item 6: a policy change between C2's answer and the device's
/// Confirm drops the pending upgrade; the Confirm is then refused and the
/// device stays in its suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_drops_a_pending_upgrade() {
    let (dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let (id, state, dev) = upgrade_held_at_confirm(dir.path(), &svc, &proxy, "sensor-p").await;
    // The operator pins the device to its suite: the pending answer goes.
    svc.set_client_policy(&ClientRef::Id(id), Some(SuiteSet::of(&[])))
        .await
        .unwrap();
    assert_eq!(c2_suite(&svc, &id).await, (SuiteId::Symmetric, None));
    // The device's Confirm now gets through, and is refused.
    let refused = svc.metrics.negotiation_refused.get();
    let dev = release_confirm(dev, &state, &proxy, "the Confirm to be refused", || {
        svc.metrics.negotiation_refused.get() != refused
    })
    .await;
    assert_eq!(c2_suite(&svc, &id).await, (SuiteId::Symmetric, None));
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Symmetric);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Issue 12, item 6: the fleet minimum is enforced in key delivery and
/// topic formats, with a refusal naming the rule (409 / FAILED_PRECONDITION).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_minimum_is_enforced_in_keys_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), None, None)).await;
    let svc = c2.running.service.clone();
    let (id, _) = register_symmetric(&svc, "old-sensor").await;
    svc.new_topic("plant/any").await.unwrap();
    let mut view = e4_c2::negotiation::PolicyView::of(&svc.policy().await.unwrap());
    view.minimum = "pq".into();
    svc.set_policy(&view).await.unwrap();

    let e = svc
        .add_client_to_topic(&ClientRef::Id(id), "plant/any")
        .await
        .unwrap_err();
    assert_eq!(e.http_status().as_u16(), 409, "{e}");
    assert!(e.to_string().contains("policy minimum pq"), "{e}");
    assert_eq!(svc.count_clients_for_topic("plant/any").await.unwrap(), 0);
    let e = svc
        .new_topic_with_format("plant/sym", Some(SuiteId::Symmetric))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("topic format symmetric is below it"),
        "{e}"
    );
    assert!(svc.get_topic("plant/sym").await.is_err(), "nothing created");
    let e = svc
        .set_topic_format("plant/any", SuiteId::Symmetric)
        .await
        .unwrap_err();
    assert_eq!(e.http_status().as_u16(), 409, "{e}");
    // At the minimum or above, nothing changes.
    svc.new_topic_with_format("plant/pq", Some(SuiteId::PostQuantum))
        .await
        .unwrap();
    c2.stop().await;
}

/// `e4c2 demo` (the README's first command) runs to the end and reports
/// every device in its final suite, and a broker that saw no plaintext.
#[test]
fn the_demo_runs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_e4c2"))
        .arg("demo")
        .env_remove("E4C2_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "sensor-1  8-bit sensor, symmetric only   symmetric ",
        "sensor-2  sensor, old firmware           symmetric -> pq ",
        "meter     public-key device              pubkey ",
        "gateway   post-quantum gateway           pq ",
        "vault     hybrid-capable device          pubkey -> hybrid ",
        "refused sensor-1 on plant/status: device suite symmetric cannot read topic format pq",
        "plaintext found in any payload: none",
        "key material found in any payload: none",
    ] {
        assert!(stdout.contains(row), "missing {row:?} in:\n{stdout}");
    }
}

/// A device that offers nothing the policy accepts stays in its suite and
/// is flagged when that suite is below the policy's minimum; it is not
/// moved to a suite below the minimum either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_minimum_devices_are_flagged_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), None, None)).await;
    let svc = c2.running.service.clone();
    let mut view = e4_c2::negotiation::PolicyView::of(&svc.policy().await.unwrap());
    view.minimum = "pq".into();
    svc.set_policy(&view).await.unwrap();

    let (id, key) = register_symmetric(&svc, "old-sensor").await;
    let client = Client::new(Config::sym_id_and_key(Some(id), key)).unwrap();
    let (host, port) = c2.mqtt();
    let mut dev = connect(
        client,
        &[SuiteId::PubKey],
        format!("{host}:{port}").parse().unwrap(),
    );
    let start = Instant::now();
    loop {
        let info = svc.get_client(&ClientRef::Id(id)).await.unwrap();
        if info.below_minimum {
            assert_eq!((info.suite, info.pending_suite), (SuiteId::Symmetric, None));
            assert!(info.negotiates);
            break;
        }
        assert!(start.elapsed() < PATIENCE, "never flagged");
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Symmetric);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Commands still waiting for the broker when an upgrade commits are sealed
/// again under the new suite: here the attacker holds C2's RemoveTopic
/// (under the old suite) until after the upgrade; the device still applies
/// it, re-sealed under the new suite, and the held copy, released late, is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pending_at_the_upgrade_are_resealed_under_the_new_suite() {
    let broker = e4_c2::mqtt::embedded::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let proxy = MqttProxy::start(broker).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // C2 reaches the broker through the attacker; the device directly.
    let c2 = C2::start(options(
        dir.path(),
        None,
        Some(format!("mqtt://{}", proxy.addr())),
    ))
    .await;
    let svc = c2.running.service.clone();
    let (id, key) = register_symmetric(&svc, "sensor-c").await;
    let control = format!("e4/{}", hex::encode(id.0));
    let mut dev = E4Mqtt::connect(
        Client::new(Config::sym_id_and_key(Some(id), key)).unwrap(),
        config(broker),
    )
    .unwrap();
    // Commands are not stored for a device that has not subscribed yet.
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < PATIENCE, "never subscribed");
        if let Ok(Some(Event::Subscribed { .. })) =
            tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await
        {
            break;
        }
    }
    svc.new_topic(TOPIC).await.unwrap();
    svc.add_client_to_topic(&ClientRef::Id(id), TOPIC)
        .await
        .unwrap();
    until(&mut dev, "the topic key", |c| c.has_topic_key(TOPIC)).await;

    // The next command to the device (the RemoveTopic) is held.
    proxy.set_rule(
        Rule::new(|_, _, _, nth| match nth {
            0 => Action::Delay,
            _ => Action::Forward,
        })
        .direction(Direction::ToBroker)
        .topic(&control),
    );
    svc.remove_topic(TOPIC).await.unwrap();
    let start = Instant::now();
    while proxy.held_count() == 0 {
        assert!(start.elapsed() < PATIENCE, "C2 never sent the RemoveTopic");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dev.with_client(|c| c.has_topic_key(TOPIC)));

    // A firmware update: the device can run pq and is upgraded.
    dev.with_client(|c| c.set_capabilities(SuiteSet::of(&[SuiteId::PostQuantum])))
        .unwrap();
    until(&mut dev, "the upgrade and the re-sealed RemoveTopic", |c| {
        c.suite() == SuiteId::PostQuantum && !c.has_topic_key(TOPIC)
    })
    .await;
    wait_c2(&svc, &id, SuiteId::PostQuantum).await;

    // The held copy (sealed under the old symmetric key) arrives late.
    assert_eq!(proxy.release_held(), 1);
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < PATIENCE,
            "the late command was not refused"
        );
        if let Ok(Some(Event::Rejected { topic, .. })) =
            tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await
        {
            if topic == control {
                break;
            }
        }
    }
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::PostQuantum);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Reordering: the attacker holds the device's first Announce and delivers
/// it after the exchange completed; C2 refuses the stale Announce and the
/// device stays in the suite it reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reordered_old_announce_changes_nothing() {
    let (_dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let (id, key) = register_symmetric(&svc, "sensor-d").await;
    proxy.set_rule(
        Rule::new(|_, _, _, nth| match nth {
            0 => Action::Delay,
            _ => Action::Forward,
        })
        .direction(Direction::ToBroker)
        .topic("e4c2/announce/+"),
    );
    let client = Client::new(Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(client, &[SuiteId::Hybrid], proxy.addr());
    until(&mut dev, "the upgrade to hybrid", |c| {
        c.suite() == SuiteId::Hybrid
    })
    .await;
    wait_c2(&svc, &id, SuiteId::Hybrid).await;
    let refused = svc.metrics.negotiation_refused.get();
    assert_eq!(proxy.release_held(), 1);
    let start = Instant::now();
    while svc.metrics.negotiation_refused.get() == refused {
        assert!(
            start.elapsed() < PATIENCE,
            "the stale Announce was not refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c2_suite(&svc, &id).await, (SuiteId::Hybrid, None));
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Hybrid);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// The outbox is empty (every command reached the broker).
async fn outbox_drained(svc: &Service) {
    let start = Instant::now();
    loop {
        let mut conn = svc.db.read().await.unwrap();
        let n = e4_c2::db::outbox::count_pending(&mut conn).await.unwrap();
        drop(conn);
        if n == 0 {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "{n} commands never published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The C2 signature key a kem device's state file holds.
fn c2_key_in_state_file(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["state"]["identity"]["c2_sig_pk"]
        .as_str()
        .map(str::to_string)
}

/// Issue 12, item 3: C2's key of the new suite is rotated between C2's
/// answer (whose SetSuite carries the key current then) and the device's
/// Confirm, and again between the Confirm and the device's first command
/// under the new suite. The first commands after the upgrade are sealed
/// under the key the device was given, a SetC2Key brings it to the
/// newest, and later commands (sealed under the newest) reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c2_key_rotated_during_an_upgrade_reaches_the_device() {
    let (dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let (id, key) = register_symmetric(&svc, "sensor-r").await;
    svc.new_topic_with_format(TOPIC, Some(SuiteId::Symmetric))
        .await
        .unwrap();
    svc.add_client_to_topic(&ClientRef::Id(id), TOPIC)
        .await
        .unwrap();
    let pq_key = |v: i64| {
        let svc = svc.clone();
        async move {
            let mut conn = svc.db.read().await.unwrap();
            let k = e4_c2::db::c2keys::get(&mut conn, SuiteId::PostQuantum, v)
                .await
                .unwrap()
                .unwrap();
            hex::encode(k.public_key)
        }
    };
    let current_pq = || {
        let svc = svc.clone();
        async move {
            let mut conn = svc.db.read().await.unwrap();
            e4_c2::db::c2keys::require_current(&mut conn, SuiteId::PostQuantum)
                .await
                .unwrap()
                .version
        }
    };
    let v1 = current_pq().await;

    // The device's Confirms are held back: it accepts C2's SetSuite (which
    // carries C2's pq key v1), C2 does not commit yet.
    proxy.set_rule(
        Rule::new(|_, _, payload, _| match payload.get(8) {
            Some(2) => Action::Drop,
            _ => Action::Forward,
        })
        .direction(Direction::ToBroker)
        .topic("e4c2/announce/+"),
    );
    let state = dir.path().join("sensor-r.json");
    let client = Client::create(&state, Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(client, &[SuiteId::PostQuantum], proxy.addr());
    until(&mut dev, "the SetSuite to be accepted", |c| {
        format!("{:?}", c.negotiation_status()).contains("Accepted")
    })
    .await;
    assert_eq!(
        c2_suite(&svc, &id).await,
        (SuiteId::Symmetric, Some(SuiteId::PostQuantum))
    );
    // The device goes offline (its broker session keeps its subscription).
    drop(dev.disconnect().await);

    // Rotation between SetSuite and Confirm.
    svc.new_c2_key(Some("pq")).await.unwrap();
    assert_eq!(current_pq().await, v1 + 1);

    // The Confirm the attacker held back reaches C2: the upgrade commits,
    // and C2 queues the device's first commands under pq.
    let announce = e4_c2::negotiation::announce_topic(&id);
    let confirm = proxy
        .captured()
        .iter()
        .rposition(|c| c.topic == announce && c.payload.get(8) == Some(&2))
        .expect("the device sent a Confirm");
    proxy.clear_rule();
    proxy.replay(confirm).await.unwrap();
    wait_c2(&svc, &id, SuiteId::PostQuantum).await;
    outbox_drained(&svc).await;

    // Rotation between the Confirm and the device's first command.
    svc.new_c2_key(Some("pq")).await.unwrap();
    let v3 = current_pq().await;
    assert_eq!(v3, v1 + 2);
    outbox_drained(&svc).await;
    assert_eq!(
        c2_key_in_state_file(&state),
        None,
        "the device still runs the symmetric suite"
    );

    // The device comes back: it finishes the upgrade and ends with C2's
    // newest key.
    let client = Client::open(&state).unwrap();
    let mut dev = E4Mqtt::connect(client, config(proxy.addr())).unwrap();
    until(&mut dev, "the upgrade to pq and the topic key", |c| {
        c.suite() == SuiteId::PostQuantum && c.has_topic_key(TOPIC)
    })
    .await;
    let newest = pq_key(v3).await;
    let start = Instant::now();
    while c2_key_in_state_file(&state).as_deref() != Some(newest.as_str()) {
        assert!(
            start.elapsed() < PATIENCE,
            "the device never got C2's newest key (it holds {:?}; v1 {}, v3 {newest})",
            c2_key_in_state_file(&state),
            pq_key(v1).await,
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }

    // Later commands, sealed under the newest key, reach it.
    let later = "plant/line-2";
    svc.new_topic_with_format(later, Some(SuiteId::Symmetric))
        .await
        .unwrap();
    svc.add_client_to_topic(&ClientRef::Id(id), later)
        .await
        .unwrap();
    until(
        &mut dev,
        "a topic key sealed under the newest C2 key",
        |c| c.has_topic_key(later),
    )
    .await;
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::PostQuantum);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Issue 12, item 5 (store-now-decrypt-later): a device leaves the
/// public-key suite, under which its topic key travelled with static
/// X25519, for hybrid. C2 rotates the topic it keeps: the key it held
/// before the upgrade no longer protects anything, and the device reads
/// under the new key, which reached it under the hybrid suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_kept_after_leaving_the_pubkey_suite_get_new_keys() {
    let (_dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let name = "vault-k";
    let id = Id::from_alias(svc.provider.hash, name.as_bytes());
    let sig = svc.provider.suite(SuiteId::PubKey).unwrap().sig().unwrap();
    let mut sk = [0u8; 64];
    let mut pk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut e4_backends::rng::OsRng, &mut sk, &mut pk)
        .unwrap();
    svc.new_client(NewClient {
        name: name.into(),
        id: Some(id.0.to_vec()),
        suite: Some("pubkey".into()),
        key: None,
        sig_pk: Some(pk),
        kem_pk: None,
    })
    .await
    .unwrap();
    let c2_x25519: [u8; 32] = {
        let mut conn = svc.db.read().await.unwrap();
        e4_c2::db::c2keys::require_current(&mut conn, SuiteId::PubKey)
            .await
            .unwrap()
            .public_key
            .try_into()
            .unwrap()
    };
    let client = Client::new(Config::pub_id_and_key(
        Some(id),
        e4_proto::keys::Ed25519Secret::new(sk),
        c2_x25519,
    ))
    .unwrap();
    // It announces (it can run only pubkey: it stays), then joins a
    // symmetric-format topic: the key travels under X25519.
    let mut dev = connect(client, &[SuiteId::PubKey], proxy.addr());
    let start = Instant::now();
    while !svc.get_client(&ClientRef::Id(id)).await.unwrap().negotiates {
        assert!(start.elapsed() < PATIENCE, "the device never announced");
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
    svc.new_topic_with_format(TOPIC, Some(SuiteId::Symmetric))
        .await
        .unwrap();
    svc.add_client_to_topic(&ClientRef::Id(id), TOPIC)
        .await
        .unwrap();
    until(&mut dev, "the topic key under pubkey", |c| {
        c.has_topic_key(TOPIC)
    })
    .await;
    let v_before = svc.get_topic(TOPIC).await.unwrap().key_version;

    // A firmware update: it can run hybrid now, and is moved there.
    dev.with_client(|c| c.set_capabilities(SuiteSet::of(&[SuiteId::Hybrid])))
        .unwrap();
    wait_c2(&svc, &id, SuiteId::Hybrid).await;
    let topic = svc.get_topic(TOPIC).await.unwrap();
    assert_eq!(
        topic.key_version,
        v_before + 1,
        "the kept topic was rotated"
    );
    let under_new = svc.protect_message(TOPIC, b"after").await.unwrap();
    let start = Instant::now();
    loop {
        let r = dev.with_client(|c| c.unprotect(&under_new, TOPIC));
        if let Ok(e4_client::Unprotected::Message(m)) = r {
            assert_eq!(m, b"after");
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the device never got the new key: {r:?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
    assert_eq!(dev.with_client(|c| c.suite()), SuiteId::Hybrid);
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Issue 14 (automation), the `renegotiate` action: a device able to run
/// pq stays symmetric while the policy allows only symmetric. The policy
/// is then widened, which applies at a device's next Announce, and this
/// device would not announce again for an hour. A rule asks every client
/// to announce again (Renegotiate, opcode 0x0A): the device announces and
/// is moved to pq; a device that never announced (an e4go or libe4
/// device, which would refuse the opcode) is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renegotiate_rule_moves_devices_to_a_widened_policy() {
    let (_dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let wide = e4_c2::negotiation::PolicyView::of(&svc.policy().await.unwrap());
    let narrow = e4_c2::negotiation::PolicyView {
        allowed: vec!["symmetric".into()],
        ..wide.clone()
    };
    svc.set_policy(&narrow).await.unwrap();
    let (id, key) = register_symmetric(&svc, "sensor-n").await;
    register_symmetric(&svc, "legacy").await;
    let mut client = Client::new(Config::sym_id_and_key(Some(id), key)).unwrap();
    client
        .set_capabilities(SuiteSet::of(&[SuiteId::PostQuantum]))
        .unwrap();
    let mut cfg = config(proxy.addr());
    cfg.negotiation_retry = Duration::from_secs(3600);
    cfg.max_negotiation_retry = Duration::from_secs(3600);
    let mut dev = E4Mqtt::connect(client, cfg).unwrap();
    let start = Instant::now();
    while !svc.get_client(&ClientRef::Id(id)).await.unwrap().negotiates {
        assert!(start.elapsed() < PATIENCE, "the device never announced");
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
    svc.set_policy(&wide).await.unwrap();
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(1500) {
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
    assert_eq!(
        c2_suite(&svc, &id).await,
        (SuiteId::Symmetric, None),
        "nothing moves the device before it announces again"
    );

    svc.add_rule(e4_c2::automation::ops::NewRule {
        name: "renegotiate-all".into(),
        target: "all-clients".into(),
        triggers: vec!["every:1h".into()],
        action: "renegotiate".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let fired = svc.fire_rule("renegotiate-all").await.unwrap();
    assert_eq!(
        (fired.subjects, fired.skipped, fired.commands),
        (1, 1, 1),
        "{fired:?}"
    );
    assert_eq!(fired.names, vec!["sensor-n".to_string()]);
    let seen = until(&mut dev, "the upgrade to pq", |c| {
        c.suite() == SuiteId::PostQuantum
    })
    .await;
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::Negotiation(e4_client::mqtt::NegotiationEvent::AnnounceRequested)
        )),
        "{seen:?}"
    );
    wait_c2(&svc, &id, SuiteId::PostQuantum).await;
    let legacy = svc
        .get_client(&ClientRef::Name("legacy".into()))
        .await
        .unwrap();
    assert_eq!(
        (legacy.suite, legacy.negotiates),
        (SuiteId::Symmetric, false)
    );
    drop(dev.disconnect().await);
    c2.stop().await;
}

/// Issue 12, item 6: raising the policy minimum flags the devices already
/// running below it (an automation event each, so a rule can react), and
/// a flagged member gets no new topic key: a rotation skips it, a resync
/// is refused naming the rule. Lowering the minimum clears the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_below_a_raised_minimum_get_no_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), None, None)).await;
    let svc = c2.running.service.clone();
    let (old, _) = register_symmetric(&svc, "old-sensor").await;
    let pk = {
        let sig = svc.provider.suite(SuiteId::PubKey).unwrap().sig().unwrap();
        let mut sk = [0u8; 64];
        let mut pk = vec![0u8; sig.public_key_len()];
        sig.generate(&mut e4_backends::rng::OsRng, &mut sk, &mut pk)
            .unwrap();
        pk
    };
    svc.new_client(NewClient {
        name: "meter".into(),
        id: None,
        suite: Some("pubkey".into()),
        key: None,
        sig_pk: Some(pk),
        kem_pk: None,
    })
    .await
    .unwrap();
    svc.new_topic("plant/any").await.unwrap();
    svc.add_client_to_topic(&ClientRef::Id(old), "plant/any")
        .await
        .unwrap();
    // A rule that reacts to the flag.
    svc.add_rule(e4_c2::automation::ops::NewRule {
        name: "on-below".into(),
        target: "all-clients".into(),
        triggers: vec!["event:below_minimum".into()],
        action: "renegotiate".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The symmetric member and a pubkey client (not a member) with the
    // topic's format fixed by the first member.
    let wide = e4_c2::negotiation::PolicyView::of(&svc.policy().await.unwrap());
    let raised = e4_c2::negotiation::PolicyView {
        minimum: "pubkey".into(),
        ..wide.clone()
    };
    svc.set_policy(&raised).await.unwrap();
    let c = svc.get_client(&ClientRef::Id(old)).await.unwrap();
    assert!(c.below_minimum, "flagged by the raised minimum");
    assert!(
        !svc.get_client(&ClientRef::Name("meter".into()))
            .await
            .unwrap()
            .below_minimum
    );
    let start = Instant::now();
    loop {
        let h = svc.rule_history("on-below", 0, 0).await.unwrap();
        if !h.is_empty() {
            assert_eq!(h.len(), 1, "one event, one fire: {h:?}");
            assert_eq!(h[0].reason, "event");
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the below_minimum event never fired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A rotation gives the flagged member nothing; a resync is refused.
    let q = svc.rotate_topic_key("plant/any").await.unwrap();
    assert_eq!(q.count, 0, "the only member is below the minimum");
    let e = svc.resync_client(&ClientRef::Id(old)).await.unwrap_err();
    assert_eq!(e.http_status().as_u16(), 409, "{e}");
    assert!(e.to_string().contains("policy minimum pubkey"), "{e}");
    // Setting the same policy again flags nobody anew (no second event).
    svc.set_policy(&raised).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(svc.rule_history("on-below", 0, 0).await.unwrap().len(), 1);
    // Lowered again: the flag goes, keys flow.
    svc.set_policy(&wide).await.unwrap();
    assert!(
        !svc.get_client(&ClientRef::Id(old))
            .await
            .unwrap()
            .below_minimum
    );
    assert_eq!(svc.rotate_topic_key("plant/any").await.unwrap().count, 1);
    c2.stop().await;
}

/// Wait until C2 and the device agree on `suite`, the device holds a new
/// KEM key (not `old`), C2 holds its new signature key, and nothing is
/// outstanding on either side.
async fn wait_rekeyed(svc: &Service, dev: &mut E4Mqtt, id: &Id, suite: SuiteId, old: &[u8]) {
    let start = Instant::now();
    loop {
        let (kem, sig, idle) = dev.with_client(|c| {
            (
                c.kem_public_key().map(<[u8]>::to_vec),
                c.public_key(),
                c.negotiation_status() == e4_client::NegotiationStatus::Idle,
            )
        });
        let info = svc.get_client(&ClientRef::Id(*id)).await.unwrap();
        if kem.as_deref() != Some(old)
            && idle
            && (info.suite, info.pending_suite) == (suite, None)
            && info.sig_pk == sig
        {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "the rekey never finished");
        let _ = tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await;
    }
}

/// Rotate the topic's key and wait until the device applied a command;
/// returns the control-topic commands the attacker captured meanwhile.
async fn rotate_and_capture(
    svc: &Service,
    dev: &mut E4Mqtt,
    proxy: &MqttProxy,
    control: &str,
) -> Vec<Vec<u8>> {
    // Earlier commands' events are drained first.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), dev.next_event()).await
    {
    }
    let from = proxy.captured().len();
    let sent = || -> Vec<Vec<u8>> {
        proxy.captured()[from..]
            .iter()
            .filter(|c| c.direction == Direction::ToClient && c.topic == control)
            .map(|c| c.payload.clone())
            .collect()
    };
    svc.rotate_topic_key(TOPIC).await.unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < PATIENCE, "the rotation never arrived");
        if let Ok(Some(Event::Command(_))) =
            tokio::time::timeout(Duration::from_millis(50), dev.next_event()).await
        {
            // (Captured before the device got it.)
            if !sent().is_empty() {
                break;
            }
        }
    }
    sent()
}

/// Issue 12, item 4: a KEM device's keys are replaced in its suite, asked
/// by C2 (Renegotiate with the rekey flag) and by the device itself, over
/// the attacker's proxy. A copy of the device's state taken before (its
/// leaked decapsulation key) reads the commands sealed before the rekey
/// and none sealed after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekeyed_kem_device_leaves_its_leaked_keys_reading_nothing() {
    let (dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let (id, key) = register_symmetric(&svc, "sensor-k").await;
    svc.new_topic_with_format(TOPIC, None).await.unwrap();
    let state = dir.path().join("sensor-k.json");
    let client = Client::create(&state, Config::sym_id_and_key(Some(id), key)).unwrap();
    let mut dev = connect(client, &[SuiteId::PostQuantum], proxy.addr());
    until(&mut dev, "the upgrade to pq", |c| {
        c.suite() == SuiteId::PostQuantum
    })
    .await;
    wait_c2(&svc, &id, SuiteId::PostQuantum).await;
    svc.add_client_to_topic(&ClientRef::Id(id), TOPIC)
        .await
        .unwrap();
    until(&mut dev, "the topic key", |c| c.has_topic_key(TOPIC)).await;
    let control = format!("e4/{}", hex::encode(id.0));

    // The leak: a copy of the device's state as it is now.
    let leaked_path = dir.path().join("leaked.json");
    std::fs::copy(&state, &leaked_path).unwrap();
    let mut leaked = Client::open(&leaked_path).unwrap();
    let first_kem = dev.with_client(|c| c.kem_public_key().unwrap().to_vec());
    let before = rotate_and_capture(&svc, &mut dev, &proxy, &control).await;
    assert!(!before.is_empty());
    for cmd in &before {
        assert!(
            leaked.unprotect(cmd, &control).is_ok(),
            "the leaked keys read a command sealed before the rekey"
        );
    }

    // C2 asks for a rekey (new-client-key on a KEM device).
    svc.new_client_key(&ClientRef::Id(id)).await.unwrap();
    wait_rekeyed(&svc, &mut dev, &id, SuiteId::PostQuantum, &first_kem).await;
    assert_eq!(svc.metrics.rekeys.get(), 1);
    let after = rotate_and_capture(&svc, &mut dev, &proxy, &control).await;
    assert!(!after.is_empty());
    for cmd in &after {
        assert!(
            leaked.unprotect(cmd, &control).is_err(),
            "the leaked keys read a command sealed after the rekey"
        );
    }
    assert!(dev.with_client(|c| c.has_topic_key(TOPIC)));

    // The device asks for one on its own.
    let second_kem = dev.with_client(|c| c.kem_public_key().unwrap().to_vec());
    dev.rekey_now().unwrap();
    wait_rekeyed(&svc, &mut dev, &id, SuiteId::PostQuantum, &second_kem).await;
    assert_eq!(svc.metrics.rekeys.get(), 2);
    assert_ne!(
        dev.with_client(|c| c.kem_public_key().unwrap().to_vec()),
        first_kem
    );
    let last = rotate_and_capture(&svc, &mut dev, &proxy, &control).await;
    for cmd in &last {
        assert!(leaked.unprotect(cmd, &control).is_err());
    }
    // Replays of everything captured change nothing on either side.
    proxy.clear_rule();
    let captured = proxy.captured();
    for (i, c) in captured.iter().enumerate() {
        if c.topic.starts_with("e4c2/announce/") {
            proxy.replay(i).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(svc.metrics.rekeys.get(), 2);
    let info = svc.get_client(&ClientRef::Id(id)).await.unwrap();
    assert_eq!(info.sig_pk, dev.with_client(|c| c.public_key()));
    dev.disconnect().await;
    c2.stop().await;
}

/// Issue 12, item 8: the KEM key a device offered, swapped in the pending
/// upgrade's row behind C2's back, is refused: the Confirm is not verified
/// against it, nothing commits, and the refusal is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_offered_key_is_refused_at_the_confirm() {
    let (dir, c2, svc, proxy) = c2_and_proxy(None).await;
    let (id, state, dev) = upgrade_held_at_confirm(dir.path(), &svc, &proxy, "sensor-i").await;
    {
        let mut conn = svc.db.read().await.unwrap();
        let n = e4_c2::db::negotiations::get(&mut conn, &id)
            .await
            .unwrap()
            .unwrap();
        let mut kem = n.kem_pk.unwrap();
        kem[0] ^= 1;
        sqlx::query("UPDATE negotiations SET kem_pk = $1 WHERE client_id = $2")
            .bind(kem)
            .bind(id.0.to_vec())
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let failures = || {
        svc.metrics
            .integrity_failures
            .get_or_create(&e4_c2::metrics::IntegrityLabels {
                table: "negotiations",
            })
            .get()
    };
    let dev = release_confirm(dev, &state, &proxy, "the swapped key to be refused", || {
        failures() > 0
    })
    .await;
    assert_eq!(
        c2_suite(&svc, &id).await,
        (SuiteId::Symmetric, Some(SuiteId::PostQuantum))
    );
    drop(dev.disconnect().await);
    c2.stop().await;
}
