//! The negotiation listener: subscribes to `e4c2/announce/+` on its own
//! MQTT connection and hands every Announce and Confirm to the service, in
//! arrival order, and acknowledges it (QoS 1) once handled, so that one in
//! hand when C2 dies is delivered again. A refused message is logged and
//! counted, never fatal;
//! the connection is re-established with a growing backoff
//! ([`Reconnect`]). The session is persistent (client id
//! `<publisher id>-announce`, clean session off), so a broker that keeps
//! sessions queues what devices send while C2 is away, even across a C2
//! restart.

use crate::error::{C2Error, C2Result};
use crate::mqtt::publisher::{options, PublisherConfig};
use crate::mqtt::reconnect::Reconnect;
use crate::negotiation::{Outcome, ANNOUNCE_FILTER};
use crate::service::Service;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::sleep;

/// Run until `shutdown` turns true. `cfg` is the publisher's (same broker
/// and TLS); the client id gets a `-announce` suffix.
pub async fn run(cfg: PublisherConfig, svc: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
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
    loop {
        if *shutdown.borrow() {
            return;
        }
        match session(&client, &mut el, &svc, &mut link, &mut shutdown).await {
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

async fn session(
    client: &AsyncClient,
    el: &mut rumqttc::EventLoop,
    svc: &Service,
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
                    let outcome = svc.handle_announce_topic(&p.topic, &p.payload).await;
                    svc.metrics.negotiation_messages.inc();
                    match outcome {
                        Ok(Outcome::Upgraded { .. }) => {
                            svc.metrics.upgrades.inc();
                        }
                        Ok(_) => {}
                        Err(C2Error::Unavailable(e)) => {
                            // The database went away: not acknowledged, so
                            // the broker delivers it again after the
                            // reconnection.
                            el.clean();
                            return Err(C2Error::Unavailable(format!("message not handled: {e}")));
                        }
                        Err(_) => {
                            svc.metrics.negotiation_refused.inc();
                        }
                    }
                    ack(el, &p);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    tracing::info!(filter = ANNOUNCE_FILTER, "listening for device announcements");
                }
                Ok(_) => {}
                Err(e) => return Err(C2Error::Unavailable(format!("broker connection: {e}"))),
            },
            _ = shutdown.changed() => {
                let _ = client.try_disconnect();
                let _ = tokio::time::timeout(Duration::from_millis(200), el.poll()).await;
                return Ok(());
            }
        }
    }
}
