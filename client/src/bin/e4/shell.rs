//! `e4 client`: an interactive E4 client on an MQTT broker (like e4go's
//! e4client), reading commands from stdin, one per line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use e4_client::mqtt::NegotiationEvent;
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig, QoS, TlsConfig};
use e4_client::{Client, SuiteSet, SymKey};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::identity::IdentityArgs;
use crate::keys::{read_key_array, with_suffix, write_key_file};
use crate::CliError;
use e4_proto::SuiteId;

/// Interactive E4 client connected to an MQTT broker.
///
/// The client's keys live in the --state file (mode 0600), updated by the
/// commands C2 sends to the control topic e4/ID. If the file does not
/// exist, the client is created from the identity options (as e4go's
/// e4client does from -name and -password); if it exists, it is loaded and
/// those options are not needed.
///
/// Then type commands, one per line (`help` lists them): subscribe to
/// topics, send protected or cleartext messages, show the state. Received
/// messages and applied commands are printed as they arrive. End with
/// `exit` or end of input.
///
/// Examples:
///
///   e4 client --broker localhost:1883 --state dev1.e4 \
///       --name dev1 --password-file dev1.password
///
///   e4 client --broker mqtt.example:8883 --tls-ca ca.pem --state dev1.e4
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ClientArgs {
    /// The MQTT broker.
    #[arg(long, value_name = "HOST:PORT")]
    broker: String,
    /// The client's state file (created if missing).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Connect with TLS, trusting the CA certificates in FILE (PEM).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for TLS client authentication.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// Key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow cleartext on topics matching FILTER that have no key (MQTT
    /// wildcards allowed; repeatable). Default: cleartext is refused.
    #[arg(long, value_name = "FILTER")]
    allow_cleartext: Vec<String>,
    /// Subscribe to FILTER at start (repeatable).
    #[arg(long, value_name = "FILTER")]
    subscribe: Vec<String>,
    /// QoS of subscriptions and messages (the control topic always uses 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Accept replayed messages within E4's 600 s window (e4go's behaviour).
    #[arg(long)]
    no_replay_protection: bool,
    /// Write the client's public keys to PREFIX.sig.pub (and PREFIX.kem.pub
    /// for the pq suites), to give to C2.
    #[arg(long, value_name = "PREFIX")]
    export_public: Option<PathBuf>,
    /// Suites this client may move to (comma-separated, e.g. pq,hybrid):
    /// it announces those ranked above its current suite on
    /// e4c2/announce/ID and upgrades when C2 chooses one. Saved in the
    /// state file; `--capabilities none` turns negotiation off.
    #[arg(long, value_name = "SUITES", value_delimiter = ',', value_parser = parse_capability)]
    capabilities: Option<Vec<Option<SuiteId>>>,
    /// Retry delay of suite negotiation in seconds (doubled after each
    /// retry, up to an hour).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    negotiation_retry: u64,
    /// Start a new MQTT session at every connection. By default the session
    /// is persistent (client id e4-ID, clean session off), so a broker that
    /// keeps sessions queues C2's commands while the device is away.
    #[arg(long)]
    clean_session: bool,
    /// Do not send state reports to C2. By default the client reports the
    /// keys it holds after connecting, after commands and every
    /// --report-interval, and C2 answers with the commands it missed.
    #[arg(long)]
    no_state_reports: bool,
    /// Seconds between periodic state reports (0: only after connecting and
    /// after commands).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    report_interval: u64,
}

fn parse_capability(s: &str) -> Result<Option<SuiteId>, String> {
    if s == "none" {
        return Ok(None);
    }
    crate::parse_suite(s).map(Some)
}

const HELP: &str = "\
Available commands:
  help                             show this help
  subscribe <filter>               subscribe to a topic (MQTT wildcards allowed)
  unsubscribe <filter>             unsubscribe from a topic
  e4msg <topic> <message>          send a protected message on a topic
  clearmsg <topic> <message>       send a cleartext message (only where allowed)
  allow-clear <filter>             allow cleartext on topics without a key
  deny-clear <filter>              withdraw allow-clear
  set-topic-key <topic> <key>      set a topic key by hand (hex or key file)
  negotiate                        announce now (suite negotiation)
  report                           send C2 a state report now (it answers with
                                   the commands this client missed)
  state                            show the client's state
  exit                             disconnect and exit";

fn load_or_create(path: &Path, identity: &IdentityArgs) -> Result<Client, CliError> {
    if std::fs::symlink_metadata(path).is_ok() {
        let client = Client::open_with_provider(path, crate::provider())?;
        if let Some(id) = identity.named_id()? {
            if id != *client.id() {
                return Err(CliError::Failed(format!(
                    "{} holds client {}, not {id}",
                    path.display(),
                    client.id()
                )));
            }
        }
        println!("loaded client from {}", path.display());
        if identity.given() {
            println!("note: the state file exists, so its keys are used, not the identity options");
        }
        Ok(client)
    } else {
        let client = Client::create_with_provider(path, identity.config()?, crate::provider())?;
        println!("created client state {}", path.display());
        Ok(client)
    }
}

fn export_public(client: &Client, prefix: &Path) -> Result<(), CliError> {
    let sig = client
        .public_key()
        .ok_or_else(|| CliError::usage("--export-public: the symmetric suite has no public key"))?;
    let path = with_suffix(prefix, ".sig.pub");
    write_key_file(&path, &sig, true)?;
    println!("signature public key written to {}", path.display());
    if let Some(kem) = client.kem_public_key() {
        let path = with_suffix(prefix, ".kem.pub");
        write_key_file(&path, kem, true)?;
        println!("KEM public key written to {}", path.display());
    }
    Ok(())
}

fn mqtt_config(a: &ClientArgs) -> Result<MqttConfig, CliError> {
    let mut config = MqttConfig::from_address(&a.broker)
        .map_err(|e| CliError::usage(format!("--broker: {e}")))?;
    if let Some(ca) = &a.tls_ca {
        let mut tls = TlsConfig::from_ca_file(ca).map_err(e4_client::Error::from)?;
        if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
            let cert = std::fs::read(cert).map_err(CliError::io("read", cert))?;
            let key = std::fs::read(key).map_err(CliError::io("read", key))?;
            tls = tls.with_client_auth(cert, key);
        }
        config.tls = Some(tls);
    }
    config.negotiation_retry = Duration::from_secs(a.negotiation_retry.max(1));
    config.clean_session = a.clean_session;
    config.state_reports = !a.no_state_reports;
    config.report_interval = Duration::from_secs(a.report_interval);
    for f in &a.allow_cleartext {
        if !config.policy.allow_cleartext(f) {
            return Err(CliError::usage(format!(
                "--allow-cleartext: invalid filter `{f}`"
            )));
        }
    }
    config.qos = match a.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    Ok(config)
}

pub fn run(a: ClientArgs) -> Result<(), CliError> {
    let config = mqtt_config(&a)?;
    let mut client = load_or_create(&a.state, &a.identity)?;
    client.set_replay_protection(!a.no_replay_protection);
    if let Some(caps) = &a.capabilities {
        let set = caps
            .iter()
            .flatten()
            .fold(SuiteSet::EMPTY, |acc, s| acc.with(*s));
        client.set_capabilities(set)?;
    }
    if let Some(prefix) = &a.export_public {
        export_public(&client, prefix)?;
    }
    println!("E4 client {} (suite {})", client.id(), client.suite());
    println!("control topic: {}", client.control_topic());
    if !client.offered().is_empty() {
        println!(
            "negotiation: offering {:?} on {}",
            client.offered(),
            client.announce_topic()
        );
    }
    if let Some(pk) = client.public_key().filter(|k| k.len() == 32) {
        println!("public key: {}", hex::encode(pk));
    }
    println!("connecting to {}", a.broker);
    println!("type help for available commands");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(session(client, config, &a.subscribe));
    // stdin is read on a blocking thread that may still wait for a line.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn session(client: Client, config: MqttConfig, initial: &[String]) -> Result<(), CliError> {
    let mut shell = Shell {
        mqtt: E4Mqtt::connect(client, config)?,
        known: BTreeSet::new(),
    };
    for f in initial {
        shell.subscribe(f).await;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if !shell.command(line.trim()).await {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(CliError::io("read", "stdin")(e)),
            },
            event = shell.mqtt.next_event() => match event {
                Some(e) => shell.show(e),
                None => break,
            },
        }
    }
    shell.mqtt.disconnect().await;
    println!("disconnected");
    Ok(())
}

struct Shell {
    mqtt: E4Mqtt,
    /// Topic names seen, to name topic hashes in `state`.
    known: BTreeSet<String>,
}

fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (s, ""),
    }
}

fn printable(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("<{} bytes: {}>", payload.len(), hex::encode(payload)),
    }
}

impl Shell {
    /// Run one command line; false to exit.
    async fn command(&mut self, line: &str) -> bool {
        let (cmd, rest) = first_word(line);
        let (arg, text) = first_word(rest);
        match (cmd, arg.is_empty()) {
            ("", _) => {}
            ("help", _) => println!("{HELP}"),
            ("exit" | "quit", _) => return false,
            ("state", _) => self.print_state(),
            ("subscribe", false) => self.subscribe(arg).await,
            ("unsubscribe", false) => match self.mqtt.unsubscribe(arg).await {
                Ok(()) => println!("unsubscribed from {arg}"),
                Err(e) => println!("failed to unsubscribe from {arg}: {e}"),
            },
            ("e4msg", false) => {
                self.known.insert(arg.to_owned());
                match self.mqtt.publish(arg, text.as_bytes()).await {
                    Ok(()) => println!("protected message published on topic {arg}"),
                    Err(e) => println!("failed to protect message: {e}"),
                }
            }
            ("clearmsg", false) => match self.mqtt.publish_clear(arg, text.as_bytes()).await {
                Ok(()) => println!("cleartext message published on topic {arg}"),
                Err(e) => println!("failed to send cleartext message: {e}"),
            },
            ("allow-clear", false) => {
                if self.mqtt.with_policy(|p| p.allow_cleartext(arg)) {
                    println!("cleartext allowed on topics without a key matching {arg}");
                } else {
                    println!("invalid topic filter `{arg}`");
                }
            }
            ("deny-clear", false) => {
                if self.mqtt.with_policy(|p| p.disallow_cleartext(arg)) {
                    println!("cleartext no longer allowed on {arg}");
                } else {
                    println!("{arg} was not allowed");
                }
            }
            ("set-topic-key", false) => self.set_topic_key(arg, text),
            ("negotiate", _) => {
                self.mqtt.negotiate_now();
                println!("negotiation: checking now");
            }
            ("report", _) => {
                self.mqtt.report_now();
                println!("state report: sending now");
            }
            (
                "subscribe" | "unsubscribe" | "e4msg" | "clearmsg" | "allow-clear" | "deny-clear"
                | "set-topic-key",
                true,
            ) => println!("{cmd}: missing arguments (type help)"),
            _ => println!("unknown command `{cmd}`: type help"),
        }
        true
    }

    async fn subscribe(&mut self, filter: &str) {
        if !filter.contains(['+', '#']) {
            self.known.insert(filter.to_owned());
        }
        match self.mqtt.subscribe(filter).await {
            Ok(()) => println!("subscribing to {filter}"),
            Err(e) => println!("failed to subscribe to {filter}: {e}"),
        }
    }

    fn set_topic_key(&mut self, topic: &str, key: &str) {
        let key = match read_key_array::<32>(key.trim(), "topic key") {
            Ok(k) => SymKey::new(*k),
            Err(e) => return println!("set-topic-key: {e}"),
        };
        self.known.insert(topic.to_owned());
        match self.mqtt.with_client(|c| c.set_topic_key(topic, &key)) {
            Ok(()) => println!("topic key set for {topic}"),
            Err(e) => println!("set-topic-key: {e}"),
        }
    }

    fn show(&mut self, e: Event) {
        match e {
            Event::Connected => println!("connected to broker"),
            Event::Disconnected { reason } => {
                println!("connection to broker lost: {reason} (reconnecting)")
            }
            Event::Subscribed { filters } => println!("subscribed to {}", filters.join(", ")),
            Event::SubscriptionRefused { filters } => {
                println!(
                    "the broker refused the subscription to {}",
                    filters.join(", ")
                )
            }
            Event::Message {
                topic,
                payload,
                protected,
            } => {
                let kind = if protected { "protected" } else { "cleartext" };
                println!(
                    "received {kind} message on topic {topic}: {}",
                    printable(&payload)
                );
                self.known.insert(topic);
            }
            Event::Command(info) => println!("E4 command applied: {}", info.name()),
            Event::Rejected { topic, error } => {
                println!("rejected message on topic {topic}: {error}")
            }
            Event::Negotiation(n) => match n {
                NegotiationEvent::Announced { offered } => {
                    println!("negotiation: announced, offering {offered:?}")
                }
                NegotiationEvent::Accepted { suite } => {
                    println!("negotiation: C2 chose suite {suite}; confirm sent")
                }
                NegotiationEvent::ConfirmResent { suite } => {
                    println!("negotiation: confirm for suite {suite} sent again")
                }
                NegotiationEvent::Upgraded { from, to } => {
                    println!("negotiation: upgraded from suite {from} to {to}")
                }
                NegotiationEvent::TopicFormat { topic, format } => {
                    println!("E4 command applied: SetTopicFormat: topic {topic} uses the {format} format")
                }
                NegotiationEvent::Failed { error } => println!("negotiation: {error}"),
                other => println!("negotiation: {other:?}"),
            },
            Event::StateReported { topics } => {
                println!("state reported to C2 ({topics} topic key(s))")
            }
            other => println!("{other:?}"),
        }
    }

    fn print_state(&self) {
        let names = &self.known;
        let subs = self.mqtt.subscriptions();
        let filters: Vec<String> = self
            .mqtt
            .with_policy(|p| p.cleartext_filters().map(str::to_owned).collect());
        self.mqtt.with_client(|c| {
            println!("id: {}", c.id());
            println!("suite: {}", c.suite());
            println!("control topic: {}", c.control_topic());
            if let Some(p) = c.state_path() {
                println!("state file: {}", p.display());
            }
            let onoff = if c.replay_protection() { "on" } else { "off" };
            println!("replay protection: {onoff}");
            println!(
                "negotiation: {:?} (capabilities {:?}, offering {:?})",
                c.negotiation_status(),
                c.capabilities(),
                c.offered()
            );
            for (h, f) in c.topic_formats() {
                println!("  topic {h} uses the {f} message format");
            }
            let topics = c.topics();
            println!("topic keys: {}", topics.len());
            for t in topics {
                let name = names
                    .iter()
                    .find(|n| c.topic_hash(n) == t.hash)
                    .map_or(String::new(), |n| format!(" ({n})"));
                let transition = t.replaced_at.map_or(String::new(), |ts| {
                    format!(", previous key kept since {ts}")
                });
                println!("  {}{name}{transition}", t.hash);
            }
            if c.suite() != e4_proto::SuiteId::Symmetric {
                let ids = c.pubkey_ids();
                println!("public keys of other devices: {}", ids.len());
                for id in ids {
                    println!("  {id}");
                }
            }
        });
        println!("subscriptions: {}", subs.join(", "));
        println!("cleartext allowed on: {}", filters.join(", "));
    }
}
