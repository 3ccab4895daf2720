//! Announce flood (issue 12, item 1; a measurement, not a test): starts
//! `e4c2 serve` in process (SQLite, embedded broker, default limits, the
//! log at its default filter into a file), registers 100 symmetric devices
//! and one pq device, then for reads (`GET /v1/clients/{name}`) and writes
//! (`POST /v1/topics`):
//!
//! * times sequential authenticated REST calls on one kept-alive HTTPS
//!   connection, idle;
//! * times the same calls while 20 000 forged Announces (half to
//!   registered devices, verified and refused; half to unknown ids) arrive
//!   as fast as one MQTT client sends them, until C2 has handled them all;
//!
//! and prints p50/p95 idle and under the flood, the log's growth, whether
//! the database changed during the read run (SQLite `data_version`), the
//! messages C2 handled, refused and dropped per second, and the load
//! average.
//!
//! ```sh
//! cargo run --release -p e4-c2 --example announce_flood -- 20000
//! ```

#[path = "../tests/support/flood.rs"]
mod flood;

use e4_backends::rng::OsRng;
use e4_c2::model::NewClient;
use e4_c2::server::{serve, ServeOptions};
use e4_c2::service::Service;
use e4_proto::SuiteId;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use sqlx::Connection;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn open(addr: SocketAddr, tls: &TlsConnector) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
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

#[derive(Clone, Copy, PartialEq)]
enum Call {
    Read,
    Write,
}

async fn call(sender: &mut Sender, token: &str, what: Call, i: usize) {
    sender.ready().await.unwrap();
    let req = hyper::Request::builder()
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"));
    let req = match what {
        Call::Read => req
            .uri(format!("/v1/clients/device-{:03}", i % 100))
            .body(Full::new(Bytes::new())),
        Call::Write => req
            .method("POST")
            .uri("/v1/topics")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                "{{\"topic\": \"flood/{}-{i}\"}}",
                std::process::id()
            )))),
    }
    .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(status.is_success(), "{status}: {body:?}");
}

fn at(samples: &[Duration], q: f64) -> f64 {
    let i = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
    samples[i].as_secs_f64() * 1e3
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

struct Ctx {
    svc: Arc<Service>,
    http: SocketAddr,
    tls: TlsConnector,
    token: String,
    broker: (String, u16),
    log: std::path::PathBuf,
    db: std::path::PathBuf,
    targets: Vec<(e4_proto::Id, SuiteId)>,
}

async fn idle(ctx: &Ctx, what: Call, n: usize, offset: usize) -> Vec<Duration> {
    let mut sender = open(ctx.http, &ctx.tls).await;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        call(&mut sender, &ctx.token, what, offset + i).await;
        out.push(t.elapsed());
    }
    out.sort();
    out
}

async fn data_version(conn: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn under_flood(ctx: &Ctx, what: Call, flood_n: usize, offset: usize) {
    let m = &ctx.svc.metrics;
    let (msgs0, refused0, dropped0) = (
        m.negotiation_messages.get(),
        m.negotiation_refused.get(),
        m.dropped_total(),
    );
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", ctx.db.display()))
        .await
        .unwrap();
    let version0 = data_version(&mut db).await;
    let log0 = std::fs::metadata(&ctx.log).unwrap().len();
    let load0 = loadavg();

    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        let (http, tls, token) = (ctx.http, ctx.tls.clone(), ctx.token.clone());
        tokio::spawn(async move {
            let mut sender = open(http, &tls).await;
            let mut out = Vec::new();
            let mut i = offset;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                call(&mut sender, &token, what, i).await;
                out.push(t.elapsed());
                i += 1;
            }
            out
        })
    };
    let messages = flood::forged_messages(flood_n, &ctx.targets);
    let start = Instant::now();
    let sent_in = flood::publish_all(&ctx.broker.0, ctx.broker.1, messages).await;
    // Until C2 has handled everything the broker passed on.
    let mut last = m.negotiation_messages.get();
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = m.negotiation_messages.get();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let busy = last_change.duration_since(start).as_secs_f64();
    let load1 = loadavg();
    stop.store(true, Ordering::Relaxed);
    let mut samples = timer.await.unwrap();
    samples.sort();
    let handled = m.negotiation_messages.get() - msgs0;
    let refused = m.negotiation_refused.get() - refused0;
    let dropped = m.dropped_total() - dropped0;
    let log = std::fs::metadata(&ctx.log).unwrap().len() - log0;
    let version1 = data_version(&mut db).await;
    let name = match what {
        Call::Read => "GET /v1/clients/{name}",
        Call::Write => "POST /v1/topics",
    };
    println!(
        "  under the flood: {name}: n={} p50={:.2} ms p95={:.2} ms max={:.2} ms",
        samples.len(),
        at(&samples, 0.5),
        at(&samples, 0.95),
        at(&samples, 1.0)
    );
    println!(
        "  flood: {flood_n} forged Announces sent in {:.2} s ({:.0}/s); C2 handled {handled} in {busy:.2} s ({:.0}/s): refused {refused} ({:.0}/s), dropped {dropped} ({:.0}/s)",
        sent_in.as_secs_f64(),
        flood_n as f64 / sent_in.as_secs_f64(),
        handled as f64 / busy,
        refused as f64 / busy,
        dropped as f64 / busy,
    );
    // What the flood logged (a write run also logs each topic created).
    let text = std::fs::read(&ctx.log).unwrap();
    let flood_bytes: usize = String::from_utf8_lossy(&text[log0 as usize..])
        .lines()
        .filter(|l| l.contains("negotiation"))
        .map(|l| l.len() + 1)
        .sum();
    println!("  log grew by {log} bytes, {flood_bytes} of them about announce-topic messages");
    if what == Call::Read {
        println!(
            "  database written during the flood: {}",
            if version1 == version0 {
                "no (data_version unchanged)"
            } else {
                "YES"
            }
        );
    }
    println!("  load average: before {load0}, at the end {load1}");
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let flood_n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let n_idle = 500;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("e4c2.log");
    let file = std::fs::File::create(&log).unwrap();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            e4_c2::cli::logging::DEFAULT_FILTER,
        ))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    let data = dir.path().join("data");
    let opts = ServeOptions {
        // The flood comes from one anonymous connection (forged announces
        // from an insider: what the rate limits are for).
        allow_anonymous: true,
        ..ServeOptions::local(&data, "flood run passphrase 0123456789")
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
    let svc = running.service.clone();
    let mut targets = Vec::new();
    for i in 0..100 {
        let (info, _) = svc
            .new_client(NewClient {
                name: format!("device-{i:03}"),
                id: None,
                suite: Some("symmetric".into()),
                key: None,
                sig_pk: None,
                kem_pk: None,
            })
            .await
            .unwrap();
        if i < 4 {
            targets.push((info.id, SuiteId::Symmetric));
        }
    }
    let s = e4_backends::provider().suite(SuiteId::PostQuantum).unwrap();
    let (sig, kem) = (s.sig().unwrap(), s.kem().unwrap());
    let mut ssk = vec![0u8; sig.secret_key_len()];
    let mut spk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut OsRng, &mut ssk, &mut spk).unwrap();
    let mut ksk = vec![0u8; kem.secret_key_len()];
    let mut kpk = vec![0u8; kem.public_key_len()];
    kem.generate(&mut OsRng, &mut ksk, &mut kpk).unwrap();
    let (info, _) = svc
        .new_client(NewClient {
            name: "gateway".into(),
            id: None,
            suite: Some("pq".into()),
            key: None,
            sig_pk: Some(spk),
            kem_pk: Some(kpk),
        })
        .await
        .unwrap();
    targets.push((info.id, SuiteId::PostQuantum));

    let token = std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let ca = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let ctx = Ctx {
        svc: svc.clone(),
        http: running.http,
        tls: TlsConnector::from(Arc::new(e4_c2::tls::client_config(Some(&ca)).unwrap())),
        token,
        broker: (running.broker.host.clone(), running.broker.port),
        log,
        db: data.join("c2.db"),
        targets,
    };
    println!(
        "announce flood: {flood_n} forged Announces per run, default limits, {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    // Warm up, then each kind of call idle and under a flood.
    idle(&ctx, Call::Read, 50, 0).await;
    for (what, name) in [
        (Call::Read, "GET /v1/clients/{name}"),
        (Call::Write, "POST /v1/topics"),
    ] {
        let offset = if what == Call::Write { 1_000_000 } else { 0 };
        let samples = idle(&ctx, what, n_idle, offset).await;
        println!(
            "{name}: idle: n={n_idle} p50={:.2} ms p95={:.2} ms max={:.2} ms",
            at(&samples, 0.5),
            at(&samples, 0.95),
            at(&samples, 1.0)
        );
        // Let the limits' buckets refill between runs.
        tokio::time::sleep(Duration::from_secs(2)).await;
        under_flood(&ctx, what, flood_n, offset + n_idle).await;
    }
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
