//! The negotiation listener: subscribes to `e4c2/announce/+` on its own
//! MQTT connection and hands every Announce, Confirm and state report to
//! the service, in arrival order, and acknowledges it (QoS 1) once handled,
//! so that one in hand when C2 dies is delivered again. A refused message
//! is counted, never fatal, and logged sampled; the connection is
//! re-established with a growing backoff ([`Reconnect`]). The session is
//! persistent (client id `<publisher id>-announce`, clean session off), so
//! a broker that keeps sessions queues what devices send while C2 is away,
//! even across a C2 restart.
//!
//! Anyone who can publish there can flood C2 (issue 12, item 1). Each
//! message first passes a per-device and a global token bucket
//! ([`AnnounceLimiter`]); one that does not is acknowledged and dropped
//! unread (`e4c2_negotiation_dropped_total{limit}`). The service verifies
//! what passes on a read connection and takes the write lock only for an
//! authentic, newer message. Refusals (`e4c2_negotiation_refused_total`)
//! are logged one line per device per interval with a count of the rest
//! ([`RefusalLog`]).

use crate::error::{C2Error, C2Result};
use crate::mqtt::publisher::{options, PublisherConfig};
use crate::mqtt::rate_limit::{
    AnnounceLimiter, AnnounceLimits, LogLine, RefusalLog, LOG_INTERVAL, LOG_LINES,
};
use crate::mqtt::reconnect::Reconnect;
use crate::negotiation::{device_of_topic, Outcome, ANNOUNCE_FILTER};
use crate::service::Service;
use e4_proto::Id;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::sleep;

/// Run until `shutdown` turns true. `cfg` is the publisher's (same broker
/// and TLS); the client id gets a `-announce` suffix.
pub async fn run(
    cfg: PublisherConfig,
    svc: Arc<Service>,
    limits: AnnounceLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut cfg = cfg;
    cfg.client_id = format!("{}-announce", cfg.client_id);
    let mut link = Reconnect::new(
        "announce listener",
        cfg.broker.to_string(),
        cfg.min_backoff,
        cfg.max_backoff,
    );
    let mut opts = options(&cfg);
    // Persistent from the first connection, across C2 restarts: what
    // devices send while C2 is away (state reports after the commands it
    // published before a crash) waits at the broker.
    opts.set_clean_session(false);
    // A message is acknowledged once handled: one in hand when C2 dies is
    // delivered again.
    opts.set_manual_acks(true);
    let (client, mut el) = AsyncClient::new(opts, 64);
    let now = Instant::now();
    let mut gate = Gate {
        limiter: AnnounceLimiter::new(limits, now),
        log: RefusalLog::new(LOG_INTERVAL, LOG_LINES, now),
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        match session(&client, &mut el, &svc, &mut gate, &mut link, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                let wait = link.down(&e.to_string());
                tokio::select! {
                    _ = sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// The rate limits and the sampled log, kept across reconnections.
struct Gate {
    limiter: AnnounceLimiter,
    log: RefusalLog,
}

/// Acknowledge a handled message. Straight into the event loop's queue (it
/// is ours): the request channel may be full during a burst.
fn ack(el: &mut rumqttc::EventLoop, p: &rumqttc::Publish) {
    let req = match p.qos {
        QoS::AtMostOnce => return,
        QoS::AtLeastOnce => rumqttc::Request::PubAck(rumqttc::PubAck::new(p.pkid)),
        QoS::ExactlyOnce => rumqttc::Request::PubRec(rumqttc::PubRec::new(p.pkid)),
    };
    el.pending.push_back(req);
}

fn device_name(d: &Option<Id>) -> String {
    match d {
        Some(id) => id.to_string(),
        None => "(not an announce topic)".into(),
    }
}

/// Write the sampled log's lines.
fn emit(lines: Vec<LogLine>) {
    let secs = LOG_INTERVAL.as_secs();
    for l in lines {
        match l {
            LogLine::Refused { device, error } => tracing::warn!(
                device = %device_name(&device),
                error = %error,
                "negotiation message refused (further refusals from this device in the next {secs} s are counted, not logged)"
            ),
            LogLine::Suppressed { device, count } => tracing::warn!(
                device = %device_name(&device),
                count,
                "negotiation messages refused in the last {secs} s and not logged one by one"
            ),
            LogLine::Unlogged { count } => tracing::warn!(
                count,
                "negotiation messages refused in the last {secs} s from devices beyond the log's {LOG_LINES} lines"
            ),
            LogLine::Dropped { device, global } => tracing::warn!(
                device_limit = device,
                global_limit = global,
                "negotiation messages dropped unread by the announce rate limits in the last {secs} s"
            ),
        }
    }
}

async fn session(
    client: &AsyncClient,
    el: &mut rumqttc::EventLoop,
    svc: &Service,
    gate: &mut Gate,
    link: &mut Reconnect,
    shutdown: &mut watch::Receiver<bool>,
) -> C2Result<()> {
    loop {
        link.still_up();
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code != rumqttc::ConnectReturnCode::Success {
                        el.clean();
                        return Err(C2Error::Unavailable(format!("broker refused the connection: {:?}", ack.code)));
                    }
                    link.up();
                    // (Again) on every connection: harmless when the
                    // session kept it.
                    client
                        .try_subscribe(ANNOUNCE_FILTER, QoS::AtLeastOnce)
                        .map_err(|e| C2Error::Unavailable(e.to_string()))?;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    svc.metrics.negotiation_messages.inc();
                    let device = device_of_topic(&p.topic);
                    let now = Instant::now();
                    if let Err(limit) = gate.limiter.check(device.as_ref(), now) {
                        svc.metrics.dropped(limit.label());
                        emit(gate.log.dropped(limit, now));
                        ack(el, &p);
                        continue;
                    }
                    let outcome = svc.handle_announce_topic(&p.topic, &p.payload).await;
                    match outcome {
                        Ok(Outcome::Upgraded { .. }) => {
                            svc.metrics.upgrades.inc();
                        }
                        Ok(Outcome::Rekeyed(_)) => {
                            svc.metrics.rekeys.inc();
                        }
                        Ok(_) => {}
                        Err(C2Error::Unavailable(e)) => {
                            // The database went away: not acknowledged, so
                            // the broker delivers it again after the
                            // reconnection.
                            el.clean();
                            return Err(C2Error::Unavailable(format!("message not handled: {e}")));
                        }
                        Err(e) => {
                            svc.metrics.negotiation_refused.inc();
                            emit(gate.log.refused(device, &e, Instant::now()));
                        }
                    }
                    ack(el, &p);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    tracing::info!(filter = ANNOUNCE_FILTER, "listening for device announcements");
                }
                Ok(_) => emit(gate.log.tick(Instant::now())),
                Err(e) => return Err(C2Error::Unavailable(format!("broker connection: {e}"))),
            },
            _ = shutdown.changed() => {
                emit(gate.log.tick(Instant::now() + LOG_INTERVAL));
                let _ = client.try_disconnect();
                let _ = tokio::time::timeout(Duration::from_millis(200), el.poll()).await;
                return Ok(());
            }
        }
    }
}
