//! `e4c2 serve` killed (SIGKILL) at random moments of a rotation, then
//! restarted: every member ends with the current topic key, nothing stays
//! pending in the outbox, and the extra deliveries are counted. Against
//! the embedded broker (it dies with the process, so the devices lose their
//! sessions and catch up through their state reports) and against
//! mosquitto with CPU pressure beside it (which used to turn the
//! publisher's reconnections into a livelock), on SQLite and PostgreSQL.
//!
//! The seed is printed; `E4_CRASH_SEED=<n>` replays a run.

use crate::common::external::{send_signal, Mosquitto, Postgres};
use crate::common::fleet;
use crate::common::pressure::CpuPressure;
use crate::common::process::C2Process;
use crate::common::until_converged;
use e4_c2::api::grpc::pb;
use std::time::Duration;

const MEMBERS: usize = 200;
const ROUNDS: usize = 3;
const TOPIC: &str = "fleet/all";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rotation_embedded_broker_sqlite() {
    crash_rounds(false, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rotation_mosquitto_sqlite() {
    crash_rounds(true, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rotation_embedded_broker_postgres() {
    let Some(pg) = Postgres::start() else { return };
    crash_rounds(false, Some(pg.url.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rotation_mosquitto_postgres() {
    let Some(pg) = Postgres::start() else { return };
    crash_rounds(true, Some(pg.url.clone())).await;
}

/// splitmix64: a seeded sequence, so that a failing run can be replayed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

async fn crash_rounds(mosquitto: bool, db: Option<String>) {
    crate::common::install_crypto();
    let seed = std::env::var("E4_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let broker = if mosquitto {
        "mosquitto"
    } else {
        "embedded broker"
    };
    let store = if db.is_some() { "PostgreSQL" } else { "SQLite" };
    eprintln!("crash test ({broker}, {store}): seed {seed} (E4_CRASH_SEED={seed} replays it)");
    let mut rng = Seeded(seed);
    let mq = if mosquitto {
        match Mosquitto::start() {
            Some(m) => Some(m),
            None => return,
        }
    } else {
        None
    };
    let dir = tempfile::tempdir().unwrap();
    let proc = C2Process::new(dir.path(), mq.as_ref().map(|m| m.url()), db);
    let (host, port) = proc.broker_addr(mq.as_ref().map(|m| m.port));
    let mut child = proc.spawn();
    let mut api = proc.api().await;
    let devices = fleet::fleet_on_topic(&mut api, (&host, port), TOPIC, ("dev", 1), MEMBERS).await;
    let _pressure = mosquitto.then(|| CpuPressure::start(2));

    for round in 0..ROUNDS {
        let before: Vec<(usize, usize)> = devices
            .iter()
            .map(|d| (d.stats.get(|s| &s.topic_keys), d.stats.get(|s| &s.refused)))
            .collect();
        let q = api
            .rotate_topic_key(pb::TopicRef {
                topic: TOPIC.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(q.count, MEMBERS as u64);
        let delay = Duration::from_millis(rng.next() % 400);
        tokio::time::sleep(delay).await;
        send_signal(child.id(), 9);
        let _ = child.wait();
        let pending = proc.pending_in_db().await;
        child = proc.spawn();
        api = proc.api().await;
        let took = until_converged(&mut api).await;
        // Independently of C2's records: every member reads what C2
        // protects with the topic's current key.
        let msg = api
            .protect_message(pb::ProtectRequest {
                topic: TOPIC.into(),
                payload: format!("round {round}").into_bytes(),
            })
            .await
            .unwrap()
            .into_inner()
            .protected;
        let mut extra = 0;
        let mut most = 0;
        for (d, (keys0, refused0)) in devices.iter().zip(&before) {
            assert_eq!(
                d.unprotect(TOPIC, &msg).await,
                Ok(format!("round {round}").into_bytes()),
                "{} after round {round} (seed {seed})",
                d.name
            );
            let got =
                d.stats.get(|s| &s.topic_keys) - keys0 + d.stats.get(|s| &s.refused) - refused0;
            assert!(got >= 1, "{} got no SetTopicKey in round {round}", d.name);
            extra += got - 1;
            most = most.max(got);
        }
        eprintln!(
            "round {round}: killed {} ms after the rotation with {pending} of {MEMBERS} commands pending; \
             converged {} ms after the restart; {extra} extra deliveries (at most {most} per device)",
            delay.as_millis(),
            took.as_millis()
        );
    }
    send_signal(child.id(), 15);
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown on SIGTERM");
    for d in devices {
        drop(d.stop().await);
    }
}
