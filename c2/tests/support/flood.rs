//! Forged announcements, sent as fast as one MQTT client can (issue 12,
//! item 1): shared by the e2e test (`e2e/flood.rs`, behaviour only) and
//! the measurement (`examples/announce_flood.rs`, latency figures).

#![allow(dead_code)]

use e4_proto::{Id, SuiteId};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use std::time::{Duration, Instant};

/// A forged Announce of `device`, running `suite`: well-formed, fresh,
/// offering nothing, with an authenticator of the right length made of
/// random-looking bytes (`salt` varies it).
pub fn forged_announce(device: &Id, suite: SuiteId, salt: u64) -> Vec<u8> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut m = ts.to_le_bytes().to_vec();
    m.push(0x01);
    m.extend_from_slice(&device.0);
    m.push(suite.code());
    m.push(0);
    let auth_len = match suite {
        SuiteId::Symmetric => 16,
        SuiteId::PubKey => 64,
        SuiteId::PostQuantum | SuiteId::PqDraft => 3309,
        SuiteId::Hybrid => 64 + 3309,
    };
    let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..auth_len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m.push(x as u8);
    }
    m
}

/// A random-looking device id (`n` varies it).
pub fn some_id(n: u64) -> Id {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    b[8..].copy_from_slice(&(!n).to_le_bytes());
    Id(b)
}

/// The flood: `n` forged Announces on `e4c2/announce/<id>`: half to
/// `targets` in turn (registered devices: each message is verified and
/// refused), half to ids C2 never registered.
pub fn forged_messages(n: usize, targets: &[(Id, SuiteId)]) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let (id, suite) = if i % 2 == 0 && !targets.is_empty() {
                targets[(i / 2) % targets.len()]
            } else {
                (some_id(i as u64), SuiteId::Symmetric)
            };
            (
                e4_c2::negotiation::announce_topic(&id),
                forged_announce(&id, suite, i as u64),
            )
        })
        .collect()
}

/// Publish `messages` (QoS 0) through one MQTT connection to `host:port`
/// as fast as it goes, then a QoS 1 marker whose PUBACK shows the broker
/// took everything before it. Returns the time it took.
pub async fn publish_all(host: &str, port: u16, messages: Vec<(String, Vec<u8>)>) -> Duration {
    let mut opts = MqttOptions::new(format!("flood-{}", std::process::id()), host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, mut el) = AsyncClient::new(opts, 1024);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let poll = tokio::spawn(async move {
        let mut done = Some(done_tx);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    if let Some(tx) = done.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => panic!("flood connection: {e}"),
            }
        }
    });
    let start = Instant::now();
    for (topic, payload) in messages {
        client
            .publish(topic, QoS::AtMostOnce, false, payload)
            .await
            .unwrap();
    }
    client
        .publish("flood/done", QoS::AtLeastOnce, false, vec![0])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), done_rx)
        .await
        .expect("the broker took the flood")
        .unwrap();
    let took = start.elapsed();
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), poll).await;
    took
}
