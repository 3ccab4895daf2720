//! `e4c2 serve` as a child process (to SIGKILL it), and what a test reads
//! of it from outside.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `e4c2 serve`.
pub struct Running(pub Child);

impl Running {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Wait for it to exit.
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Where a C2 process keeps its state and listens; the same across
/// restarts.
#[derive(Clone, Debug)]
pub struct C2Process {
    pub dir: PathBuf,
    /// External broker URL; None: the embedded broker on `mqtt_port`.
    pub broker: Option<String>,
    /// PostgreSQL URL; None: SQLite in the data directory.
    pub db: Option<String>,
    pub grpc: u16,
    pub http: u16,
    pub mqtt_port: u16,
}

impl C2Process {
    pub fn new(dir: &Path, broker: Option<String>, db: Option<String>) -> C2Process {
        C2Process {
            dir: dir.to_path_buf(),
            broker,
            db,
            grpc: free_port(),
            http: free_port(),
            mqtt_port: free_port(),
        }
    }

    /// The broker devices connect to.
    pub fn broker_addr(&self, external_port: Option<u16>) -> (String, u16) {
        ("127.0.0.1".into(), external_port.unwrap_or(self.mqtt_port))
    }

    /// Start `e4c2 serve` (default publish window, warnings only); killed
    /// when the returned guard is dropped (a failing test leaves no
    /// process behind). `E4C2_TEST_BIN` runs another build instead (to
    /// check that a regression test fails on the code before the fix).
    pub fn spawn(&self) -> Running {
        self.spawn_with("warn", None)
    }

    /// Start `e4c2 serve` with the `--log` filter `log`, its log (stderr)
    /// appended to `stderr` if given.
    pub fn spawn_with(&self, log: &str, stderr: Option<&Path>) -> Running {
        let bin = std::env::var_os("E4C2_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_e4c2")));
        let mut c = Command::new(bin);
        c.args(["serve", "--data-dir"])
            .arg(&self.dir)
            .args([
                "--grpc-listen",
                &format!("127.0.0.1:{}", self.grpc),
                "--http-listen",
                &format!("127.0.0.1:{}", self.http),
                "--mqtt-listen",
                &format!("127.0.0.1:{}", self.mqtt_port),
                "--kdf-memory-kib",
                "1024",
                "--max-backoff-ms",
                "500",
                "--log",
                log,
            ])
            .env("E4C2_PASSPHRASE", "test passphrase, long enough")
            .env_remove("E4C2_LOG")
            .stdout(Stdio::null());
        if let Some(f) = stderr {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .expect("log file");
            c.stderr(f);
        }
        match &self.broker {
            Some(b) => c.args(["--broker", b]),
            // The simulated devices connect without credentials (broker
            // access control has its own tests: broker_acl.rs).
            None => c.arg("--allow-anonymous"),
        };
        if let Some(d) = &self.db {
            c.args(["--db", d]);
        }
        Running(c.spawn().expect("e4c2 binary"))
    }

    /// The admin API once the process is up.
    pub async fn api(&self) -> e4_c2::cli::conn::Api {
        let args = e4_c2::cli::args::ConnArgs {
            data_dir: self.dir.clone(),
            server: Some(format!("https://127.0.0.1:{}", self.grpc)),
            ca_cert: None,
            tls_server_name: "localhost".into(),
            token_file: Some(self.dir.join("admin.token")),
        };
        for _ in 0..3000 {
            if self.dir.join("server.json").exists() {
                if let Ok(api) = e4_c2::cli::conn::connect(&args).await {
                    return api;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("e4c2 did not come up");
    }

    /// Its REST API (with the admin token in its data directory).
    pub fn rest(&self) -> super::http::Rest {
        let ca = std::fs::read(self.dir.join("tls/cert.pem")).unwrap();
        let token = std::fs::read_to_string(self.dir.join("admin.token")).unwrap();
        super::http::Rest::new(super::addr(self.http), ca, Some(token.trim().to_string()))
    }

    /// A Prometheus metric's value from `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.rest().text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Pending outbox rows, read from the database directly (the process
    /// may be dead).
    pub async fn pending_in_db(&self) -> i64 {
        let url = match &self.db {
            Some(u) => u.clone(),
            None => format!("sqlite://{}?mode=rw", self.dir.join("c2.db").display()),
        };
        let db = e4_c2::db::Db::connect(&url).await.unwrap();
        let mut c = db.read().await.unwrap();
        let n = e4_c2::db::outbox::count_pending(&mut c).await.unwrap() as i64;
        drop(c);
        db.close().await;
        n
    }
}
