//! Scale run (not a test): registers N clients and a topic over gRPC,
//! rotates the topic key to all N members and measures
//!
//! * API requests per second (NewClient, AddClientToTopic; 16 concurrent),
//! * rotation time (one transaction writing N commands to the outbox),
//! * commands per second to the broker (QoS 2, until the outbox is empty),
//! * the same rotation fired by a key-policy rule (`FireRule`).
//!
//! ```sh
//! cargo run --release -p e4-c2 --example scale -- 10000
//! cargo run --release -p e4-c2 --example scale -- 10000 postgres://user@127.0.0.1:5432/db
//! ```

use e4_c2::api::grpc::pb;
use e4_c2::cli::args::ConnArgs;
use e4_c2::cli::conn::{connect, Api};
use e4_c2::server::{serve, ServeOptions};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;

async fn wait_drained(api: &mut Api) {
    loop {
        let h = api.health_check(pb::Empty {}).await.unwrap().into_inner();
        if h.outbox_pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_concurrently<F, Fut>(n: usize, api: &Api, f: F) -> f64
where
    F: Fn(Api, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let api = api.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                f(api.clone(), i).await;
                i += CONCURRENCY;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let db = args.get(2).cloned();
    let dir = tempfile::tempdir().unwrap();
    let opts = ServeOptions {
        db: db.clone(),
        window: Some(100),
        ..ServeOptions::local(dir.path(), "scale run passphrase 0123456789")
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        opts,
        async move {
            let _ = stop_rx.await;
        },
        Some(tx),
    ));
    let running = rx.await.expect("server started");
    let api = connect(&ConnArgs {
        data_dir: dir.path().to_path_buf(),
        server: Some(format!("https://{}", running.grpc)),
        ca_cert: None,
        tls_server_name: "localhost".into(),
        token_file: None,
    })
    .await
    .unwrap();
    let mut a = api.clone();
    a.new_topic(pb::NewTopicRequest {
        topic: "fleet".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let create = run_concurrently(n, &api, |mut api, i| async move {
        api.new_client(pb::NewClientRequest {
            name: format!("device-{i:06}"),
            ..Default::default()
        })
        .await
        .unwrap();
    })
    .await;
    let join = run_concurrently(n, &api, |mut api, i| async move {
        api.add_client_to_topic(pb::Membership {
            client: Some(pb::ClientRef {
                name: format!("device-{i:06}"),
                id: vec![],
            }),
            topic: "fleet".into(),
        })
        .await
        .unwrap();
    })
    .await;
    wait_drained(&mut a).await;

    let t0 = Instant::now();
    let q = a
        .rotate_topic_key(pb::TopicRef {
            topic: "fleet".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rotate = t0.elapsed();
    assert_eq!(q.count as usize, n);
    wait_drained(&mut a).await;
    let delivered = t0.elapsed();

    // The same rotation fired by a key-policy rule (claimed, queued and
    // moved on in one transaction; the same batched outbox path).
    a.add_rule(pb::NewRuleRequest {
        name: "rotate-fleet".into(),
        target: "topic:fleet".into(),
        triggers: vec!["every:1h".into()],
        action: "rotate-topic-key".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let t1 = Instant::now();
    let f = a
        .fire_rule(pb::RuleRef {
            name: "rotate-fleet".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rule_commit = t1.elapsed();
    assert_eq!(f.commands as usize, n);
    wait_drained(&mut a).await;
    let rule_delivered = t1.elapsed();

    println!(
        "backend: {}",
        if db.is_some() { "postgres" } else { "sqlite" }
    );
    println!("clients: {n}");
    println!("NewClient:        {create:>8.0} req/s ({CONCURRENCY} concurrent)");
    println!("AddClientToTopic: {join:>8.0} req/s ({CONCURRENCY} concurrent, 1 command each)");
    println!(
        "rotation commit:  {:>8.2} s for {n} commands",
        rotate.as_secs_f64()
    );
    println!(
        "rotation delivered (QoS 2 acknowledged): {:.2} s after the call, {:.0} commands/s",
        delivered.as_secs_f64(),
        n as f64 / (delivered - rotate).as_secs_f64()
    );
    println!(
        "rule fire (rotate-topic-key): commit {:.2} s, delivered {:.2} s after the call",
        rule_commit.as_secs_f64(),
        rule_delivered.as_secs_f64()
    );
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
