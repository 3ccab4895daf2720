//! A simulated device: e4_proto::Client + e4_backends::provider(), talking
//! MQTT through rumqttc, subscribed to its control topic `e4/<hex id>`.

use super::PATIENCE;
use e4_backends::rng::OsRng;
use e4_proto::client::KemIdentity;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::store::MemStore;
use e4_proto::time::SystemClock;
use e4_proto::{Client, Id, Identity, SuiteId, SymKey, Unprotected};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a device saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A command applied (opcode).
    Command(u8),
    /// A topic message.
    Message { topic: String, payload: Vec<u8> },
    /// Something refused.
    Rejected {
        topic: String,
        error: e4_proto::Error,
    },
}

pub type E4 = Client<MemStore, SystemClock>;

pub struct Device {
    pub name: String,
    pub id: Id,
    pub e4: Arc<Mutex<E4>>,
    mqtt: AsyncClient,
    rx: mpsc::UnboundedReceiver<Seen>,
    subacks: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keys a device was provisioned with.
pub struct Keys {
    pub identity: Identity,
    /// Public key to register with C2 (pubkey, kem suites).
    pub sig_pk: Vec<u8>,
    /// KEM public key (kem suites).
    pub kem_pk: Vec<u8>,
}

pub fn symmetric_keys(key: &[u8]) -> Keys {
    Keys {
        identity: Identity::Symmetric(SymKey::from_slice(key).unwrap()),
        sig_pk: vec![],
        kem_pk: vec![],
    }
}

pub fn pubkey_keys(c2_public: &[u8]) -> Keys {
    let s = e4_backends::provider().suite(SuiteId::PubKey).unwrap();
    let sig = s.sig().unwrap();
    let mut sk = vec![0u8; 64];
    let mut pk = vec![0u8; 32];
    sig.generate(&mut OsRng, &mut sk, &mut pk).unwrap();
    Keys {
        identity: Identity::PubKey {
            signing: Ed25519Secret::from_slice(&sk).unwrap(),
            c2_public: c2_public.try_into().unwrap(),
        },
        sig_pk: pk,
        kem_pk: vec![],
    }
}

pub fn kem_keys(suite: SuiteId, c2_sig_pk: &[u8]) -> Keys {
    let s = e4_backends::provider().suite(suite).unwrap();
    let sig = s.sig().unwrap();
    let kem = s.kem().unwrap();
    let mut ssk = vec![0u8; sig.secret_key_len()];
    let mut spk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut OsRng, &mut ssk, &mut spk).unwrap();
    let mut ksk = vec![0u8; kem.secret_key_len()];
    let mut kpk = vec![0u8; kem.public_key_len()];
    kem.generate(&mut OsRng, &mut ksk, &mut kpk).unwrap();
    Keys {
        identity: Identity::Kem(KemIdentity {
            sig_sk: SecretBytes::new(ssk),
            sig_pk: spk.clone(),
            kem_sk: SecretBytes::new(ksk),
            kem_pk: kpk.clone(),
            c2_sig_pk: c2_sig_pk.to_vec(),
        }),
        sig_pk: spk,
        kem_pk: kpk,
    }
}

impl Device {
    /// Connect, subscribe to the control topic and wait for the SUBACK.
    /// A persistent session keeps subscriptions and queued QoS 2 messages
    /// across broker restarts (mosquitto with persistence).
    pub async fn connect(
        name: &str,
        id: Id,
        suite: SuiteId,
        keys: Keys,
        broker: (String, u16),
        persistent: bool,
    ) -> Device {
        let e4 = Client::new(
            e4_backends::provider(),
            suite,
            id,
            keys.identity,
            MemStore::new(),
            SystemClock,
        )
        .unwrap();
        let control = e4.control_topic().as_str().to_string();
        let e4 = Arc::new(Mutex::new(e4));
        let mut o = MqttOptions::new(format!("dev-{name}-{}", id), broker.0, broker.1);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_clean_session(!persistent);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (mqtt, mut el) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let (sub_tx, subacks) = watch::channel(0u64);
        let topics: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![control.clone()]));
        let task = {
            let e4 = e4.clone();
            let mqtt = mqtt.clone();
            let topics = topics.clone();
            tokio::spawn(async move {
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                            if !ack.session_present {
                                let list = topics.lock().unwrap().clone();
                                for t in list {
                                    let _ = mqtt.try_subscribe(t, QoS::ExactlyOnce);
                                }
                            } else {
                                sub_tx.send_modify(|n| *n += 1);
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => sub_tx.send_modify(|n| *n += 1),
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let mut out = vec![0u8; p.payload.len()];
                            let r = e4.lock().unwrap().unprotect(&p.topic, &p.payload, &mut out);
                            let seen = match r {
                                Ok(Unprotected::Command(op)) => Seen::Command(op),
                                Ok(Unprotected::Message(n)) => Seen::Message {
                                    topic: p.topic.clone(),
                                    payload: out[..n].to_vec(),
                                },
                                Err(error) => Seen::Rejected {
                                    topic: p.topic.clone(),
                                    error,
                                },
                            };
                            let _ = tx.send(seen);
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        let mut d = Device {
            name: name.to_string(),
            id,
            e4,
            mqtt,
            rx,
            subacks,
            task,
        };
        d.wait_subacks(1).await;
        let _ = &topics;
        d
    }

    async fn wait_subacks(&mut self, n: u64) {
        tokio::time::timeout(PATIENCE, self.subacks.wait_for(|c| *c >= n))
            .await
            .expect("SUBACK")
            .unwrap();
    }

    /// Subscribe to a data topic and wait for the SUBACK.
    pub async fn subscribe(&mut self, topic: &str) {
        let before = *self.subacks.borrow();
        self.mqtt.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        self.wait_subacks(before + 1).await;
    }

    /// The next thing seen.
    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("device {} saw nothing", self.name))
            .unwrap()
    }

    /// Expect the next event to be this command.
    pub async fn expect_command(&mut self, opcode: u8) {
        let s = self.next().await;
        assert_eq!(s, Seen::Command(opcode), "device {}", self.name);
    }

    /// Anything already received, without waiting.
    pub fn drain(&mut self) -> Vec<Seen> {
        let mut v = Vec::new();
        while let Ok(s) = self.rx.try_recv() {
            v.push(s);
        }
        v
    }

    pub fn protect(&self, topic: &str, payload: &[u8]) -> Result<Vec<u8>, e4_proto::Error> {
        let e4 = self.e4.lock().unwrap();
        let mut out = vec![0u8; payload.len() + e4.overhead()];
        let n = e4.protect(topic, payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Protect and publish on a topic.
    pub async fn publish(&self, topic: &str, payload: &[u8]) {
        let msg = self.protect(topic, payload).unwrap();
        self.mqtt
            .publish(topic, QoS::AtLeastOnce, false, msg)
            .await
            .unwrap();
    }

    pub fn has_topic_key(&self, topic: &str) -> bool {
        use e4_proto::store::Store;
        let e4 = self.e4.lock().unwrap();
        let h = e4.topic_hash(topic);
        e4.store().topic(&h).is_some()
    }

    pub fn unprotect(&self, topic: &str, msg: &[u8]) -> Result<Vec<u8>, e4_proto::Error> {
        let mut out = vec![0u8; msg.len()];
        match self.e4.lock().unwrap().unprotect(topic, msg, &mut out)? {
            Unprotected::Message(n) => Ok(out[..n].to_vec()),
            Unprotected::Command(_) => panic!("not a data topic"),
        }
    }
}
