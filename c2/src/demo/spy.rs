//! The demo's view of the broker: an MQTT client subscribed to `#` that
//! records every publish the broker carried, so the demo can show that
//! none of them contains a plaintext (the broker saw only ciphertext).

use crate::mqtt::BrokerAddr;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// One publish seen by the broker.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Topic.
    pub topic: String,
    /// Payload, as carried.
    pub payload: Vec<u8>,
}

/// A running capture.
pub struct Spy {
    seen: Arc<Mutex<Vec<Seen>>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Spy {
    /// Subscribe to everything on C2's broker (as C2's own user); returns
    /// once the subscription is granted.
    pub async fn start(broker: &BrokerAddr) -> anyhow::Result<Spy> {
        let mut o = MqttOptions::new("e4c2-demo-spy", &broker.host, broker.port);
        if let Some(u) = &broker.username {
            o.set_credentials(u, broker.password.clone().unwrap_or_default());
        }
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 64);
        client.subscribe("#", QoS::AtLeastOnce).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), el.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => anyhow::bail!("broker capture: {e}"),
                Err(_) => anyhow::bail!("broker capture: no SUBACK in 10 s"),
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    if let Ok(mut s) = sink.lock() {
                        s.push(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                        });
                    }
                }
            }
        });
        Ok(Spy { seen, client, task })
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stop capturing.
    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn finds_substrings() {
        assert!(contains(b"xxhelloxx", b"hello"));
        assert!(!contains(b"xxhellxx", b"hello"));
        assert!(!contains(b"abc", b""));
        assert!(!contains(b"ab", b"abc"));
    }
}
