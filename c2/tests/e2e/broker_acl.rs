//! Broker access control (docs/negotiation.md, "Broker access control"):
//! the embedded broker admits only the credentials C2 issued, each bound to
//! its client id; a mosquitto run with the files `e4c2 serve
//! --mosquitto-dir` writes also confines each device to its own announce
//! and control topics and to the topics it is a member of.

use crate::common::external::Mosquitto;
use crate::common::fleet::{fleet_on_topic, register};
use crate::common::scenario::cref;
use crate::common::{self, free_port, C2};
use e4_c2::api::grpc::pb;
use e4_c2::cli::conn::Api;
use e4_c2::mqtt::mosquitto_files::MosquittoFiles;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

type Broker<'a> = (&'a str, u16);

/// Whether the broker accepts this CONNECT (a successful CONNACK in 5 s).
async fn connects(broker: Broker<'_>, client_id: &str, creds: Option<(&str, &str)>) -> bool {
    let mut o = MqttOptions::new(client_id, broker.0, broker.1);
    o.set_keep_alive(Duration::from_secs(5));
    if let Some((u, p)) = creds {
        o.set_credentials(u, p);
    }
    let (_client, mut el) = AsyncClient::new(o, 10);
    let acked = async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(a))) => {
                    return a.code == ConnectReturnCode::Success
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), acked)
        .await
        .unwrap_or(false)
}

/// Register `name` (symmetric, key generated); returns its MQTT user name
/// and password.
async fn device(api: &mut Api, name: &str) -> (String, String) {
    let req = pb::NewClientRequest {
        name: name.into(),
        ..Default::default()
    };
    let m = register(api, req).await;
    assert_eq!(m.username, hex::encode(common::scenario::alias_id(name).0));
    assert_eq!(m.password.len(), 64);
    (m.username, m.password)
}

/// A C2 on its embedded broker, authenticating unless `allow_anonymous`.
async fn embedded(dir: &Path, allow_anonymous: bool) -> C2 {
    C2::start(e4_c2::server::ServeOptions {
        allow_anonymous,
        ..common::options(dir, None, None)
    })
    .await
}

fn c2_password(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("mqtt.password"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_admits_only_issued_credentials_bound_to_their_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = embedded(dir.path(), false).await;
    let (host, port) = c2.mqtt();
    let b = (host.as_str(), port);
    let mut api = c2.grpc().await;
    let (x, xpw) = device(&mut api, "acl-x").await;
    let (y, _) = device(&mut api, "acl-y").await;
    let (xid, yid) = (format!("e4-{x}"), format!("e4-{y}"));

    assert!(!connects(b, &xid, None).await, "anonymous");
    assert!(
        !connects(b, &xid, Some((&x, "wrong"))).await,
        "wrong password"
    );
    assert!(
        !connects(b, &xid, Some((&y, &xpw))).await,
        "X's password as Y"
    );
    assert!(!connects(b, &yid, Some((&x, &xpw))).await, "Y's client id");
    assert!(
        !connects(b, "e4c2", Some((&x, &xpw))).await,
        "C2's client id"
    );
    let nobody = "00".repeat(16);
    assert!(!connects(b, &format!("e4-{nobody}"), Some((&nobody, &xpw))).await);
    assert!(
        !connects(b, "e4c2-x", Some(("e4c2", &xpw))).await,
        "C2 user"
    );
    assert!(connects(b, &xid, Some((&x, &xpw))).await, "X itself");
    assert!(connects(b, &format!("{xid}-2"), Some((&x, &xpw))).await);
    let c2pw = c2_password(dir.path());
    assert!(connects(b, "e4c2-test", Some(("e4c2", &c2pw))).await);

    // A reissued password replaces the old one (REST).
    let (s, v) = c2
        .rest()
        .call("POST", "/v1/clients/acl-x/mqtt-password", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let new = v["password"].as_str().unwrap().to_string();
    assert_eq!(v["username"], x.as_str());
    assert!(!connects(b, &xid, Some((&x, &xpw))).await, "old password");
    assert!(connects(b, &xid, Some((&x, &new))).await, "new password");
    // A removed device's credentials stop working.
    api.remove_client(cref("acl-x")).await.unwrap();
    assert!(!connects(b, &xid, Some((&x, &new))).await, "removed device");
    c2.stop().await;
}

/// Devices holding the credentials C2 issued (in their state), and C2's
/// own publisher and announce listener, work end to end on the
/// authenticating embedded broker: every command delivered, every device
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_with_issued_credentials_converge_on_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = embedded(dir.path(), false).await;
    let (host, port) = c2.mqtt();
    let mut api = c2.grpc().await;
    let devices = fleet_on_topic(&mut api, (&host, port), "acl/fleet", ("acl", 7), 3).await;
    for d in &devices {
        assert!(d.stats.get(|s| &s.topic_keys) >= 1, "{}", d.name);
        assert!(d.stats.get(|s| &s.reports) >= 1, "{}", d.name);
    }
    drop(devices);
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_anonymous_opens_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = embedded(dir.path(), true).await;
    let (host, port) = c2.mqtt();
    assert!(connects((&host, port), "anyone", None).await);
    c2.stop().await;
}

/// An MQTT connection that records what it receives.
struct Peer {
    mqtt: AsyncClient,
    msgs: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    async fn connect(broker: Broker<'_>, client_id: &str, user: &str, password: &str) -> Peer {
        let mut o = MqttOptions::new(client_id, broker.0, broker.1);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_credentials(user, password);
        let (mqtt, mut el) = AsyncClient::new(o, 64);
        let (mtx, msgs) = mpsc::unbounded_channel();
        let (stx, subacks) = mpsc::unbounded_channel();
        let (ctx, connected) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ctx = Some(ctx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => {
                        if let Some(c) = ctx.take() {
                            let _ = c.send(a.code == ConnectReturnCode::Success);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = mtx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = stx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let ok = tokio::time::timeout(Duration::from_secs(5), connected).await;
        assert!(matches!(ok, Ok(Ok(true))), "{client_id} not connected");
        Peer {
            mqtt,
            msgs,
            subacks,
            task,
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        self.mqtt.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.subacks.recv())
            .await
            .expect("SUBACK");
    }

    async fn publish(&self, topic: &str, payload: &str) {
        self.mqtt
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }

    /// Everything received until `payload` arrives on `topic` (10 s at
    /// most), that message excluded.
    async fn until(&mut self, topic: &str, payload: &str) -> Vec<(String, String)> {
        self.within(topic, payload, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no {payload:?} on {topic}"))
    }

    /// [`Peer::until`] waiting at most `limit`: None if it did not arrive.
    async fn within(
        &mut self,
        topic: &str,
        payload: &str,
        limit: Duration,
    ) -> Option<Vec<(String, String)>> {
        let mut before = Vec::new();
        let wait = async {
            while let Some((t, p)) = self.msgs.recv().await {
                let p = String::from_utf8_lossy(&p).to_string();
                if t == topic && p == payload {
                    return;
                }
                before.push((t, p));
            }
        };
        tokio::time::timeout(limit, wait).await.ok().map(|_| before)
    }
}

/// Retry `check` for 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_with_the_generated_files_confines_each_device_to_its_topics() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("mosquitto");
    let pid_file = dir.path().join("mosquitto.pid");
    let data = dir.path().join("c2");
    let c2 = C2::start(e4_c2::server::ServeOptions {
        allow_anonymous: false,
        mosquitto: Some(MosquittoFiles {
            dir: files.clone(),
            pid_file: Some(pid_file.clone()),
        }),
        ..common::options(&data, None, Some(format!("mqtt://127.0.0.1:{port}")))
    })
    .await;
    // C2 wrote the files at start: mosquitto can start with them.
    let Some(mut mosquitto) = Mosquitto::with_e4c2_files(port, &files) else {
        return;
    };
    mosquitto.up();
    std::fs::write(&pid_file, mosquitto.pid().unwrap().to_string()).unwrap();
    let b = ("127.0.0.1", port);

    // New devices and memberships: C2 rewrites the files and signals
    // mosquitto, which then admits the devices.
    let mut api = c2.grpc().await;
    for t in ["plant/1", "plant/2"] {
        api.new_topic(pb::NewTopicRequest {
            topic: t.into(),
            format: "symmetric".into(),
        })
        .await
        .unwrap();
    }
    let (x, xpw) = device(&mut api, "mx").await;
    let (y, ypw) = device(&mut api, "my").await;
    for (name, topic) in [("mx", "plant/1"), ("my", "plant/2")] {
        api.add_client_to_topic(pb::Membership {
            client: Some(cref(name)),
            topic: topic.into(),
        })
        .await
        .unwrap();
    }
    let xid = format!("e4-{x}");
    eventually("mosquitto admits X", async || {
        connects(b, &xid, Some((&x, &xpw))).await
    })
    .await;
    assert!(!connects(b, &xid, None).await, "anonymous");
    assert!(!connects(b, &xid, Some((&x, &ypw))).await, "Y's password");

    let c2pw = c2_password(&data);
    let mut observer = Peer::connect(b, "e4c2-observer", "e4c2", &c2pw).await;
    observer.subscribe("#").await;
    let mut dx = Peer::connect(b, &xid, &x, &xpw).await;
    let mut dy = Peer::connect(b, &format!("e4-{y}"), &y, &ypw).await;
    // X's membership of plant/1 reaches mosquitto with a later rewrite and
    // SIGHUP than its password (a publish the ACL refuses is dropped, not
    // held): wait until X's publishes there are delivered.
    let mut n = 0;
    eventually("X's publish on its own topic", async || {
        n += 1;
        let payload = format!("ready {n}");
        dx.publish("plant/1", &payload).await;
        observer
            .within("plant/1", &payload, Duration::from_millis(500))
            .await
            .is_some()
    })
    .await;

    // X announces as Y and publishes on Y's topic: neither is delivered;
    // X's own announce topic and topic are.
    dx.publish(&format!("e4c2/announce/{y}"), "forged").await;
    dx.publish("plant/2", "forbidden").await;
    dx.publish(&format!("e4c2/announce/{x}"), "own").await;
    dx.publish("plant/1", "own").await;
    let seen = observer.until("plant/1", "own").await;
    let topics: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        topics.contains(&format!("e4c2/announce/{x}").as_str()),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(_, p)| p == "forged" || p == "forbidden"),
        "delivered despite the ACL: {seen:?}"
    );

    // X subscribes to Y's control topic and Y's topic: it receives
    // nothing from them (MQTT 3.1.1: granted, but nothing delivered).
    dx.subscribe(&format!("e4/{y}")).await;
    dx.subscribe("plant/2").await;
    dx.subscribe("plant/1").await;
    observer.publish(&format!("e4/{y}"), "for Y").await;
    dy.publish("plant/2", "Y's").await;
    observer.publish("plant/1", "mark").await;
    let seen = dx.until("plant/1", "mark").await;
    assert!(
        !seen
            .iter()
            .any(|(t, _)| t == &format!("e4/{y}") || t == "plant/2"),
        "X received another device's traffic: {seen:?}"
    );
    // Y's own traffic works.
    dy.subscribe(&format!("e4/{y}")).await;
    observer.publish(&format!("e4/{y}"), "for Y").await;
    dy.until(&format!("e4/{y}"), "for Y").await;

    // X joins plant/2: C2 rewrites the ACL and signals mosquitto; X's
    // publishes there are then delivered.
    api.add_client_to_topic(pb::Membership {
        client: Some(cref("mx")),
        topic: "plant/2".into(),
    })
    .await
    .unwrap();
    let mut n = 0;
    eventually("X's publish on plant/2 after it joined", async || {
        n += 1;
        let payload = format!("joined {n}");
        dx.publish("plant/2", &payload).await;
        dx.publish("plant/1", &format!("sync {n}")).await;
        let seen = observer.until("plant/1", &format!("sync {n}")).await;
        seen.iter().any(|(t, p)| t == "plant/2" && *p == payload)
    })
    .await;
    drop((dx, dy, observer));
    c2.stop().await;
    mosquitto.down();
}
