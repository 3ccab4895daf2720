//! Throwaway mosquitto and PostgreSQL servers on free loopback ports.

use super::{free_port, require};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn wait_port(port: u16) -> bool {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn mosquitto_bin() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// mosquitto with persistence (sessions and queued QoS 2 messages survive
/// a SIGTERM restart).
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    bin: PathBuf,
}

impl Mosquitto {
    /// Start, or None when mosquitto is missing outside CI.
    pub fn start() -> Option<Mosquitto> {
        Mosquitto::start_with_queue_limit(100_000)
    }

    /// Start with `max_queued_messages` set to `limit` (0: mosquitto's
    /// "no limit", with which it refuses a client's QoS 2 publishes beyond
    /// its 20 in flight instead of queueing them).
    pub fn start_with_queue_limit(limit: u32) -> Option<Mosquitto> {
        let bin = mosquitto_bin();
        if !require("mosquitto", bin.is_some()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut m = Mosquitto {
            port,
            dir,
            child: None,
            bin: bin.unwrap(),
        };
        let conf = m.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages {limit}\nuser root\nlog_dest none\n",
                m.dir.path().display()
            ),
        )
        .unwrap();
        m.up();
        Some(m)
    }

    /// A mosquitto on `port` (not started: call `up`) that refuses
    /// anonymous clients and uses the password and ACL files `e4c2 serve
    /// --mosquitto-dir files` writes.
    pub fn with_e4c2_files(port: u16, files: &Path) -> Option<Mosquitto> {
        let bin = mosquitto_bin();
        if !require("mosquitto", bin.is_some()) {
            return None;
        }
        let m = Mosquitto {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
            bin: bin.unwrap(),
        };
        std::fs::write(
            m.dir.path().join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\nuser root\nlog_dest none\n",
                files.join("e4c2.passwd").display(),
                files.join("e4c2.acl").display(),
            ),
        )
        .unwrap();
        Some(m)
    }

    /// (Re)start on the same port.
    pub fn up(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto");
        self.child = Some(child);
        assert!(wait_port(self.port), "mosquitto did not listen");
    }

    /// Stop (SIGTERM, so it saves its sessions) and wait.
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), 15);
            let _ = c.wait();
        }
    }

    /// Drop every saved session (the broker must be down): the next start
    /// is a broker that knows no client.
    pub fn forget_sessions(&self) {
        assert!(self.child.is_none(), "stop mosquitto first");
        let _ = std::fs::remove_file(self.dir.path().join("mosquitto.db"));
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Send a signal to a process we started.
pub fn send_signal(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn pg_bin() -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").is_file())
        .collect();
    v.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    v.pop()
}

/// A PostgreSQL server in a temp directory (as pg-throwaway.sh does).
pub struct Postgres {
    pub url: String,
    dir: PathBuf,
    bin: PathBuf,
    as_root: bool,
}

fn run_pg(as_root: bool, bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let mut c = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    c.args(args).current_dir("/").output().expect(tool)
}

impl Postgres {
    /// Start, or None when PostgreSQL is missing outside CI.
    pub fn start() -> Option<Postgres> {
        let bin = pg_bin();
        if !require("postgresql", bin.is_some()) {
            return None;
        }
        let bin = bin.unwrap();
        let as_root = is_root();
        let dir = PathBuf::from(format!("/tmp/pgc2.{}.{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        if as_root {
            Command::new("chown")
                .arg("postgres:")
                .arg(&dir)
                .status()
                .unwrap();
        }
        let data = dir.join("data");
        let out = run_pg(
            as_root,
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth=trust",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            dir.display()
        );
        let log = dir.join("server.log");
        let out = run_pg(
            as_root,
            &bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "-o",
                &opts,
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run_pg(
            as_root,
            &bin,
            "psql",
            &[
                "-h",
                dir.to_str().unwrap(),
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAt",
                "-c",
                "CREATE DATABASE e4",
            ],
        );
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/e4"),
            dir,
            bin,
            as_root,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = run_pg(
            self.as_root,
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
