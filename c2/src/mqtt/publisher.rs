//! The outbox worker: publishes pending commands in id order with QoS 2 on
//! one MQTT connection, marks a command sent only on the broker's PUBCOMP,
//! and on any failure drops the connection, waits (exponential backoff) and
//! starts again from the oldest pending command. A restart does the same.

use crate::crypto_at_rest::MasterKey;
use crate::db::outbox::{self as table, OutboxRow};
use crate::db::{now_ms, Db};
use crate::error::{C2Error, C2Result};
use crate::metrics::Metrics;
use crate::mqtt::BrokerAddr;
use crate::outbox::{seal, C2SecretCache};
use e4_backends::rng::OsRng;
use e4_proto::CryptoProvider;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, Transport};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, Instant};

/// Worker settings.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Broker.
    pub broker: BrokerAddr,
    /// TLS client configuration for `mqtts://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// MQTT client id of C2.
    pub client_id: String,
    /// Unacknowledged publishes at most.
    pub window: u16,
    /// Rows read from the database at a time.
    pub batch: usize,
    /// How often to look for new rows when idle (besides notifications).
    pub idle_poll: Duration,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Keep acknowledged rows this long (then delete them).
    pub retention: Duration,
}

impl PublisherConfig {
    /// Defaults for a broker.
    pub fn new(broker: BrokerAddr) -> PublisherConfig {
        PublisherConfig {
            broker,
            tls: None,
            client_id: "e4c2".into(),
            window: 100,
            batch: 500,
            idle_poll: Duration::from_secs(2),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// What the worker shares with the rest of the server.
#[derive(Clone)]
pub struct PublisherHandles {
    /// The database.
    pub db: Db,
    /// The at-rest key.
    pub master: Arc<MasterKey>,
    /// Crypto backends.
    pub provider: &'static CryptoProvider,
    /// Wakes the worker after a commit.
    pub notify: Arc<Notify>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// True while connected.
    pub connected: Arc<AtomicBool>,
}

/// Run until `shutdown` turns true.
pub async fn run(cfg: PublisherConfig, h: PublisherHandles, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = cfg.min_backoff;
    let mut c2_keys = C2SecretCache::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut was_connected = false;
        let result = session(&cfg, &h, &mut c2_keys, &mut shutdown, &mut was_connected).await;
        h.connected.store(false, Ordering::SeqCst);
        h.metrics.broker_connected.set(0);
        match result {
            Ok(()) => return,
            Err(e) => {
                h.metrics.publish_errors.inc();
                if was_connected {
                    backoff = cfg.min_backoff;
                }
                // +-25% jitter so a fleet of C2s does not retry in lockstep.
                let mut b = [0u8; 1];
                e4_proto::crypto::Rng::fill(&mut OsRng, &mut b);
                let jitter = 0.75 + (b[0] as f64 / 255.0) * 0.5;
                let wait = backoff.mul_f64(jitter);
                tracing::warn!(broker = %cfg.broker, error = %e, retry_in_ms = wait.as_millis() as u64, "broker unavailable; commands stay queued");
                tokio::select! {
                    _ = sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
        }
    }
}

pub(crate) fn options(cfg: &PublisherConfig) -> MqttOptions {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.broker.host, cfg.broker.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_inflight(cfg.window);
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let (Some(u), p) = (&cfg.broker.username, &cfg.broker.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if let Some(tls) = &cfg.tls {
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    o
}

struct State {
    cursor: i64,
    buffer: VecDeque<OutboxRow>,
    awaiting_pkid: VecDeque<i64>,
    inflight: HashMap<u16, i64>,
    acked: Vec<i64>,
    idle: bool,
}

async fn session(
    cfg: &PublisherConfig,
    h: &PublisherHandles,
    c2_keys: &mut C2SecretCache,
    shutdown: &mut watch::Receiver<bool>,
    was_connected: &mut bool,
) -> C2Result<()> {
    let (client, mut el) = AsyncClient::new(options(cfg), cfg.window as usize * 2 + 16);
    // Wait for the CONNACK.
    loop {
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code != rumqttc::ConnectReturnCode::Success {
                        return Err(C2Error::Unavailable(format!("broker refused: {:?}", ack.code)));
                    }
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(C2Error::Unavailable(format!("connect: {e}"))),
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
    *was_connected = true;
    h.connected.store(true, Ordering::SeqCst);
    h.metrics.broker_connected.set(1);
    tracing::info!(broker = %cfg.broker, "connected to broker");

    let mut st = State {
        cursor: 0,
        buffer: VecDeque::new(),
        awaiting_pkid: VecDeque::new(),
        inflight: HashMap::new(),
        acked: Vec::new(),
        idle: false,
    };
    let mut last_flush = Instant::now();
    let mut last_prune = Instant::now() - Duration::from_secs(3600);
    let result: C2Result<()> = async {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if st.buffer.is_empty() && !st.idle {
                let mut conn = h.db.read().await?;
                let rows = table::pending_after(&mut conn, st.cursor, cfg.batch).await?;
                if rows.is_empty() {
                    st.idle = true;
                    let pending = table::count_pending(&mut conn).await?;
                    h.metrics.outbox_pending.set(pending as i64);
                } else {
                    st.cursor = rows.last().map(|r| r.id).unwrap_or(st.cursor);
                    st.buffer.extend(rows);
                }
            }
            while st.awaiting_pkid.len() + st.inflight.len() < cfg.window as usize {
                let Some(row) = st.buffer.pop_front() else {
                    break;
                };
                publish_one(h, c2_keys, &client, &mut st, row).await?;
            }
            let flush_due = !st.acked.is_empty()
                && (st.acked.len() >= (cfg.window as usize / 2).clamp(1, 256)
                    || last_flush.elapsed() >= Duration::from_millis(50)
                    || (st.inflight.is_empty() && st.awaiting_pkid.is_empty()));
            if flush_due {
                flush_acks(h, &mut st).await?;
                last_flush = Instant::now();
            }
            if st.idle && st.inflight.is_empty() && last_prune.elapsed() > Duration::from_secs(600)
            {
                let before = now_ms() - cfg.retention.as_millis() as i64;
                let mut conn = h.db.read().await?;
                let n = table::prune_sent(&mut conn, before).await?;
                if n > 0 {
                    tracing::debug!(rows = n, "pruned acknowledged commands");
                }
                last_prune = Instant::now();
            }
            let idle_wait = st.idle && st.buffer.is_empty();
            let ack_wait = !st.acked.is_empty();
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(id) = st.awaiting_pkid.pop_front() {
                            st.inflight.insert(pkid, id);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubComp(c))) => {
                        if let Some(id) = st.inflight.remove(&c.pkid) {
                            st.acked.push(id);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(C2Error::Unavailable(format!("broker connection: {e}"))),
                },
                _ = h.notify.notified(), if idle_wait => { st.idle = false; }
                _ = sleep(cfg.idle_poll), if idle_wait => { st.idle = false; }
                _ = sleep(Duration::from_millis(50)), if ack_wait => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    .await;
    // Whatever happened, record what the broker acknowledged; the rest
    // stays pending and is sent again by the next session.
    if !st.acked.is_empty() {
        if let Err(e) = flush_acks(h, &mut st).await {
            tracing::error!(error = %e, "could not record acknowledged commands; they will be sent again");
        }
    }
    let unacked: Vec<i64> = st
        .awaiting_pkid
        .iter()
        .copied()
        .chain(st.inflight.values().copied())
        .collect();
    if !unacked.is_empty() {
        if let Ok(mut conn) = h.db.read().await {
            let _ = table::bump_attempts(&mut conn, &unacked).await;
        }
    }
    if result.is_ok() {
        let _ = client.try_disconnect();
        // Give the DISCONNECT a chance to go out.
        let _ = tokio::time::timeout(Duration::from_millis(200), el.poll()).await;
    }
    result
}

async fn publish_one(
    h: &PublisherHandles,
    c2_keys: &mut C2SecretCache,
    client: &AsyncClient,
    st: &mut State,
    row: OutboxRow,
) -> C2Result<()> {
    let ready = match row.c2_key_version {
        Some(v) => {
            let mut conn = h.db.read().await?;
            c2_keys.ensure(&mut conn, &h.master, row.suite, v).await
        }
        None => Ok(()),
    };
    let sealed = match ready {
        // A database that does not answer is retried, not a reason to give up.
        Err(e @ C2Error::Unavailable(_)) => return Err(e),
        Err(e) => Err(e),
        Ok(()) => {
            let now = (now_ms() / 1000) as u64;
            seal(&h.master, h.provider, c2_keys, &row, now, &mut OsRng)
        }
    };
    match sealed {
        Ok(bytes) => {
            client
                .try_publish(row.control_topic.clone(), QoS::ExactlyOnce, false, bytes)
                .map_err(|e| C2Error::Unavailable(format!("publish: {e}")))?;
            st.awaiting_pkid.push_back(row.id);
            tracing::debug!(id = row.id, topic = %row.control_topic, command = e4_proto::command::name_of(row.opcode), "published");
        }
        Err(e) => {
            tracing::error!(id = row.id, client = %row.client_id, error = %e, "command cannot be sealed; marked failed");
            let mut conn = h.db.read().await?;
            table::mark_failed(&mut conn, row.id, &e.to_string()).await?;
            h.metrics.commands_failed.inc();
        }
    }
    Ok(())
}

async fn flush_acks(h: &PublisherHandles, st: &mut State) -> C2Result<()> {
    let mut conn = h.db.read().await?;
    table::mark_sent(&mut conn, &st.acked, now_ms()).await?;
    h.metrics.commands_sent.inc_by(st.acked.len() as u64);
    st.acked.clear();
    Ok(())
}
