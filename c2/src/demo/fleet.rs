//! The demo's devices: real e4-client instances (in memory) connected to
//! the broker with `E4Mqtt`, registered with C2 the way an integrator
//! provisions them, and an event log per device that the demo waits on.

use crate::model::{ClientRef, NewClient};
use crate::service::Service;
use anyhow::{anyhow, bail, Context};
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig, NegotiationEvent};
use e4_client::{BrokerCredentials, Client, Config, SuiteSet};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{Id, SuiteId, SymKey};
use futures_util::FutureExt;
use std::time::{Duration, Instant};

/// How long the demo waits for any one step before giving up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// One device of the fleet.
pub struct Device {
    /// Name registered with C2.
    pub name: String,
    /// What kind of hardware it stands for.
    pub class: &'static str,
    /// The suite it was provisioned with.
    pub provisioned: SuiteId,
    /// The connection (and, inside, the E4 client).
    pub mqtt: E4Mqtt,
    /// Messages received: (topic, plaintext).
    pub received: Vec<(String, Vec<u8>)>,
    /// Messages refused: (topic, why).
    pub rejected: Vec<(String, String)>,
    /// Commands applied (opcodes).
    pub commands: Vec<u8>,
    /// Suite changes seen: (from, to).
    pub upgrades: Vec<(SuiteId, SuiteId)>,
    /// Announces published.
    pub announces: usize,
    /// Its symmetric client key, if C2 generated one (to check that the
    /// broker never carried it).
    pub client_key: Option<zeroize::Zeroizing<[u8; 32]>>,
}

impl Device {
    /// Register a device with C2 and connect it. `capabilities`: the suites
    /// its firmware can run (empty: it never negotiates, like an e4go or
    /// libe4 device).
    pub async fn provision(
        svc: &Service,
        name: &str,
        class: &'static str,
        suite: SuiteId,
        capabilities: SuiteSet,
        broker: (&str, u16),
    ) -> anyhow::Result<Device> {
        let id = Id::from_alias(svc.provider.hash, name.as_bytes());
        let c2_key = |s: SuiteId| async move {
            svc.crypto_mode()
                .await?
                .into_iter()
                .find(|i| i.suite == s)
                .map(|i| i.c2_public_key)
                .ok_or_else(|| anyhow!("C2 has no key for {s}"))
        };
        let mut req = NewClient {
            name: name.to_string(),
            id: Some(id.0.to_vec()),
            suite: Some(suite.name().to_string()),
            key: None,
            sig_pk: None,
            kem_pk: None,
        };
        let mut client_key = None;
        let (client, mqtt) = match suite {
            SuiteId::Symmetric => {
                let r = svc.register_client(req).await?;
                let key = r.key.ok_or_else(|| anyhow!("C2 did not generate a key"))?;
                let client = Client::new(Config::sym_id_and_key(Some(id), SymKey::new(*key)))?;
                client_key = Some(key);
                (client, r.mqtt)
            }
            SuiteId::PubKey => {
                let sig = svc.provider.suite(suite)?.sig()?;
                let mut sk = zeroize::Zeroizing::new([0u8; 64]);
                let mut pk = vec![0u8; sig.public_key_len()];
                sig.generate(&mut e4_backends::rng::OsRng, &mut sk[..], &mut pk)?;
                let c2_public: [u8; 32] = c2_key(suite)
                    .await?
                    .try_into()
                    .map_err(|_| anyhow!("C2 X25519 key length"))?;
                req.sig_pk = Some(pk);
                let r = svc.register_client(req).await?;
                let client = Client::new(Config::pub_id_and_key(
                    Some(id),
                    Ed25519Secret::new(*sk),
                    c2_public,
                ))?;
                (client, r.mqtt)
            }
            s => {
                let client = Client::new(Config::kem_generate(s, Some(id), &c2_key(s).await?))?;
                req.sig_pk = client.public_key();
                req.kem_pk = client.kem_public_key().map(<[u8]>::to_vec);
                let r = svc.register_client(req).await?;
                (client, r.mqtt)
            }
        };
        let mut client = client;
        client.set_broker_credentials(Some(BrokerCredentials {
            username: mqtt.username,
            password: mqtt.password,
        }))?;
        if !capabilities.is_empty() {
            client.set_capabilities(capabilities)?;
        }
        let mut cfg = MqttConfig::new(broker.0, broker.1);
        cfg.event_capacity = 4096;
        cfg.negotiation_retry = Duration::from_millis(500);
        cfg.max_negotiation_retry = Duration::from_secs(4);
        let mqtt = E4Mqtt::connect(client, cfg)?;
        Ok(Device {
            name: name.to_string(),
            class,
            provisioned: suite,
            mqtt,
            received: Vec::new(),
            rejected: Vec::new(),
            commands: Vec::new(),
            upgrades: Vec::new(),
            announces: 0,
            client_key,
        })
    }

    /// The suite the device runs now.
    pub fn suite(&self) -> SuiteId {
        self.mqtt.with_client(|c| c.suite())
    }

    /// Whether it received `text` on `topic`.
    pub fn got(&self, topic: &str, text: &str) -> bool {
        self.received
            .iter()
            .any(|(t, p)| t == topic && p == text.as_bytes())
    }

    /// Take the events that arrived, without waiting.
    fn pump(&mut self) {
        while let Some(Some(ev)) = self.mqtt.next_event().now_or_never() {
            match ev {
                Event::Message { topic, payload, .. } => self.received.push((topic, payload)),
                Event::Rejected { topic, error } => self.rejected.push((topic, error.to_string())),
                Event::Command(c) => self.commands.push(c.opcode),
                Event::Negotiation(NegotiationEvent::Announced { .. }) => self.announces += 1,
                Event::Negotiation(NegotiationEvent::Upgraded { from, to }) => {
                    self.upgrades.push((from, to))
                }
                _ => {}
            }
        }
    }

    /// Protect and publish `text` on `topic`.
    pub async fn say(&self, topic: &str, text: &str) -> anyhow::Result<()> {
        self.mqtt
            .publish(topic, text.as_bytes())
            .await
            .with_context(|| format!("{} publishing on {topic}", self.name))
    }
}

/// The fleet.
pub struct Fleet {
    /// Devices, in provisioning order.
    pub devices: Vec<Device>,
}

impl Fleet {
    /// A device by name.
    pub fn get(&self, name: &str) -> &Device {
        self.devices
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("the demo has no device {name}"))
    }

    /// Take every device's pending events until `done` holds, or fail with
    /// `what` after [`STEP_TIMEOUT`].
    pub async fn wait(&mut self, what: &str, done: impl Fn(&Fleet) -> bool) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            for d in &mut self.devices {
                d.pump();
            }
            if done(self) {
                return Ok(());
            }
            if start.elapsed() > STEP_TIMEOUT {
                bail!("timed out after {STEP_TIMEOUT:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait until every named device holds a key for `topic`.
    pub async fn wait_keys(&mut self, topic: &str, names: &[&str]) -> anyhow::Result<()> {
        let what = format!("the key of {topic} at {}", names.join(", "));
        self.wait(&what, |f| {
            names
                .iter()
                .all(|n| f.get(n).mqtt.with_client(|c| c.has_topic_key(topic)))
        })
        .await
    }
}

/// A client reference by name.
pub fn by_name(name: &str) -> ClientRef {
    ClientRef::Name(name.to_string())
}
