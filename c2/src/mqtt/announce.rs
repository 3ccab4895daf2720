//! The negotiation listener: subscribes to `e4c2/announce/+` on its own
//! MQTT connection and hands every Announce and Confirm to the service, in
//! arrival order. A refused message is logged and counted, never fatal;
//! the connection is re-established with exponential backoff.

use crate::error::{C2Error, C2Result};
use crate::mqtt::publisher::{options, PublisherConfig};
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
    let mut backoff = cfg.min_backoff;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match session(&cfg, &svc, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "announce listener disconnected");
                tokio::select! {
                    _ = sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
        }
    }
}

async fn session(
    cfg: &PublisherConfig,
    svc: &Service,
    shutdown: &mut watch::Receiver<bool>,
) -> C2Result<()> {
    let (client, mut el) = AsyncClient::new(options(cfg), 64);
    client
        .subscribe(ANNOUNCE_FILTER, QoS::AtLeastOnce)
        .await
        .map_err(|e| C2Error::Unavailable(e.to_string()))?;
    loop {
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let outcome = svc.handle_announce_topic(&p.topic, &p.payload).await;
                    svc.metrics.negotiation_messages.inc();
                    match outcome {
                        Ok(Outcome::Upgraded { .. }) => {
                            svc.metrics.upgrades.inc();
                        }
                        Ok(_) => {}
                        Err(C2Error::Unavailable(e)) => {
                            // The database went away: the message is lost
                            // for now; the device retries its Announce.
                            tracing::error!(error = %e, "negotiation message not handled");
                        }
                        Err(_) => {
                            svc.metrics.negotiation_refused.inc();
                        }
                    }
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
