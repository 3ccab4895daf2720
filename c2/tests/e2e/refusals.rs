//! Unauthenticated and malformed requests are refused with typed errors and
//! change nothing.

use crate::common;

use common::scenario::cref;
use common::C2;
use e4_c2::api::grpc::pb;
use e4_c2::api::grpc::pb::c2_client::C2Client;
use serde_json::{json, Value};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

async fn snapshot(c2: &C2) -> (Value, Value, Value, f64) {
    let rest = c2.rest();
    let (_, clients) = rest.call("GET", "/v1/clients?count=1000", None).await;
    let (_, topics) = rest.call("GET", "/v1/topics?count=1000", None).await;
    let (_, members) = rest.call("GET", "/v1/topics/t/clients", None).await;
    let queued = common::scenario::metric(c2, "e4c2_commands_queued_total").await;
    (clients, topics, members, queued)
}

async fn raw_channel(c2: &C2) -> Channel {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(c2.ca()))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{}", c2.running.grpc))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_malformed_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), None, None)).await;
    let rest = c2.rest();
    let (s, _) = rest
        .call("POST", "/v1/clients", Some(json!({"name": "a"})))
        .await;
    assert_eq!(s, 201);
    let (s, _) = rest.call("POST", "/v1/clients", Some(json!({"name": "pk", "suite": "pubkey", "sig_public_key": hex::encode(ed25519_pk())}))).await;
    assert_eq!(s, 201);
    let (s, _) = rest
        .call("POST", "/v1/topics", Some(json!({"topic": "t"})))
        .await;
    assert_eq!(s, 201);
    let (s, _) = rest.call("PUT", "/v1/clients/a/topics/t", None).await;
    assert_eq!(s, 200);
    let before = snapshot(&c2).await;

    // REST without, or with a wrong, credential.
    let anon = rest.with_token(None);
    let wrong = rest.with_token(Some("e4c2_0000"));
    for r in [&anon, &wrong] {
        for (m, p, b) in [
            ("POST", "/v1/clients", Some(json!({"name": "evil"}))),
            ("GET", "/v1/clients", None),
            ("DELETE", "/v1/clients/a", None),
            ("POST", "/v1/topics/t/rotate", None),
            ("PUT", "/v1/clients/a/topics/t", None),
            ("POST", "/v1/c2/key", Some(json!({}))),
            (
                "POST",
                "/v1/messages/protect",
                Some(json!({"topic": "t", "payload": ""})),
            ),
            ("GET", "/v1/events", None),
        ] {
            let (s, v) = r.call(m, p, b).await;
            assert_eq!(s, 401, "{m} {p}: {v}");
            assert_eq!(v["error"], "unauthenticated");
        }
    }
    let resp = anon.raw("GET", "/v1/clients", None, None).await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    // gRPC without, or with a wrong, credential.
    let mut bare = C2Client::new(raw_channel(&c2).await);
    let e = bare
        .new_client(pb::NewClientRequest {
            name: "evil".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = bare
        .rotate_topic_key(pb::TopicRef { topic: "t".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let mut req = tonic::Request::new(pb::Empty {});
    req.metadata_mut()
        .insert("authorization", "Bearer e4c2_wrong".parse().unwrap());
    assert_eq!(
        bare.count_clients(req).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        bare.subscribe_to_event_stream(pb::Empty {})
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );
    // Health is open.
    assert!(bare.health_check(pb::Empty {}).await.is_ok());

    // Malformed REST input: 400 invalid_argument.
    for (m, p, body, ct) in [
        (
            "POST",
            "/v1/clients",
            "not json".to_string(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": 5}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "colour": "red"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x"}"#.into(),
            "text/plain",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "key": "zz"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            format!(r#"{{"name": "x", "key": "{}"}}"#, "ab".repeat(31)),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            format!(r#"{{"name": "x", "key": "{}"}}"#, "00".repeat(32)),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "suite": "rot13"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "suite": "hybrid"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": ""}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "id": "0102"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            format!(
                r#"{{"name": "x", "suite": "pubkey", "sig_public_key": "{}"}}"#,
                "00".repeat(32)
            ),
            "application/json",
        ),
        (
            "POST",
            "/v1/clients",
            r#"{"name": "x", "suite": "pq", "sig_public_key": "01", "kem_public_key": "02"}"#
                .into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/topics",
            r#"{"topic": "a/#"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/topics",
            r#"{"topic": "e4/00"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/topics",
            r#"{"topic": ""}"#.into(),
            "application/json",
        ),
        (
            "GET",
            "/v1/clients?count=5000",
            String::new(),
            "application/json",
        ),
        (
            "GET",
            "/v1/clients?offset=-1",
            String::new(),
            "application/json",
        ),
        (
            "GET",
            "/v1/commands/progress?first_id=5&last_id=1",
            String::new(),
            "application/json",
        ),
        (
            "POST",
            "/v1/messages/protect",
            r#"{"topic": "t", "payload": "***"}"#.into(),
            "application/json",
        ),
        (
            "POST",
            "/v1/messages/unprotect",
            r#"{"topic": "t", "protected": "AAAA"}"#.into(),
            "application/json",
        ),
        (
            "PUT",
            "/v1/clients/a/links/pk",
            String::new(),
            "application/json",
        ),
        (
            "PUT",
            "/v1/clients/pk/pubkeys/pk",
            String::new(),
            "application/json",
        ),
        (
            "DELETE",
            "/v1/clients/a/pubkeys",
            String::new(),
            "application/json",
        ),
        (
            "POST",
            "/v1/c2/key",
            r#"{"suite": "symmetric"}"#.into(),
            "application/json",
        ),
    ] {
        let resp = rest.raw(m, p, Some(body.into_bytes()), Some(ct)).await;
        let s = resp.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_argument")),
            "{m} {p}: {v}"
        );
    }
    // Unknown things: 404; duplicates: 409.
    for (m, p, b) in [
        ("GET", "/v1/clients/nobody", None),
        ("DELETE", "/v1/clients/nobody", None),
        ("PUT", "/v1/clients/nobody/topics/t", None),
        ("PUT", "/v1/clients/a/topics/nothing", None),
        ("DELETE", "/v1/topics/nothing", None),
        ("POST", "/v1/topics/nothing/rotate", None),
        (
            "POST",
            "/v1/messages/protect",
            Some(json!({"topic": "nothing", "payload": ""})),
        ),
    ] {
        let (s, v) = rest.call(m, p, b).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (404, Some("not_found")),
            "{m} {p}: {v}"
        );
    }
    for (m, p, b) in [
        ("POST", "/v1/clients", Some(json!({"name": "a"}))),
        ("POST", "/v1/topics", Some(json!({"topic": "t"}))),
    ] {
        let (s, v) = rest.call(m, p, b).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (409, Some("already_exists")),
            "{m} {p}: {v}"
        );
    }
    // A message that does not authenticate: 422.
    let bogus = common::scenario::b64(&[1u8; 40]);
    let (s, v) = rest
        .call(
            "POST",
            "/v1/messages/unprotect",
            Some(json!({"topic": "t", "protected": bogus})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (422, Some("not_authentic")),
        "{v}"
    );

    // The same over gRPC.
    let mut grpc = c2.grpc().await;
    use tonic::Code::*;
    let cases: Vec<(tonic::Code, Result<(), tonic::Status>)> = vec![
        (
            InvalidArgument,
            grpc.get_client(pb::ClientRef {
                name: "a".into(),
                id: vec![1; 16],
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.get_client(pb::ClientRef {
                name: String::new(),
                id: vec![1; 3],
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.get_client(pb::ClientRef::default()).await.map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.new_client(pb::NewClientRequest {
                name: "x".into(),
                key: vec![1; 5],
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.new_client(pb::NewClientRequest {
                name: "x".into(),
                suite: "pubkey".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.list_clients(pb::Page {
                offset: 0,
                count: 1001,
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.new_topic(pb::NewTopicRequest {
                topic: "x/+/y".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.add_client_to_topic(pb::Membership {
                client: None,
                topic: "t".into(),
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.send_client_pub_key(pb::ClientPair {
                source: Some(cref("a")),
                target: Some(cref("pk")),
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.new_client_key(pb::ClientRef {
                name: String::new(),
                id: vec![],
            })
            .await
            .map(|_| ()),
        ),
        (NotFound, grpc.get_client(cref("nobody")).await.map(|_| ())),
        (
            NotFound,
            grpc.remove_client_from_topic(pb::Leave {
                client: Some(cref("pk")),
                topic: "t".into(),
                keep_key: false,
            })
            .await
            .map(|_| ()),
        ),
        (
            NotFound,
            grpc.count_clients_for_topic(pb::TopicRef {
                topic: "nothing".into(),
            })
            .await
            .map(|_| ()),
        ),
        (
            NotFound,
            grpc.reset_client(cref("nobody")).await.map(|_| ()),
        ),
        (
            AlreadyExists,
            grpc.new_client(pb::NewClientRequest {
                name: "a".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            AlreadyExists,
            grpc.new_client(pb::NewClientRequest {
                name: "other".into(),
                id: common::scenario::alias_id("a").0.to_vec(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            AlreadyExists,
            grpc.new_topic(pb::NewTopicRequest {
                topic: "t".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ),
        (
            InvalidArgument,
            grpc.watch_commands(pb::CommandRange {
                first_id: 0,
                last_id: 0,
                wait_devices_ms: 0,
            })
            .await
            .map(|_| ()),
        ),
    ];
    for (i, (code, r)) in cases.into_iter().enumerate() {
        assert_eq!(r.unwrap_err().code(), code, "case {i}");
    }

    // Nothing changed.
    assert_eq!(snapshot(&c2).await, before);
    c2.stop().await;
}

fn ed25519_pk() -> Vec<u8> {
    common::device::pubkey_keys(&[9u8; 32]).sig_pk
}
