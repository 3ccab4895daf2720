//! `e4 client`: an interactive E4 client on an MQTT broker (like e4go's
//! e4client), reading commands from stdin, one per line.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use e4_client::mqtt::NegotiationEvent;
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig, QoS, TlsConfig};
use e4_client::{BrokerCredentials, Client, Provisioning, SuiteSet, SymKey};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::identity::IdentityArgs;
use crate::keys::{read_key_array, with_suffix, write_key_file};
use crate::CliError;
use e4_proto::SuiteId;

/// Interactive E4 client connected to an MQTT broker.
///
/// The client's keys live in the --state file (mode 0600), updated by the
/// commands C2 sends to the control topic e4/ID. If the file does not
/// exist, the client is created from --provision (a file written by
/// `e4c2 client add NAME --out FILE`) or from the identity options (as
/// e4go's e4client does from -name and -password); if it exists, it is
/// loaded and those options are not needed.
///
/// Then type commands, one per line (`help` lists them): subscribe to
/// topics, send protected or cleartext messages, show the state. Words are
/// split as a shell does: quote a topic or message holding spaces with '…'
/// or "…" (in "…", \" and \\ are escapes; outside quotes, \ escapes the
/// next character); a line starting with # is a comment. Received messages
/// and applied commands are printed on stdout as they arrive; a failed
/// command prints `error: …` on stderr.
///
/// The client ends with `exit`, SIGINT or SIGTERM, or at the end of input
/// unless --listen is given: then it keeps printing what arrives until
/// SIGINT or SIGTERM (or for SECONDS after the end of input). When
/// standard input is not a terminal (a script), every command is run and
/// the exit status is 1 if any failed (or if the broker refused a
/// subscription); an interactive session (standard input a terminal)
/// reports each failure as it happens and exits with 0.
///
/// Examples:
///
///   e4 client --broker localhost:1883 --state dev1.e4 \
///       --name dev1 --password-file dev1.password
///
///   e4 client --provision dev1.json --state dev1.e4
///
///   e4 client --broker mqtt.example:8883 --tls-ca ca.pem --state dev1.e4
///
///   printf '%s\n' "subscribe 'living room/+'" | \
///       e4 client --state dev2.e4 --broker localhost:1883 --listen
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ClientArgs {
    /// The MQTT broker (default: the broker named in the --provision file).
    #[arg(long, value_name = "HOST:PORT")]
    broker: Option<String>,
    /// The client's state file (created if missing).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    #[command(flatten)]
    identity: IdentityArgs,
    /// MQTT user name (default: the one saved in the state file, which
    /// comes from the --provision file; else the client id in hex). Saved
    /// in the state file.
    #[arg(long, value_name = "USER", requires = "mqtt_password_file")]
    mqtt_username: Option<String>,
    /// Read the MQTT password from the first line of FILE (e.g. a password
    /// C2 reissued: `e4c2 client mqtt-password NAME`); saved in the state
    /// file, so later runs need no option.
    #[arg(long, value_name = "FILE")]
    mqtt_password_file: Option<PathBuf>,
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
    /// Keep running after the end of standard input, printing what
    /// arrives, until SIGINT or SIGTERM; with SECONDS, stop that many
    /// seconds after the end of input (sooner on a signal). For scripts:
    /// `... --listen < commands`.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1)]
    listen: Option<Option<u64>>,
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
  set-topic-key <topic> <key>      set a topic key by hand (hex, or a file
                                   holding raw bytes or hex: FILE or @FILE)
  negotiate                        announce now (suite negotiation)
  rekey                            replace this device's keys in its KEM suite
  report                           send C2 a state report now (it answers with
                                   the commands this client missed)
  wait-key <topic> [seconds]       wait (30 s by default) until C2 has given this
                                   client the topic's key (for scripts)
  state                            show the client's state
  exit                             disconnect and exit
Quote topics and messages holding spaces: e4msg 'living room/temp' \"21.5 C\"
(the words of an unquoted message are joined with single spaces).
Topics: not empty, no control characters, no + or # (except as whole levels
in filters: a/+/b, a/#), nothing under e4/ or e4c2/.";

fn load_or_create(
    path: &Path,
    identity: &IdentityArgs,
    provisioning: Option<&Provisioning>,
) -> Result<Client, CliError> {
    if std::fs::symlink_metadata(path).is_ok() {
        let client = Client::open_with_provider(path, crate::provider())?;
        if let (Some(p), Some(file)) = (provisioning, &identity.provision) {
            let id = p
                .client_id()
                .map_err(|e| CliError::Failed(format!("--provision {}: {e}", file.display())))?;
            if id != *client.id() {
                return Err(CliError::Failed(format!(
                    "{} holds client {}, but --provision {} is for client {id} ({}): \
                     use another --state for a new device, or leave out --provision",
                    path.display(),
                    client.id(),
                    file.display(),
                    p.name
                )));
            }
            eprintln!(
                "note: {} exists, so its keys are used; the keys in {} are ignored",
                path.display(),
                file.display()
            );
        }
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
    } else if let (Some(p), Some(file)) = (provisioning, &identity.provision) {
        let config = p
            .config()
            .map_err(|e| CliError::Failed(format!("--provision {}: {e}", file.display())))?;
        let client = Client::create_with_provider(path, config, crate::provider())?;
        println!(
            "created client state {} for device {} from {}",
            path.display(),
            p.name,
            file.display()
        );
        eprintln!(
            "note: {} holds the device's secret keys and is no longer needed: delete it",
            file.display()
        );
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

/// Save the broker credentials given with --mqtt-password-file, or those
/// of the --provision file when the state has none (as its keys, the
/// file's credentials do not replace the state's), in the state file.
fn save_broker_credentials(
    a: &ClientArgs,
    client: &mut Client,
    provisioning: Option<&Provisioning>,
) -> Result<(), CliError> {
    let given = match &a.mqtt_password_file {
        Some(f) => {
            let password = crate::identity::read_password(None, Some(f))?;
            let username = a
                .mqtt_username
                .clone()
                .or_else(|| client.broker_credentials().map(|c| c.username.clone()))
                .unwrap_or_else(|| client.id().to_string());
            Some(BrokerCredentials::new(username, password.as_str()))
        }
        None if client.broker_credentials().is_none() => {
            provisioning.and_then(Provisioning::mqtt_credentials)
        }
        None => None,
    };
    match given {
        Some(c) if client.broker_credentials() != Some(&c) => {
            println!("MQTT user {} (saved in {})", c.username, a.state.display());
            client.set_broker_credentials(Some(c))?;
        }
        _ => {}
    }
    Ok(())
}

/// The broker: --broker, else the one the provisioning file names.
fn broker(a: &ClientArgs, provisioning: Option<&Provisioning>) -> Result<String, CliError> {
    if let Some(b) = &a.broker {
        return Ok(b.clone());
    }
    match (provisioning, &a.identity.provision) {
        (Some(p), Some(file)) => p.broker.clone().ok_or_else(|| {
            CliError::usage(format!(
                "no broker: {} names none, give --broker HOST:PORT",
                file.display()
            ))
        }),
        _ => Err(CliError::usage(
            "no broker: give --broker HOST:PORT (or --provision with a file that names one)",
        )),
    }
}

fn mqtt_config(a: &ClientArgs, broker: &str) -> Result<MqttConfig, CliError> {
    let mut config =
        MqttConfig::from_address(broker).map_err(|e| CliError::usage(format!("--broker: {e}")))?;
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
        e4_proto::check_topic_filter(f)
            .map_err(|e| CliError::usage(format!("--allow-cleartext {}: {e}", shown(f))))?;
        config.policy.allow_cleartext(f);
    }
    for f in &a.subscribe {
        e4_proto::check_topic_filter(f)
            .map_err(|e| CliError::usage(format!("--subscribe {}: {e}", shown(f))))?;
    }
    config.qos = match a.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    Ok(config)
}

pub fn run(a: ClientArgs) -> Result<(), CliError> {
    let provisioning = a.identity.provisioning()?;
    let broker = broker(&a, provisioning.as_ref())?;
    let config = mqtt_config(&a, &broker)?;
    let mut client = load_or_create(&a.state, &a.identity, provisioning.as_ref())?;
    save_broker_credentials(&a, &mut client, provisioning.as_ref())?;
    drop(provisioning);
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
    println!("connecting to {broker}");
    println!("type help for available commands");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let options = SessionOptions {
        initial: &a.subscribe,
        listen: a.listen.map(|s| s.map(Duration::from_secs)),
        script: !std::io::stdin().is_terminal(),
    };
    let result = rt.block_on(session(client, config, options));
    // stdin is read on a blocking thread that may still wait for a line.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

struct SessionOptions<'a> {
    /// Filters to subscribe to at start.
    initial: &'a [String],
    /// --listen: keep running after the end of input (`Some(None)`: until a
    /// signal; `Some(Some(d))`: for `d`).
    listen: Option<Option<Duration>>,
    /// Standard input is not a terminal: failures make the exit status 1.
    script: bool,
}

/// SIGINT or SIGTERM.
async fn terminated(
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

async fn session(
    client: Client,
    config: MqttConfig,
    options: SessionOptions<'_>,
) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let signal_error = |e| CliError::Failed(format!("cannot handle signals: {e}"));
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut shell = Shell {
        mqtt: E4Mqtt::connect(client, config)?,
        known: BTreeSet::new(),
        failures: 0,
    };
    for f in options.initial {
        if let Err(e) = shell.subscribe(f).await {
            shell.fail(&e);
        }
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut reading = true;
    // With --listen SECONDS: when to stop, once the input has ended.
    let mut stop_at: Option<tokio::time::Instant> = None;
    loop {
        let stop = async {
            match stop_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) => match shell.command(&line).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Exit) => break,
                    Err(e) => shell.fail(&e),
                },
                Ok(None) => match options.listen {
                    None => break,
                    Some(limit) => {
                        reading = false;
                        match limit {
                            None => println!("end of input: listening until SIGINT or SIGTERM"),
                            Some(d) => {
                                println!(
                                    "end of input: listening for {} s (or until SIGINT or SIGTERM)",
                                    d.as_secs()
                                );
                                stop_at = Some(tokio::time::Instant::now() + d);
                            }
                        }
                    }
                },
                Err(e) => return Err(CliError::io("read", "stdin")(e)),
            },
            event = shell.mqtt.next_event() => match event {
                Some(e) => shell.show(e),
                None => break,
            },
            name = terminated(&mut sigint, &mut sigterm) => {
                println!("{name}: stopping");
                break;
            }
            () = stop => break,
        }
    }
    shell.mqtt.disconnect().await;
    println!("disconnected");
    match shell.failures {
        n if n > 0 && options.script => Err(CliError::Failed(format!(
            "{n} command{} failed (errors above)",
            if n == 1 { "" } else { "s" }
        ))),
        _ => Ok(()),
    }
}

/// What to do after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

struct Shell {
    mqtt: E4Mqtt,
    /// Topic names seen, to name topic hashes in `state`.
    known: BTreeSet<String>,
    /// Commands that failed (and subscriptions the broker refused).
    failures: usize,
}

/// Split a command line into words as a POSIX shell does, without
/// expansions: blanks separate words; '…' keeps everything literally; in
/// "…", \" and \\ stand for " and \ (any other backslash is kept);
/// outside quotes, a backslash keeps the next character literally.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a quote (') is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a quote (\") is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a quote (\") is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a backslash ends the line".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// A topic as it can be typed back: as is when it needs no quotes, else in
/// double quotes, with \" and \\ (and control characters, which no valid
/// topic has, escaped as in Rust: \n, \u{85}).
fn shown(topic: &str) -> Cow<'_, str> {
    let plain = !topic.is_empty()
        && !topic
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '\\'));
    if plain {
        Cow::Borrowed(topic)
    } else {
        let mut s = String::from('"');
        for c in topic.chars() {
            match c {
                '"' | '\\' => {
                    s.push('\\');
                    s.push(c);
                }
                c if c.is_control() => s.extend(c.escape_default()),
                c => s.push(c),
            }
        }
        s.push('"');
        Cow::Owned(s)
    }
}

/// The `N` arguments of `cmd`, or a usage error.
fn exactly<'a, const N: usize>(
    cmd: &str,
    args: &'a [String],
    usage: &str,
) -> Result<[&'a str; N], String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    words.try_into().map_err(|words: Vec<&str>| {
        let quote = if words.len() > N {
            " (quote a topic or key holding spaces)"
        } else {
            ""
        };
        format!(
            "{cmd}: expected {cmd} {usage}, got {} argument{}{quote}",
            words.len(),
            if words.len() == 1 { "" } else { "s" }
        )
    })
}

fn printable(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("<{} bytes: {}>", payload.len(), hex::encode(payload)),
    }
}

impl Shell {
    /// A failed command: on stderr, and counted for the exit status.
    fn fail(&mut self, error: &str) {
        self.failures += 1;
        eprintln!("error: {error}");
    }

    /// Run one command line.
    async fn command(&mut self, line: &str) -> Result<Flow, String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(Flow::Continue);
        }
        let words = split_words(line).map_err(|e| format!("cannot read the command: {e}"))?;
        let Some((cmd, args)) = words.split_first() else {
            return Ok(Flow::Continue);
        };
        let cmd = cmd.as_str();
        match cmd {
            "help" => println!("{HELP}"),
            "exit" | "quit" => return Ok(Flow::Exit),
            "state" => self.print_state(),
            "subscribe" => {
                let [filter] = exactly(cmd, args, "<filter>")?;
                self.subscribe(filter).await?;
            }
            "unsubscribe" => {
                let [filter] = exactly(cmd, args, "<filter>")?;
                self.mqtt
                    .unsubscribe(filter)
                    .await
                    .map_err(|e| format!("failed to unsubscribe from {}: {e}", shown(filter)))?;
                println!("unsubscribed from {}", shown(filter));
            }
            "e4msg" | "clearmsg" => {
                let Some((topic, words)) = args.split_first() else {
                    return Err(format!(
                        "{cmd}: expected {cmd} <topic> <message> (type help)"
                    ));
                };
                let message = words.join(" ");
                if cmd == "e4msg" {
                    self.mqtt
                        .publish(topic, message.as_bytes())
                        .await
                        .map_err(|e| format!("failed to protect message: {e}"))?;
                    self.known.insert(topic.to_owned());
                    println!("protected message published on topic {}", shown(topic));
                } else {
                    self.mqtt
                        .publish_clear(topic, message.as_bytes())
                        .await
                        .map_err(|e| format!("failed to send cleartext message: {e}"))?;
                    println!("cleartext message published on topic {}", shown(topic));
                }
            }
            "allow-clear" => {
                let [filter] = exactly(cmd, args, "<filter>")?;
                e4_proto::check_topic_filter(filter)
                    .map_err(|e| format!("allow-clear: invalid filter {}: {e}", shown(filter)))?;
                self.mqtt.with_policy(|p| p.allow_cleartext(filter));
                println!(
                    "cleartext allowed on topics without a key matching {}",
                    shown(filter)
                );
            }
            "deny-clear" => {
                let [filter] = exactly(cmd, args, "<filter>")?;
                if !self.mqtt.with_policy(|p| p.disallow_cleartext(filter)) {
                    return Err(format!("deny-clear: {} was not allowed", shown(filter)));
                }
                println!("cleartext no longer allowed on {}", shown(filter));
            }
            "set-topic-key" => {
                let [topic, key] = exactly(cmd, args, "<topic> <key>")?;
                self.set_topic_key(topic, key)?;
            }
            "negotiate" => {
                self.mqtt.negotiate_now();
                println!("negotiation: checking now");
            }
            "rekey" => {
                self.mqtt.rekey_now().map_err(|e| e.to_string())?;
                println!(
                    "negotiation: announcing fresh keys for suite {}",
                    self.mqtt.with_client(|c| c.suite())
                );
            }
            "report" => {
                self.mqtt.report_now();
                println!("state report: sending now");
            }
            "wait-key" => {
                let (topic, seconds) = match args {
                    [t] => (t, 30.0),
                    [t, s] => (
                        t,
                        s.parse::<f64>()
                            .ok()
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .ok_or_else(|| format!("wait-key: {s:?} is not a number of seconds"))?,
                    ),
                    _ => return Err("wait-key: expected wait-key <topic> [seconds]".into()),
                };
                self.wait_key(topic, Duration::from_secs_f64(seconds))
                    .await?;
            }
            _ => return Err(format!("unknown command `{cmd}`: type help")),
        }
        Ok(Flow::Continue)
    }

    /// Wait until the client holds a key for `topic`, showing what arrives
    /// meanwhile.
    async fn wait_key(&mut self, topic: &str, limit: Duration) -> Result<(), String> {
        e4_proto::check_topic_name(topic)
            .map_err(|e| format!("wait-key: invalid topic {}: {e}", shown(topic)))?;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.mqtt.with_client(|c| c.has_topic_key(topic)) {
                self.known.insert(topic.to_owned());
                println!("key of topic {} present", shown(topic));
                return Ok(());
            }
            tokio::select! {
                event = self.mqtt.next_event() => match event {
                    Some(e) => self.show(e),
                    None => return Err("wait-key: the connection ended".into()),
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(format!(
                        "wait-key: no key for topic {} after {} s",
                        shown(topic),
                        limit.as_secs_f64()
                    ));
                }
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) -> Result<(), String> {
        self.mqtt
            .subscribe(filter)
            .await
            .map_err(|e| format!("failed to subscribe to {}: {e}", shown(filter)))?;
        if !filter.contains(['+', '#']) {
            self.known.insert(filter.to_owned());
        }
        println!("subscribing to {}", shown(filter));
        Ok(())
    }

    fn set_topic_key(&mut self, topic: &str, key: &str) -> Result<(), String> {
        let key = read_key_array::<32>(key, "topic key")
            .map(|k| SymKey::new(*k))
            .map_err(|e| format!("set-topic-key: {e}"))?;
        self.mqtt
            .with_client(|c| c.set_topic_key(topic, &key))
            .map_err(|e| format!("set-topic-key: {e}"))?;
        self.known.insert(topic.to_owned());
        println!("topic key set for {}", shown(topic));
        Ok(())
    }

    fn show(&mut self, e: Event) {
        match e {
            Event::Connected => println!("connected to broker"),
            Event::Disconnected { reason } => {
                println!("connection to broker lost: {reason} (reconnecting)")
            }
            Event::Subscribed { filters } => {
                let filters: Vec<_> = filters.iter().map(|f| shown(f)).collect();
                println!("subscribed to {}", filters.join(", "))
            }
            Event::SubscriptionRefused { filters } => {
                let filters: Vec<_> = filters.iter().map(|f| shown(f)).collect();
                self.fail(&format!(
                    "the broker refused the subscription to {}",
                    filters.join(", ")
                ));
            }
            Event::Message {
                topic,
                payload,
                protected,
            } => {
                let kind = if protected { "protected" } else { "cleartext" };
                println!(
                    "received {kind} message on topic {}: {}",
                    shown(&topic),
                    printable(&payload)
                );
                self.known.insert(topic);
            }
            Event::Command(info) => println!("E4 command applied: {}", info.name()),
            Event::Rejected { topic, error } => {
                println!("rejected message on topic {}: {error}", shown(&topic))
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
                NegotiationEvent::AnnounceRequested => {
                    println!("negotiation: C2 asked for a new announcement; announcing")
                }
                NegotiationEvent::RekeyRequested => {
                    println!("negotiation: C2 asked this device to replace its keys; announcing fresh keys")
                }
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
                    .map_or(String::new(), |n| format!(" ({})", shown(n)));
                let transition = t.replaced_at.map_or(String::new(), |ts| {
                    format!(", previous key kept since {}", iso_time(ts))
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
        let subs: Vec<_> = subs.iter().map(|f| shown(f)).collect();
        let filters: Vec<_> = filters.iter().map(|f| shown(f)).collect();
        println!("subscriptions: {}", subs.join(", "));
        println!("cleartext allowed on: {}", filters.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap()
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(words("  e4msg a/b  21.5 "), ["e4msg", "a/b", "21.5"]);
        assert_eq!(
            words("e4msg 'living room/温度' \"it's 21.5 °C\""),
            ["e4msg", "living room/温度", "it's 21.5 °C"]
        );
        assert_eq!(
            words(r#"a "x\"y\\z\n" 'q\"'"#),
            ["a", "x\"y\\z\\n", "q\\\""]
        );
        assert_eq!(words(r"a\ b c\'d"), ["a b", "c'd"]);
        assert_eq!(words("x''y \"\" ''"), ["xy", "", ""]);
        assert_eq!(words("a'b c'd"), ["ab cd"]);
        assert_eq!(words("tab\tseparated"), ["tab", "separated"]);
        assert_eq!(words("'keep\ttab'"), ["keep\ttab"]);
        assert!(words("").is_empty());
        assert_eq!(
            split_words("e4msg 'open").unwrap_err(),
            "a quote (') is not closed"
        );
        assert_eq!(
            split_words("e4msg \"open").unwrap_err(),
            "a quote (\") is not closed"
        );
        assert_eq!(
            split_words("e4msg \"open\\").unwrap_err(),
            "a quote (\") is not closed"
        );
        assert_eq!(
            split_words("x \\").unwrap_err(),
            "a backslash ends the line"
        );
    }

    #[test]
    fn topics_are_shown_as_they_can_be_typed() {
        for t in ["plain/topic", "温度/ñ", "a/+/#"] {
            assert_eq!(shown(t), t);
        }
        for (t, s) in [
            ("living room", "\"living room\""),
            ("", "\"\""),
            ("it's", "\"it's\""),
            ("x\\y", "\"x\\\\y\""),
            ("c1\u{85}", "\"c1\\u{85}\""),
            ("a\"b", "\"a\\\"b\""),
            ("a\nb", "\"a\\nb\""),
        ] {
            assert_eq!(shown(t), s);
        }
        // What `shown` prints reads back as the same topic (without
        // control characters, which no valid topic has).
        for t in ["living room", "it's", "a\"b", "x\\y", "sp ace/温度"] {
            assert_eq!(words(&shown(t)), [t], "{t:?}");
        }
    }

    #[test]
    fn arguments_are_counted() {
        let args = words("a b");
        assert_eq!(
            exactly::<2>("set-topic-key", &args, "<topic> <key>").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            exactly::<1>("subscribe", &args, "<filter>").unwrap_err(),
            "subscribe: expected subscribe <filter>, got 2 arguments (quote a topic or key holding spaces)"
        );
        assert_eq!(
            exactly::<1>("subscribe", &[], "<filter>").unwrap_err(),
            "subscribe: expected subscribe <filter>, got 0 arguments"
        );
    }
}

/// A Unix time as ISO 8601 (UTC).
fn iso_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn state_times_are_iso_8601_utc() {
        assert_eq!(super::iso_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
