//! Test harness: an in-process C2, HTTPS/gRPC clients, simulated devices
//! (e4_proto::Client over rumqttc), and throwaway mosquitto / PostgreSQL.
#![allow(dead_code)]

pub mod device;
pub mod external;
pub mod fleet;
pub mod http;
pub mod pressure;
pub mod process;
pub mod scenario;

use e4_c2::cli::args::ConnArgs;
use e4_c2::cli::conn::{connect, Api};
use e4_c2::crypto_at_rest::KdfParams;
use e4_c2::server::{serve, Running, ServeOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;

/// Guard against hangs (a liveness bound, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(90);

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Fast Argon2id for tests.
pub fn test_kdf() -> KdfParams {
    KdfParams {
        m_kib: 1024,
        t: 1,
        p: 1,
    }
}

pub fn options(dir: &Path, db: Option<String>, broker: Option<String>) -> ServeOptions {
    ServeOptions {
        db,
        broker,
        kdf: test_kdf(),
        max_backoff: Duration::from_millis(500),
        print_token: true,
        // The simulated devices of these tests connect without credentials
        // (broker access control has its own tests: broker_acl.rs).
        allow_anonymous: true,
        ..ServeOptions::local(dir, "test passphrase, long enough")
    }
}

/// A C2 running in this process.
pub struct C2 {
    pub dir: PathBuf,
    pub running: Running,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<e4_c2::C2Result<()>>>,
}

impl C2 {
    pub async fn start(opts: ServeOptions) -> C2 {
        install_crypto();
        let dir = opts.data_dir.clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let task = tokio::spawn(serve(
            opts,
            async move {
                let _ = stop_rx.await;
            },
            Some(started_tx),
        ));
        let running = match tokio::time::timeout(PATIENCE, started_rx).await {
            Ok(Ok(r)) => r,
            _ => {
                let r = task.await;
                panic!("C2 did not start: {r:?}");
            }
        };
        C2 {
            dir,
            running,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn ca(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("tls/cert.pem")).unwrap()
    }

    pub fn conn_args(&self) -> ConnArgs {
        ConnArgs {
            data_dir: self.dir.clone(),
            server: Some(format!("https://{}", self.running.grpc)),
            ca_cert: None,
            tls_server_name: "localhost".into(),
            token_file: Some(self.dir.join("admin.token")),
        }
    }

    pub async fn grpc(&self) -> Api {
        connect(&self.conn_args()).await.expect("gRPC connection")
    }

    pub fn rest(&self) -> http::Rest {
        http::Rest::new(self.running.http, self.ca(), Some(self.token()))
    }

    pub fn mqtt(&self) -> (String, u16) {
        (self.running.broker.host.clone(), self.running.broker.port)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `e4c2 passphrase` (offline): from `old` to the passphrase in `new_file`,
/// on the data directory's SQLite database or on `db`.
pub fn change_passphrase(dir: &Path, db: Option<&str>, old: &str, new_file: &Path) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_e4c2"));
    cmd.args(["passphrase", "--kdf-memory-kib", "1024", "--data-dir"])
        .arg(dir);
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    let out = cmd
        .arg("--new-passphrase-file")
        .arg(new_file)
        .env("E4C2_PASSPHRASE", old)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a tool needed by a test exists; in CI its absence is a failure,
/// elsewhere the test is skipped with a message.
pub fn require(tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("{tool} is required in CI (apt-get install -y {tool})");
    }
    eprintln!("SKIPPED: {tool} is not installed (CI is unset)");
    false
}

async fn health(api: &mut Api) -> e4_c2::api::grpc::pb::Health {
    api.health_check(e4_c2::api::grpc::pb::Empty {})
        .await
        .unwrap()
        .into_inner()
}

/// Until nothing is pending and every device reported holding its keys.
pub async fn until_converged(api: &mut Api) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let h = health(api).await;
        if h.outbox_pending == 0 && h.devices_out_of_date == 0 && h.devices_never_reported == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never converged: {} pending, {} devices out of date, {} never reported",
            h.outbox_pending,
            h.devices_out_of_date,
            h.devices_never_reported
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
