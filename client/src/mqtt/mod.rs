//! An async MQTT client (rumqttc, tokio) around [`Client`].
//!
//! [`E4Mqtt::connect`] starts a task that keeps the connection up: it
//! subscribes to the control topic with QoS 2 and applies the commands that
//! arrive there (persisting the state when the client has a state file),
//! unprotects application messages, and reconnects with a growing delay
//! when the broker goes away. After a reconnection it subscribes again to
//! every filter and re-sends the publishes the broker had not acknowledged
//! (so a message may arrive twice: the receiver's replay rejection drops
//! the copy). What happened is reported as [`Event`]s.
//!
//! Suite negotiation (see [`crate::negotiation`]): when the client has
//! capabilities above its current suite, the task publishes an Announce on
//! `e4c2/announce/<hex id>` once the control topic is subscribed (after
//! every reconnection too), and again with a doubling delay
//! ([`MqttConfig::negotiation_retry`]) until C2's SetSuite is accepted;
//! then it publishes the Confirm and re-signs and re-sends it on the same
//! timer until the first command under the new suite switches the client.
//! Progress is reported as [`Event::Negotiation`].
//!
//! Topic policy: see [`crate::policy`]. [`E4Mqtt::publish`] protects with
//! the topic's key; without a key it refuses, unless the topic is opted in
//! to cleartext.

mod config;
mod task;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use e4_proto::time::SystemClock;
use e4_proto::Clock;
use rumqttc::{AsyncClient, MqttOptions, Transport};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use self::config::{MqttConfig, TlsConfig};
pub use rumqttc::QoS;

use crate::client::{check_topic_filter, check_topic_name, Client, CommandInfo};
use crate::error::Error;
use crate::negotiation::{Publish, SuiteSet};
use crate::policy::TopicPolicy;
use e4_proto::{SuiteId, TopicHash};

/// Failures of the MQTT layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The broker address is not `HOST:PORT`.
    #[error("invalid broker address `{0}`: expected HOST:PORT")]
    InvalidBroker(String),
    /// A malformed MQTT topic filter (no longer returned: filters are
    /// refused with [`Error::TopicName`], which says why).
    #[error("invalid MQTT topic filter `{0}`")]
    InvalidFilter(String),
    /// The TLS settings are unusable.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection task has stopped (after [`E4Mqtt::disconnect`]).
    #[error("the MQTT connection is closed")]
    Closed,
}

/// What happened on the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Connected (or reconnected) to the broker; subscriptions are being
    /// renewed.
    Connected,
    /// The connection was lost; the task keeps reconnecting.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The broker granted subscriptions.
    Subscribed {
        /// The filters.
        filters: Vec<String>,
    },
    /// The broker refused subscriptions (for instance by access control).
    SubscriptionRefused {
        /// The filters.
        filters: Vec<String>,
    },
    /// An application message.
    Message {
        /// The topic it arrived on.
        topic: String,
        /// The payload (unprotected, or cleartext on an opted-in topic).
        payload: Vec<u8>,
        /// False for cleartext accepted by the policy.
        protected: bool,
    },
    /// A command from C2 was applied (and the state saved).
    Command(CommandInfo),
    /// A message was refused (not authentic, replayed, stale, no key, ...).
    Rejected {
        /// The topic it arrived on.
        topic: String,
        /// Why.
        error: Error,
    },
    /// Suite negotiation progressed.
    Negotiation(NegotiationEvent),
    /// A state report (the keys of this many topics) was sent to C2, which
    /// answers with whatever commands the device missed.
    StateReported {
        /// Topics reported.
        topics: usize,
    },
}

/// Steps of suite negotiation ([`Event::Negotiation`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum NegotiationEvent {
    /// An Announce offering these suites was persisted and published.
    Announced {
        /// The suites offered.
        offered: SuiteSet,
    },
    /// C2's SetSuite was accepted; the Confirm is being published.
    Accepted {
        /// The suite the client moves to.
        suite: SuiteId,
    },
    /// The Confirm was re-signed and published again (no command under the
    /// new suite yet).
    ConfirmResent {
        /// The accepted suite.
        suite: SuiteId,
    },
    /// The first command under the new suite arrived: the client now runs
    /// `to`. The command itself is reported next.
    Upgraded {
        /// The previous suite.
        from: SuiteId,
        /// The new suite.
        to: SuiteId,
    },
    /// C2 asked for a new Announce (Renegotiate); it is being published.
    AnnounceRequested,
    /// C2 asked the device to replace its keys (Renegotiate with the rekey
    /// flag); an Announce offering the current suite again is being
    /// published.
    RekeyRequested,
    /// C2 set the message format of a topic (SetTopicFormat).
    TopicFormat {
        /// The topic.
        topic: TopicHash,
        /// Its format.
        format: SuiteId,
    },
    /// Building or publishing an Announce or Confirm failed (retried on
    /// the timer).
    Failed {
        /// Why.
        error: Error,
    },
}

/// How long [`E4Mqtt::disconnect`] waits for the DISCONNECT to be sent.
const DISCONNECT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// State shared by the handle and the connection task.
struct Shared<C: Clock + Clone> {
    client: Mutex<Client<C>>,
    policy: Mutex<TopicPolicy>,
    subs: Mutex<Subscriptions>,
    /// Serializes subscribe requests so that their order in the request
    /// queue is the order recorded in `subs`.
    subscribing: tokio::sync::Mutex<()>,
    control_topic: String,
    qos: QoS,
    /// Set by [`E4Mqtt::disconnect`]: the task ends instead of reconnecting.
    stopping: AtomicBool,
    /// Work for the negotiation task, and its wake-up.
    negotiation: Mutex<NegotiationSignals>,
    negotiation_wake: tokio::sync::Notify,
    /// State reports: the delay after a connection or a command, and the
    /// period (None: reports are off).
    reports: Option<Reports>,
}

/// When state reports are sent (see [`MqttConfig::state_reports`]).
#[derive(Debug, Clone, Copy)]
struct Reports {
    delay: Duration,
    interval: Duration,
}

/// What the connection task tells the negotiation task.
#[derive(Default)]
struct NegotiationSignals {
    /// Connected, with the control topic subscribed.
    ready: bool,
    /// Act now (new session, upgrade finished, application request).
    kick: bool,
    /// Start the retry delay again from its minimum.
    reset: bool,
    /// Confirms to publish (from an accepted SetSuite).
    outbox: Vec<Publish>,
    /// The kick comes from a finished upgrade.
    upgraded: bool,
    /// When to send the next state report (None: none scheduled).
    report_at: Option<tokio::time::Instant>,
    /// The broker had no session for the device on this connection, and
    /// no report said so yet.
    new_session: bool,
}

impl<C: Clock + Clone> Shared<C> {
    fn signal_negotiation(&self, f: impl FnOnce(&mut NegotiationSignals)) {
        f(&mut lock(&self.negotiation));
        self.negotiation_wake.notify_one();
    }

    /// Report the state after the report delay (a new session, or commands
    /// applied: every further command pushes it back).
    fn schedule_report(&self) {
        if let Some(r) = self.reports {
            self.signal_negotiation(|s| {
                s.report_at = Some(tokio::time::Instant::now() + r.delay);
            });
        }
    }
}

/// Application subscriptions, and which SUBSCRIBE packet carried which
/// filters (to report [`Event::Subscribed`]).
#[derive(Default)]
struct Subscriptions {
    filters: BTreeSet<String>,
    queued: VecDeque<Vec<String>>,
    sent: HashMap<u16, Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these structures invalid
    // (every update is a single insert or remove).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An E4 client connected to an MQTT broker.
pub struct E4Mqtt<C: Clock + Clone + Send + 'static = SystemClock> {
    shared: Arc<Shared<C>>,
    mqtt: AsyncClient,
    events: mpsc::Receiver<Event>,
    task: AbortOnDrop,
    negotiation_task: AbortOnDrop,
}

/// Stops the connection task when the handle is dropped.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl<C: Clock + Clone + Send + 'static> E4Mqtt<C> {
    /// Start connecting to the broker (must be called within a tokio
    /// runtime). The first event is [`Event::Connected`] once the broker
    /// accepted the connection.
    pub fn connect(client: Client<C>, config: MqttConfig) -> Result<E4Mqtt<C>, Error> {
        let client_id = config
            .client_id
            .clone()
            .unwrap_or_else(|| format!("e4-{}", client.id()));
        let mut opts = MqttOptions::new(client_id, config.host.clone(), config.port);
        opts.set_keep_alive(config.keep_alive)
            .set_clean_session(config.clean_session)
            .set_max_packet_size(config.max_packet_size, config.max_packet_size)
            .set_request_channel_capacity(config.event_capacity.max(16));
        // The configuration's credentials, else those in the state.
        let saved = client
            .broker_credentials()
            .map(|c| (c.username.clone(), c.password.clone()));
        if let Some((user, password)) = config.credentials.clone().or(saved) {
            opts.set_credentials(user, password.to_string());
        }
        if let Some(tls) = &config.tls {
            opts.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.rustls()?),
            ));
        }
        let (mqtt, eventloop) = AsyncClient::new(opts, config.event_capacity.max(16));
        let (tx, events) = mpsc::channel(config.event_capacity.max(1));
        let shared = Arc::new(Shared {
            control_topic: client.control_topic().to_string(),
            client: Mutex::new(client),
            policy: Mutex::new(config.policy.clone()),
            subs: Mutex::new(Subscriptions::default()),
            subscribing: tokio::sync::Mutex::new(()),
            qos: config.qos,
            stopping: AtomicBool::new(false),
            negotiation: Mutex::new(NegotiationSignals::default()),
            negotiation_wake: tokio::sync::Notify::new(),
            reports: config.state_reports.then_some(Reports {
                delay: config.report_delay,
                interval: config.report_interval,
            }),
        });
        let negotiation_task = tokio::spawn(task::negotiate(
            shared.clone(),
            mqtt.clone(),
            tx.clone(),
            config.negotiation_retry.max(Duration::from_millis(1)),
            config.max_negotiation_retry,
        ));
        let task = tokio::spawn(task::run(
            eventloop,
            shared.clone(),
            tx,
            config.reconnect_delay,
            config.max_reconnect_delay,
        ));
        Ok(E4Mqtt {
            shared,
            mqtt,
            events,
            task: AbortOnDrop(Some(task)),
            negotiation_task: AbortOnDrop(Some(negotiation_task)),
        })
    }

    /// Look at negotiation now: announce if the client has something to
    /// offer and nothing is outstanding (e.g. after
    /// [`Client::set_capabilities`] through [`E4Mqtt::with_client`]); the
    /// retry delay starts again from its minimum.
    pub fn negotiate_now(&self) {
        self.shared.signal_negotiation(|s| {
            s.kick = true;
            s.reset = true;
        });
    }

    /// Replace the device's keys in its (KEM) suite: an Announce offering
    /// the current suite again is made and persisted now
    /// ([`Client::announce_rekey`]) and published by the connection task,
    /// which retries it until C2 answers; the old keys are gone once the
    /// first command under the new ones arrives
    /// ([`NegotiationEvent::Upgraded`] with `from == to`).
    pub fn rekey_now(&self) -> Result<(), Error> {
        self.with_client(|c| c.announce_rekey())?;
        self.negotiate_now();
        Ok(())
    }

    /// Send a state report now (see [`Client::sync_report`]).
    pub fn report_now(&self) {
        self.shared.signal_negotiation(|s| {
            s.report_at = Some(tokio::time::Instant::now());
        });
    }

    /// The next event; None once the connection task has stopped.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Run `f` on the E4 client (to read its state, or to set keys). If
    /// `f` changes the client's capabilities, negotiation is looked at at
    /// once ([`E4Mqtt::negotiate_now`]).
    pub fn with_client<T>(&self, f: impl FnOnce(&mut Client<C>) -> T) -> T {
        let (out, changed) = {
            let mut client = lock(&self.shared.client);
            let before = client.capabilities();
            let out = f(&mut client);
            (out, client.capabilities() != before)
        };
        if changed {
            self.negotiate_now();
        }
        out
    }

    /// Run `f` on the topic policy.
    pub fn with_policy<T>(&self, f: impl FnOnce(&mut TopicPolicy) -> T) -> T {
        f(&mut lock(&self.shared.policy))
    }

    /// The filters subscribed to (besides the control topic).
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.shared.subs).filters.iter().cloned().collect()
    }

    /// Subscribe to `filter`, now and after every reconnection. The broker's
    /// acknowledgement arrives as [`Event::Subscribed`]. A filter that breaks
    /// the topic-name rules ([`e4_proto::topic_name::check_topic_filter`])
    /// is refused with [`Error::TopicName`].
    pub async fn subscribe(&self, filter: &str) -> Result<(), Error> {
        check_topic_filter(filter)?;
        let _order = self.shared.subscribing.lock().await;
        {
            let mut subs = lock(&self.shared.subs);
            subs.filters.insert(filter.to_owned());
            subs.queued.push_back(vec![filter.to_owned()]);
        }
        self.mqtt
            .subscribe(filter, self.shared.qos)
            .await
            .map_err(|_| MqttError::Closed.into())
    }

    /// Unsubscribe from `filter` (the control topic cannot be dropped).
    pub async fn unsubscribe(&self, filter: &str) -> Result<(), Error> {
        if filter == self.shared.control_topic {
            return Err(Error::ControlTopic {
                topic: filter.to_owned(),
            });
        }
        check_topic_filter(filter)?;
        lock(&self.shared.subs).filters.remove(filter);
        self.mqtt
            .unsubscribe(filter)
            .await
            .map_err(|_| MqttError::Closed.into())
    }

    /// Publish `payload` on `topic`, protected with the topic's key. Without
    /// a key: [`e4_proto::Error::TopicKeyNotFound`], unless the policy opts
    /// the topic in to cleartext, in which case it is sent as is. Waits
    /// while the request queue is full (broker unreachable for long). A
    /// topic that breaks the topic-name rules is refused with
    /// [`Error::TopicName`].
    pub async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Error> {
        let bytes = {
            let client = lock(&self.shared.client);
            if !client.is_control_topic(topic) {
                check_topic_name(topic)?;
            }
            if client.has_topic_key(topic) || client.is_control_topic(topic) {
                client.protect(payload, topic)?
            } else if lock(&self.shared.policy).allows_cleartext(topic) {
                payload.to_vec()
            } else {
                return Err(e4_proto::Error::TopicKeyNotFound.into());
            }
        };
        self.send(topic, bytes).await
    }

    /// Publish `payload` in cleartext. Only on topics the policy opts in
    /// and for which no key is held; otherwise [`Error::CleartextRefused`].
    /// A topic that breaks the topic-name rules is refused with
    /// [`Error::TopicName`].
    pub async fn publish_clear(&self, topic: &str, payload: &[u8]) -> Result<(), Error> {
        {
            let client = lock(&self.shared.client);
            if client.is_control_topic(topic) {
                return Err(Error::ControlTopic {
                    topic: topic.to_owned(),
                });
            }
            if client.has_topic_key(topic) || !lock(&self.shared.policy).allows_cleartext(topic) {
                return Err(Error::CleartextRefused {
                    topic: topic.to_owned(),
                });
            }
            // A policy filter such as `#` also matches names that break the
            // rules (another device's control topic, e4c2/...).
            check_topic_name(topic)?;
        }
        self.send(topic, payload.to_vec()).await
    }

    async fn send(&self, topic: &str, bytes: Vec<u8>) -> Result<(), Error> {
        self.mqtt
            .publish(topic, self.shared.qos, false, bytes)
            .await
            .map_err(|_| MqttError::Closed.into())
    }

    /// Disconnect cleanly, stop the connection task and return the client.
    pub async fn disconnect(self) -> Client<C> {
        let E4Mqtt {
            shared,
            mqtt,
            mut events,
            mut task,
            mut negotiation_task,
        } = self;
        shared.stopping.store(true, Ordering::SeqCst);
        if let Some(handle) = negotiation_task.0.take() {
            handle.abort();
            let _ = handle.await;
        }
        // The task ends once the DISCONNECT is sent. If it cannot even be
        // queued, or is not sent soon (broker unreachable), the task is
        // stopped where it is.
        let queued = mqtt.try_disconnect().is_ok();
        events.close();
        if let Some(mut handle) = task.0.take() {
            let ended = queued
                && tokio::time::timeout(DISCONNECT_GRACE, &mut handle)
                    .await
                    .is_ok();
            if !ended {
                handle.abort();
                let _ = handle.await;
            }
        }
        drop(mqtt);
        match Arc::try_unwrap(shared) {
            Ok(s) => s.client.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(_) => unreachable!("the connection task has ended and released its reference"),
        }
    }
}
