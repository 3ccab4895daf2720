//! Against a real broker (mosquitto on a free loopback port): two clients
//! in every suite, key rotation while messages flow, a broker restart, TLS,
//! topic policy, replays. A raw subscriber records everything the broker
//! carried, to check it only ever saw ciphertext.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{random, Broker, Device, C2, SUITES};
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig, TlsConfig};
use e4_client::{Client, Config, Error, ManualClock, SymKey, Unprotected};
use e4_proto::command::opcode;
use e4_proto::SuiteId;
use rumqttc::{AsyncClient, Event as RawEvent, MqttOptions, Packet, QoS};

const WAIT: Duration = Duration::from_secs(30);

/// Collect events until `done` accepts one (bounded wait: a hang guard,
/// not a timing assertion).
async fn wait_for(m: &mut E4Mqtt, what: &str, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let finished = tokio::time::timeout(WAIT, async {
        loop {
            let e = m.next_event().await.expect("the connection task ended");
            let stop = done(&e);
            seen.push(e);
            if stop {
                break;
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "timed out waiting for {what}; events: {seen:?}"
    );
    seen
}

fn subscribed_to(e: &Event, filter: &str) -> bool {
    matches!(e, Event::Subscribed { filters } if filters.iter().any(|f| f == filter))
}

async fn connect(client: Client, port: u16, topics: &[&str]) -> E4Mqtt {
    connect_with(client, MqttConfig::new("127.0.0.1", port), topics).await
}

async fn connect_with(client: Client, config: MqttConfig, topics: &[&str]) -> E4Mqtt {
    let control = client.control_topic().to_string();
    let mut m = E4Mqtt::connect(client, config).unwrap();
    wait_for(&mut m, "the control topic subscription", |e| {
        subscribed_to(e, &control)
    })
    .await;
    for t in topics {
        m.subscribe(t).await.unwrap();
        wait_for(&mut m, "a subscription", |e| subscribed_to(e, t)).await;
    }
    m
}

type Carried = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A plain MQTT client: C2's command publisher, or a recorder of
/// everything the broker carries.
struct Raw {
    client: AsyncClient,
    seen: Carried,
    task: tokio::task::JoinHandle<()>,
}

impl Raw {
    async fn connect(port: u16, record: Option<&str>) -> Raw {
        let mut opts = MqttOptions::new(
            format!("raw-{}", hex::encode(random::<6>())),
            "127.0.0.1",
            port,
        );
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(opts, 256);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        let (sub, store, filter) = (client.clone(), seen.clone(), record.map(str::to_owned));
        let task = tokio::spawn(async move {
            let mut ready = Some(ready);
            loop {
                match el.poll().await {
                    Ok(RawEvent::Incoming(Packet::ConnAck(_))) => match &filter {
                        Some(f) => sub.try_subscribe(f.clone(), QoS::ExactlyOnce).unwrap(),
                        None => {
                            ready.take().map(|r| r.send(()));
                        }
                    },
                    Ok(RawEvent::Incoming(Packet::SubAck(_))) => {
                        ready.take().map(|r| r.send(()));
                    }
                    Ok(RawEvent::Incoming(Packet::Publish(p))) => store
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec())),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, is_ready)
            .await
            .expect("raw client connection")
            .unwrap();
        Raw { client, seen, task }
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::ExactlyOnce, false, payload)
            .await
            .unwrap();
    }

    fn seen(&self) -> Vec<(String, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }

    /// What was carried on topics starting with `prefix`, once there are
    /// `n` such messages (bounded wait: the recorder is just another
    /// subscriber, served in its own time).
    async fn wait_for(&self, prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen: Vec<_> = self
                .seen()
                .into_iter()
                .filter(|(t, _)| t.starts_with(prefix))
                .collect();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "recorder saw {} of {n} messages on {prefix}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A device of `suite`, and what C2 knows about it.
fn device(c2: &C2, state: Option<&std::path::Path>) -> (Client, Device) {
    let key = SymKey::new(random());
    let config = match c2.suite {
        SuiteId::Symmetric => Config::sym_id_and_key(None, key.clone()),
        _ => c2.device_config(),
    };
    let client = match state {
        Some(p) => Client::create(p, config).unwrap(),
        None => Client::new(config).unwrap(),
    };
    let dev = match c2.suite {
        SuiteId::Symmetric => c2.register_symmetric(*client.id(), &key),
        _ => c2.register(&client),
    };
    (client, dev)
}

fn is_command(e: &Event, op: u8) -> bool {
    matches!(e, Event::Command(c) if c.opcode == op)
}

/// C2 sends a command over MQTT and waits until the device applied it.
async fn command(c2pub: &Raw, m: &mut E4Mqtt, dev: &Device, sealed: Vec<u8>, op: u8) {
    c2pub
        .publish(&dev.id.control_topic().to_string(), sealed)
        .await;
    let events = wait_for(m, "a command", |e| {
        is_command(e, op) || matches!(e, Event::Rejected { .. })
    })
    .await;
    assert!(
        is_command(events.last().unwrap(), op),
        "command refused: {events:?}"
    );
}

/// Collect `n` messages on `topic`; any rejection fails the test.
async fn receive(m: &mut E4Mqtt, topic: &str, n: usize) -> Vec<String> {
    receive_counting_replays(m, topic, n, false).await.0
}

/// [`receive`], where copies refused as replays may be allowed (and are
/// counted): after a lost connection a publish the broker did not
/// acknowledge is sent again.
async fn receive_counting_replays(
    m: &mut E4Mqtt,
    topic: &str,
    n: usize,
    replays_allowed: bool,
) -> (Vec<String>, usize) {
    let mut got = Vec::new();
    let mut replays = 0;
    let events = wait_for(m, "messages", |e| {
        if let Event::Message {
            topic: t,
            payload,
            protected,
        } = e
        {
            assert!(*protected);
            if t == topic {
                got.push(String::from_utf8(payload.clone()).unwrap());
            }
        }
        match e {
            Event::Rejected { error, .. }
                if replays_allowed && error.protocol() == Some(e4_proto::Error::Replayed) =>
            {
                replays += 1
            }
            Event::Rejected { .. } => panic!("rejected: {e:?}"),
            _ => {}
        }
        got.len() == n
    })
    .await;
    drop(events);
    (got, replays)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_protected_messages_in_every_suite() {
    let Some(broker) = Broker::start("two_clients_exchange_protected_messages_in_every_suite")
    else {
        return;
    };
    let recorder = Raw::connect(broker.port, Some("#")).await;
    let c2pub = Raw::connect(broker.port, None).await;
    let mut overheads = Vec::new();
    let mut topic_keys = Vec::new();
    for suite in SUITES {
        let c2 = C2::new(suite);
        let (ab, ba) = (
            format!("plant/{suite}/a-to-b"),
            format!("plant/{suite}/b-to-a"),
        );
        let (a, da) = device(&c2, None);
        let (b, db) = device(&c2, None);
        overheads.push((suite, a.overhead()));
        let mut ma = connect(a, broker.port, &[&ba]).await;
        let mut mb = connect(b, broker.port, &[&ab]).await;
        let (k1, k2) = (SymKey::new(random()), SymKey::new(random()));
        topic_keys.extend([k1.clone(), k2.clone()]);
        let now = common::now();
        for (m, me, other) in [(&mut ma, &da, &db), (&mut mb, &db, &da)] {
            for (topic, key) in [(&ab, &k1), (&ba, &k2)] {
                let cmd = c2.set_topic_key(me, topic, key, now);
                command(&c2pub, m, me, cmd, opcode::SET_TOPIC_KEY).await;
            }
            if suite != SuiteId::Symmetric {
                let cmd = c2.set_pubkey(me, other, now);
                command(&c2pub, m, me, cmd, opcode::SET_PUB_KEY).await;
            }
        }
        for i in 0..10 {
            ma.publish(&ab, format!("secret {suite} a->b {i}").as_bytes())
                .await
                .unwrap();
            mb.publish(&ba, format!("secret {suite} b->a {i}").as_bytes())
                .await
                .unwrap();
        }
        let at_b = receive(&mut mb, &ab, 10).await;
        let at_a = receive(&mut ma, &ba, 10).await;
        for i in 0..10 {
            assert_eq!(at_b[i], format!("secret {suite} a->b {i}"));
            assert_eq!(at_a[i], format!("secret {suite} b->a {i}"));
        }
        ma.disconnect().await;
        mb.disconnect().await;
    }
    recorder.wait_for("plant/", 4 * 20).await;
    let carried = recorder.seen();
    let mut messages = 0;
    for (topic, payload) in &carried {
        assert!(
            !payload.windows(6).any(|w| w == b"secret"),
            "cleartext crossed the broker on {topic}"
        );
        // Commands carried the topic keys: never in the clear.
        for k in &topic_keys {
            assert!(
                !payload.windows(32).any(|w| w == k.as_bytes()),
                "a topic key crossed the broker in the clear on {topic}"
            );
        }
        if let Some(rest) = topic.strip_prefix("plant/") {
            let suite = rest.split('/').next().unwrap();
            let (_, overhead) = overheads.iter().find(|(s, _)| s.name() == suite).unwrap();
            let plain = format!("secret {suite} a->b 0").len();
            assert_eq!(payload.len(), plain + overhead, "{topic}");
            messages += 1;
        }
    }
    assert_eq!(messages, 4 * 20, "the recorder saw every message");
    let commands = carried.iter().filter(|(t, _)| t.starts_with("e4/")).count();
    assert!(
        commands >= 4 * 4,
        "the recorder saw the commands too ({commands})"
    );
}

/// Whether `payload` opens with topic key `key` (and the sender's public key).
fn opens_with(suite: SuiteId, key: &SymKey, sender: &Device, topic: &str, payload: &[u8]) -> bool {
    let c2 = C2::new(suite);
    let clock = ManualClock::new(common::now());
    let mut c = match suite {
        SuiteId::Symmetric => {
            Client::with_clock(Config::sym_id_and_key(None, SymKey::new(random())), clock)
        }
        _ => Client::with_clock(c2.device_config(), clock),
    }
    .unwrap();
    c.set_topic_key(topic, key).unwrap();
    if suite != SuiteId::Symmetric {
        c.set_pubkey(&sender.id, &sender.sig_pk).unwrap();
    }
    matches!(c.unprotect(payload, topic), Ok(Unprotected::Message(_)))
}

fn collect(received: &mut Vec<String>, e: &Event) {
    match e {
        Event::Message { payload, .. } => {
            received.push(String::from_utf8(payload.clone()).unwrap())
        }
        Event::Rejected { .. } => panic!("lost a message: {e:?}"),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_topic_key_while_messages_flow_loses_nothing() {
    let Some(broker) = Broker::start("rotating_a_topic_key_while_messages_flow_loses_nothing")
    else {
        return;
    };
    let recorder = Raw::connect(broker.port, Some("telemetry/#")).await;
    let c2pub = Raw::connect(broker.port, None).await;
    for suite in SUITES {
        let c2 = C2::new(suite);
        let topic = format!("telemetry/{suite}");
        let (a, da) = device(&c2, None);
        let (b, db) = device(&c2, None);
        let mut ma = connect(a, broker.port, &[]).await;
        let mut mb = connect(b, broker.port, &[&topic]).await;
        let (old, new) = (SymKey::new(random()), SymKey::new(random()));
        let now = common::now();
        for (m, me, other) in [(&mut ma, &da, &db), (&mut mb, &db, &da)] {
            command(
                &c2pub,
                m,
                me,
                c2.set_topic_key(me, &topic, &old, now),
                opcode::SET_TOPIC_KEY,
            )
            .await;
            if suite != SuiteId::Symmetric {
                command(
                    &c2pub,
                    m,
                    me,
                    c2.set_pubkey(me, other, now),
                    opcode::SET_PUB_KEY,
                )
                .await;
            }
        }
        const N: usize = 120;
        let mut received = Vec::new();
        for i in 0..N {
            ma.publish(&topic, format!("reading {i}").as_bytes())
                .await
                .unwrap();
            // Receivers first, then senders: the order E4's transition
            // period is designed for.
            if i == N / 3 {
                let cmd = c2.set_topic_key(&db, &topic, &new, common::now());
                c2pub.publish(&db.id.control_topic().to_string(), cmd).await;
                for e in wait_for(&mut mb, "B's new key", |e| {
                    is_command(e, opcode::SET_TOPIC_KEY)
                })
                .await
                {
                    collect(&mut received, &e);
                }
            }
            if i == 2 * N / 3 {
                let cmd = c2.set_topic_key(&da, &topic, &new, common::now());
                command(&c2pub, &mut ma, &da, cmd, opcode::SET_TOPIC_KEY).await;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        wait_for(&mut mb, "every message", |e| {
            collect(&mut received, e);
            received.len() == N
        })
        .await;
        let expected: Vec<String> = (0..N).map(|i| format!("reading {i}")).collect();
        assert_eq!(
            received, expected,
            "{suite}: lost, duplicated or reordered messages"
        );
        // Both keys were in use while the messages flowed.
        let carried: Vec<Vec<u8>> = recorder
            .wait_for(&topic, N)
            .await
            .into_iter()
            .filter(|(t, _)| *t == topic)
            .map(|(_, p)| p)
            .collect();
        assert_eq!(carried.len(), N);
        let under_old = carried
            .iter()
            .filter(|p| opens_with(suite, &old, &da, &topic, p))
            .count();
        let under_new = carried
            .iter()
            .filter(|p| opens_with(suite, &new, &da, &topic, p))
            .count();
        assert_eq!(under_old + under_new, N, "{suite}");
        assert!(
            under_old > N / 3 && under_new > 0,
            "{suite}: old {under_old}, new {under_new}"
        );
        ma.disconnect().await;
        mb.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_recover_after_the_broker_restarts() {
    let Some(mut broker) = Broker::start("clients_recover_after_the_broker_restarts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c2pub = Raw::connect(broker.port, None).await;
    let c2 = C2::new(SuiteId::PubKey);
    let (a, da) = device(&c2, Some(&dir.path().join("a.e4")));
    let (b, db) = device(&c2, None);
    let mut ma = connect(a, broker.port, &[]).await;
    let mut mb = connect(b, broker.port, &["site/+/temp"]).await;
    let key = SymKey::new(random());
    let now = common::now();
    for (m, me, other) in [(&mut ma, &da, &db), (&mut mb, &db, &da)] {
        command(
            &c2pub,
            m,
            me,
            c2.set_topic_key(me, "site/1/temp", &key, now),
            opcode::SET_TOPIC_KEY,
        )
        .await;
        command(
            &c2pub,
            m,
            me,
            c2.set_pubkey(me, other, now),
            opcode::SET_PUB_KEY,
        )
        .await;
    }
    ma.publish("site/1/temp", b"before").await.unwrap();
    assert_eq!(receive(&mut mb, "site/1/temp", 1).await, ["before"]);
    drop(c2pub);

    broker.restart();
    let restarted = Instant::now();
    let control_a = ma.with_client(|c| c.control_topic().to_string());
    let ea = wait_for(&mut ma, "A back", |e| subscribed_to(e, &control_a)).await;
    let eb = wait_for(&mut mb, "B back", |e| subscribed_to(e, "site/+/temp")).await;
    let recovery = restarted.elapsed();
    assert!(ea.iter().any(|e| matches!(e, Event::Disconnected { .. })));
    assert!(eb.iter().any(|e| matches!(e, Event::Connected)));
    eprintln!("broker restart: both clients reconnected and resubscribed {recovery:?} after the broker listened again");

    // Keys survived; the subscriptions, the control topic's included, are
    // back. ("before" may come again, if its PUBACK was lost with the
    // broker: it is then refused as a replay, never delivered twice.)
    ma.publish("site/1/temp", b"after").await.unwrap();
    let (got, _) = receive_counting_replays(&mut mb, "site/1/temp", 1, true).await;
    assert_eq!(got, ["after"]);
    let c2pub = Raw::connect(broker.port, None).await;
    let cmd = c2.set_topic_key(&da, "site/2/temp", &key, common::now());
    command(&c2pub, &mut ma, &da, cmd, opcode::SET_TOPIC_KEY).await;
    // ...and the command was saved.
    let a = ma.disconnect().await;
    drop(a);
    let reopened = Client::open(dir.path().join("a.e4")).unwrap();
    assert!(reopened.has_topic_key("site/2/temp"));
    mb.disconnect().await;
}

/// The broker goes away for A only (a proxy between them), so that what A
/// sends can be followed exactly: publishes made while disconnected are
/// sent after reconnecting, publishes the broker never acknowledged are
/// sent again, and B refuses those copies as replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_survive_a_lost_connection() {
    let Some(broker) = Broker::start("publishes_survive_a_lost_connection") else {
        return;
    };
    let proxy = common::Proxy::start(broker.port).await;
    let recorder = Raw::connect(broker.port, Some("queue/#")).await;
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let (mut a, _) = device(&c2, None);
    let (mut b, _) = device(&c2, None);
    a.set_topic_key("queue/t", &key).unwrap();
    b.set_topic_key("queue/t", &key).unwrap();
    let mut ma = connect(a, proxy.port, &[]).await;
    let mut mb = connect(b, broker.port, &["queue/t"]).await;
    let control = ma.with_client(|c| c.control_topic().to_string());

    // 1. Acknowledgements lost: the broker got "unacked 0..3", A does not know.
    proxy.set(common::Link::Mute);
    for i in 0..3 {
        ma.publish("queue/t", format!("unacked {i}").as_bytes())
            .await
            .unwrap();
    }
    recorder.wait_for("queue/t", 3).await;
    // 2. The connection is lost; A publishes while disconnected.
    proxy.set(common::Link::Cut);
    wait_for(&mut ma, "the outage", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    for i in 0..3 {
        ma.publish("queue/t", format!("queued {i}").as_bytes())
            .await
            .unwrap();
    }
    // 3. Back: everything is sent; the unacknowledged ones a second time.
    proxy.set(common::Link::Open);
    wait_for(&mut ma, "reconnection", |e| subscribed_to(e, &control)).await;
    let carried = recorder.wait_for("queue/t", 9).await;
    assert_eq!(carried.len(), 9);
    let (got, replays) = receive_counting_replays(&mut mb, "queue/t", 6, true).await;
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want: Vec<String> = (0..3).map(|i| format!("unacked {i}")).collect();
    want.extend((0..3).map(|i| format!("queued {i}")));
    want.sort();
    assert_eq!(got_sorted, want, "each message exactly once");
    // The three copies may arrive after the sixth new message: wait for them.
    let mut refused = replays;
    if refused < 3 {
        wait_for(&mut mb, "the refused copies", |e| {
            match e {
                Event::Rejected { error, .. }
                    if error.protocol() == Some(e4_proto::Error::Replayed) =>
                {
                    refused += 1
                }
                other => panic!("unexpected {other:?}"),
            }
            refused == 3
        })
        .await;
    }
    ma.disconnect().await;
    mb.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_broker() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let Some(broker) = Broker::start_with("tls_to_the_broker", |dir| {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        common::write_file(&c, cert_pem.as_bytes());
        common::write_file(&k, key_pem.as_bytes());
        format!("certfile {}\nkeyfile {}\n", c.display(), k.display())
    }) else {
        return;
    };
    let tls = |pem: &str| {
        let mut c = MqttConfig::new("127.0.0.1", broker.port);
        c.tls = Some(TlsConfig::new(pem.as_bytes().to_vec()));
        c
    };
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let (mut a, _) = device(&c2, None);
    let (mut b, _) = device(&c2, None);
    a.set_topic_key("tls/t", &key).unwrap();
    b.set_topic_key("tls/t", &key).unwrap();
    let ma = connect_with(a, tls(&cert_pem), &[]).await;
    let mut mb = connect_with(b, tls(&cert_pem), &["tls/t"]).await;
    ma.publish("tls/t", b"over TLS").await.unwrap();
    assert_eq!(receive(&mut mb, "tls/t", 1).await, ["over TLS"]);

    // A client that does not trust the broker's certificate never connects.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (c, _) = device(&c2, None);
    let mut untrusting = E4Mqtt::connect(c, tls(&other.cert.pem())).unwrap();
    let events = wait_for(&mut untrusting, "a TLS failure", |e| {
        assert!(
            !matches!(e, Event::Connected),
            "connected to an untrusted broker"
        );
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    let Some(Event::Disconnected { reason }) = events.last() else {
        unreachable!()
    };
    assert!(
        reason.contains("TLS") || reason.contains("certificate"),
        "{reason}"
    );
    untrusting.disconnect().await;
    ma.disconnect().await;
    mb.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_topic_policy_and_cleartext_opt_in() {
    let Some(broker) = Broker::start("strict_topic_policy_and_cleartext_opt_in") else {
        return;
    };
    let injector = Raw::connect(broker.port, None).await;
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let (mut a, _) = device(&c2, None);
    let (mut b, _) = device(&c2, None);
    a.set_topic_key("secure/t", &key).unwrap();
    b.set_topic_key("secure/t", &key).unwrap();
    let ma = connect(a, broker.port, &[]).await;
    let mut mb = connect(b, broker.port, &["public/#", "secure/t"]).await;

    // Strict by default: no key, no cleartext, either way.
    let e = ma.publish("public/news", b"hello").await.unwrap_err();
    assert_eq!(e.protocol(), Some(e4_proto::Error::TopicKeyNotFound));
    let e = ma.publish_clear("public/news", b"hello").await.unwrap_err();
    assert!(matches!(e, Error::CleartextRefused { .. }), "{e}");
    injector.publish("public/news", b"injected".to_vec()).await;
    let ev = wait_for(&mut mb, "a refusal", |e| {
        matches!(e, Event::Rejected { .. })
    })
    .await;
    let Some(Event::Rejected { topic, error }) = ev.last() else {
        unreachable!()
    };
    assert_eq!(
        (topic.as_str(), error.protocol()),
        ("public/news", Some(e4_proto::Error::TopicKeyNotFound))
    );

    // Opted in on both sides: cleartext flows, marked as such.
    assert!(ma.with_policy(|p| p.allow_cleartext("public/#")));
    assert!(mb.with_policy(|p| p.allow_cleartext("#")));
    ma.publish_clear("public/news", b"open data").await.unwrap();
    let ev = wait_for(&mut mb, "cleartext", |e| matches!(e, Event::Message { .. })).await;
    match ev.last() {
        Some(Event::Message {
            topic,
            payload,
            protected,
        }) => {
            assert_eq!(
                (topic.as_str(), payload.as_slice(), *protected),
                ("public/news", &b"open data"[..], false)
            );
        }
        other => panic!("{other:?}"),
    }
    // A topic with a key is never downgraded, whatever the policy.
    assert!(matches!(
        ma.publish_clear("secure/t", b"x").await,
        Err(Error::CleartextRefused { .. })
    ));
    injector
        .publish(
            "secure/t",
            b"forged cleartext on a protected topic".to_vec(),
        )
        .await;
    let ev = wait_for(&mut mb, "a refusal", |e| {
        matches!(e, Event::Rejected { .. } | Event::Message { .. })
    })
    .await;
    assert!(
        matches!(ev.last(), Some(Event::Rejected { topic, .. }) if topic == "secure/t"),
        "{ev:?}"
    );
    // The control topic only takes protected commands.
    let control = mb.with_client(|c| c.control_topic().to_string());
    assert!(matches!(
        ma.publish_clear(&control, b"x").await,
        Err(Error::CleartextRefused { .. })
    ));
    assert!(matches!(
        mb.unsubscribe(&control).await,
        Err(Error::ControlTopic { .. })
    ));
    ma.disconnect().await;
    mb.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_replayed_through_the_broker_is_refused() {
    let Some(broker) = Broker::start("a_message_replayed_through_the_broker_is_refused") else {
        return;
    };
    let recorder = Raw::connect(broker.port, Some("replay/#")).await;
    let c2 = C2::new(SuiteId::PostQuantum);
    let (a, da) = device(&c2, None);
    let (b, db) = device(&c2, None);
    let c2pub = Raw::connect(broker.port, None).await;
    let mut ma = connect(a, broker.port, &[]).await;
    let mut mb = connect(b, broker.port, &["replay/t"]).await;
    let key = SymKey::new(random());
    let now = common::now();
    for (m, me, other) in [(&mut ma, &da, &db), (&mut mb, &db, &da)] {
        command(
            &c2pub,
            m,
            me,
            c2.set_topic_key(me, "replay/t", &key, now),
            opcode::SET_TOPIC_KEY,
        )
        .await;
        command(
            &c2pub,
            m,
            me,
            c2.set_pubkey(me, other, now),
            opcode::SET_PUB_KEY,
        )
        .await;
    }
    ma.publish("replay/t", b"unlock door").await.unwrap();
    assert_eq!(receive(&mut mb, "replay/t", 1).await, ["unlock door"]);
    let (_, captured) = recorder.wait_for("replay/t", 1).await.pop().unwrap();
    c2pub.publish("replay/t", captured).await;
    let ev = wait_for(&mut mb, "the replay", |e| {
        matches!(e, Event::Rejected { .. } | Event::Message { .. })
    })
    .await;
    match ev.last() {
        Some(Event::Rejected { error, .. }) => {
            assert_eq!(error.protocol(), Some(e4_proto::Error::Replayed))
        }
        other => panic!("replay accepted: {other:?}"),
    }
    // A replayed command is refused too.
    let cmd = c2.set_topic_key(&db, "replay/u", &key, common::now());
    command(&c2pub, &mut mb, &db, cmd.clone(), opcode::SET_TOPIC_KEY).await;
    c2pub.publish(&db.id.control_topic().to_string(), cmd).await;
    let ev = wait_for(&mut mb, "the replayed command", |e| {
        matches!(e, Event::Rejected { .. } | Event::Command(_))
    })
    .await;
    assert!(
        matches!(ev.last(), Some(Event::Rejected { error, .. }) if error.protocol() == Some(e4_proto::Error::Replayed))
    );
    ma.disconnect().await;
    mb.disconnect().await;
}
