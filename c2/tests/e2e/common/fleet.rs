//! e4-client devices (`E4Mqtt`, persistent sessions, state reports), each
//! run by a task that drains its events, counts what it applied and
//! refused, and answers the test's questions.

use e4_client::mqtt::{E4Mqtt, Event, MqttConfig};
use e4_client::{Client, Unprotected};
use e4_proto::command::opcode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a device saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// SetTopicKey commands applied.
    pub topic_keys: AtomicUsize,
    /// Commands applied.
    pub commands: AtomicUsize,
    /// Messages on its control topic it refused (replayed copies, stale
    /// suites).
    pub refused: AtomicUsize,
    /// State reports sent.
    pub reports: AtomicUsize,
}

impl Stats {
    pub fn get(&self, f: impl Fn(&Stats) -> &AtomicUsize) -> usize {
        f(self).load(Ordering::SeqCst)
    }
}

enum Query {
    Unprotect {
        topic: String,
        msg: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    Stop(oneshot::Sender<Client>),
}

/// A device run by a task.
pub struct FleetDevice {
    pub name: String,
    pub stats: Arc<Stats>,
    tx: mpsc::Sender<Query>,
    task: tokio::task::JoinHandle<()>,
}

/// The MQTT settings of test devices: quick reports and reconnections.
pub fn config(host: &str, port: u16) -> MqttConfig {
    let mut cfg = MqttConfig::new(host, port);
    cfg.report_delay = Duration::from_millis(300);
    cfg.max_reconnect_delay = Duration::from_secs(1);
    cfg.event_capacity = 256;
    cfg
}

impl FleetDevice {
    /// Connect `client` and run it.
    pub fn start(name: &str, client: Client, cfg: MqttConfig) -> FleetDevice {
        let stats = Arc::new(Stats::default());
        let (tx, mut rx) = mpsc::channel::<Query>(8);
        let control = client.control_topic().to_string();
        let mut mqtt = E4Mqtt::connect(client, cfg).expect("connect");
        let s = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = mqtt.next_event() => match ev {
                        Some(Event::Command(info)) => {
                            s.commands.fetch_add(1, Ordering::SeqCst);
                            if info.opcode == opcode::SET_TOPIC_KEY {
                                s.topic_keys.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Some(Event::Rejected { topic, .. }) if topic == control => {
                            s.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(Event::StateReported { .. }) => {
                            s.reports.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(_) => {}
                        None => return,
                    },
                    q = rx.recv() => match q {
                        Some(Query::Unprotect { topic, msg, reply }) => {
                            let r = mqtt.with_client(|c| c.unprotect(&msg, &topic));
                            let _ = reply.send(match r {
                                Ok(Unprotected::Message(m)) => Ok(m),
                                Ok(Unprotected::Command(c)) => Err(format!("a command: {c:?}")),
                                Err(e) => Err(e.to_string()),
                            });
                        }
                        Some(Query::Stop(reply)) => {
                            let _ = reply.send(mqtt.disconnect().await);
                            return;
                        }
                        None => return,
                    },
                }
            }
        });
        FleetDevice {
            name: name.to_string(),
            stats,
            tx,
            task,
        }
    }

    /// Unprotect `msg` on `topic` with the device's current keys.
    pub async fn unprotect(&self, topic: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Query::Unprotect {
                topic: topic.into(),
                msg: msg.to_vec(),
                reply,
            })
            .await
            .map_err(|_| "device task ended".to_string())?;
        rx.await.map_err(|_| "device task ended".to_string())?
    }

    /// Disconnect; the client (its state) is returned to connect again.
    pub async fn stop(self) -> Client {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Query::Stop(reply)).await.unwrap();
        rx.await.unwrap()
    }
}

impl Drop for FleetDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Register a client over gRPC; returns the broker credentials C2 issued.
pub async fn register(
    api: &mut e4_c2::cli::conn::Api,
    req: e4_c2::api::grpc::pb::NewClientRequest,
) -> e4_c2::api::grpc::pb::MqttCredentials {
    let mqtt = api.new_client(req).await.unwrap().into_inner().mqtt;
    mqtt.expect("the reply carries MQTT credentials")
}

/// A symmetric-format `topic` with `n` symmetric e4-client members named
/// `{prefix}{i}` (keys derived from `i` and `seed`), registered over gRPC
/// and connected to the broker at `host:port` with the broker credentials
/// C2 issued; returns once every command is delivered and every device
/// reported.
pub async fn fleet_on_topic(
    api: &mut e4_c2::cli::conn::Api,
    (host, port): (&str, u16),
    topic: &str,
    (prefix, seed): (&str, u64),
    n: usize,
) -> Vec<FleetDevice> {
    use e4_c2::api::grpc::pb;
    api.new_topic(pb::NewTopicRequest {
        topic: topic.into(),
        format: "symmetric".into(),
    })
    .await
    .unwrap();
    let mut devices = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}{i:04}");
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64 + seed).to_le_bytes());
        let mqtt = register(
            api,
            pb::NewClientRequest {
                name: name.clone(),
                key: key.to_vec(),
                ..Default::default()
            },
        )
        .await;
        api.add_client_to_topic(pb::Membership {
            client: Some(super::scenario::cref(&name)),
            topic: topic.into(),
        })
        .await
        .unwrap();
        let mut client = Client::new(e4_client::Config::sym_id_and_key(
            Some(super::scenario::alias_id(&name)),
            e4_proto::SymKey::new(key),
        ))
        .unwrap();
        client
            .set_broker_credentials(Some(e4_client::BrokerCredentials::new(
                mqtt.username,
                mqtt.password,
            )))
            .unwrap();
        devices.push(FleetDevice::start(&name, client, config(host, port)));
    }
    super::until_converged(api).await;
    devices
}
