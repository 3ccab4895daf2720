//! A test-only active attacker between MQTT 3.1.1 clients and a broker.
//!
//! [`MqttProxy`] is a TCP proxy: clients connect to [`MqttProxy::addr`], and
//! every accepted connection gets its own upstream connection to the real
//! broker. Packets are framed (fixed header + remaining-length varint) in both
//! directions; non-PUBLISH packets pass through untouched, PUBLISH packets are
//! recorded ([`MqttProxy::captured`]) and then handed to the current [`Rule`],
//! whose [`Action`] decides their fate: forward, drop, modify, delay (hold
//! until [`MqttProxy::release_held`], which re-sends in reverse order) or
//! duplicate. The attacker can also [`inject`](MqttProxy::inject) and
//! [`replay`](MqttProxy::replay) publishes.
//!
//! It models "the attacker controls the broker / the network": everything the
//! broker could do to a payload, the proxy can do.
//!
//! MQTT session hygiene:
//! - a dropped QoS 1 PUBLISH is acknowledged by the proxy (PUBACK) to its
//!   sender; a dropped QoS 2 PUBLISH gets a PUBREC, and the sender's matching
//!   PUBREL is swallowed and answered with PUBCOMP. This works in both
//!   directions, so neither the client nor the broker notices the drop.
//! - modified and delayed publishes keep their packet id (the real ack flows
//!   back once they are delivered).
//! - the extra copy of a duplicated publish, and injected/replayed publishes,
//!   are sent as QoS 0 (no packet id), so they never cause unsolicited acks.
//! - a framing error, EOF or I/O error on either side closes both sides of
//!   that connection (packets already queued are flushed first).
//! - MQTT 5 connections (protocol level 5 in CONNECT) are passed through
//!   untouched (not parsed, not captured).
//!
//! Nothing in here panics on malformed input: bad framing closes the
//! connection, an unparsable PUBLISH is forwarded as-is and not captured.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Largest packet the proxy accepts (a larger remaining length closes the
/// connection instead of allocating).
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// Which way a PUBLISH travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From a client (connected to the proxy) to the broker.
    ToBroker,
    /// From the broker to a client.
    ToClient,
}

/// One PUBLISH seen by the proxy, as it arrived (before the rule acted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    pub direction: Direction,
    pub topic: String,
    pub payload: Vec<u8>,
    /// QoS of the original publish (0, 1 or 2).
    pub qos: u8,
}

/// A payload rewrite of [`Action::Modify`].
pub type Rewrite = Box<dyn FnOnce(&mut Vec<u8>) + Send>;

/// What to do with one PUBLISH.
pub enum Action {
    /// Pass it on unchanged.
    Forward,
    /// Swallow it (acknowledging it to its sender for QoS 1/2).
    Drop,
    /// Rewrite the payload, then pass it on (same topic, QoS and packet id).
    Modify(Rewrite),
    /// Hold it until [`MqttProxy::release_held`].
    Delay,
    /// Pass it on, then send a second copy as QoS 0.
    Duplicate,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Forward => "Forward",
            Action::Drop => "Drop",
            Action::Modify(_) => "Modify(..)",
            Action::Delay => "Delay",
            Action::Duplicate => "Duplicate",
        })
    }
}

type DecideFn = dyn Fn(Direction, &str, &[u8], usize) -> Action + Send + Sync;

/// Decides the [`Action`] for each PUBLISH. A rule optionally restricts
/// itself to one direction and/or an MQTT topic filter (`+`/`#` wildcards);
/// publishes that do not match are forwarded. The decision function gets the
/// direction, topic, payload and `nth`: the 0-based index of this publish
/// among those matching this rule since it was set.
pub struct Rule {
    direction: Option<Direction>,
    filter: Option<String>,
    decide: Box<DecideFn>,
    seen: AtomicUsize,
}

impl Rule {
    /// A rule matching every publish, in both directions.
    pub fn new(
        decide: impl Fn(Direction, &str, &[u8], usize) -> Action + Send + Sync + 'static,
    ) -> Rule {
        Rule {
            direction: None,
            filter: None,
            decide: Box::new(decide),
            seen: AtomicUsize::new(0),
        }
    }

    /// Restrict the rule to publishes travelling in `direction`.
    pub fn direction(mut self, direction: Direction) -> Rule {
        self.direction = Some(direction);
        self
    }

    /// Restrict the rule to topics matching the MQTT filter `filter`.
    pub fn topic(mut self, filter: &str) -> Rule {
        self.filter = Some(filter.to_string());
        self
    }

    fn apply(&self, direction: Direction, topic: &str, payload: &[u8]) -> Action {
        if self.direction.is_some_and(|d| d != direction) {
            return Action::Forward;
        }
        if let Some(f) = &self.filter {
            if !topic_matches(f, topic) {
                return Action::Forward;
            }
        }
        let nth = self.seen.fetch_add(1, Ordering::SeqCst);
        (self.decide)(direction, topic, payload, nth)
    }
}

/// MQTT topic filter matching (`+` one level, `#` the rest, `$` topics are
/// not matched by a leading wildcard): e4-client's.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    e4_client::policy::filter_matches(filter, topic)
}

/// A publish held by [`Action::Delay`].
struct Held {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    packet: Vec<u8>,
}

/// One proxied connection, as seen by inject/replay.
struct Conn {
    to_client: mpsc::UnboundedSender<Vec<u8>>,
    to_broker: mpsc::UnboundedSender<Vec<u8>>,
    /// The broker accepted the CONNECT (CONNACK return code 0).
    connected: bool,
    /// Topic filters the client subscribed to through this connection.
    subscriptions: Vec<String>,
}

#[derive(Default)]
struct Shared {
    rule: Mutex<Option<Arc<Rule>>>,
    captured: Mutex<Vec<Captured>>,
    held: Mutex<Vec<Held>>,
    conns: Mutex<HashMap<u64, Conn>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The attacking proxy. Dropping it stops accepting new connections;
/// connections already proxied keep running.
pub struct MqttProxy {
    addr: SocketAddr,
    broker: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for MqttProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl MqttProxy {
    /// Listen on `127.0.0.1:0` and proxy every connection to `broker`.
    /// Initially there is no rule (everything is forwarded).
    pub async fn start(broker: SocketAddr) -> io::Result<MqttProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn(accept_loop(listener, broker, shared.clone()));
        Ok(MqttProxy {
            addr,
            broker,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replace the current rule (its `nth` counter starts at 0).
    pub fn set_rule(&self, rule: Rule) {
        *lock(&self.shared.rule) = Some(Arc::new(rule));
    }

    /// Remove the rule: forward everything.
    pub fn clear_rule(&self) {
        *lock(&self.shared.rule) = None;
    }

    /// Every PUBLISH seen so far, in arrival order, as it arrived (injected and
    /// replayed publishes are not recorded).
    pub fn captured(&self) -> Vec<Captured> {
        lock(&self.shared.captured).clone()
    }

    /// Forget the capture log (indices for [`replay`](Self::replay) restart at 0).
    pub fn clear_captured(&self) {
        lock(&self.shared.captured).clear();
    }

    /// How many publishes are currently held by [`Action::Delay`].
    pub fn held_count(&self) -> usize {
        lock(&self.shared.held).len()
    }

    /// Send every held publish on its way, most recently held first (so a
    /// delayed sequence arrives reversed). Publishes whose connection closed
    /// in the meantime are discarded. Returns how many were sent.
    pub fn release_held(&self) -> usize {
        let held = std::mem::take(&mut *lock(&self.shared.held));
        held.into_iter()
            .rev()
            .filter(|h| h.tx.send(h.packet.clone()).is_ok())
            .count()
    }

    /// Publish `payload` on `topic` as the attacker, as QoS 0.
    ///
    /// - `ToBroker`: over the upstream link of a connected proxied client if
    ///   there is one, otherwise over a fresh connection of the proxy's own
    ///   (which waits for the broker to have processed the publish).
    /// - `ToClient`: to every proxied client that subscribed (through this
    ///   proxy) to a filter matching `topic`, as if the broker delivered it.
    ///
    /// Returns the number of connections the publish was written to.
    pub async fn inject(
        &self,
        topic: &str,
        payload: Vec<u8>,
        towards: Direction,
    ) -> io::Result<usize> {
        let packet = encode_publish(topic, 0, false, false, None, &payload)?;
        match towards {
            Direction::ToBroker => {
                let link = lock(&self.shared.conns)
                    .values()
                    .filter(|c| c.connected)
                    .map(|c| c.to_broker.clone())
                    .find(|tx| !tx.is_closed());
                if let Some(tx) = link {
                    if tx.send(packet.clone()).is_ok() {
                        return Ok(1);
                    }
                }
                publish_on_own_connection(self.broker, &packet).await?;
                Ok(1)
            }
            Direction::ToClient => Ok(lock(&self.shared.conns)
                .values()
                .filter(|c| c.connected && c.subscriptions.iter().any(|f| topic_matches(f, topic)))
                .filter(|c| c.to_client.send(packet.clone()).is_ok())
                .count()),
        }
    }

    /// Re-send captured publish number `index` (see [`captured`](Self::captured))
    /// in the direction it was captured, as QoS 0, like [`inject`](Self::inject).
    pub async fn replay(&self, index: usize) -> io::Result<usize> {
        let c = lock(&self.shared.captured)
            .get(index)
            .cloned()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no captured publish #{index}"),
                )
            })?;
        self.inject(&c.topic, c.payload, c.direction).await
    }
}

async fn accept_loop(listener: TcpListener, broker: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(broker).await else {
                return; // dropping `client` closes it
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            run_connection(client, upstream, shared).await;
        });
    }
}

async fn run_connection(client: TcpStream, upstream: TcpStream, shared: Arc<Shared>) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (client_r, client_w) = client.into_split();
    let (broker_r, broker_w) = upstream.into_split();
    let (to_client, to_client_rx) = mpsc::unbounded_channel();
    let (to_broker, to_broker_rx) = mpsc::unbounded_channel();
    let (closed_tx, closed_rx) = watch::channel(false);
    let closed_tx = Arc::new(closed_tx);
    lock(&shared.conns).insert(
        id,
        Conn {
            to_client: to_client.clone(),
            to_broker: to_broker.clone(),
            connected: false,
            subscriptions: Vec::new(),
        },
    );
    let side = |direction,
                own: &mpsc::UnboundedSender<Vec<u8>>,
                fwd: &mpsc::UnboundedSender<Vec<u8>>| Side {
        id,
        direction,
        shared: shared.clone(),
        own: own.clone(),
        fwd: fwd.clone(),
        pending_rel: Vec::new(),
        passthrough: false,
    };
    // Packets read from the client travel ToBroker; their acks go back to the client.
    let from_client = side(Direction::ToBroker, &to_client, &to_broker);
    let from_broker = side(Direction::ToClient, &to_broker, &to_client);
    drop((to_client, to_broker));
    let tasks = [
        tokio::spawn(writer(client_w, to_client_rx, closed_rx.clone())),
        tokio::spawn(writer(broker_w, to_broker_rx, closed_rx.clone())),
        tokio::spawn(reader_task(
            from_client,
            client_r,
            closed_rx.clone(),
            closed_tx.clone(),
        )),
        tokio::spawn(reader_task(from_broker, broker_r, closed_rx, closed_tx)),
    ];
    for t in tasks {
        let _ = t.await;
    }
    lock(&shared.conns).remove(&id);
}

async fn reader_task(
    mut side: Side,
    reader: OwnedReadHalf,
    mut closed_rx: watch::Receiver<bool>,
    closed: Arc<watch::Sender<bool>>,
) {
    let mut reader = BufReader::new(reader);
    loop {
        let packet = tokio::select! {
            p = read_packet(&mut reader) => p,
            _ = wait_closed(&mut closed_rx) => break,
        };
        // EOF, I/O error or bad framing closes both sides.
        let Ok(Some((header, body_start, packet))) = packet else {
            break;
        };
        if !side.handle(header, body_start, packet) {
            break;
        }
    }
    let _ = closed.send(true);
}

async fn wait_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}

/// Writes queued packets; on close, flushes what is queued and shuts down.
async fn writer(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(m) => if w.write_all(&m).await.is_err() { break },
                None => break,
            },
            _ = wait_closed(&mut closed) => {
                while let Ok(m) = rx.try_recv() {
                    if w.write_all(&m).await.is_err() { break; }
                }
                break;
            }
        }
    }
    rx.close();
    let _ = w.shutdown().await;
}

/// One reading side of a proxied connection.
struct Side {
    id: u64,
    /// Direction of publishes read on this side.
    direction: Direction,
    shared: Arc<Shared>,
    /// Back to the peer we read from (for acks of dropped publishes).
    own: mpsc::UnboundedSender<Vec<u8>>,
    /// Onwards.
    fwd: mpsc::UnboundedSender<Vec<u8>>,
    /// Packet ids of dropped QoS 2 publishes whose PUBREL we answer ourselves.
    pending_rel: Vec<u16>,
    /// MQTT 5: forward everything untouched.
    passthrough: bool,
}

impl Side {
    /// Handle one framed packet; false when the connection must close.
    fn handle(&mut self, header: u8, body_start: usize, packet: Vec<u8>) -> bool {
        let body = &packet[body_start..];
        let kind = header >> 4;
        if self.passthrough {
            return self.fwd.send(packet).is_ok();
        }
        match (self.direction, kind) {
            // CONNECT: note MQTT 5 (protocol level byte after "MQTT").
            (Direction::ToBroker, 1) if body.get(6) == Some(&5) => {
                self.passthrough = true;
            }
            // CONNACK, accepted.
            (Direction::ToClient, 2) if body.get(1) == Some(&0) => {
                if let Some(c) = lock(&self.shared.conns).get_mut(&self.id) {
                    c.connected = true;
                }
            }
            // PUBLISH
            (_, 3) => return self.publish(header, packet, body_start),
            // PUBREL for a QoS 2 publish we dropped: answer PUBCOMP, swallow.
            (_, 6) => {
                let pkid = read_u16(body, 0);
                if let Some(pos) = self.pending_rel.iter().position(|p| Some(*p) == pkid) {
                    self.pending_rel.swap_remove(pos);
                    return pkid.is_some_and(|id| self.own.send(ack(0x70, id)).is_ok());
                }
            }
            // SUBSCRIBE / UNSUBSCRIBE: track filters for inject ToClient.
            (Direction::ToBroker, 8) => {
                let filters = parse_filters(body, true);
                if let Some(c) = lock(&self.shared.conns).get_mut(&self.id) {
                    for f in filters {
                        if !c.subscriptions.contains(&f) {
                            c.subscriptions.push(f);
                        }
                    }
                }
            }
            (Direction::ToBroker, 10) => {
                let filters = parse_filters(body, false);
                if let Some(c) = lock(&self.shared.conns).get_mut(&self.id) {
                    c.subscriptions.retain(|s| !filters.contains(s));
                }
            }
            _ => {}
        }
        self.fwd.send(packet).is_ok()
    }

    fn publish(&mut self, header: u8, packet: Vec<u8>, body_start: usize) -> bool {
        let Some(p) = parse_publish(header, &packet[body_start..]) else {
            // Unparsable: let the receiver judge it.
            return self.fwd.send(packet).is_ok();
        };
        lock(&self.shared.captured).push(Captured {
            direction: self.direction,
            topic: p.topic.clone(),
            payload: p.payload.clone(),
            qos: p.qos,
        });
        let rule = lock(&self.shared.rule).clone();
        let action = match &rule {
            Some(r) => r.apply(self.direction, &p.topic, &p.payload),
            None => Action::Forward,
        };
        match action {
            Action::Forward => self.fwd.send(packet).is_ok(),
            Action::Drop => match (p.qos, p.pkid) {
                (1, Some(id)) => self.own.send(ack(0x40, id)).is_ok(),
                (2, Some(id)) => {
                    if !self.pending_rel.contains(&id) {
                        self.pending_rel.push(id);
                    }
                    self.own.send(ack(0x50, id)).is_ok()
                }
                _ => true,
            },
            Action::Modify(f) => {
                let mut payload = p.payload;
                f(&mut payload);
                match encode_publish(&p.topic, p.qos, p.dup, p.retain, p.pkid, &payload) {
                    Ok(m) => self.fwd.send(m).is_ok(),
                    Err(_) => false,
                }
            }
            Action::Delay => {
                lock(&self.shared.held).push(Held {
                    tx: self.fwd.clone(),
                    packet,
                });
                true
            }
            Action::Duplicate => {
                let copy = encode_publish(&p.topic, 0, false, p.retain, None, &p.payload);
                self.fwd.send(packet).is_ok() && copy.is_ok_and(|c| self.fwd.send(c).is_ok())
            }
        }
    }
}

/// Read one packet: `Ok(None)` on clean EOF before a packet, `Err` on I/O
/// error, truncation or bad framing. Returns (first byte, body offset, whole
/// packet bytes).
async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<(u8, usize, Vec<u8>)>> {
    let mut first = [0u8; 1];
    if r.read(&mut first).await? == 0 {
        return Ok(None);
    }
    let mut packet = vec![first[0]];
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = r.read_u8().await?;
        packet.push(b);
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "remaining length too long",
            ));
        }
    }
    if len > MAX_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "packet too large",
        ));
    }
    let body_start = packet.len();
    packet.resize(body_start + len, 0);
    r.read_exact(&mut packet[body_start..]).await?;
    Ok(Some((first[0], body_start, packet)))
}

struct Publish {
    dup: bool,
    qos: u8,
    retain: bool,
    topic: String,
    pkid: Option<u16>,
    payload: Vec<u8>,
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn parse_publish(header: u8, body: &[u8]) -> Option<Publish> {
    let qos = (header >> 1) & 3;
    if qos == 3 {
        return None;
    }
    let tlen = read_u16(body, 0)? as usize;
    let topic = std::str::from_utf8(body.get(2..2 + tlen)?)
        .ok()?
        .to_string();
    let mut at = 2 + tlen;
    let pkid = if qos > 0 {
        let id = read_u16(body, at)?;
        at += 2;
        Some(id)
    } else {
        None
    };
    Some(Publish {
        dup: header & 0x08 != 0,
        qos,
        retain: header & 0x01 != 0,
        topic,
        pkid,
        payload: body.get(at..)?.to_vec(),
    })
}

/// Topic filters of a SUBSCRIBE (`with_qos`) or UNSUBSCRIBE body; stops at
/// the first malformed entry.
fn parse_filters(body: &[u8], with_qos: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 2; // packet id
    while at < body.len() {
        let Some(len) = read_u16(body, at) else { break };
        let Some(f) = body.get(at + 2..at + 2 + len as usize) else {
            break;
        };
        let Ok(f) = std::str::from_utf8(f) else { break };
        out.push(f.to_string());
        at += 2 + len as usize + usize::from(with_qos);
    }
    out
}

fn encode_len(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

fn encode_publish(
    topic: &str,
    qos: u8,
    dup: bool,
    retain: bool,
    pkid: Option<u16>,
    payload: &[u8],
) -> io::Result<Vec<u8>> {
    let tlen = u16::try_from(topic.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "topic too long"))?;
    let len = 2 + topic.len() + if pkid.is_some() { 2 } else { 0 } + payload.len();
    if len > 268_435_455 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "payload too large",
        ));
    }
    let header = 0x30 | (u8::from(dup) << 3) | ((qos & 3) << 1) | u8::from(retain);
    let mut out = Vec::with_capacity(len + 5);
    out.push(header);
    encode_len(len, &mut out);
    out.extend_from_slice(&tlen.to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    if let Some(id) = pkid {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

fn ack(header: u8, pkid: u16) -> Vec<u8> {
    let id = pkid.to_be_bytes();
    vec![header, 2, id[0], id[1]]
}

/// Publish a QoS 0 `packet` over a fresh MQTT 3.1.1 connection, and wait (via
/// PINGREQ/PINGRESP) until the broker has handled it.
async fn publish_on_own_connection(broker: SocketAddr, packet: &[u8]) -> io::Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    let client_id = format!(
        "e4-mqtt-proxy-attacker-{}",
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30]);
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut connect = vec![0x10];
    encode_len(body.len(), &mut connect);
    connect.extend_from_slice(&body);

    let run = async {
        let mut s = TcpStream::connect(broker).await?;
        s.set_nodelay(true)?;
        s.write_all(&connect).await?;
        let bad = |m: &str| io::Error::new(io::ErrorKind::ConnectionRefused, m.to_string());
        match read_packet(&mut s).await? {
            Some((0x20, _, p)) if p.get(3) == Some(&0) => {}
            _ => return Err(bad("broker refused the attacker's CONNECT")),
        }
        s.write_all(packet).await?;
        s.write_all(&[0xC0, 0]).await?; // PINGREQ
        loop {
            match read_packet(&mut s).await? {
                Some((0xD0, _, _)) => break, // PINGRESP
                Some(_) => {}
                None => return Err(bad("broker closed the attacker's connection")),
            }
        }
        s.write_all(&[0xE0, 0]).await?; // DISCONNECT
        let _ = s.shutdown().await;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "attacker publish timed out"))?
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn filters() {
        assert!(topic_matches("a/+/c", "a/b/c"));
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(topic_matches("#", "a"));
        assert!(!topic_matches("a/+", "a/b/c"));
        assert!(!topic_matches("#", "$SYS/x"));
    }
}
