//! Issue 12, item 1: a flood of forged messages on `e4c2/announce/+`.
//! `e4c2 serve` (a child process, logging at its default level to a file)
//! gets 20 000 forged Announces as fast as one MQTT client sends them,
//! half to registered devices (each one verified and refused), half to ids
//! it never registered. Every message is refused or dropped by the rate
//! limits (and counted), nothing is written to the database, and the log
//! stays small. Behaviour only: the latency figures are the example's
//! (`examples/announce_flood.rs`).

#[path = "../support/flood.rs"]
mod forged;

use crate::common::http::Rest;
use crate::common::process::C2Process;
use crate::common::{addr, PATIENCE};
use e4_backends::rng::OsRng;
use e4_proto::{Id, SuiteId};
use serde_json::json;
use sqlx::Connection;
use std::time::{Duration, Instant};

const FLOOD: usize = 20_000;
/// The bound on the log's growth during the flood.
const MAX_LOG_GROWTH: u64 = 2 * 1024 * 1024;

fn pq_public_keys() -> (Vec<u8>, Vec<u8>) {
    let s = e4_backends::provider().suite(SuiteId::PostQuantum).unwrap();
    let (sig, kem) = (s.sig().unwrap(), s.kem().unwrap());
    let mut ssk = vec![0u8; sig.secret_key_len()];
    let mut spk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut OsRng, &mut ssk, &mut spk).unwrap();
    let mut ksk = vec![0u8; kem.secret_key_len()];
    let mut kpk = vec![0u8; kem.public_key_len()];
    kem.generate(&mut OsRng, &mut ksk, &mut kpk).unwrap();
    (spk, kpk)
}

/// SQLite's `data_version` on a connection of our own: it changes when
/// any other connection (the C2 process) commits.
async fn data_version(conn: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_announcements_is_refused_unwritten_and_barely_logged() {
    crate::common::install_crypto();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("e4c2.log");
    let c2 = C2Process::new(data.path(), None, None);
    // The default log filter: what an operator runs.
    let _proc = c2.spawn_with(e4_c2::cli::logging::DEFAULT_FILTER, Some(&log));
    let _api = c2.api().await;
    let rest = Rest::new(
        addr(c2.http),
        std::fs::read(data.path().join("tls/cert.pem")).unwrap(),
        Some(
            std::fs::read_to_string(data.path().join("admin.token"))
                .unwrap()
                .trim()
                .to_string(),
        ),
    );
    let mut targets = Vec::new();
    let (st, v) = rest
        .call(
            "POST",
            "/v1/clients",
            Some(json!({"name": "sensor", "suite": "symmetric"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    targets.push((
        Id::from_slice(&hex::decode(v["client"]["id"].as_str().unwrap()).unwrap()).unwrap(),
        SuiteId::Symmetric,
    ));
    let (sig, kem) = pq_public_keys();
    let (st, v) = rest
        .call(
            "POST",
            "/v1/clients",
            Some(json!({"name": "gateway", "suite": "pq",
                "sig_public_key": hex::encode(sig), "kem_public_key": hex::encode(kem)})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    targets.push((
        Id::from_slice(&hex::decode(v["client"]["id"].as_str().unwrap()).unwrap()).unwrap(),
        SuiteId::PostQuantum,
    ));

    let mut db = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        data.path().join("c2.db").display()
    ))
    .await
    .unwrap();
    // Let the start settle (nothing more to write), then take the
    // baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let version_before = data_version(&mut db).await;
    let log_before = std::fs::metadata(&log).unwrap().len();
    let messages_before = c2.metric("e4c2_negotiation_messages_total").await;

    let (host, port) = c2.broker_addr(None);
    let took = forged::publish_all(&host, port, forged::forged_messages(FLOOD, &targets)).await;

    // Until C2 has handled everything the broker passed on (it stops
    // counting for a while).
    let start = Instant::now();
    let mut seen = -1.0;
    let mut still = Instant::now();
    loop {
        let now = c2.metric("e4c2_negotiation_messages_total").await;
        if now != seen {
            seen = now;
            still = Instant::now();
        } else if still.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "C2 never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handled = seen - messages_before;
    let refused = c2.metric("e4c2_negotiation_refused_total").await;
    let dropped_device = c2
        .metric("e4c2_negotiation_dropped_total{limit=\"device\"}")
        .await;
    let dropped_global = c2
        .metric("e4c2_negotiation_dropped_total{limit=\"global\"}")
        .await;
    let log_growth = std::fs::metadata(&log).unwrap().len() - log_before;
    let text = std::fs::read_to_string(&log).unwrap();
    let refusal_lines = text
        .lines()
        .filter(|l| l.contains("negotiation message"))
        .count();
    eprintln!(
        "flood: {FLOOD} sent in {took:?}; C2 handled {handled}: refused {refused}, dropped {dropped_device} (device limit) + {dropped_global} (global limit); log +{log_growth} bytes, {refusal_lines} refusal lines"
    );

    // The broker passed most of it on (QoS 0: it may drop some).
    assert!(handled >= FLOOD as f64 / 2.0, "{handled}");
    // Nothing was written to the database.
    assert_eq!(data_version(&mut db).await, version_before);
    // The log grew by little: refusals are sampled.
    assert!(log_growth < MAX_LOG_GROWTH, "{log_growth} bytes");
    assert!(refusal_lines <= 100, "{refusal_lines} lines");
    // Every message was refused or dropped by a rate limit, and counted
    // as such.
    assert_eq!(refused + dropped_device + dropped_global, handled);
    assert!(dropped_device > 0.0 && dropped_global > 0.0);
    assert!(refused > 0.0);
    assert_eq!(c2.metric("e4c2_suite_upgrades_total").await, 0.0);
    // The registered devices were not touched.
    for name in ["sensor", "gateway"] {
        let (st, v) = rest.call("GET", &format!("/v1/clients/{name}"), None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["negotiates"], false, "{v}");
    }
    db.close().await.unwrap();
}
