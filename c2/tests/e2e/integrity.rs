//! Integrity of public keys at rest (issue 12, item 8): whoever can write
//! the database but lacks the passphrase swaps a device's public key, or
//! the device key of a queued command, for one of theirs. C2 refuses the
//! row with a typed error and counts it; nothing is sealed to the swapped
//! key; untouched devices still work. Keys stored before MACs existed are
//! trusted once, at the first start after the upgrade, and never again.
//! C2's own public keys likewise: a swapped one is sent to no device.

use crate::common;

use common::device::{kem_keys, pubkey_keys, Device, Keys, Seen};
use common::external::Mosquitto;
use common::scenario::{alias_id, c2_public, cref, metric, wait_outbox_empty, SET_TOPIC_KEY};
use common::{C2, PATIENCE};
use e4_c2::api::grpc::pb;
use e4_c2::crypto_at_rest::{MasterKey, CHECK_AAD, CHECK_PLAINTEXT, CHECK_PLAINTEXT_MACS};
use e4_c2::model::ClientRef;
use e4_client::mqtt::{E4Mqtt, MqttConfig};
use e4_client::{Client, Config, SuiteSet};
use e4_proto::{SuiteId, SymKey};
use serde_json::{json, Value};
use sqlx::{Connection, Row, SqliteConnection};
use std::path::Path;
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "test passphrase, long enough";

fn failures(table: &str) -> String {
    format!("e4c2_integrity_failures_total{{table=\"{table}\"}}")
}

/// The database of a C2 data directory, opened behind C2's back.
async fn database(dir: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", dir.join("c2.db").display()))
        .await
        .unwrap()
}

async fn sql(db: &mut SqliteConnection, statement: &str, args: &[&[u8]]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(statement.to_string()));
    for a in args {
        q = q.bind(a.to_vec());
    }
    q.execute(&mut *db).await.unwrap();
}

/// Register a device of `suite` with its public keys.
async fn register(rest: &common::http::Rest, name: &str, suite: &str, sig: &[u8], kem: &[u8]) {
    let mut body = json!({"name": name, "suite": suite, "sig_public_key": hex::encode(sig)});
    if !kem.is_empty() {
        body["kem_public_key"] = json!(hex::encode(kem));
    }
    let (s, v) = rest.call("POST", "/v1/clients", Some(body)).await;
    assert_eq!(s, 201, "{v}");
}

fn assert_refused(status: u16, v: &Value, name: &str) {
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"], "integrity_failure", "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("{name:?}")) && msg.contains("integrity check"),
        "{v}"
    );
}

fn no_command(d: &mut Device) {
    let seen = d.drain();
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Command(_))),
        "{} opened a command sealed to the swapped key: {seen:?}",
        d.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapped_public_keys_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    let c2pk = c2_public(&mut grpc, "pubkey").await;
    let c2_pq = c2_public(&mut grpc, "pq").await;
    let (victim, good, attacker) = (pubkey_keys(&c2pk), pubkey_keys(&c2pk), pubkey_keys(&c2pk));
    let (kem, kem_attacker) = (
        kem_keys(SuiteId::PostQuantum, &c2_pq),
        kem_keys(SuiteId::PostQuantum, &c2_pq),
    );
    let (attacker_pk, attacker_kem_pk) = (attacker.sig_pk.clone(), kem_attacker.kem_pk.clone());
    register(&rest, "victim", "pubkey", &victim.sig_pk, &[]).await;
    register(&rest, "good", "pubkey", &good.sig_pk, &[]).await;
    register(&rest, "kem", "pq", &kem.sig_pk, &kem.kem_pk).await;
    let (s, _) = rest
        .call("POST", "/v1/topics", Some(json!({"topic": "t"})))
        .await;
    assert_eq!(s, 201);
    let connect = |name: &'static str, as_of: &str, suite, keys| {
        Device::connect(name, alias_id(as_of), suite, keys, c2.mqtt(), false)
    };
    let mut good_dev = connect("good", "good", SuiteId::PubKey, good).await;
    // The attackers listen on the victims' control topics with their own keys.
    let mut spy = connect("spy", "victim", SuiteId::PubKey, attacker).await;
    let mut kem_spy = connect("kem-spy", "kem", SuiteId::PostQuantum, kem_attacker).await;

    // Swapped behind C2's back.
    let mut db = database(dir.path()).await;
    sql(
        &mut db,
        "UPDATE clients SET sig_pk = $1 WHERE name = 'victim'",
        &[&attacker_pk],
    )
    .await;
    sql(
        &mut db,
        "UPDATE clients SET kem_pk = $1 WHERE name = 'kem'",
        &[&attacker_kem_pk],
    )
    .await;
    let queued = metric(&c2, "e4c2_commands_queued_total").await;

    // No topic key for them, over REST and gRPC.
    let (s, v) = rest.call("PUT", "/v1/clients/victim/topics/t", None).await;
    assert_refused(s, &v, "victim");
    let e = grpc
        .add_client_to_topic(pb::Membership {
            client: Some(cref("kem")),
            topic: "t".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::DataLoss, "{e:?}");
    assert!(e.message().contains("\"kem\""), "{e:?}");
    // The swapped signature key is not handed to another device either.
    let pair = |s: &str, t: &str| pb::ClientPair {
        source: Some(cref(s)),
        target: Some(cref(t)),
    };
    grpc.link_client(pair("victim", "good")).await.unwrap();
    grpc.link_client(pair("good", "victim")).await.unwrap();
    let e = grpc
        .send_client_pub_key(pair("victim", "good"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::DataLoss, "{e:?}");
    // Nothing was queued; the refusals were counted.
    assert_eq!(metric(&c2, "e4c2_commands_queued_total").await, queued);
    assert_eq!(metric(&c2, &failures("clients")).await, 3.0);
    let (_, members) = rest.call("GET", "/v1/topics/t/clients", None).await;
    assert!(
        !members.to_string().contains("victim") && !members.to_string().contains("\"kem\""),
        "{members}"
    );

    // An untouched device still works; a command to the victim (here the
    // good device's public key) is refused as well.
    let (s, v) = rest.call("PUT", "/v1/clients/good/topics/t", None).await;
    assert_eq!(s, 200, "{v}");
    good_dev.expect_command(SET_TOPIC_KEY).await;
    let e = grpc
        .send_client_pub_key(pair("good", "victim"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::DataLoss, "{e:?}");
    wait_outbox_empty(&c2).await;
    no_command(&mut spy);
    no_command(&mut kem_spy);
    assert_eq!(metric(&c2, &failures("clients")).await, 4.0);
    // The operator can still see and remove a tampered client.
    let (s, _) = rest.call("GET", "/v1/clients/victim", None).await;
    assert_eq!(s, 200);
    let (s, _) = rest.call("DELETE", "/v1/clients/victim", None).await;
    assert_eq!(s, 204);
    let (s, v) = rest.call("POST", "/v1/topics/t/rotate", None).await;
    assert_eq!(s, 200, "{v}");
    good_dev.expect_command(SET_TOPIC_KEY).await;
    c2.stop().await;
}

/// C2's current public key of `suite`, as stored.
async fn stored_c2_key(db: &mut SqliteConnection, suite: &str) -> Vec<u8> {
    sqlx::query("SELECT public_key FROM c2_keys WHERE suite = $1 ORDER BY version DESC")
        .bind(suite)
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0)
}

/// Store `pubkey` and `pq` as C2's current public keys of those suites.
async fn set_c2_keys(db: &mut SqliteConnection, pubkey: &[u8], pq: &[u8]) {
    for (suite, key) in [("pubkey", pubkey), ("pq", pq)] {
        sql(
            db,
            &format!("UPDATE c2_keys SET public_key = $1 WHERE suite = '{suite}'"),
            &[key],
        )
        .await;
    }
}

fn assert_c2_key_refused(status: u16, v: &Value, suite: &str) {
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"], "integrity_failure", "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("C2's public key for suite {suite}, version 1"))
            && msg.contains("integrity check"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swapped_c2_public_key_is_sent_to_no_device() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let svc = c2.running.service.clone();
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    let c2pk = c2_public(&mut grpc, "pubkey").await;
    let c2_pq = c2_public(&mut grpc, "pq").await;
    let (pk, pq) = (pubkey_keys(&c2pk), kem_keys(SuiteId::PostQuantum, &c2_pq));
    // The attacker's keys: an X25519 key, an ML-DSA signature key.
    let attacker_pk = pubkey_keys(&c2pk).sig_pk;
    let attacker_pq = kem_keys(SuiteId::PostQuantum, &c2_pq).sig_pk;
    register(&rest, "pk", "pubkey", &pk.sig_pk, &[]).await;
    register(&rest, "pq", "pq", &pq.sig_pk, &pq.kem_pk).await;
    // A symmetric device C2 would upgrade to pq (its SetSuite carries C2's
    // pq key).
    let (s, v) = rest
        .call(
            "POST",
            "/v1/clients",
            Some(json!({"name": "sensor", "suite": "symmetric"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let unhex = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let sensor_id = e4_proto::Id::from_slice(&unhex(&v["client"]["id"])).unwrap();
    let sensor_key = SymKey::new(unhex(&v["key"]).try_into().unwrap());
    svc.set_client_policy(
        &ClientRef::Id(sensor_id),
        Some(SuiteSet::of(&[SuiteId::PostQuantum])),
    )
    .await
    .unwrap();
    // A topic for each suite (a topic is read in one suite's format).
    for topic in ["t", "u"] {
        let (s, _) = rest
            .call("POST", "/v1/topics", Some(json!({"topic": topic})))
            .await;
        assert_eq!(s, 201);
    }
    let mut pk_dev =
        Device::connect("pk", alias_id("pk"), SuiteId::PubKey, pk, c2.mqtt(), false).await;
    let mut pq_dev = Device::connect(
        "pq",
        alias_id("pq"),
        SuiteId::PostQuantum,
        pq,
        c2.mqtt(),
        false,
    )
    .await;

    // C2's keys swapped behind its back.
    let mut db = database(dir.path()).await;
    let (genuine_pk, genuine_pq) = (
        stored_c2_key(&mut db, "pubkey").await,
        stored_c2_key(&mut db, "pq").await,
    );
    set_c2_keys(&mut db, &attacker_pk, &attacker_pq).await;
    let queued = metric(&c2, "e4c2_commands_queued_total").await;

    // No command for the devices of those suites (sealed, signed, under a
    // key they would be told is C2's) ...
    let (s, v) = rest.call("PUT", "/v1/clients/pq/topics/t", None).await;
    assert_c2_key_refused(s, &v, "pq");
    let (s, v) = rest.call("PUT", "/v1/clients/pk/topics/u", None).await;
    assert_c2_key_refused(s, &v, "pubkey");
    // ... no rotation (its SetC2Key follows from the stored key) ...
    let (s, v) = rest
        .call("POST", "/v1/c2/key", Some(json!({"suite": "pq"})))
        .await;
    assert_c2_key_refused(s, &v, "pq");
    let e = grpc
        .new_c2_key(pb::NewC2KeyRequest {
            suite: "pubkey".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::DataLoss, "{e:?}");
    // ... and the key is not handed out to provision devices with.
    let (s, v) = rest.call("GET", "/v1/c2/crypto-mode", None).await;
    assert_eq!(s, 500, "{v}");
    assert_eq!(v["error"], "integrity_failure", "{v}");
    assert_eq!(metric(&c2, "e4c2_commands_queued_total").await, queued);
    assert_eq!(metric(&c2, &failures("c2_keys")).await, 5.0);

    // An upgrade to pq is not answered: its SetSuite would carry the
    // swapped key.
    let state = dir.path().join("sensor.json");
    let mut client =
        Client::create(&state, Config::sym_id_and_key(Some(sensor_id), sensor_key)).unwrap();
    client
        .set_capabilities(SuiteSet::of(&[SuiteId::PostQuantum]))
        .unwrap();
    let (host, port) = c2.mqtt();
    let sensor_dev = E4Mqtt::connect(client, MqttConfig::new(host, port)).unwrap();
    let start = Instant::now();
    while metric(&c2, &failures("c2_keys")).await < 6.0 {
        assert!(start.elapsed() < PATIENCE, "the Announce was never refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = svc.get_client(&ClientRef::Id(sensor_id)).await.unwrap();
    assert_eq!((c.suite, c.pending_suite), (SuiteId::Symmetric, None));
    assert!(
        !format!("{:?}", sensor_dev.with_client(|c| c.negotiation_status())).contains("Accepted")
    );
    assert_eq!(metric(&c2, "e4c2_commands_queued_total").await, queued);
    drop(sensor_dev.disconnect().await);
    wait_outbox_empty(&c2).await;
    no_command(&mut pk_dev);
    no_command(&mut pq_dev);

    // The genuine keys back: the same operations go through.
    set_c2_keys(&mut db, &genuine_pk, &genuine_pq).await;
    for (name, topic) in [("pq", "t"), ("pk", "u")] {
        let (s, v) = rest
            .call("PUT", &format!("/v1/clients/{name}/topics/{topic}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    pq_dev.expect_command(SET_TOPIC_KEY).await;
    pk_dev.expect_command(SET_TOPIC_KEY).await;
    c2.stop().await;
}

async fn until_broker(c2: &C2, up: bool) {
    let start = Instant::now();
    loop {
        let (_, h) = c2.rest().call("GET", "/v1/health", None).await;
        if h["broker"] == up {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "broker never {}",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_command_whose_device_key_was_swapped_is_not_sent() {
    let Some(mut broker) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, Some(broker.url()))).await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    let c2pk = c2_public(&mut grpc, "pubkey").await;
    let (victim, good, attacker) = (pubkey_keys(&c2pk), pubkey_keys(&c2pk), pubkey_keys(&c2pk));
    let attacker_pk = attacker.sig_pk.clone();
    register(&rest, "victim", "pubkey", &victim.sig_pk, &[]).await;
    register(&rest, "good", "pubkey", &good.sig_pk, &[]).await;
    let (s, _) = rest
        .call("POST", "/v1/topics", Some(json!({"topic": "t"})))
        .await;
    assert_eq!(s, 201);
    let mqtt = ("127.0.0.1".to_string(), broker.port);
    let mut good_dev = Device::connect(
        "good",
        alias_id("good"),
        SuiteId::PubKey,
        good,
        mqtt.clone(),
        true,
    )
    .await;
    let mut spy = Device::connect(
        "spy",
        alias_id("victim"),
        SuiteId::PubKey,
        attacker,
        mqtt,
        true,
    )
    .await;

    // Commands queued while the broker is away wait in the outbox ...
    broker.down();
    until_broker(&c2, false).await;
    for name in ["victim", "good"] {
        let (s, v) = rest
            .call("PUT", &format!("/v1/clients/{name}/topics/t"), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // ... where the victim's is redirected to the attacker's key.
    let mut db = database(dir.path()).await;
    sql(
        &mut db,
        "UPDATE outbox SET device_key = $1 WHERE client_id = $2 AND status = 0",
        &[&attacker_pk, &alias_id("victim").0],
    )
    .await;
    broker.up();
    good_dev.expect_command(SET_TOPIC_KEY).await;
    wait_outbox_empty(&c2).await;

    let row = sqlx::query("SELECT status, error FROM outbox WHERE client_id = $1")
        .bind(alias_id("victim").0.to_vec())
        .fetch_one(&mut db)
        .await
        .unwrap();
    let (status, error): (i64, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(
        status, 2,
        "the tampered command was not given up: {error:?}"
    );
    assert!(error.unwrap_or_default().contains("integrity check"));
    assert_eq!(metric(&c2, &failures("outbox")).await, 1.0);
    assert_eq!(metric(&c2, &failures("clients")).await, 0.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    no_command(&mut spy);
    c2.stop().await;
}

/// Replace the passphrase check value by one sealing `plaintext`.
async fn set_check(db: &mut SqliteConnection, plaintext: &[u8]) {
    let salt: Vec<u8> = sqlx::query("SELECT value FROM meta WHERE name = 'kdf_salt'")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
    let master = MasterKey::derive(PASSPHRASE.as_bytes(), &salt, common::test_kdf()).unwrap();
    let check = master.seal(CHECK_AAD, plaintext);
    sql(
        db,
        "UPDATE meta SET value = $1 WHERE name = 'passphrase_check'",
        &[&check],
    )
    .await;
}

/// Turn the database back into one written before MACs existed: no MACs,
/// the old passphrase check value.
async fn as_before_macs(dir: &Path) {
    let mut db = database(dir).await;
    set_check(&mut db, CHECK_PLAINTEXT).await;
    for t in ["clients", "negotiations", "outbox", "c2_keys"] {
        sql(&mut db, &format!("UPDATE {t} SET pk_mac = NULL"), &[]).await;
    }
}

/// Store `sig_pk` as device "old"'s key, without a MAC.
async fn swap_without_mac(db: &mut SqliteConnection, sig_pk: &[u8]) {
    sql(
        db,
        "UPDATE clients SET sig_pk = $1, pk_mac = NULL WHERE name = 'old'",
        &[sig_pk],
    )
    .await;
}

/// A C2 run once in `dir`, with a pubkey device "old" and a topic "t";
/// returns the device's keys and an attacker's.
async fn stopped_with_device(dir: &Path) -> (Keys, Keys) {
    let c2 = C2::start(common::options(dir, None, None)).await;
    let mut grpc = c2.grpc().await;
    let c2pk = c2_public(&mut grpc, "pubkey").await;
    let (old, attacker) = (pubkey_keys(&c2pk), pubkey_keys(&c2pk));
    register(&c2.rest(), "old", "pubkey", &old.sig_pk, &[]).await;
    let (s, _) = c2
        .rest()
        .call("POST", "/v1/topics", Some(json!({"topic": "t"})))
        .await;
    assert_eq!(s, 201);
    c2.stop().await;
    (old, attacker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_stored_before_macs_are_trusted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (old, attacker) = stopped_with_device(dir.path()).await;

    // The first start after the upgrade authenticates the keys as they are.
    as_before_macs(dir.path()).await;
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let mut dev = Device::connect(
        "old",
        alias_id("old"),
        SuiteId::PubKey,
        old,
        c2.mqtt(),
        false,
    )
    .await;
    let (s, v) = c2
        .rest()
        .call("PUT", "/v1/clients/old/topics/t", None)
        .await;
    assert_eq!(s, 200, "{v}");
    dev.expect_command(SET_TOPIC_KEY).await;
    c2.stop().await;

    // A passphrase change renews the MACs.
    let newpass = dir.path().join("new-pass");
    std::fs::write(&newpass, "a brand new passphrase, long too\n").unwrap();
    common::change_passphrase(dir.path(), None, PASSPHRASE, &newpass);
    let options = || {
        let mut o = common::options(dir.path(), None, None);
        o.passphrase = Some("a brand new passphrase, long too".to_string().into());
        o
    };
    let c2 = C2::start(options()).await;
    let (s, v) = c2.rest().call("POST", "/v1/topics/t/rotate", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["count"], 1, "{v}");
    c2.stop().await;

    // Later, a key without a MAC is refused: dropping the MAC does not
    // make C2 trust a swapped key again.
    let mut db = database(dir.path()).await;
    swap_without_mac(&mut db, &attacker.sig_pk).await;
    drop(db);
    let c2 = C2::start(options()).await;
    let (s, v) = c2.rest().call("POST", "/v1/topics/t/rotate", None).await;
    assert_refused(s, &v, "old");
    assert_eq!(metric(&c2, &failures("clients")).await, 1.0);
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c2_keys_stored_before_their_macs_are_trusted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, attacker) = stopped_with_device(dir.path()).await;

    // A database of the version before C2's keys had MACs: devices' keys
    // authenticated (check value v1), C2's not. A device key swapped with
    // its MAC dropped is not trusted again by this upgrade.
    let mut db = database(dir.path()).await;
    set_check(&mut db, CHECK_PLAINTEXT_MACS).await;
    sql(&mut db, "UPDATE c2_keys SET pk_mac = NULL", &[]).await;
    swap_without_mac(&mut db, &attacker.sig_pk).await;
    drop(db);
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let (s, v) = c2.rest().call("GET", "/v1/c2/crypto-mode", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = c2
        .rest()
        .call("PUT", "/v1/clients/old/topics/t", None)
        .await;
    assert_refused(s, &v, "old");
    assert_eq!(metric(&c2, &failures("clients")).await, 1.0);
    assert_eq!(metric(&c2, &failures("c2_keys")).await, 0.0);
    c2.stop().await;

    // Later, dropping a C2 key's MAC does not make C2 trust it again.
    let mut db = database(dir.path()).await;
    sql(
        &mut db,
        "UPDATE c2_keys SET pk_mac = NULL WHERE suite = 'pubkey'",
        &[],
    )
    .await;
    drop(db);
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let (s, v) = c2.rest().call("GET", "/v1/c2/crypto-mode", None).await;
    assert_eq!(s, 500, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("C2's public key for suite pubkey"),
        "{v}"
    );
    assert_eq!(metric(&c2, &failures("c2_keys")).await, 1.0);
    c2.stop().await;
}
