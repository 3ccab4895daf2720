//! Self test of the attacking MQTT proxy (`support::mqtt_proxy`) against the
//! embedded broker and real rumqttc clients. Timeouts only bound waiting;
//! absence of a message is asserted through ordering (a marker published
//! after it arrives next).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use support::mqtt_proxy::{Action, Captured, Direction, MqttProxy, Rule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    broker: SocketAddr,
    proxy: MqttProxy,
    publisher: AsyncClient,
    /// Incoming packets of the publisher (acks).
    pub_events: mpsc::UnboundedReceiver<Packet>,
    /// Publishes received by the subscriber: (topic, payload).
    received: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    _subscriber: AsyncClient,
}

/// Drive a client's event loop, forwarding incoming packets; returns once
/// CONNACK (and SUBACK when `subscribe`) arrived.
async fn client(
    name: &str,
    addr: SocketAddr,
    subscribe: Option<&str>,
) -> (AsyncClient, mpsc::UnboundedReceiver<Packet>) {
    let mut opts = MqttOptions::new(name, addr.ip().to_string(), addr.port());
    opts.set_keep_alive(Duration::from_secs(30));
    let (c, mut el) = AsyncClient::new(opts, 100);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(p)) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("{name}: connection error: {e}");
                    return;
                }
            }
        }
    });
    if let Some(filter) = subscribe {
        c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    }
    let mut want_suback = subscribe.is_some();
    let mut want_connack = true;
    while want_connack || want_suback {
        match timeout(WAIT, rx.recv())
            .await
            .expect("client setup timed out")
        {
            Some(Packet::ConnAck(_)) => want_connack = false,
            Some(Packet::SubAck(_)) => want_suback = false,
            Some(_) => {}
            None => panic!("client event loop ended during setup"),
        }
    }
    (c, rx)
}

/// Broker, proxy, a publisher and a subscriber (on `t/#`, QoS 1), both
/// connected through the proxy.
async fn harness() -> Harness {
    let broker = e4_c2::mqtt::embedded::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let proxy = MqttProxy::start(broker).await.unwrap();
    let id = proxy.addr().port();
    let (subscriber, mut sub_rx) = client(&format!("sub-{id}"), proxy.addr(), Some("t/#")).await;
    let (publisher, pub_events) = client(&format!("pub-{id}"), proxy.addr(), None).await;
    let (tx, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(p) = sub_rx.recv().await {
            if let Packet::Publish(p) = p {
                if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                    return;
                }
            }
        }
    });
    Harness {
        broker,
        proxy,
        publisher,
        pub_events,
        received,
        _subscriber: subscriber,
    }
}

impl Harness {
    async fn publish(&self, topic: &str, qos: QoS, payload: &[u8]) {
        self.publisher
            .publish(topic, qos, false, payload.to_vec())
            .await
            .unwrap();
    }

    async fn next(&mut self) -> (String, Vec<u8>) {
        timeout(WAIT, self.received.recv())
            .await
            .expect("timed out waiting for a publish at the subscriber")
            .expect("subscriber gone")
    }

    async fn next_payload(&mut self) -> Vec<u8> {
        self.next().await.1
    }

    /// Wait until the publisher receives an ack matching `want`.
    async fn wait_ack(&mut self, what: &str, want: impl Fn(&Packet) -> bool) {
        loop {
            let p = timeout(WAIT, self.pub_events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what} at the publisher"))
                .expect("publisher gone");
            if want(&p) {
                return;
            }
        }
    }
}

fn is_puback(p: &Packet) -> bool {
    matches!(p, Packet::PubAck(_))
}

fn is_pubcomp(p: &Packet) -> bool {
    matches!(p, Packet::PubComp(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_and_capture() {
    let mut h = harness().await;
    h.publish("t/cap", QoS::AtLeastOnce, b"hello").await;
    assert_eq!(h.next().await, ("t/cap".to_string(), b"hello".to_vec()));
    h.wait_ack("PUBACK", is_puback).await;
    h.publish("t/cap0", QoS::AtMostOnce, b"zero").await;
    assert_eq!(h.next_payload().await, b"zero");

    let cap = h.proxy.captured();
    let expect = |direction, topic: &str, payload: &[u8], qos| Captured {
        direction,
        topic: topic.to_string(),
        payload: payload.to_vec(),
        qos,
    };
    assert!(
        cap.contains(&expect(Direction::ToBroker, "t/cap", b"hello", 1)),
        "{cap:?}"
    );
    assert!(
        cap.contains(&expect(Direction::ToClient, "t/cap", b"hello", 1)),
        "{cap:?}"
    );
    assert!(
        cap.contains(&expect(Direction::ToBroker, "t/cap0", b"zero", 0)),
        "{cap:?}"
    );
    // rumqttd delivers with the subscription's QoS (1), not the publish's (0).
    assert!(
        cap.contains(&expect(Direction::ToClient, "t/cap0", b"zero", 1)),
        "{cap:?}"
    );
    assert_eq!(cap.len(), 4, "{cap:?}");
    h.proxy.clear_captured();
    assert!(h.proxy.captured().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_towards_broker_keeps_qos_sessions_healthy() {
    let mut h = harness().await;
    h.proxy.set_rule(
        Rule::new(|_, _, payload, _| {
            if payload.starts_with(b"drop") {
                Action::Drop
            } else {
                Action::Forward
            }
        })
        .direction(Direction::ToBroker),
    );
    h.publish("t/drop", QoS::AtMostOnce, b"drop-0").await;
    h.publish("t/drop", QoS::AtLeastOnce, b"drop-1").await;
    h.wait_ack("PUBACK of the dropped QoS 1 publish", is_puback)
        .await;
    h.publish("t/drop", QoS::ExactlyOnce, b"drop-2").await;
    h.wait_ack("PUBCOMP of the dropped QoS 2 publish", is_pubcomp)
        .await;
    // Several rounds, so that packet ids get reused after the proxy's acks.
    for i in 0..3u8 {
        h.publish("t/drop", QoS::ExactlyOnce, &[b'd', b'r', b'o', b'p', i])
            .await;
        h.wait_ack("PUBCOMP", is_pubcomp).await;
        h.publish("t/drop", QoS::ExactlyOnce, &[b'k', i]).await;
        h.wait_ack("PUBCOMP", is_pubcomp).await;
        assert_eq!(h.next_payload().await, [b'k', i]);
    }
    h.publish("t/drop", QoS::AtLeastOnce, b"keep").await;
    h.wait_ack("PUBACK", is_puback).await;
    // Nothing dropped arrived before the marker.
    assert_eq!(h.next_payload().await, b"keep");
    // Dropped publishes are still captured.
    let dropped = h
        .proxy
        .captured()
        .iter()
        .filter(|c| c.direction == Direction::ToBroker && c.payload.starts_with(b"drop"))
        .count();
    assert_eq!(dropped, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_towards_client_keeps_broker_session_healthy() {
    let mut h = harness().await;
    h.proxy.set_rule(
        Rule::new(|_, _, payload, _| {
            if payload.starts_with(b"drop") {
                Action::Drop
            } else {
                Action::Forward
            }
        })
        .direction(Direction::ToClient)
        .topic("t/+/x"),
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        h.publish("t/down/x", qos, b"drop").await;
    }
    // The publisher's side is untouched: the broker acks normally.
    h.wait_ack("PUBCOMP", is_pubcomp).await;
    h.publish("t/other", QoS::AtLeastOnce, b"drop but other topic")
        .await;
    assert_eq!(h.next_payload().await, b"drop but other topic");
    for i in 0..5u8 {
        h.publish("t/down/x", QoS::AtLeastOnce, b"drop").await;
        h.publish("t/down/x", QoS::AtLeastOnce, &[b'k', i]).await;
        assert_eq!(h.next_payload().await, [b'k', i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_keeps_packet_ids() {
    let mut h = harness().await;
    h.proxy.set_rule(
        Rule::new(|_, _, _, nth| {
            Action::Modify(Box::new(move |p: &mut Vec<u8>| {
                p[0] ^= 0x20;
                p.push(b'0' + nth as u8);
            }))
        })
        .direction(Direction::ToBroker)
        .topic("t/mod"),
    );
    h.publish("t/mod", QoS::AtLeastOnce, b"abc").await;
    h.wait_ack("PUBACK", is_puback).await;
    assert_eq!(h.next_payload().await, b"Abc0");
    h.publish("t/mod", QoS::ExactlyOnce, b"xyz").await;
    h.wait_ack("PUBCOMP", is_pubcomp).await;
    assert_eq!(h.next_payload().await, b"Xyz1");
    h.publish("t/unmodified", QoS::AtLeastOnce, b"abc").await;
    assert_eq!(h.next_payload().await, b"abc");
    h.proxy.clear_rule();
    h.publish("t/mod", QoS::AtLeastOnce, b"abc").await;
    assert_eq!(h.next_payload().await, b"abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate() {
    let mut h = harness().await;
    h.proxy.set_rule(
        Rule::new(|_, _, _, _| Action::Duplicate)
            .direction(Direction::ToBroker)
            .topic("t/dup"),
    );
    h.publish("t/dup", QoS::AtLeastOnce, b"twice").await;
    h.wait_ack("PUBACK", is_puback).await;
    assert_eq!(h.next_payload().await, b"twice");
    assert_eq!(h.next_payload().await, b"twice");
    h.publish("t/marker", QoS::AtLeastOnce, b"marker").await;
    assert_eq!(h.next_payload().await, b"marker");

    // Towards the client too, with the publisher's QoS 2.
    h.proxy.set_rule(
        Rule::new(|_, _, _, _| Action::Duplicate)
            .direction(Direction::ToClient)
            .topic("t/dup"),
    );
    h.publish("t/dup", QoS::ExactlyOnce, b"again").await;
    assert_eq!(h.next_payload().await, b"again");
    assert_eq!(h.next_payload().await, b"again");
    h.publish("t/marker", QoS::AtLeastOnce, b"marker").await;
    assert_eq!(h.next_payload().await, b"marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_and_release_reorders() {
    let mut h = harness().await;
    h.proxy.set_rule(
        Rule::new(|_, _, _, nth| {
            if nth < 3 {
                Action::Delay
            } else {
                Action::Forward
            }
        })
        .direction(Direction::ToBroker)
        .topic("t/delay"),
    );
    for p in [b"a", b"b", b"c"] {
        h.publish("t/delay", QoS::AtLeastOnce, p).await;
    }
    timeout(WAIT, async {
        while h.proxy.held_count() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("publishes were not held");
    h.publish("t/marker", QoS::AtLeastOnce, b"marker").await;
    assert_eq!(h.next_payload().await, b"marker");
    assert_eq!(h.proxy.release_held(), 3);
    assert_eq!(h.proxy.held_count(), 0);
    assert_eq!(h.next_payload().await, b"c");
    assert_eq!(h.next_payload().await, b"b");
    assert_eq!(h.next_payload().await, b"a");
    // The real acks flow back for the released publishes (+1 for the marker).
    for _ in 0..4 {
        h.wait_ack("PUBACK", is_puback).await;
    }
    // The 4th matching publish is forwarded.
    h.publish("t/delay", QoS::AtLeastOnce, b"d").await;
    assert_eq!(h.next_payload().await, b"d");
    assert_eq!(h.proxy.release_held(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_and_replay() {
    let mut h = harness().await;
    // Injected towards the broker, over a proxied client's link.
    let n = h
        .proxy
        .inject("t/inj", b"forged".to_vec(), Direction::ToBroker)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(h.next().await, ("t/inj".to_string(), b"forged".to_vec()));

    // Injected towards the subscribed client only.
    let n = h
        .proxy
        .inject("t/inj2", b"to client".to_vec(), Direction::ToClient)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        h.next().await,
        ("t/inj2".to_string(), b"to client".to_vec())
    );
    let n = h
        .proxy
        .inject("nobody/listens", b"x".to_vec(), Direction::ToClient)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // Injected towards the broker by a proxy that has no clients (its own connection).
    let lonely = MqttProxy::start(h.broker).await.unwrap();
    lonely
        .inject("t/own", b"own link".to_vec(), Direction::ToBroker)
        .await
        .unwrap();
    assert_eq!(h.next().await, ("t/own".to_string(), b"own link".to_vec()));

    // Injections are not captured; the broker's deliveries of those injected
    // towards it are (ToClient), the one injected towards the client is not.
    let cap = h.proxy.captured();
    let seen: Vec<_> = cap
        .iter()
        .map(|c| (c.direction, c.topic.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Direction::ToClient, "t/inj"),
            (Direction::ToClient, "t/own")
        ],
        "{cap:?}"
    );

    // Replay a captured publish, in each direction.
    h.publish("t/rep", QoS::AtLeastOnce, b"original").await;
    assert_eq!(h.next_payload().await, b"original");
    let cap = h.proxy.captured();
    let up = cap
        .iter()
        .position(|c| c.direction == Direction::ToBroker && c.topic == "t/rep")
        .unwrap();
    let down = cap
        .iter()
        .position(|c| c.direction == Direction::ToClient && c.topic == "t/rep")
        .unwrap();
    assert_eq!(h.proxy.replay(up).await.unwrap(), 1);
    assert_eq!(h.next().await, ("t/rep".to_string(), b"original".to_vec()));
    assert_eq!(h.proxy.replay(down).await.unwrap(), 1);
    assert_eq!(h.next().await, ("t/rep".to_string(), b"original".to_vec()));
    assert!(h.proxy.replay(1000).await.is_err());
}

/// Read until EOF or error; true when the peer closed.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    timeout(WAIT, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_and_close_propagation() {
    let mut h = harness().await;
    h.proxy.set_rule(Rule::new(|_, _, _, _| Action::Forward));

    // Bad remaining-length varint: the proxy closes the connection.
    let mut s = TcpStream::connect(h.proxy.addr()).await.unwrap();
    s.write_all(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])
        .await
        .unwrap();
    assert!(
        closed(&mut s).await,
        "proxy kept a badly framed connection open"
    );

    // Well framed but unparsable PUBLISH (topic length beyond the packet):
    // passed through, the broker closes, the proxy closes the client side.
    let mut s = TcpStream::connect(h.proxy.addr()).await.unwrap();
    s.write_all(&[0x32, 0x03, 0xff, 0xff, 0x00]).await.unwrap();
    assert!(
        closed(&mut s).await,
        "broker-side close did not reach the client"
    );

    // A reserved packet type as first packet: the broker closes.
    let mut s = TcpStream::connect(h.proxy.addr()).await.unwrap();
    s.write_all(&[0x00, 0x00]).await.unwrap();
    assert!(
        closed(&mut s).await,
        "broker-side close did not reach the client"
    );

    // Truncated packet then client close: no panic, proxy keeps working.
    let mut s = TcpStream::connect(h.proxy.addr()).await.unwrap();
    s.write_all(&[0x30, 0x10, 0x00]).await.unwrap();
    drop(s);

    h.publish("t/still", QoS::AtLeastOnce, b"alive").await;
    assert_eq!(h.next_payload().await, b"alive");
    assert!(h
        .proxy
        .captured()
        .iter()
        .all(|c| c.topic.starts_with("t/still")));
}

/// Read one raw MQTT packet (whole bytes).
async fn read_raw(s: &mut TcpStream) -> Vec<u8> {
    timeout(WAIT, async {
        let mut packet = vec![s.read_u8().await.unwrap()];
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let b = s.read_u8().await.unwrap();
            packet.push(b);
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let start = packet.len();
        packet.resize(start + len, 0);
        s.read_exact(&mut packet[start..]).await.unwrap();
        packet
    })
    .await
    .expect("timed out reading a raw packet")
}

/// Exact acks the proxy sends on drops, against a scripted fake broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_acks_on_the_wire() {
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = MqttProxy::start(fake.local_addr().unwrap()).await.unwrap();
    proxy.set_rule(Rule::new(|_, _, payload, _| {
        if payload == b"drop" {
            Action::Drop
        } else {
            Action::Forward
        }
    }));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut broker, _) = timeout(WAIT, fake.accept()).await.unwrap().unwrap();
    let connect = [
        0x10, 0x0e, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 2, b'i', b'd',
    ];
    client.write_all(&connect).await.unwrap();
    assert_eq!(read_raw(&mut broker).await, connect);
    broker.write_all(&[0x20, 2, 0, 0]).await.unwrap();
    assert_eq!(read_raw(&mut client).await, [0x20, 2, 0, 0]);

    // Towards the client: QoS 1 -> PUBACK, QoS 2 -> PUBREC, PUBREL -> PUBCOMP.
    let publish = |qos: u8, id: u8, payload: &[u8]| {
        let mut p = vec![
            0x30 | (qos << 1),
            (3 + 2 + payload.len()) as u8,
            0,
            1,
            b't',
            0,
            id,
        ];
        p.extend_from_slice(payload);
        p
    };
    broker.write_all(&publish(1, 7, b"drop")).await.unwrap();
    assert_eq!(read_raw(&mut broker).await, [0x40, 2, 0, 7]);
    broker.write_all(&publish(2, 8, b"drop")).await.unwrap();
    assert_eq!(read_raw(&mut broker).await, [0x50, 2, 0, 8]);
    broker.write_all(&[0x62, 2, 0, 8]).await.unwrap();
    assert_eq!(read_raw(&mut broker).await, [0x70, 2, 0, 8]);
    // A PUBREL for an id the proxy did not drop is forwarded.
    broker.write_all(&[0x62, 2, 0, 9]).await.unwrap();
    assert_eq!(read_raw(&mut client).await, [0x62, 2, 0, 9]);
    broker.write_all(&publish(1, 10, b"keep")).await.unwrap();
    assert_eq!(read_raw(&mut client).await, publish(1, 10, b"keep"));

    // Towards the broker: the same, answered to the client.
    client.write_all(&publish(1, 1, b"drop")).await.unwrap();
    assert_eq!(read_raw(&mut client).await, [0x40, 2, 0, 1]);
    client.write_all(&publish(2, 2, b"drop")).await.unwrap();
    assert_eq!(read_raw(&mut client).await, [0x50, 2, 0, 2]);
    client.write_all(&[0x62, 2, 0, 2]).await.unwrap();
    assert_eq!(read_raw(&mut client).await, [0x70, 2, 0, 2]);
    client.write_all(&publish(2, 3, b"keep")).await.unwrap();
    assert_eq!(read_raw(&mut broker).await, publish(2, 3, b"keep"));

    // Closing the broker side closes the client side.
    drop(broker);
    assert!(closed(&mut client).await);
}
