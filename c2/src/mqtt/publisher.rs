//! The outbox worker: publishes pending commands in id order with QoS 2 on
//! one MQTT connection and marks a command sent only on the broker's
//! PUBCOMP.
//!
//! * **Flow control.** At most `window` publishes are unacknowledged, each
//!   with a packet id of C2's choosing ([`InFlight`]). The window must fit
//!   the broker's per-client limit (mosquitto: `max_inflight_messages`, 20
//!   by default; the default window is 20); a broker that drops the
//!   connection while a full window is in flight, soon after accepting it,
//!   halves the window.
//! * **Order.** At most one command per device is in flight, so a device
//!   receives its commands in the order C2 queued them even when a
//!   connection is resumed and the broker's retransmissions come back in
//!   packet-id order. A command unacknowledged for [`DEVICE_HOLD`] stops
//!   holding back its device's next ones (something between C2 and the
//!   broker is holding it: the device is not stalled behind it).
//! * **No duplicates without a fault.** The session is persistent within
//!   the process (clean on the first connection, resumed afterwards): after
//!   a lost connection the unacknowledged publishes and PUBRELs are
//!   retransmitted with their packet ids, which the broker recognises. Only
//!   when the broker has no session any more (it restarted without
//!   persistence) or C2 itself restarted are unacknowledged commands sent
//!   again as new publishes; devices refuse such a copy as a replay.
//! * **Failures.** The connection is re-established with a backoff that
//!   grows until a connection stays up ([`Reconnect`]); the log says so once
//!   per change of state. After a restart the worker starts again from the
//!   oldest pending command.

use crate::crypto_at_rest::MasterKey;
use crate::db::outbox::{self as table, OutboxRow};
use crate::db::{now_ms, Db};
use crate::error::{C2Error, C2Result};
use crate::metrics::Metrics;
use crate::mqtt::inflight::InFlight;
use crate::mqtt::last_sent::LastSent;
use crate::mqtt::reconnect::{Reconnect, HEALTHY_AFTER};
use crate::mqtt::status::PublisherStatus;
use crate::mqtt::BrokerAddr;
use crate::outbox::{seal, C2SecretCache};
use e4_backends::rng::OsRng;
use e4_proto::{CryptoProvider, Id};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, Publish, QoS, Request,
    Transport,
};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, Instant};

/// Default window for an external broker: mosquitto's default
/// `max_inflight_messages`.
pub const DEFAULT_WINDOW: u16 = 20;
/// Window for the embedded broker (its per-connection limit is 500).
pub const EMBEDDED_WINDOW: u16 = 100;
/// How long an unacknowledged command holds back the next commands of its
/// device.
pub const DEVICE_HOLD: Duration = Duration::from_secs(5);

/// What an in-flight publish carries: its outbox row, its device and when
/// it was handed to the MQTT client.
type Carried = (i64, Id, Instant);

/// Worker settings.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Broker.
    pub broker: BrokerAddr,
    /// TLS client configuration for `mqtts://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// MQTT client id of C2.
    pub client_id: String,
    /// Unacknowledged publishes at most (at most the broker's per-client
    /// in-flight limit).
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
            window: DEFAULT_WINDOW,
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
    /// Connection and delivery state (for health).
    pub status: Arc<PublisherStatus>,
}

/// MQTT options of C2's connections (publisher and announce listener).
pub(crate) fn options(cfg: &PublisherConfig) -> MqttOptions {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.broker.host, cfg.broker.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_inflight(cfg.window.max(1));
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

/// Why a session ended.
enum End {
    /// Shutdown requested.
    Shutdown,
    /// The broker connection failed.
    Broker(String),
    /// The database failed; the broker connection is dropped and resumed.
    Database(C2Error),
}

/// Rows read from the outbox and not yet published.
struct Queue {
    /// Highest id read.
    cursor: i64,
    rows: VecDeque<OutboxRow>,
    /// Nothing more to read until notified.
    idle: bool,
    /// Acknowledged, not yet recorded.
    acked: Vec<i64>,
    /// What each device was last sent (identical bytes wait a second).
    last: LastSent,
}

impl Queue {
    /// Read everything pending again (after a restart or a lost session).
    fn restart(&mut self) {
        self.cursor = 0;
        self.rows.clear();
        self.idle = false;
    }

    /// The first row whose device has no command in flight and no earlier
    /// row waiting.
    fn take_ready(&mut self, busy: &HashSet<Id>) -> Option<OutboxRow> {
        let mut held: Vec<Id> = Vec::new();
        let i = self.rows.iter().position(|r| {
            if busy.contains(&r.client_id) || held.contains(&r.client_id) {
                held.push(r.client_id);
                false
            } else {
                true
            }
        })?;
        self.rows.remove(i)
    }
}

/// Run until `shutdown` turns true.
pub async fn run(cfg: PublisherConfig, h: PublisherHandles, mut shutdown: watch::Receiver<bool>) {
    let mut flight: InFlight<Carried> = InFlight::new(cfg.window);
    let mut opts = options(&cfg);
    opts.set_inflight(flight.max_packet_id());
    let (client, mut el) = AsyncClient::new(opts, 8);
    let mut link = Reconnect::new(
        "publisher",
        cfg.broker.to_string(),
        cfg.min_backoff,
        cfg.max_backoff,
    );
    let mut q = Queue {
        cursor: 0,
        rows: VecDeque::new(),
        idle: false,
        acked: Vec::new(),
        last: LastSent::default(),
    };
    let mut c2_keys = C2SecretCache::default();
    h.status.set_window(flight.window());
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = match connect(&mut el, &mut shutdown).await {
            None => break,
            Some(Ok(session_present)) => {
                if !session_present {
                    // The broker keeps nothing of an earlier session: what
                    // was in flight is read from the outbox again.
                    flight.clear();
                    q.restart();
                }
                // Later connections resume this session.
                el.mqtt_options.set_clean_session(false);
                link.up();
                h.status.set_connected(true);
                h.status.set_failures(link.failures());
                h.metrics.broker_connected.set(1);
                let started = Instant::now();
                let end = session(
                    &cfg,
                    &h,
                    &mut c2_keys,
                    &mut el,
                    &mut flight,
                    &mut q,
                    &mut link,
                    &mut shutdown,
                )
                .await;
                h.status.set_connected(false);
                h.metrics.broker_connected.set(0);
                record_acks(&h, &mut q).await;
                match end {
                    End::Shutdown => break,
                    End::Broker(e) => {
                        h.metrics.publish_errors.inc();
                        bump_attempts(&h, &flight).await;
                        if flight.is_full()
                            && flight.window() > 1
                            && started.elapsed() < HEALTHY_AFTER
                        {
                            let from = flight.window();
                            let to = flight.shrink();
                            h.status.set_window(to);
                            tracing::warn!(
                                from, to,
                                "the broker dropped the connection with a full publish window soon after accepting it; \
                                 lowering the window (the broker's per-client in-flight limit is probably lower: \
                                 mosquitto's max_inflight_messages; see --publish-window)"
                            );
                        }
                        link.down(&e)
                    }
                    End::Database(e) => {
                        // Drop the connection (the session is resumed) and
                        // wait for the database.
                        el.clean();
                        tracing::warn!(error = %e, "database unavailable; commands stay queued");
                        link.down(&format!("database: {e}"))
                    }
                }
            }
            Some(Err(e)) => {
                h.metrics.publish_errors.inc();
                link.down(&e)
            }
        };
        h.status.set_failures(link.failures());
        tokio::select! {
            _ = sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
    }
    record_acks(&h, &mut q).await;
    let _ = client.try_disconnect();
    // Give the DISCONNECT a chance to go out.
    let _ = tokio::time::timeout(Duration::from_millis(200), el.poll()).await;
}

/// Connect (or resume): Some(Ok(session present)), Some(Err(why)), or None
/// on shutdown.
async fn connect(
    el: &mut EventLoop,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Result<bool, String>> {
    loop {
        let ev = tokio::select! {
            ev = el.poll() => ev,
            _ = shutdown.changed() => return None,
        };
        return Some(match ev {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                Ok(ack.session_present)
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                // rumqttc keeps the socket of a refused connection: drop it.
                el.clean();
                Err(format!("broker refused the connection: {:?}", ack.code))
            }
            // Left over from the previous connection.
            Ok(_) => continue,
            Err(e) => Err(format!("connect: {e}")),
        });
    }
}

async fn session(
    cfg: &PublisherConfig,
    h: &PublisherHandles,
    c2_keys: &mut C2SecretCache,
    el: &mut EventLoop,
    flight: &mut InFlight<Carried>,
    q: &mut Queue,
    link: &mut Reconnect,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let mut last_flush = Instant::now();
    let mut last_prune = Instant::now() - Duration::from_secs(3600);
    loop {
        if *shutdown.borrow() {
            return End::Shutdown;
        }
        link.still_up();
        h.status.set_failures(link.failures());
        if let Err(e) = fill(cfg, h, c2_keys, el, flight, q).await {
            return End::Database(e);
        }
        if let Err(e) = send_pending(el).await {
            return End::Broker(format!("broker connection: {e}"));
        }
        let flush_due = !q.acked.is_empty()
            && (q.acked.len() >= (flight.window() / 2).clamp(1, 256)
                || last_flush.elapsed() >= Duration::from_millis(50)
                || flight.is_empty());
        if flush_due {
            if let Err(e) = flush_acks(h, q).await {
                return End::Database(e);
            }
            last_flush = Instant::now();
        }
        if q.idle && flight.is_empty() && last_prune.elapsed() > Duration::from_secs(600) {
            let before = now_ms() - cfg.retention.as_millis() as i64;
            match h.db.read().await {
                Ok(mut conn) => match table::prune_sent(&mut conn, before).await {
                    Ok(n) if n > 0 => tracing::debug!(rows = n, "pruned acknowledged commands"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not prune acknowledged commands"),
                },
                Err(e) => return End::Database(e),
            }
            last_prune = Instant::now();
        }
        let idle_wait = q.idle && q.rows.is_empty();
        let ack_wait = !q.acked.is_empty();
        // Rows held back behind their device's command in flight: look
        // again soon (the hold expires).
        let held_wait = !q.rows.is_empty() && !flight.is_full();
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::PubComp(c))) => {
                    if let Some((id, _, _)) = flight.complete(c.pkid) {
                        q.acked.push(id);
                        h.status.acknowledged();
                    }
                }
                Ok(_) => {}
                Err(e) => return End::Broker(format!("broker connection: {e}")),
            },
            _ = h.notify.notified(), if idle_wait => { q.idle = false; }
            _ = sleep(cfg.idle_poll), if idle_wait => { q.idle = false; }
            _ = sleep(Duration::from_millis(50)), if ack_wait => {}
            _ = sleep(Duration::from_millis(200)), if held_wait => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Write the publishes [`fill`] queued (and any rumqttc queued for a resumed
/// session) to the broker now, and flush once. rumqttc's own poll sends its
/// queue one request per call, each after a `sleep(pending_throttle)`:
/// even a zero throttle costs a timer tick (about a millisecond), which
/// held C2 to roughly 700 commands a second. The state bookkeeping is
/// rumqttc's (`handle_outgoing_packet` records each QoS 2 publish before
/// it is written, so a write that fails is replayed on the resumed
/// session, like a queued one).
async fn send_pending(el: &mut EventLoop) -> Result<(), String> {
    if el.pending.is_empty() {
        return Ok(());
    }
    let Some(network) = el.network.as_mut() else {
        return Ok(());
    };
    while let Some(request) = el.pending.pop_front() {
        let packet = el
            .state
            .handle_outgoing_packet(request)
            .map_err(|e| e.to_string())?;
        if let Some(packet) = packet {
            network.write(packet).await.map_err(|e| e.to_string())?;
        }
    }
    network.flush().await.map_err(|e| e.to_string())
}

/// Read rows when few are left, and hand publishes to the MQTT client while
/// the window has room.
async fn fill(
    cfg: &PublisherConfig,
    h: &PublisherHandles,
    c2_keys: &mut C2SecretCache,
    el: &mut EventLoop,
    flight: &mut InFlight<Carried>,
    q: &mut Queue,
) -> C2Result<()> {
    if !q.idle && q.rows.len() < cfg.batch / 2 {
        let mut conn = h.db.read().await?;
        let rows = table::pending_after(&mut conn, q.cursor, cfg.batch - q.rows.len()).await?;
        match rows.last() {
            None => {
                q.idle = true;
                let pending = table::count_pending(&mut conn).await?;
                h.metrics.outbox_pending.set(pending as i64);
            }
            Some(last) => {
                q.cursor = last.id;
                q.rows.extend(rows);
            }
        }
    }
    if flight.is_full() || q.rows.is_empty() {
        return Ok(());
    }
    let mut busy: HashSet<Id> = flight
        .ids()
        .filter(|(_, _, at)| at.elapsed() < DEVICE_HOLD)
        .map(|(_, c, _)| c)
        .collect();
    while !flight.is_full() {
        let Some(row) = q.take_ready(&busy) else {
            break;
        };
        if let Some(bytes) = seal_row(h, c2_keys, &row).await? {
            if q.last.is_repeat(&row.client_id, &bytes) {
                // The same command in the same second: the device would
                // refuse it as a replay. It waits for the next second.
                busy.insert(row.client_id);
                q.rows.push_front(row);
                continue;
            }
            q.last.record(row.client_id, &bytes);
            let pkid = flight
                .insert((row.id, row.client_id, Instant::now()))
                .ok_or_else(|| C2Error::internal("publish window full"))?;
            let mut p = Publish::new(row.control_topic.clone(), QoS::ExactlyOnce, bytes);
            p.pkid = pkid;
            el.pending.push_back(Request::Publish(p));
            busy.insert(row.client_id);
            tracing::debug!(id = row.id, pkid, topic = %row.control_topic, command = e4_proto::command::name_of(row.opcode), "published");
        }
    }
    Ok(())
}

/// Seal a row for publication now; a row that can never be sealed is
/// marked failed (None).
async fn seal_row(
    h: &PublisherHandles,
    c2_keys: &mut C2SecretCache,
    row: &OutboxRow,
) -> C2Result<Option<Vec<u8>>> {
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
            seal(
                &h.master, &h.metrics, h.provider, c2_keys, row, now, &mut OsRng,
            )
        }
    };
    match sealed {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => {
            tracing::error!(id = row.id, client = %row.client_id, error = %e, "command cannot be sealed; marked failed");
            let mut conn = h.db.read().await?;
            table::mark_failed(&mut conn, row.id, &e.to_string()).await?;
            h.metrics.commands_failed.inc();
            Ok(None)
        }
    }
}

async fn flush_acks(h: &PublisherHandles, q: &mut Queue) -> C2Result<()> {
    let mut conn = h.db.read().await?;
    table::mark_sent(&mut conn, &q.acked, now_ms()).await?;
    h.metrics.commands_sent.inc_by(q.acked.len() as u64);
    q.acked.clear();
    Ok(())
}

/// Record what the broker acknowledged, whatever ended the session; what
/// cannot be recorded now is kept and recorded later (or sent again after a
/// restart).
async fn record_acks(h: &PublisherHandles, q: &mut Queue) {
    if !q.acked.is_empty() {
        if let Err(e) = flush_acks(h, q).await {
            tracing::warn!(error = %e, "could not record acknowledged commands yet");
        }
    }
}

/// Count one more attempt for what was in flight when the connection failed.
async fn bump_attempts(h: &PublisherHandles, flight: &InFlight<Carried>) {
    let ids: Vec<i64> = flight.ids().map(|(id, _, _)| id).collect();
    if !ids.is_empty() {
        if let Ok(mut conn) = h.db.read().await {
            let _ = table::bump_attempts(&mut conn, &ids).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, client: u8) -> OutboxRow {
        OutboxRow {
            id,
            client_id: Id([client; 16]),
            control_topic: String::new(),
            suite: e4_proto::SuiteId::Symmetric,
            opcode: 0,
            command_enc: Vec::new(),
            device_key: Vec::new(),
            c2_key_version: None,
            pk_mac: None,
        }
    }

    #[test]
    fn a_device_gets_one_command_at_a_time_in_queue_order() {
        let mut q = Queue {
            cursor: 0,
            rows: [row(1, 1), row(2, 1), row(3, 2), row(4, 1), row(5, 3)].into(),
            idle: false,
            acked: Vec::new(),
            last: LastSent::default(),
        };
        let mut busy = HashSet::new();
        let mut order = Vec::new();
        while let Some(r) = q.take_ready(&busy) {
            busy.insert(r.client_id);
            order.push(r.id);
        }
        // Device 1's later rows wait for its first; devices 2 and 3 go.
        assert_eq!(order, [1, 3, 5]);
        busy.remove(&Id([1; 16]));
        let next = q.take_ready(&busy).unwrap();
        assert_eq!(next.id, 2);
        busy.insert(next.client_id);
        assert!(q.take_ready(&busy).is_none(), "row 4 waits for row 2");
        busy.remove(&Id([1; 16]));
        assert_eq!(q.take_ready(&busy).map(|r| r.id), Some(4));
        assert!(q.rows.is_empty());
    }
}
