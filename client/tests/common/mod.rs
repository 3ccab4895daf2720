//! Test fixtures: a C2 that seals commands with e4-proto directly, devices
//! of every suite, a throwaway mosquitto broker, and vector files.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use e4_backends::rng::OsRng;
use e4_client::{Client, Config};
use e4_proto::command::{self, Command};
use e4_proto::crypto::Rng;
use e4_proto::keys::Ed25519Secret;
use e4_proto::message::seal_symmetric;
use e4_proto::time::SystemClock;
use e4_proto::{Clock, Id, SuiteId, SymKey, TopicHash};
use zeroize::Zeroizing;

/// The suites compiled into e4-backends.
pub const SUITES: [SuiteId; 4] = [
    SuiteId::Symmetric,
    SuiteId::PubKey,
    SuiteId::PostQuantum,
    SuiteId::PqDraft,
];

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill(&mut b);
    b
}

/// What C2 knows about a device.
#[derive(Clone)]
pub struct Device {
    pub id: Id,
    /// Symmetric: the client key. Public key: the command key.
    pub command_key: Option<SymKey>,
    /// Kem suites: the device's KEM public key.
    pub kem_pk: Vec<u8>,
    /// Signature public key (signed suites).
    pub sig_pk: Vec<u8>,
}

/// A C2 for one suite: creates device configurations and seals commands.
pub struct C2 {
    pub suite: SuiteId,
    x25519_secret: Zeroizing<[u8; 32]>,
    pub x25519_public: [u8; 32],
    sig_sk: Zeroizing<Vec<u8>>,
    pub sig_pk: Vec<u8>,
}

impl C2 {
    pub fn new(suite: SuiteId) -> C2 {
        let p = e4_backends::provider();
        let s = p.suite(suite).unwrap();
        let x25519_secret = Zeroizing::new(random::<32>());
        let x25519_public = match s.x25519 {
            Some(x) => x.public_key(&x25519_secret),
            None => [0; 32],
        };
        let (sig_sk, sig_pk) = match (suite.is_kem_suite(), s.sig) {
            (true, Some(sig)) => {
                let mut sk = Zeroizing::new(vec![0; sig.secret_key_len()]);
                let mut pk = vec![0; sig.public_key_len()];
                sig.generate(&mut OsRng, &mut sk, &mut pk).unwrap();
                (sk, pk)
            }
            _ => (Zeroizing::new(Vec::new()), Vec::new()),
        };
        C2 {
            suite,
            x25519_secret,
            x25519_public,
            sig_sk,
            sig_pk,
        }
    }

    /// A configuration for a new device of this suite (random id).
    pub fn device_config(&self) -> Config {
        match self.suite {
            SuiteId::Symmetric => Config::sym_id_and_key(None, SymKey::new(random())),
            SuiteId::PubKey => {
                let seed = random::<32>();
                let mut sk = [0u8; 64];
                sk[..32].copy_from_slice(&seed);
                sk[32..].copy_from_slice(&e4_backends::ed25519::public_from_seed(&seed));
                Config::pub_id_and_key(None, Ed25519Secret::new(sk), self.x25519_public)
            }
            s => Config::kem_generate(s, None, &self.sig_pk),
        }
    }

    /// What C2 records when a device registers.
    pub fn register<C: Clock + Clone>(&self, client: &Client<C>) -> Device {
        let p = e4_backends::provider();
        let s = p.suite(self.suite).unwrap();
        let command_key = match self.suite {
            SuiteId::Symmetric => None,
            SuiteId::PubKey => {
                let x = s.x25519.unwrap();
                let pk: [u8; 32] = client.public_key().unwrap().try_into().unwrap();
                let curve = x.public_from_ed25519(&pk).unwrap();
                Some(command::pubkey_command_key(p, s, &self.x25519_secret, &curve).unwrap())
            }
            _ => None,
        };
        Device {
            id: *client.id(),
            command_key,
            kem_pk: client
                .kem_public_key()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            sig_pk: client.public_key().unwrap_or_default(),
        }
    }

    /// Symmetric devices: C2 was given the client key.
    pub fn register_symmetric(&self, id: Id, key: &SymKey) -> Device {
        Device {
            id,
            command_key: Some(key.clone()),
            kem_pk: Vec::new(),
            sig_pk: Vec::new(),
        }
    }

    /// Seal a command for `device`, stamped `ts`.
    pub fn seal(&self, device: &Device, cmd: &Command<'_>, ts: u64) -> Vec<u8> {
        let p = e4_backends::provider();
        let bytes = Zeroizing::new(cmd.to_vec());
        if self.suite.is_kem_suite() {
            let s = p.suite(self.suite).unwrap();
            let mut out = vec![0u8; s.id.command_overhead() + bytes.len()];
            let n = command::seal_kem_command(
                p,
                s,
                &self.sig_sk,
                &device.id,
                &device.kem_pk,
                ts,
                &bytes,
                &mut OsRng,
                &mut out,
            )
            .unwrap();
            out.truncate(n);
            out
        } else {
            let key = device.command_key.as_ref().expect("command key");
            let mut out = vec![0u8; bytes.len() + 24];
            let n = seal_symmetric(p.siv, key, ts, &bytes, &mut out).unwrap();
            out.truncate(n);
            out
        }
    }

    pub fn set_topic_key(&self, device: &Device, topic: &str, key: &SymKey, ts: u64) -> Vec<u8> {
        let cmd = Command::SetTopicKey {
            key: key.as_bytes(),
            topic: topic_hash(topic),
        };
        self.seal(device, &cmd, ts)
    }

    pub fn set_pubkey(&self, device: &Device, other: &Device, ts: u64) -> Vec<u8> {
        let cmd = Command::SetPubKey {
            key: &other.sig_pk,
            id: other.id,
        };
        self.seal(device, &cmd, ts)
    }
}

pub fn topic_hash(topic: &str) -> TopicHash {
    TopicHash::of(e4_backends::provider().hash, topic.as_bytes())
}

pub fn now() -> u64 {
    SystemClock.now()
}

// ---------------------------------------------------------------- broker

/// A mosquitto broker on a free loopback port, stopped on drop.
pub struct Broker {
    pub port: u16,
    bin: PathBuf,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// `$MOSQUITTO` if set (a path), else `mosquitto` on the PATH or in the
/// usual sbin directories.
fn find_mosquitto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOSQUITTO") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The mosquitto binary; None (test skipped, with a message) only when it
/// is missing and `CI` is unset. In CI a missing broker fails the test.
pub fn mosquitto(test: &str) -> Option<PathBuf> {
    match find_mosquitto() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: mosquitto is required in CI (apt-get install -y mosquitto)")
        }
        None => {
            eprintln!(
                "SKIPPED {test}: mosquitto not found (install it with `apt-get update && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto`)"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// Start a plain broker (None: skipped).
    pub fn start(test: &str) -> Option<Broker> {
        Broker::start_with(test, |_| String::new())
    }

    /// Start a broker; `extra` returns listener options written after the
    /// `listener` line (e.g. TLS files), given the broker's directory.
    pub fn start_with(test: &str, extra: impl FnOnce(&Path) -> String) -> Option<Broker> {
        let bin = mosquitto(test)?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        let options = extra(dir.path());
        // `user root`: when started as root, stay root so that the TLS
        // files in this private directory stay readable (ignored otherwise).
        std::fs::write(
            &conf,
            format!(
                "user root\nlistener {port} 127.0.0.1\n{options}allow_anonymous true\n\
                 persistence false\nlog_dest stdout\n"
            ),
        )
        .unwrap();
        let mut b = Broker {
            port,
            bin,
            log: dir.path().join("mosquitto.log"),
            conf,
            child: None,
            _dir: dir,
        };
        b.spawn();
        Some(b)
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Process::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        // Wait (bounded) until the port accepts connections.
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "mosquitto exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stop the broker (SIGTERM would be gentler; SIGKILL is what a crash looks like).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop and start again on the same port (sessions are lost).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------- vectors

pub fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors/interop/e4go")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vectors {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn hexv(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).unwrap()
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    File::create(path).unwrap().write_all(bytes).unwrap();
}

// ---------------------------------------------------------------- proxy

/// What a [`Proxy`] does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Forward both ways.
    Open,
    /// Forward client to broker only: acknowledgements never arrive.
    Mute,
    /// Close every connection and refuse new ones: the broker "went away"
    /// for the clients behind the proxy, and only for them.
    Cut,
}

/// A TCP proxy in front of the broker, to take the broker away from one
/// client deterministically.
pub struct Proxy {
    pub port: u16,
    link: tokio::sync::watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(broker_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (link, watch) = tokio::sync::watch::channel(Link::Open);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *watch.borrow() == Link::Cut {
                    continue; // dropped: connection refused, in effect
                }
                tokio::spawn(pipe(inbound, broker_port, watch.clone()));
            }
        });
        Proxy { port, link, task }
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    inbound: tokio::net::TcpStream,
    broker_port: u16,
    mut link: tokio::sync::watch::Receiver<Link>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", broker_port)).await else {
        return;
    };
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_broker, mut to_broker) = outbound.into_split();
    let up = tokio::io::copy(&mut from_client, &mut to_broker);
    let watch = link.clone();
    let down = async move {
        let mut buf = vec![0u8; 16384];
        loop {
            match from_broker.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) if *watch.borrow() == Link::Mute => {}
                Ok(n) => {
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let cut = async move {
        while link.changed().await.is_ok() {
            if *link.borrow() == Link::Cut {
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut => {}
    }
}
