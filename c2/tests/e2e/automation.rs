//! Automation of key policies, end to end:
//!
//! * a 2-second interval rule rotates a topic while e4-client devices keep
//!   reading; `e4c2 serve` is SIGKILLed just after a fire and just before
//!   one, and restarted: every slot while C2 ran fired exactly once, the
//!   slots missed while it was down fired once together (`missed =
//!   fire-once`), and the topic's key changed exactly as often as the
//!   history says (counted apart from the history, by the key version and
//!   by the SetTopicKey commands each device applied);
//! * the same on PostgreSQL with two `e4c2 serve` processes sharing the
//!   database and mosquitto: no slot fires twice, none is skipped, and when
//!   one process is killed the other keeps firing;
//! * event triggers fire once per event, count triggers once per N
//!   membership changes, key-age rules only on old keys; a dry run queues
//!   nothing; bad rules are refused with clear messages and change nothing.

use crate::common::external::{send_signal, Mosquitto, Postgres};
use crate::common::fleet::{self, FleetDevice};
use crate::common::process::{C2Process, Running};
use crate::common::{self, until_converged, C2, PATIENCE};
use e4_c2::api::grpc::pb;
use e4_c2::cli::conn::Api;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOPIC: &str = "auto";
const RULE: &str = "rotate-auto";
const SLOT_MS: i64 = 2000;

async fn fleet_on_topic(api: &mut Api, host: &str, port: u16, n: usize) -> Vec<FleetDevice> {
    fleet::fleet_on_topic(api, (host, port), TOPIC, ("auto", 7), n).await
}

async fn key_version(api: &mut Api) -> i64 {
    api.get_topic(pb::TopicRef {
        topic: TOPIC.into(),
    })
    .await
    .unwrap()
    .into_inner()
    .key_version
}

/// Once the commands are delivered, every device reads what C2 protects
/// with the topic's current key.
async fn all_read(api: &mut Api, devices: &[FleetDevice], what: &str) {
    until_converged(api).await;
    let msg = api
        .protect_message(pb::ProtectRequest {
            topic: TOPIC.into(),
            payload: what.as_bytes().to_vec(),
        })
        .await
        .unwrap()
        .into_inner()
        .protected;
    for d in devices {
        assert_eq!(
            d.unprotect(TOPIC, &msg).await,
            Ok(what.as_bytes().to_vec()),
            "{} reading {what:?}",
            d.name
        );
    }
}

async fn history(rest: &common::http::Rest, rule: &str) -> Vec<Value> {
    let (s, v) = rest
        .call("GET", &format!("/v1/rules/{rule}/history?limit=200"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let mut f = v["firings"].as_array().unwrap().clone();
    f.reverse(); // oldest first
    f
}

fn fired(h: &[Value]) -> Vec<&Value> {
    h.iter().filter(|f| f["outcome"] == "fired").collect()
}

/// Poll until the rule has fired `n` times; returns the history.
async fn until_fired(rest: &common::http::Rest, rule: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let h = history(rest, rule).await;
        if fired(&h).len() >= n {
            return h;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{rule} fired {} of {n} times: {h:?}",
            fired(&h).len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn add_rule(every: &str) -> Value {
    json!({"name": RULE, "target": format!("topic:{TOPIC}"), "triggers": [format!("every:{every}")],
           "action": "rotate-topic-key"})
}

/// The schedule slots (unix ms) the history's fires claimed, in order;
/// each must be a slot of the schedule, and none twice.
fn fired_slots(h: &[Value]) -> Vec<i64> {
    let slots: Vec<i64> = fired(h)
        .iter()
        .map(|f| {
            let slot = f["slot"].as_str().unwrap();
            let ms: i64 = slot.strip_prefix("schedule:").expect(slot).parse().unwrap();
            assert_eq!(ms % SLOT_MS, 0, "{slot} is not a slot of every:2s");
            ms
        })
        .collect();
    let mut sorted = slots.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), slots.len(), "a slot fired twice: {slots:?}");
    slots
}

async fn restart(proc: &C2Process) -> (Running, Api) {
    let child = proc.spawn();
    let api = proc.api().await;
    (child, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_rule_fires_each_slot_once_across_sigkills() {
    common::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let proc = C2Process::new(dir.path(), None, None);
    let (host, port) = proc.broker_addr(None);
    let (mut child, mut api) = restart(&proc).await;
    let rest = proc.rest();
    let devices = fleet_on_topic(&mut api, &host, port, 4).await;
    let v0 = key_version(&mut api).await;
    let keys0: Vec<usize> = devices
        .iter()
        .map(|d| d.stats.get(|s| &s.topic_keys))
        .collect();
    let (s, v) = rest.call("POST", "/v1/rules", Some(add_rule("2s"))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["next_fire_at"].as_i64().unwrap() % SLOT_MS, 0);

    // Three rotations while the devices keep reading.
    for n in 1..=3 {
        until_fired(&rest, RULE, n).await;
        all_read(&mut api, &devices, &format!("after fire {n}")).await;
    }

    // SIGKILL just after a fire (its commands may not be published yet),
    // back 1 s later: the next slot is still ahead or just due, and fires.
    let n = fired(&history(&rest, RULE).await).len();
    until_fired(&rest, RULE, n + 1).await;
    send_signal(child.id(), 9);
    let _ = child.wait();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (child, api) = restart(&proc).await;
    until_fired(&rest, RULE, n + 2).await;
    all_read(&mut api, &devices, "after a kill just after a fire").await;

    // SIGKILL just before a fire, down for more than LATE_AFTER (5 s):
    // the slots that passed fire once, on start.
    let (_, r) = rest.call("GET", &format!("/v1/rules/{RULE}"), None).await;
    let next = r["next_fire_at"].as_i64().unwrap();
    let now = e4_c2::db::now_ms();
    if next - now > 150 {
        tokio::time::sleep(Duration::from_millis((next - now - 150) as u64)).await;
    }
    send_signal(child.id(), 9);
    let _ = child.wait();
    let killed_at = e4_c2::db::now_ms();
    let before_kill = fired(&history_in_db(&proc).await).len();
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let restarted_at = e4_c2::db::now_ms();
    (child, api) = restart(&proc).await;
    let h2 = until_fired(&rest, RULE, before_kill + 1).await;
    let catch_up = fired(&h2)[before_kill];
    assert!(
        catch_up["detail"]
            .as_str()
            .unwrap()
            .contains("passed while no C2 ran: fired once"),
        "{catch_up}"
    );
    assert!(catch_up["fired_at"].as_i64().unwrap() >= restarted_at);

    // Stop the rule and let every command reach the devices.
    let (s, _) = rest
        .call("POST", &format!("/v1/rules/{RULE}/disable"), None)
        .await;
    assert_eq!(s, 200);
    until_converged(&mut api).await;
    all_read(&mut api, &devices, "at the end").await;

    let h = history(&rest, RULE).await;
    let slots = fired_slots(&h);
    // Every slot while C2 ran fired: consecutive slots, except one gap,
    // the time it was down (the catch-up fire claims the latest slot).
    let gaps: Vec<i64> = slots.windows(2).map(|w| w[1] - w[0]).collect();
    let long: Vec<i64> = gaps.iter().copied().filter(|g| *g != SLOT_MS).collect();
    assert_eq!(long.len(), 1, "one gap, the downtime: {slots:?}");
    let missed_from = slots[before_kill - 1] + SLOT_MS;
    assert!(
        missed_from >= killed_at - SLOT_MS && slots[before_kill] <= restarted_at,
        "{slots:?}"
    );
    // Counted apart from the history: one rotation per fire.
    let rotations = key_version(&mut api).await - v0;
    assert_eq!(rotations, slots.len() as i64, "key versions vs fires {h:?}");
    let mut extra = 0;
    for (d, k0) in devices.iter().zip(&keys0) {
        let got = d.stats.get(|s| &s.topic_keys) - k0;
        assert!(
            got >= slots.len(),
            "{} applied {got} of {} SetTopicKey",
            d.name,
            slots.len()
        );
        extra += got - slots.len();
    }
    eprintln!(
        "{} fires ({} slots, one catch-up for {} ms down); {extra} SetTopicKey delivered more than once \
         (after the kills; the devices hold the current key either way)",
        slots.len(),
        slots.len(),
        restarted_at - killed_at
    );
    send_signal(child.id(), 15);
    assert!(child.wait().unwrap().success());
    for d in devices {
        drop(d.stop().await);
    }
}

/// The history of a stopped C2, read from its database (no API).
async fn history_in_db(proc: &C2Process) -> Vec<Value> {
    let url = match &proc.db {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=rw", proc.dir.join("c2.db").display()),
    };
    let db = e4_c2::db::Db::connect(&url).await.unwrap();
    let mut c = db.read().await.unwrap();
    let rule = e4_c2::db::rules::get(&mut c, RULE).await.unwrap();
    let mut rows = e4_c2::db::rules::history(&mut c, rule.id, 0, 200)
        .await
        .unwrap();
    drop(c);
    db.close().await;
    rows.reverse();
    rows.into_iter()
        .map(|f| json!({"slot": f.slot, "outcome": f.outcome, "detail": f.detail}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_fire_each_slot_once() {
    let Some(pg) = Postgres::start() else { return };
    let Some(mq) = Mosquitto::start() else { return };
    common::install_crypto();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = C2Process::new(da.path(), Some(mq.url()), Some(pg.url.clone()));
    let b = C2Process::new(db.path(), Some(mq.url()), Some(pg.url.clone()));
    let (host, port) = a.broker_addr(Some(mq.port));
    let (mut child_a, mut api) = restart(&a).await;
    // B shares the database (and so the admin token's digest).
    std::fs::copy(a.dir.join("admin.token"), b.dir.join("admin.token")).unwrap();
    let (_child_b, mut api_b) = restart(&b).await;
    let rest = a.rest();
    let rest_b = b.rest();
    let devices = fleet_on_topic(&mut api, &host, port, 3).await;
    let v0 = key_version(&mut api).await;
    let (s, v) = rest.call("POST", "/v1/rules", Some(add_rule("2s"))).await;
    assert_eq!(s, 201, "{v}");
    until_fired(&rest, RULE, 4).await;
    all_read(&mut api, &devices, "two processes").await;

    // A killed right after a fire: B fires the next slots.
    let n = fired(&history(&rest, RULE).await).len();
    until_fired(&rest, RULE, n + 1).await;
    send_signal(child_a.id(), 9);
    let _ = child_a.wait();
    until_fired(&rest_b, RULE, n + 4).await;
    all_read(&mut api_b, &devices, "A down").await;
    (child_a, api) = restart(&a).await;
    let n = fired(&history(&rest, RULE).await).len();
    until_fired(&rest, RULE, n + 2).await;

    let (s, _) = rest
        .call("POST", &format!("/v1/rules/{RULE}/disable"), None)
        .await;
    assert_eq!(s, 200);
    until_converged(&mut api).await;
    all_read(&mut api, &devices, "at the end").await;
    let h = history(&rest, RULE).await;
    let slots = fired_slots(&h);
    assert!(
        slots.windows(2).all(|w| w[1] - w[0] == SLOT_MS),
        "every slot once, none skipped, with a process killed: {slots:?}"
    );
    assert_eq!(key_version(&mut api).await - v0, slots.len() as i64);
    assert!(b.metric("e4c2_rule_fires_total{outcome=\"fired\"}").await >= 3.0);
    eprintln!(
        "two processes: {} consecutive slots fired once each",
        slots.len()
    );
    send_signal(child_a.id(), 15);
    let _ = child_a.wait();
    for d in devices {
        drop(d.stop().await);
    }
}

async fn topic_version(rest: &common::http::Rest, topic: &str) -> i64 {
    let (s, v) = rest.call("GET", &format!("/v1/topics/{topic}"), None).await;
    assert_eq!(s, 200, "{v}");
    v["key_version"].as_i64().unwrap()
}

async fn rule(rest: &common::http::Rest, body: Value) -> (u16, Value) {
    rest.call("POST", "/v1/rules", Some(body)).await
}

/// Poll a rule's history until `pred` holds.
async fn until_history(
    rest: &common::http::Rest,
    name: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let (_, v) = rest
            .call("GET", &format!("/v1/rules/{name}/history"), None)
            .await;
        let h: Vec<Value> = v["firings"].as_array().cloned().unwrap_or_default();
        if pred(&h) {
            return h;
        }
        assert!(start.elapsed() < PATIENCE, "{name}: {h:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_counts_key_ages_dry_runs_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(e4_c2::server::ServeOptions {
        rule_max_rate: 3,
        ..common::options(dir.path(), None, None)
    })
    .await;
    let rest = c2.rest();
    for t in ["ev", "cnt", "old", "fresh"] {
        let (s, v) = rest
            .call("POST", "/v1/topics", Some(json!({"topic": t})))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    for i in 0..5 {
        let (s, v) = rest
            .call(
                "POST",
                "/v1/clients",
                Some(json!({"name": format!("d{i}")})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let join = |c: &str, t: &str| format!("/v1/clients/{c}/topics/{t}");

    // Refusals change nothing.
    let bad = [
        (
            json!({"name": "x", "target": "topic:ev", "triggers": ["cron:0 61 * * * *"], "action": "rotate-topic-key"}),
            400,
            "field 2 (minutes) \\\"61\\\"",
        ),
        (
            json!({"name": "x", "target": "topic:nope", "triggers": ["every:1h"], "action": "rotate-topic-key"}),
            404,
            "nope",
        ),
        (
            json!({"name": "x", "target": "topic:ev", "triggers": ["every:1h"], "action": "new-client-key"}),
            400,
            "acts on clients",
        ),
        (
            json!({"name": "x", "target": "suite:pq", "triggers": ["key-age:30d"], "action": "new-client-key"}),
            400,
            "make their own keys",
        ),
        (
            json!({"name": "x", "target": "all-clients", "triggers": ["every:1s"], "action": "new-client-key"}),
            400,
            "fleet-rate limit",
        ),
        (
            json!({"name": "x", "target": "topic:ev", "triggers": [], "action": "rotate-topic-key"}),
            400,
            "at least one trigger",
        ),
        (
            json!({"name": "x", "target": "topic:ev", "triggers": ["every:1h"], "action": "rotate-topic-key", "extra": 1}),
            400,
            "extra",
        ),
    ];
    for (body, status, needle) in bad {
        let (s, v) = rule(&rest, body.clone()).await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(v.to_string().contains(needle), "{body}: {v} lacks {needle}");
    }
    let (_, v) = rest.call("GET", "/v1/rules", None).await;
    assert_eq!(
        v["rules"].as_array().unwrap().len(),
        0,
        "nothing was written"
    );

    // Event trigger: one fire per join (a rejoin is no event).
    let (s, v) = rule(&rest, json!({"name": "on-join", "target": "topic:ev", "triggers": ["event:client_joined"], "action": "rotate-topic-key"})).await;
    assert_eq!(s, 201, "{v}");
    let v0 = topic_version(&rest, "ev").await;
    for c in ["d0", "d1", "d2", "d0"] {
        let (s, v) = rest.call("PUT", &join(c, "ev"), None).await;
        assert_eq!(s, 200, "{v}");
    }
    let h = until_history(&rest, "on-join", |h| h.len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let h2 = until_history(&rest, "on-join", |_| true).await;
    assert_eq!(h2.len(), 3, "three joins, three fires: {h:?}");
    assert!(h2
        .iter()
        .all(|f| f["reason"] == "event" && f["outcome"] == "fired"));
    assert_eq!(topic_version(&rest, "ev").await - v0, 3);

    // Count trigger: every 2 membership changes.
    let (s, v) = rule(&rest, json!({"name": "every-2", "target": "topic:cnt", "triggers": ["count:2"], "action": "rotate-topic-key"})).await;
    assert_eq!(s, 201, "{v}");
    let c0 = topic_version(&rest, "cnt").await;
    for c in ["d0", "d1", "d2", "d3", "d4"] {
        let (s, v) = rest.call("PUT", &join(c, "cnt"), None).await;
        assert_eq!(s, 200, "{v}");
    }
    until_history(&rest, "every-2", |h| h.len() >= 2).await;
    let (_, r) = rest.call("GET", "/v1/rules/every-2", None).await;
    assert_eq!(r["count_progress"], 1, "{r}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let h = until_history(&rest, "every-2", |_| true).await;
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(topic_version(&rest, "cnt").await - c0, 2);

    // Dry run: says what it would queue, queues and changes nothing.
    let cv = topic_version(&rest, "cnt").await;
    let (s, d) = rest
        .call("POST", "/v1/rules/every-2/fire?dry_run=true", None)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["commands"], 5, "{d}");
    assert_eq!(d["first_command"], 0);
    assert!(
        d["detail"]
            .as_str()
            .unwrap()
            .starts_with("dry run: would queue 5"),
        "{d}"
    );
    assert_eq!(topic_version(&rest, "cnt").await, cv);
    let h = until_history(&rest, "every-2", |_| true).await;
    assert_eq!(h.len(), 2, "a dry run is not a firing");
    // Fire now: one manual firing, one rotation.
    let (s, f) = rest.call("POST", "/v1/rules/every-2/fire", None).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["commands"], 5);
    assert_eq!(topic_version(&rest, "cnt").await, cv + 1);
    let h = until_history(&rest, "every-2", |h| h.len() == 3).await;
    assert_eq!(h[0]["reason"], "manual");

    // Key age: only the topic whose key is older than the age rotates.
    let (s, v) = rule(&rest, json!({"name": "age-old", "target": "topic:old", "triggers": ["key-age:2s"], "action": "rotate-topic-key"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = rule(&rest, json!({"name": "age-fresh", "target": "topic:fresh", "triggers": ["key-age:1h"], "action": "rotate-topic-key"})).await;
    assert_eq!(s, 201, "{v}");
    let o0 = topic_version(&rest, "old").await;
    let h = until_history(&rest, "age-old", |h| !h.is_empty()).await;
    assert_eq!(h[0]["reason"], "key-age");
    assert!(topic_version(&rest, "old").await > o0);
    assert_eq!(
        topic_version(&rest, "fresh").await,
        1,
        "a fresh key is not rotated"
    );
    assert!(until_history(&rest, "age-fresh", |_| true).await.is_empty());

    // Removing a rule removes its history; it is gone.
    let (s, _) = rest.call("DELETE", "/v1/rules/age-old", None).await;
    assert_eq!(s, 200);
    let (s, _) = rest.call("GET", "/v1/rules/age-old/history", None).await;
    assert_eq!(s, 404);
    let metrics = rest.text("/metrics").await.1;
    assert!(
        metrics.contains("e4c2_rule_fires_total{outcome=\"fired\"}"),
        "{metrics}"
    );
    c2.stop().await;
}
