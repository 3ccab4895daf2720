//! API latency and request rate (not a test): starts `e4c2 serve` in
//! process with 100 registered clients, then
//!
//! * times N sequential authenticated `GET /v1/clients` on one kept-alive
//!   HTTPS connection (HTTP/1.1) and N sequential gRPC `ListClients` on one
//!   HTTP/2 channel, printing p50/p90/p99/max;
//! * measures requests per second of `GET /v1/clients` with 8 concurrent
//!   kept-alive connections, and with a new TLS connection per request.
//!
//! ```sh
//! cargo run --release -p e4-c2 --example api_latency -- 2000
//! ```
//!
//! Before accepted sockets had TCP_NODELAY, one sequential call in five or
//! ten waited about 40 ms for the client's delayed ACK (Nagle's algorithm).

use e4_c2::api::grpc::pb;
use e4_c2::cli::args::ConnArgs;
use e4_c2::cli::conn::connect;
use e4_c2::server::{serve, ServeOptions};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn open(addr: SocketAddr, tls: &TlsConnector) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tls.connect(name, tcp).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

async fn get_clients(sender: &mut Sender, token: &str) {
    sender.ready().await.unwrap();
    let req = hyper::Request::builder()
        .uri("/v1/clients")
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(!body.is_empty());
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*samples.last().unwrap())
    );
}

async fn rate(
    n: usize,
    conns: usize,
    keep_alive: bool,
    addr: SocketAddr,
    tls: &TlsConnector,
    token: &str,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conns {
        let tls = tls.clone();
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let mut sender = if keep_alive {
                Some(open(addr, &tls).await)
            } else {
                None
            };
            let mut i = w;
            while i < n {
                match sender.as_mut() {
                    Some(s) => get_clients(s, &token).await,
                    None => get_clients(&mut open(addr, &tls).await, &token).await,
                }
                i += conns;
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
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let opts = ServeOptions {
        ..ServeOptions::local(dir.path(), "latency run passphrase 0123456789")
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
    let token_file = dir.path().join("admin.token");
    let mut api = connect(&ConnArgs {
        data_dir: dir.path().to_path_buf(),
        server: Some(format!("https://{}", running.grpc)),
        ca_cert: None,
        tls_server_name: "localhost".into(),
        token_file: Some(token_file.clone()),
    })
    .await
    .unwrap();
    for i in 0..100 {
        api.new_client(pb::NewClientRequest {
            name: format!("device-{i:03}"),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    let ca = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    let tls = TlsConnector::from(Arc::new(e4_c2::tls::client_config(Some(&ca)).unwrap()));

    let mut sender = open(running.http, &tls).await;
    for _ in 0..50 {
        get_clients(&mut sender, &token).await;
    }
    let mut rest = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        get_clients(&mut sender, &token).await;
        rest.push(t.elapsed());
    }
    report("REST GET /v1/clients, sequential, one connection", rest);

    let mut grpc = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        api.list_clients(pb::Page::default()).await.unwrap();
        grpc.push(t.elapsed());
    }
    report("gRPC ListClients, sequential, one channel", grpc);

    let keep = rate(n, 8, true, running.http, &tls, &token).await;
    println!("REST GET /v1/clients, 8 kept-alive connections: {keep:.0} requests/s");
    let fresh = rate(n / 4, 8, false, running.http, &tls, &token).await;
    println!(
        "REST GET /v1/clients, a new TLS connection per request (8 at once): {fresh:.0} requests/s"
    );

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
