//! Suite negotiation over the admin APIs: the fleet policy, per-device
//! overrides and topic formats over REST and gRPC, C2's own protect and
//! unprotect honouring a topic's format, the hybrid suite, and the admin CLI
//! commands, against an in-process C2 with its embedded broker.

use crate::common::http::Rest;
use crate::common::{options, C2};
use e4_backends::rng::OsRng;
use e4_c2::api::grpc::pb;
use e4_proto::SuiteId;
use serde_json::{json, Value};

/// A C2 in its own temporary directory.
struct TestC2 {
    c2: C2,
    _tmp: tempfile::TempDir,
}

impl std::ops::Deref for TestC2 {
    type Target = C2;
    fn deref(&self) -> &C2 {
        &self.c2
    }
}

impl TestC2 {
    async fn start() -> TestC2 {
        let tmp = tempfile::tempdir().unwrap();
        let c2 = C2::start(options(tmp.path(), None, None)).await;
        TestC2 { c2, _tmp: tmp }
    }

    async fn stop(self) {
        self.c2.stop().await
    }
}

fn cref(name: &str) -> pb::ClientRef {
    pb::ClientRef {
        name: name.into(),
        id: vec![],
    }
}

/// Fresh public keys (signature, KEM) for a kem suite (pq, pq-draft, hybrid).
fn kem_public_keys(suite: SuiteId) -> (Vec<u8>, Vec<u8>) {
    let s = e4_backends::provider().suite(suite).unwrap();
    let sig = s.sig().unwrap();
    let kem = s.kem().unwrap();
    let mut ssk = vec![0u8; sig.secret_key_len()];
    let mut spk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut OsRng, &mut ssk, &mut spk).unwrap();
    let mut ksk = vec![0u8; kem.secret_key_len()];
    let mut kpk = vec![0u8; kem.public_key_len()];
    kem.generate(&mut OsRng, &mut ksk, &mut kpk).unwrap();
    (spk, kpk)
}

/// Register a client over REST: symmetric (C2 generates the key) or a kem
/// suite with fresh keys.
async fn new_client(rest: &Rest, name: &str, suite: &str) -> Value {
    let body = match suite {
        "symmetric" => json!({"name": name, "suite": suite}),
        s => {
            let (sig, kem) = kem_public_keys(SuiteId::from_name(s).unwrap());
            json!({"name": name, "suite": s,
                   "sig_public_key": hex::encode(sig), "kem_public_key": hex::encode(kem)})
        }
    };
    let (st, v) = rest.call("POST", "/v1/clients", Some(body)).await;
    assert_eq!(st, 201, "{v}");
    v
}

async fn member_count(rest: &Rest, topic: &str) -> u64 {
    let (st, v) = rest
        .call("GET", &format!("/v1/topics/{topic}/clients"), None)
        .await;
    assert_eq!(st, 200, "{v}");
    v["total"].as_u64().unwrap()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

// ---- tests ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_round_trips_over_rest_and_grpc() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;

    // Default: every suite allowed, minimum symmetric, every suite ranked.
    let (st, def) = rest.call("GET", "/v1/policy", None).await;
    assert_eq!(st, 200, "{def}");
    assert_eq!(def["minimum"], "symmetric");
    assert_eq!(strs(&def["allowed"]).len(), 5, "{def}");
    assert_eq!(strs(&def["ranking"]).len(), 5, "{def}");
    let g = grpc.get_policy(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(g.minimum, "symmetric");
    assert_eq!(g.ranking, strs(&def["ranking"]));

    // Set over REST, read back over both.
    let ranking = strs(&def["ranking"]);
    let p = json!({"allowed": ["pq", "hybrid"], "minimum": "pubkey", "ranking": ranking});
    let (st, v) = rest.call("PUT", "/v1/policy", Some(p.clone())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["minimum"], "pubkey");
    let mut allowed = strs(&v["allowed"]);
    allowed.sort();
    assert_eq!(allowed, ["hybrid", "pq"]);
    let (_, back) = rest.call("GET", "/v1/policy", None).await;
    assert_eq!(back, v);
    let g = grpc.get_policy(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(g.minimum, "pubkey");
    assert_eq!(g.allowed, strs(&v["allowed"]));
    assert_eq!(g.ranking, ranking);

    // Set over gRPC, read back over REST.
    let set = grpc
        .set_policy(pb::Policy {
            allowed: vec!["symmetric".into(), "pq".into()],
            minimum: "symmetric".into(),
            ranking: ranking.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.minimum, "symmetric");
    let (_, back) = rest.call("GET", "/v1/policy", None).await;
    assert_eq!(back["minimum"], "symmetric");
    assert_eq!(strs(&back["allowed"]), set.allowed);
    let mut a = set.allowed.clone();
    a.sort();
    assert_eq!(a, ["pq", "symmetric"]);
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_are_refused_and_change_nothing() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    let (_, before) = rest.call("GET", "/v1/policy", None).await;
    let ranking = strs(&before["ranking"]);

    let bad = [
        // Unknown suite name in allowed.
        json!({"allowed": ["pq", "rot13"], "minimum": "symmetric", "ranking": ranking}),
        // Unknown minimum.
        json!({"allowed": ["pq"], "minimum": "strong", "ranking": ranking}),
        // A ranking missing a suite.
        json!({"allowed": ["pq"], "minimum": "symmetric", "ranking": ranking[..4]}),
        // A ranking listing a suite twice.
        json!({"allowed": ["pq"], "minimum": "symmetric",
               "ranking": ["symmetric", "symmetric", "pq", "pq-draft", "hybrid"]}),
        // Missing field, unknown field.
        json!({"allowed": ["pq"], "ranking": ranking}),
        json!({"allowed": ["pq"], "minimum": "symmetric", "ranking": ranking, "extra": 1}),
    ];
    for b in bad {
        let (st, v) = rest.call("PUT", "/v1/policy", Some(b.clone())).await;
        assert_eq!(st, 400, "{b} -> {v}");
        assert_eq!(v["error"], "invalid_argument", "{v}");
    }
    let (st, v) = rest
        .call(
            "PUT",
            "/v1/policy",
            Some(json!({"allowed": ["rot13"], "minimum": "symmetric", "ranking": ranking})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unknown suite \"rot13\""),
        "{v}"
    );

    let e = grpc
        .set_policy(pb::Policy {
            allowed: vec!["pq".into()],
            minimum: "nope".into(),
            ranking: ranking.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = grpc
        .set_policy(pb::Policy {
            allowed: vec!["pq".into()],
            minimum: "symmetric".into(),
            ranking: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");

    let (_, after) = rest.call("GET", "/v1/policy", None).await;
    assert_eq!(after, before);
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_policy_override_is_set_and_cleared() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    let created = new_client(&rest, "dev", "symmetric").await;
    assert_eq!(created["client"]["allowed_suites"], Value::Null);
    assert_eq!(created["client"]["negotiates"], false);
    assert_eq!(created["client"]["below_minimum"], false);
    assert_eq!(created["client"]["pending_suite"], Value::Null);
    let g = grpc.get_client(cref("dev")).await.unwrap().into_inner();
    assert!(!g.has_policy_override && g.allowed_suites.is_empty());
    assert!(!g.negotiates && !g.below_minimum && g.pending_suite.is_empty());

    // REST: set.
    let (st, v) = rest
        .call(
            "PUT",
            "/v1/clients/dev/policy",
            Some(json!({"allowed": ["pq", "hybrid"]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let mut a = strs(&v["allowed_suites"]);
    a.sort();
    assert_eq!(a, ["hybrid", "pq"]);
    let (_, v) = rest.call("GET", "/v1/clients/dev", None).await;
    let mut a = strs(&v["allowed_suites"]);
    a.sort();
    assert_eq!(a, ["hybrid", "pq"]);
    let g = grpc.get_client(cref("dev")).await.unwrap().into_inner();
    assert!(g.has_policy_override);
    let mut a = g.allowed_suites.clone();
    a.sort();
    assert_eq!(a, ["hybrid", "pq"]);

    // Refusals change nothing.
    for (path, body, status) in [
        (
            "/v1/clients/dev/policy",
            json!({"allowed": ["pq", "rot13"]}),
            400,
        ),
        ("/v1/clients/dev/policy", json!({}), 400),
        ("/v1/clients/dev/policy", json!({"allowed": "pq"}), 400),
        ("/v1/clients/ghost/policy", json!({"allowed": ["pq"]}), 404),
    ] {
        let (st, v) = rest.call("PUT", path, Some(body.clone())).await;
        assert_eq!(st, status, "{path} {body} -> {v}");
    }
    let e = grpc
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref("dev")),
            allowed: vec!["bogus".into()],
            clear: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = grpc
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref("ghost")),
            allowed: vec!["pq".into()],
            clear: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = grpc
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref("dev")),
            allowed: vec!["pq".into()],
            clear: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let g = grpc.get_client(cref("dev")).await.unwrap().into_inner();
    assert!(g.has_policy_override);
    assert_eq!(g.allowed_suites.len(), 2);

    // REST: clear.
    let (st, v) = rest
        .call(
            "PUT",
            "/v1/clients/dev/policy",
            Some(json!({"allowed": null})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["allowed_suites"], Value::Null);
    let g = grpc.get_client(cref("dev")).await.unwrap().into_inner();
    assert!(!g.has_policy_override && g.allowed_suites.is_empty());

    // gRPC: set, then clear.
    let c = grpc
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref("dev")),
            allowed: vec!["pubkey".into()],
            clear: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(c.has_policy_override);
    assert_eq!(c.allowed_suites, ["pubkey"]);
    let (_, v) = rest.call("GET", "/v1/clients/dev", None).await;
    assert_eq!(strs(&v["allowed_suites"]), ["pubkey"]);
    let c = grpc
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref("dev")),
            allowed: vec![],
            clear: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!c.has_policy_override);
    let (_, v) = rest.call("GET", "/v1/clients/dev", None).await;
    assert_eq!(v["allowed_suites"], Value::Null);

    // An empty override pins the device (present, empty).
    let (st, v) = rest
        .call(
            "PUT",
            "/v1/clients/dev/policy",
            Some(json!({"allowed": []})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["allowed_suites"], json!([]));
    let g = grpc.get_client(cref("dev")).await.unwrap().into_inner();
    assert!(g.has_policy_override && g.allowed_suites.is_empty());
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_format_refuses_members_that_cannot_read_it() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    new_client(&rest, "sym", "symmetric").await;
    new_client(&rest, "pq1", "pq").await;

    // REST: a pq topic.
    let (st, t) = rest
        .call(
            "POST",
            "/v1/topics",
            Some(json!({"topic": "plant/pq", "format": "pq"})),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["format"], "pq");
    let (st, v) = rest
        .call("PUT", "/v1/clients/sym/topics/plant%2Fpq", None)
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"], "failed_precondition", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cannot read topic format"),
        "{v}"
    );
    assert_eq!(member_count(&rest, "plant%2Fpq").await, 0);
    let (_, v) = rest.call("GET", "/v1/clients/sym/topics", None).await;
    assert_eq!(v["total"], 0, "{v}");
    let (_, v) = rest.call("GET", "/v1/topics/plant%2Fpq", None).await;
    assert_eq!(v["format"], "pq", "{v}");

    let (st, v) = rest
        .call("PUT", "/v1/clients/pq1/topics/plant%2Fpq", None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["count"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(member_count(&rest, "plant%2Fpq").await, 1);

    // gRPC: the same with a pq topic created there.
    let t = grpc
        .new_topic(pb::NewTopicRequest {
            topic: "g/pq".into(),
            format: "pq".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.format, "pq");
    let e = grpc
        .add_client_to_topic(pb::Membership {
            client: Some(cref("sym")),
            topic: "g/pq".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let n = grpc
        .count_clients_for_topic(pb::TopicRef {
            topic: "g/pq".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(n, 0);
    grpc.add_client_to_topic(pb::Membership {
        client: Some(cref("pq1")),
        topic: "g/pq".into(),
    })
    .await
    .unwrap();
    let t = grpc
        .get_topic(pb::TopicRef {
            topic: "g/pq".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.format, "pq");

    // Bad formats at creation: 400 / INVALID_ARGUMENT, nothing created.
    let (st, v) = rest
        .call(
            "POST",
            "/v1/topics",
            Some(json!({"topic": "bad", "format": "rot13"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("rot13"), "{v}");
    let e = grpc
        .new_topic(pb::NewTopicRequest {
            topic: "bad".into(),
            format: "rot13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let (st, _) = rest.call("GET", "/v1/topics/bad", None).await;
    assert_eq!(st, 404);
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_without_format_takes_its_first_members_suite() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    new_client(&rest, "sym", "symmetric").await;
    new_client(&rest, "pq1", "pq").await;
    new_client(&rest, "pq2", "pq").await;

    let (st, t) = rest
        .call("POST", "/v1/topics", Some(json!({"topic": "open"})))
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["format"], Value::Null);
    let t = grpc
        .get_topic(pb::TopicRef {
            topic: "open".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.format, "");

    let (st, v) = rest.call("PUT", "/v1/clients/pq1/topics/open", None).await;
    assert_eq!(st, 200, "{v}");
    let (_, t) = rest.call("GET", "/v1/topics/open", None).await;
    assert_eq!(t["format"], "pq", "{t}");
    let (_, l) = rest.call("GET", "/v1/topics", None).await;
    let listed = l["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "open")
        .unwrap();
    assert_eq!(listed["format"], "pq");

    // Fixed now: a symmetric device cannot join, a second pq one can.
    let (st, v) = rest.call("PUT", "/v1/clients/sym/topics/open", None).await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = rest.call("PUT", "/v1/clients/pq2/topics/open", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(member_count(&rest, "open").await, 2);

    // gRPC NewTopic without a format (as an older caller sends it).
    let t = grpc
        .new_topic(pb::NewTopicRequest {
            topic: "open2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.format, "");
    grpc.add_client_to_topic(pb::Membership {
        client: Some(cref("sym")),
        topic: "open2".into(),
    })
    .await
    .unwrap();
    let t = grpc
        .get_topic(pb::TopicRef {
            topic: "open2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.format, "symmetric");
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_topic_format_is_refused_when_a_member_cannot_serve_it() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;
    new_client(&rest, "pq1", "pq").await;
    let (st, _) = rest
        .call(
            "POST",
            "/v1/topics",
            Some(json!({"topic": "t", "format": "pq"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = rest.call("PUT", "/v1/clients/pq1/topics/t", None).await;
    assert_eq!(st, 200);

    // pq1 has never announced itself: it is not known to read the
    // symmetric format, and cannot read hybrid messages.
    for f in ["symmetric", "hybrid"] {
        let (st, v) = rest
            .call("PUT", "/v1/topics/t/format", Some(json!({"format": f})))
            .await;
        assert_eq!(st, 409, "{f}: {v}");
        assert_eq!(v["error"], "failed_precondition");
        assert!(v["message"].as_str().unwrap().contains("pq1"), "{v}");
    }
    let e = grpc
        .set_topic_format(pb::TopicFormat {
            topic: "t".into(),
            format: "symmetric".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let (_, t) = rest.call("GET", "/v1/topics/t", None).await;
    assert_eq!(t["format"], "pq", "unchanged: {t}");
    assert_eq!(member_count(&rest, "t").await, 1);

    // Bad requests.
    for (path, body, status) in [
        ("/v1/topics/t/format", json!({"format": "rot13"}), 400),
        ("/v1/topics/t/format", json!({"format": ""}), 400),
        ("/v1/topics/t/format", json!({}), 400),
        ("/v1/topics/ghost/format", json!({"format": "pq"}), 404),
    ] {
        let (st, v) = rest.call("PUT", path, Some(body.clone())).await;
        assert_eq!(st, status, "{path} {body} -> {v}");
    }
    let e = grpc
        .set_topic_format(pb::TopicFormat {
            topic: "ghost".into(),
            format: "pq".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = grpc
        .set_topic_format(pb::TopicFormat {
            topic: "t".into(),
            format: "".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Accepted: the format it already has (nothing to send), and a change
    // on a topic without members.
    let (st, v) = rest
        .call("PUT", "/v1/topics/t/format", Some(json!({"format": "pq"})))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 0, "{v}");
    let (st, _) = rest
        .call("POST", "/v1/topics", Some(json!({"topic": "empty"})))
        .await;
    assert_eq!(st, 201);
    let q = grpc
        .set_topic_format(pb::TopicFormat {
            topic: "empty".into(),
            format: "hybrid".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.count, 0);
    let (_, t) = rest.call("GET", "/v1/topics/empty", None).await;
    assert_eq!(t["format"], "hybrid");
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_clients_can_be_created() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    let mut grpc = c2.grpc().await;

    let v = new_client(&rest, "h-rest", "hybrid").await;
    assert_eq!(v["client"]["suite"], "hybrid");
    assert_eq!(
        v["client"]["sig_public_key"].as_str().unwrap().len(),
        2 * 1984
    );

    let (sig, kem) = kem_public_keys(SuiteId::Hybrid);
    assert_eq!((sig.len(), kem.len()), (1984, 1216));
    let r = grpc
        .new_client(pb::NewClientRequest {
            name: "h-grpc".into(),
            suite: "hybrid".into(),
            sig_public_key: sig.clone(),
            kem_public_key: kem.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let c = r.client.unwrap();
    assert_eq!(c.suite, "hybrid");
    assert_eq!(c.sig_public_key, sig);
    assert!(r.key.is_empty());

    // Wrong key sizes are refused.
    let e = grpc
        .new_client(pb::NewClientRequest {
            name: "h-bad".into(),
            suite: "hybrid".into(),
            sig_public_key: sig[..1952].to_vec(),
            kem_public_key: kem,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // A hybrid topic accepts hybrid members only.
    let (st, _) = rest
        .call(
            "POST",
            "/v1/topics",
            Some(json!({"topic": "alarms", "format": "hybrid"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, v) = rest
        .call("PUT", "/v1/clients/h-rest/topics/alarms", None)
        .await;
    assert_eq!(st, 200, "{v}");
    new_client(&rest, "p", "pq").await;
    let (st, _) = rest.call("PUT", "/v1/clients/p/topics/alarms", None).await;
    assert_eq!(st, 409);

    let (_, v) = rest.call("GET", "/v1/clients?count=10", None).await;
    assert_eq!(v["total"], 3, "{v}");
    c2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_negotiation_endpoints() {
    let c2 = TestC2::start().await;
    let (st, doc) = c2.rest().call("GET", "/openapi.json", None).await;
    assert_eq!(st, 200);
    let paths = &doc["paths"];
    assert!(paths["/v1/policy"]["get"].is_object(), "{paths}");
    assert!(paths["/v1/policy"]["put"].is_object());
    assert!(paths["/v1/clients/{name}/policy"]["put"].is_object());
    assert!(paths["/v1/topics/{topic}/format"]["put"].is_object());
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["PolicyView"].is_object(), "{schemas}");
    assert!(schemas["ClientJson"]["properties"]["pending_suite"].is_object());
    assert!(schemas["TopicJson"]["properties"]["format"].is_object());
    assert!(schemas["TopicBody"]["properties"]["format"].is_object());
    c2.stop().await;
}

// ---- admin CLI -----------------------------------------------------------

#[test]
fn cli_definition_is_consistent() {
    use clap::CommandFactory;
    e4_c2::cli::args::Cli::command().debug_assert();
}

/// Run the admin CLI against `c2`; returns (success, stdout, stderr).
async fn admin(c2: &C2, args: &[&str]) -> (bool, String, String) {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend([
        "--data-dir".into(),
        c2.dir.display().to_string(),
        "--server".into(),
        format!("https://{}", c2.running.grpc),
    ]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_e4c2"))
            .args(&a)
            .env_remove("E4C2_TOKEN")
            .env_remove("E4C2_SERVER")
            .env_remove("E4C2_DATA_DIR")
            .env_remove("E4C2_CA_CERT")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_negotiation_commands() {
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    new_client(&rest, "dev", "symmetric").await;

    // policy (show), policy set: unspecified fields keep their values.
    let (ok, out, err) = admin(&c2, &["policy", "--json"]).await;
    assert!(ok, "{err}");
    let before = parse(&out);
    assert_eq!(before["minimum"], "symmetric");
    let (ok, out, err) = admin(&c2, &["policy", "set", "--minimum", "pubkey", "--json"]).await;
    assert!(ok, "{err}");
    let p = parse(&out);
    assert_eq!(p["minimum"], "pubkey");
    assert_eq!(p["allowed"], before["allowed"]);
    assert_eq!(p["ranking"], before["ranking"]);
    let (ok, out, err) = admin(
        &c2,
        &[
            "policy",
            "set",
            "--allowed",
            "pq,hybrid",
            "--ranking",
            "symmetric,pubkey,pq-draft,pq,hybrid",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let p = parse(&out);
    assert_eq!(p["minimum"], "pubkey");
    let mut a = strs(&p["allowed"]);
    a.sort();
    assert_eq!(a, ["hybrid", "pq"]);
    assert_eq!(
        strs(&p["ranking"]),
        ["symmetric", "pubkey", "pq-draft", "pq", "hybrid"]
    );
    let (ok, _, err) = admin(&c2, &["policy", "set", "--minimum", "rot13"]).await;
    assert!(!ok);
    assert!(err.contains("rot13"), "{err}");
    let (ok, _, _) = admin(&c2, &["policy", "set"]).await;
    assert!(!ok, "policy set needs a field");
    let (ok, out, err) = admin(&c2, &["policy"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("minimum") && out.contains("pubkey"), "{out}");

    // client-policy.
    let (ok, out, err) = admin(
        &c2,
        &["client-policy", "dev", "--allowed", "pq,hybrid", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    let c = parse(&out);
    let mut a = strs(&c["allowed_suites"]);
    a.sort();
    assert_eq!(a, ["hybrid", "pq"]);
    let (ok, out, err) = admin(&c2, &["client", "list", "--json"]).await;
    assert!(ok, "{err}");
    let l = parse(&out);
    let dev = &l["clients"][0];
    assert_eq!(dev["suite"], "symmetric");
    assert_eq!(dev["negotiates"], false);
    // Symmetric, below the minimum (pubkey) set above: flagged.
    assert_eq!(dev["below_minimum"], true);
    assert_eq!(dev["pending_suite"], Value::Null);
    assert!(dev["allowed_suites"].is_array());
    let (ok, out, _) = admin(&c2, &["client", "list"]).await;
    assert!(ok);
    assert!(
        out.contains("OVERRIDE") && (out.contains("pq,hybrid") || out.contains("hybrid,pq")),
        "{out}"
    );
    let (ok, out, err) = admin(&c2, &["client-policy", "dev", "--clear", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(parse(&out)["allowed_suites"], Value::Null);
    let (ok, _, _) = admin(&c2, &["client-policy", "dev"]).await;
    assert!(!ok, "--allowed or --clear is required");
    let (ok, _, _) = admin(&c2, &["client-policy", "dev", "--clear", "--allowed", "pq"]).await;
    assert!(!ok, "not both");
    let (ok, _, err) = admin(&c2, &["client-policy", "ghost", "--clear"]).await;
    assert!(!ok);
    assert_eq!(err.trim(), "e4c2: client \"ghost\" not found");

    // topic add (--format), topic format.
    let (ok, out, err) = admin(
        &c2,
        &["topic", "add", "plant/pq", "--format", "pq", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(parse(&out)["topics"][0]["format"], "pq");
    let (ok, out, err) = admin(&c2, &["topic", "add", "open", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(parse(&out)["topics"][0]["format"], Value::Null);
    let (ok, _, err) = admin(&c2, &["topic", "join", "plant/pq", "dev"]).await;
    assert!(!ok);
    assert!(err.contains("policy minimum pubkey"), "{err}");
    let (ok, out, err) = admin(&c2, &["topic", "format", "open", "hybrid", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(parse(&out)["commands_queued"], 0);
    let (ok, out, err) = admin(&c2, &["topic", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("FORMAT") && out.contains("hybrid"), "{out}");
    let (ok, _, err) = admin(&c2, &["topic", "format", "open", "rot13"]).await;
    assert!(!ok);
    assert!(err.contains("rot13"), "{err}");
    assert!(!err.contains("InvalidArgument"), "{err}");
    c2.stop().await;
}

/// C2's own protect and unprotect follow a topic's format: it protects only
/// symmetric-format topics (signed formats are signed by their sender), and
/// it does not take a symmetric message on a signed topic for authentic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_protect_and_unprotect_follow_the_topic_format() {
    use crate::common::scenario::b64;
    let c2 = TestC2::start().await;
    let rest = c2.rest();
    for (topic, format) in [("open", "symmetric"), ("signed", "pq")] {
        let (st, v) = rest
            .call(
                "POST",
                "/v1/topics",
                Some(json!({"topic": topic, "format": format})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = rest
        .call(
            "POST",
            "/v1/messages/protect",
            Some(json!({"topic": "open", "payload": b64(b"hello")})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let sealed = v["protected"].as_str().unwrap().to_string();
    let (st, v) = rest
        .call(
            "POST",
            "/v1/messages/unprotect",
            Some(json!({"topic": "open", "protected": sealed})),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    let (st, v) = rest
        .call(
            "POST",
            "/v1/messages/protect",
            Some(json!({"topic": "signed", "payload": b64(b"hello")})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"], "failed_precondition", "{v}");

    // A symmetric message under a signed topic's key: any key holder (a
    // rogue member) could have made it, so it is not authentic there. It is
    // made while the topic is still symmetric, then the topic is switched
    // to the pq format (no member, so nothing refuses the change).
    let (st, v) = rest
        .call(
            "POST",
            "/v1/topics",
            Some(json!({"topic": "later-signed", "format": "symmetric"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = rest
        .call(
            "POST",
            "/v1/messages/protect",
            Some(json!({"topic": "later-signed", "payload": b64(b"forged")})),
        )
        .await;
    let forged = v["protected"].as_str().unwrap().to_string();
    let (st, v) = rest
        .call(
            "PUT",
            "/v1/topics/later-signed/format",
            Some(json!({"format": "pq"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = rest
        .call(
            "POST",
            "/v1/messages/unprotect",
            Some(json!({"topic": "later-signed", "protected": forged})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"], "not_authentic", "{v}");
    c2.stop().await;
}
