//! Commands reach the device, not just the broker: e4-client devices added
//! to a topic before their first connection, offline during a rotation and
//! a C2 key change, or whose broker session was lost, end with the current
//! keys without operator action (their state reports bring them up to
//! date), on the embedded broker and on mosquitto; C2 knows which device
//! holds what.

use crate::common::external::Mosquitto;
use crate::common::fleet::{self, FleetDevice};
use crate::common::scenario::wait_outbox_empty;
use crate::common::{options, C2, PATIENCE};
use e4_backends::rng::OsRng;
use e4_c2::model::{ClientRef, NewClient};
use e4_c2::service::Service;
use e4_client::{Client, Config};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{Id, SuiteId, SymKey};
use std::time::{Duration, Instant};

async fn symmetric(svc: &Service, name: &str) -> Client {
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
    Client::new(Config::sym_id_and_key(Some(id), SymKey::new(*key.unwrap()))).unwrap()
}

async fn public_key(svc: &Service, name: &str) -> Client {
    let c2_public: [u8; 32] = svc
        .crypto_mode()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.suite == SuiteId::PubKey)
        .unwrap()
        .c2_public_key
        .try_into()
        .unwrap();
    let sig = svc.provider.suite(SuiteId::PubKey).unwrap().sig().unwrap();
    let (mut sk, mut pk) = ([0u8; 64], [0u8; 32]);
    sig.generate(&mut OsRng, &mut sk, &mut pk).unwrap();
    let id = Id::from_alias(svc.provider.hash, name.as_bytes());
    svc.new_client(NewClient {
        name: name.into(),
        id: Some(id.0.to_vec()),
        suite: Some("pubkey".into()),
        key: None,
        sig_pk: Some(pk.to_vec()),
        kem_pk: None,
    })
    .await
    .unwrap();
    let signing = Ed25519Secret::from_slice(&sk).unwrap();
    Client::new(Config::pub_id_and_key(Some(id), signing, c2_public)).unwrap()
}

fn cref(name: &str) -> ClientRef {
    ClientRef::Name(name.into())
}

/// Wait until C2's record of `name` (from its reports) says it holds its
/// current keys.
async fn until_up_to_date(svc: &Service, name: &str) {
    let start = Instant::now();
    loop {
        let c = svc.get_client(&cref(name)).await.unwrap();
        if c.state.up_to_date() == Some(true) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{name} never reported holding its current keys: {:?}",
            c.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_and_late_devices_catch_up_on_the_embedded_broker() {
    catch_up(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_and_late_devices_catch_up_on_mosquitto() {
    let Some(mq) = Mosquitto::start() else { return };
    catch_up(Some(&mq)).await;
}

async fn catch_up(mq: Option<&Mosquitto>) {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), None, mq.map(|m| m.url()))).await;
    let svc = c2.running.service.clone();
    let (host, port) = match mq {
        Some(m) => ("127.0.0.1".to_string(), m.port),
        None => c2.mqtt(),
    };
    let cfg = || fleet::config(&host, port);
    svc.new_topic_with_format("plant/sym", Some(SuiteId::Symmetric))
        .await
        .unwrap();
    svc.new_topic("plant/signed").await.unwrap();

    // Added to a topic before it ever connected: the broker drops the
    // SetTopicKey (no session yet).
    let early = symmetric(&svc, "early").await;
    svc.add_client_to_topic(&cref("early"), "plant/sym")
        .await
        .unwrap();
    // Online, then away during a rotation.
    let away = symmetric(&svc, "away").await;
    svc.add_client_to_topic(&cref("away"), "plant/sym")
        .await
        .unwrap();
    // A public-key device, away during a rotation and a C2 key change.
    let pk = public_key(&svc, "pk").await;
    svc.add_client_to_topic(&cref("pk"), "plant/signed")
        .await
        .unwrap();
    wait_outbox_empty(&c2).await;
    let never = svc.get_client(&cref("early")).await.unwrap();
    assert_eq!(never.state.up_to_date(), None, "never reported: unknown");
    assert_eq!(never.state.topics_unconfirmed, 1);

    let away_dev = FleetDevice::start("away", away, cfg());
    let pk_dev = FleetDevice::start("pk", pk, cfg());
    until_up_to_date(&svc, "away").await;
    until_up_to_date(&svc, "pk").await;
    let pk_state = svc.get_client(&cref("pk")).await.unwrap().state;
    assert_eq!(pk_state.c2_key_current, Some(true));
    let away = away_dev.stop().await;
    let pk = pk_dev.stop().await;

    let rotation = svc.rotate_topic_key("plant/sym").await.unwrap();
    svc.rotate_topic_key("plant/signed").await.unwrap();
    svc.new_c2_key(Some("pubkey")).await.unwrap();
    wait_outbox_empty(&c2).await;
    // C2 knows they are behind: the broker acknowledged, no device
    // confirmed.
    let s = svc.get_client(&cref("away")).await.unwrap().state;
    assert_eq!((s.up_to_date(), s.topics_unconfirmed), (Some(false), 1));
    let s = svc.get_client(&cref("pk")).await.unwrap().state;
    assert_eq!(s.c2_key_current, Some(false), "{s:?}");
    let h = svc.health().await;
    assert_eq!(h.devices_out_of_date, 2, "{h:?}");
    assert_eq!(h.devices_never_reported, 1, "{h:?}");
    let p = svc
        .command_progress(rotation.first_id, rotation.last_id)
        .await
        .unwrap();
    assert_eq!((p.sent, p.devices, p.devices_confirmed), (2, 2, 0));

    // Everyone (back) on line: nobody touches C2.
    let early_dev = FleetDevice::start("early", early, cfg());
    let away_dev = FleetDevice::start("away", away, cfg());
    let pk_dev = FleetDevice::start("pk", pk, cfg());
    for name in ["early", "away", "pk"] {
        until_up_to_date(&svc, name).await;
    }
    // Independently of C2's records: both symmetric devices read what C2
    // protects with the current key of plant/sym ...
    let msg = svc
        .protect_message("plant/sym", b"current key")
        .await
        .unwrap();
    for d in [&early_dev, &away_dev] {
        assert_eq!(
            d.unprotect("plant/sym", &msg).await,
            Ok(b"current key".to_vec()),
            "{}",
            d.name
        );
    }
    // ... and the public-key device holds C2's new key: a command sealed
    // under it is applied.
    let before = pk_dev.stats.get(|s| &s.topic_keys);
    svc.rotate_topic_key("plant/signed").await.unwrap();
    until(
        "the public-key device to apply a command under the new C2 key",
        || pk_dev.stats.get(|s| &s.topic_keys) > before,
    )
    .await;
    let p = svc
        .command_progress(rotation.first_id, rotation.last_id)
        .await
        .unwrap();
    assert_eq!((p.devices, p.devices_confirmed), (2, 2), "{p:?}");
    let t = svc.get_topic("plant/sym").await.unwrap();
    assert_eq!((t.key_version, t.members_confirmed), (2, Some(2)));
    // (The device reports the key it just got.)
    until_up_to_date(&svc, "pk").await;
    let h = svc.health().await;
    assert_eq!((h.devices_out_of_date, h.devices_never_reported), (0, 0));

    // Joining a topic again re-sends its key (it used to answer
    // AlreadyExists and leave a device without it).
    let q = svc
        .add_client_to_topic(&cref("early"), "plant/sym")
        .await
        .unwrap();
    assert_eq!(q.count, 1);
    assert_eq!(svc.count_clients_for_topic("plant/sym").await.unwrap(), 2);

    for d in [early_dev, away_dev, pk_dev] {
        drop(d.stop().await);
    }
    c2.stop().await;
}

/// The broker restarts without its sessions (mosquitto without
/// persistence, or a replaced broker) while a rotation is queued: the
/// devices come back with no session, the rotation's commands are lost,
/// and their reports get them the current key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_whose_broker_session_was_lost_catch_up() {
    let Some(mut mq) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(options(dir.path(), None, Some(mq.url()))).await;
    let svc = c2.running.service.clone();
    svc.new_topic_with_format("plant/sym", Some(SuiteId::Symmetric))
        .await
        .unwrap();
    let mut devs = Vec::new();
    for i in 0..4 {
        let name = format!("d{i}");
        let client = symmetric(&svc, &name).await;
        svc.add_client_to_topic(&cref(&name), "plant/sym")
            .await
            .unwrap();
        devs.push(FleetDevice::start(
            &name,
            client,
            fleet::config("127.0.0.1", mq.port),
        ));
    }
    for d in &devs {
        until_up_to_date(&svc, &d.name).await;
    }
    mq.down();
    mq.forget_sessions();
    svc.rotate_topic_key("plant/sym").await.unwrap();
    mq.up();
    wait_outbox_empty(&c2).await;
    for d in &devs {
        until_up_to_date(&svc, &d.name).await;
    }
    let msg = svc
        .protect_message("plant/sym", b"after the broker lost everything")
        .await
        .unwrap();
    for d in &devs {
        assert_eq!(
            d.unprotect("plant/sym", &msg).await,
            Ok(b"after the broker lost everything".to_vec()),
            "{}",
            d.name
        );
    }
    for d in devs {
        drop(d.stop().await);
    }
    c2.stop().await;
}
