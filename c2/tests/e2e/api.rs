//! End to end over REST and gRPC against an in-process C2 with its
//! embedded broker; devices are e4_proto clients over MQTT.

use crate::common;

use common::device::{kem_keys, pubkey_keys, Device, Seen};
use common::scenario::{self, c2_public, cref, SET_TOPIC_KEY};
use common::C2;
use e4_c2::api::grpc::pb;
use e4_proto::{Id, SuiteId};

const REMOVE_PUB_KEY: u8 = 4;
const RESET_PUB_KEYS: u8 = 5;
const SET_PUB_KEY: u8 = 6;
const SET_C2_KEY: u8 = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_flow_on_sqlite_with_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    scenario::full_flow(&c2).await;
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubkey_devices_link_exchange_and_survive_key_changes() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let mut grpc = c2.grpc().await;
    let c2pk = c2_public(&mut grpc, "pubkey").await;
    let mut devs = Vec::new();
    for name in ["carol", "dave"] {
        let keys = pubkey_keys(&c2pk);
        grpc.new_client(pb::NewClientRequest {
            name: name.into(),
            suite: "pubkey".into(),
            sig_public_key: keys.sig_pk.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        let id = scenario::alias_id(name);
        devs.push(Device::connect(name, id, SuiteId::PubKey, keys, c2.mqtt(), false).await);
    }
    let (mut carol, mut dave) = {
        let d = devs.pop().unwrap();
        (devs.pop().unwrap(), d)
    };
    grpc.new_topic(pb::NewTopicRequest {
        topic: "chat".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for n in ["carol", "dave"] {
        grpc.add_client_to_topic(pb::Membership {
            client: Some(cref(n)),
            topic: "chat".into(),
        })
        .await
        .unwrap();
    }
    carol.expect_command(SET_TOPIC_KEY).await;
    dave.expect_command(SET_TOPIC_KEY).await;

    let pair = |s: &str, t: &str| pb::ClientPair {
        source: Some(cref(s)),
        target: Some(cref(t)),
    };
    grpc.link_client(pair("carol", "dave")).await.unwrap();
    grpc.link_client(pair("dave", "carol")).await.unwrap();
    assert_eq!(
        grpc.count_linked_clients(cref("carol"))
            .await
            .unwrap()
            .into_inner()
            .count,
        1
    );
    let l = grpc
        .list_linked_clients(pb::ClientPage {
            client: Some(cref("carol")),
            offset: 0,
            count: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(l.clients[0].name, "dave");
    assert_eq!(
        grpc.link_client(pair("carol", "dave"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::AlreadyExists
    );
    grpc.send_client_pub_key(pair("carol", "dave"))
        .await
        .unwrap();
    grpc.send_client_pub_key(pair("dave", "carol"))
        .await
        .unwrap();
    dave.expect_command(SET_PUB_KEY).await;
    carol.expect_command(SET_PUB_KEY).await;

    dave.subscribe("chat").await;
    carol.publish("chat", b"hello dave").await;
    assert_eq!(
        dave.next().await,
        Seen::Message {
            topic: "chat".into(),
            payload: b"hello dave".to_vec()
        }
    );
    // C2 verifies a signed message against the registered key.
    let m = carol.protect("chat", b"signed").unwrap();
    let up = grpc
        .unprotect_message(pb::UnprotectRequest {
            topic: "chat".into(),
            protected: m,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.payload, b"signed");
    assert_eq!(up.sender_id, scenario::alias_id("carol").0.to_vec());

    // New C2 key: SetC2Key under the old key, later commands under the new.
    let q = grpc
        .new_c2_key(pb::NewC2KeyRequest {
            suite: "pubkey".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.count, 2);
    carol.expect_command(SET_C2_KEY).await;
    dave.expect_command(SET_C2_KEY).await;
    grpc.rotate_topic_key(pb::TopicRef {
        topic: "chat".into(),
    })
    .await
    .unwrap();
    carol.expect_command(SET_TOPIC_KEY).await;
    dave.expect_command(SET_TOPIC_KEY).await;
    assert_ne!(c2_public(&mut grpc, "pubkey").await, c2pk);

    // New key for carol: SetIdKey to her, her new public key to dave.
    grpc.new_client_key(cref("carol")).await.unwrap();
    carol.expect_command(2).await;
    dave.expect_command(SET_PUB_KEY).await;
    carol.publish("chat", b"new identity").await;
    assert_eq!(
        dave.next().await,
        Seen::Message {
            topic: "chat".into(),
            payload: b"new identity".to_vec()
        }
    );

    // Remove carol's key from dave: her messages are refused.
    grpc.remove_client_pub_key(pair("carol", "dave"))
        .await
        .unwrap();
    dave.expect_command(REMOVE_PUB_KEY).await;
    carol.publish("chat", b"unknown now").await;
    assert_eq!(
        dave.next().await,
        Seen::Rejected {
            topic: "chat".into(),
            error: e4_proto::Error::PubKeyNotFound
        }
    );
    grpc.reset_client_pub_keys(cref("carol")).await.unwrap();
    carol.expect_command(RESET_PUB_KEYS).await;
    grpc.unlink_client(pair("carol", "dave")).await.unwrap();
    assert_eq!(
        grpc.unlink_client(pair("carol", "dave"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_quantum_devices_receive_kem_commands() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let mut grpc = c2.grpc().await;
    for (name, suite, sid) in [
        ("erin", "pq", SuiteId::PostQuantum),
        ("frank", "pq-draft", SuiteId::PqDraft),
    ] {
        let c2pk = c2_public(&mut grpc, suite).await;
        let keys = kem_keys(sid, &c2pk);
        let bad = grpc
            .new_client(pb::NewClientRequest {
                name: name.into(),
                suite: suite.into(),
                sig_public_key: keys.sig_pk.clone(),
                kem_public_key: keys.kem_pk[1..].to_vec(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        grpc.new_client(pb::NewClientRequest {
            name: name.into(),
            suite: suite.into(),
            sig_public_key: keys.sig_pk.clone(),
            kem_public_key: keys.kem_pk.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        let info = grpc.get_client(cref(name)).await.unwrap().into_inner();
        assert_eq!(info.suite, suite);
        let mut dev =
            Device::connect(name, scenario::alias_id(name), sid, keys, c2.mqtt(), false).await;
        let topic = format!("pq/{name}");
        grpc.new_topic(pb::NewTopicRequest {
            topic: topic.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        grpc.add_client_to_topic(pb::Membership {
            client: Some(cref(name)),
            topic: topic.clone(),
        })
        .await
        .unwrap();
        dev.expect_command(SET_TOPIC_KEY).await;
        let m = dev.protect(&topic, b"post-quantum hello").unwrap();
        let up = grpc
            .unprotect_message(pb::UnprotectRequest {
                topic: topic.clone(),
                protected: m,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(up.payload, b"post-quantum hello");
        // C2 cannot set a kem device's key.
        assert_eq!(
            grpc.new_client_key(cref(name)).await.unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        // New C2 signature key, then a command signed with it.
        grpc.new_c2_key(pb::NewC2KeyRequest {
            suite: suite.into(),
        })
        .await
        .unwrap();
        dev.expect_command(SET_C2_KEY).await;
        grpc.rotate_topic_key(pb::TopicRef {
            topic: topic.clone(),
        })
        .await
        .unwrap();
        dev.expect_command(SET_TOPIC_KEY).await;
    }
    let _ = Id([0; 16]);
    c2.stop().await;
}

/// `/metrics` needs the admin token on the REST listener; with
/// `--metrics-listen` it is also served, without one, on its own listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_or_their_own_listener() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(e4_c2::server::ServeOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..common::options(dir.path(), None, None)
    })
    .await;
    let (s, _) = c2.rest().with_token(None).text("/metrics").await;
    assert_eq!(s, 401);
    let (s, text) = c2.rest().text("/metrics").await;
    assert_eq!(s, 200);
    assert!(text.contains("e4c2_commands_queued_total"), "{text}");
    let addr = c2.running.metrics.expect("metrics listener");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("e4c2_commands_queued_total"), "{reply}");
    // Only metrics there.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /v1/clients HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_with_open_event_streams() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let mut grpc = c2.grpc().await;
    let _events = grpc
        .subscribe_to_event_stream(pb::Empty {})
        .await
        .unwrap()
        .into_inner();
    let sse = c2.rest().raw("GET", "/v1/events", None, None).await;
    assert_eq!(sse.status(), 200);
    // Returns (after the grace period) although both streams are open.
    c2.stop().await;
    assert!(!dir.path().join("server.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_certificate_is_used_instead_of_a_generated_one() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("op.pem"), dir.path().join("op.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let mut o = common::options(&dir.path().join("data"), None, None);
    o.tls_cert = Some(cert.clone());
    o.tls_key = Some(key);
    let c2 = C2::start(o).await;
    assert!(!c2.dir.join("tls/cert.pem").exists(), "nothing generated");
    let token = c2.token();
    let rest = common::http::Rest::new(c2.running.http, std::fs::read(&cert).unwrap(), Some(token));
    let (s, v) = rest.call("GET", "/v1/clients", None).await;
    assert_eq!((s, v["total"].as_u64()), (200, Some(0)));
    let mut args = c2.conn_args();
    args.ca_cert = Some(cert);
    let mut grpc = e4_c2::cli::conn::connect(&args).await.unwrap();
    assert_eq!(
        grpc.count_topics(pb::Empty {})
            .await
            .unwrap()
            .into_inner()
            .count,
        0
    );
    c2.stop().await;
}
