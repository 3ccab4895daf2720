//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// E4 command-and-control server and its admin tool.
#[derive(Parser, Debug)]
#[command(name = "e4c2", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "E4C2_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter (tracing syntax, e.g. `info,e4_c2=debug`; the embedded
    /// broker's target is `rumqttd`).
    #[arg(long, global = true, default_value = crate::cli::logging::DEFAULT_FILTER, env = "E4C2_LOG")]
    pub log: String,
    /// Where the server is (global: accepted before or after the command).
    #[command(flatten)]
    pub conn: ConnArgs,
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Log formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the server (embedded defaults: SQLite, broker, TLS, admin token).
    Serve(ServeArgs),
    /// A throw-away C2, embedded broker and mixed fleet (symmetric sensors,
    /// a public-key meter, a post-quantum gateway, a hybrid device) that
    /// negotiate, exchange messages, rotate a key and upgrade a sensor to
    /// post-quantum; prints a table per device and what the broker saw.
    Demo,
    /// Offline: re-encrypt the database under a new passphrase.
    Passphrase(OfflineArgs),
    /// Offline: replace the admin token.
    RotateToken(OfflineArgs),
    /// Clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Topics.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// C2's own keys and suites.
    #[command(subcommand)]
    C2(C2Cmd),
    /// Automation rules: a target, triggers and an action
    /// (docs/automation.md).
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Protect a payload with a topic key (prints base64).
    Protect {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        /// Payload (UTF-8 text).
        payload: String,
    },
    /// Unprotect a base64 message with a topic key.
    Unprotect {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        /// Protected message (base64).
        protected: String,
    },
    /// Follow the event stream.
    Events {
        #[command(flatten)]
        conn: OutputArgs,
    },
    /// Server health.
    Health {
        #[command(flatten)]
        conn: OutputArgs,
        /// Wait up to SECONDS for the server to answer (for scripts that
        /// start `e4c2 serve` in the background).
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        wait: f64,
    },
    /// The fleet's suite negotiation policy (show, or `policy set`).
    Policy(PolicyArgs),
    /// Set or clear the suites one device may be moved to.
    #[command(group(clap::ArgGroup::new("override").required(true).args(["allowed", "clear"])))]
    ClientPolicy {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
        /// Suites this device may be moved to (comma-separated: symmetric,
        /// pubkey, pq, pq-draft, hybrid); an empty value pins it.
        #[arg(long, value_delimiter = ',')]
        allowed: Option<Vec<String>>,
        /// Remove the override: the fleet policy applies again.
        #[arg(long)]
        clear: bool,
    },
}

/// `policy` options.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub conn: OutputArgs,
    /// Change the policy.
    #[command(subcommand)]
    pub cmd: Option<PolicyCmd>,
}

/// Policy commands.
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Change the fleet policy; fields not given keep their current values.
    /// Devices are moved at their next Announce.
    #[command(group(clap::ArgGroup::new("field").required(true).multiple(true).args(["allowed", "minimum", "ranking"])))]
    Set {
        #[command(flatten)]
        conn: OutputArgs,
        /// Suites C2 may move devices to (comma-separated: symmetric,
        /// pubkey, pq, pq-draft, hybrid).
        #[arg(long, value_delimiter = ',')]
        allowed: Option<Vec<String>>,
        /// The weakest suite acceptable as a device's running suite.
        #[arg(long)]
        minimum: Option<String>,
        /// Every suite, weakest first (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ranking: Option<Vec<String>>,
    },
}

/// `serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The data directory: the global --data-dir.
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://FILE or postgres://… (default: SQLite in the data directory).
    #[arg(long, env = "E4C2_DB")]
    pub db: Option<String>,
    /// External broker (mqtt://host:port or mqtts://…); default: embedded broker.
    #[arg(long, env = "E4C2_BROKER")]
    pub broker: Option<String>,
    /// CA certificate (PEM) of an mqtts:// broker.
    #[arg(long)]
    pub broker_ca: Option<PathBuf>,
    /// Embedded broker address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt_listen: SocketAddr,
    /// gRPC address (TLS).
    #[arg(long, default_value = "127.0.0.1:5555")]
    pub grpc_listen: SocketAddr,
    /// REST address (TLS).
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub http_listen: SocketAddr,
    /// Serve `/metrics` (only) on this address, in plain HTTP and without
    /// a token, for a Prometheus on a private network. Without it,
    /// `/metrics` is on the REST listener and needs the admin token.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// TLS certificate (PEM); default: self-signed, generated at first start.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File holding the database passphrase (default: E4C2_PASSPHRASE, then
    /// <data-dir>/passphrase, generated at first start).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Argon2id memory (KiB) for a new database.
    #[arg(long, default_value_t = 65536, hide = true)]
    pub kdf_memory_kib: u32,
    /// Unacknowledged QoS 2 publishes at most. It must not exceed the
    /// broker's per-client in-flight limit (mosquitto: max_inflight_messages,
    /// 20 by default), or the broker drops the connection. Default: 20 with
    /// --broker, 100 with the embedded broker.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub publish_window: Option<u16>,
    /// Longest delay between broker reconnection attempts, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub max_backoff_ms: u64,
    /// Crypto provider: pqclean, libcrux, rustcrypto or small (those
    /// compiled in; default: the fastest of them). C2 serves the suites it
    /// offers.
    #[arg(long, env = "E4C2_PROVIDER", value_name = "NAME")]
    pub provider: Option<String>,
    /// Health reports delivery as stalled (degraded) when commands waited
    /// this many seconds and the broker acknowledged nothing for as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub stall_after: u64,
    /// Messages per second one device may send on its announce topic
    /// (Announce, Confirm, state reports), sustained; beyond, they are
    /// dropped unread (e4c2_negotiation_dropped_total{limit="device"}).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 2.0, value_parser = positive_rate)]
    pub announce_rate: f64,
    /// Messages one device may send at once on its announce topic.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub announce_burst: u32,
    /// Messages per second from all devices together on the announce
    /// topics (e4c2_negotiation_dropped_total{limit="global"} beyond).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 200.0, value_parser = positive_rate)]
    pub announce_global_rate: f64,
    /// Commands per second an automation rule's schedule may queue at most
    /// (members or clients of its target divided by its shortest interval);
    /// a rule above it is refused when added or enabled.
    #[arg(long, value_name = "PER_SECOND", default_value_t = crate::automation::ops::DEFAULT_MAX_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    pub rule_max_rate: u64,
    /// After a device moves from the public-key suite to a post-quantum
    /// one, keep the topic keys it held instead of rotating every topic it
    /// keeps. Those keys travelled under static X25519: whoever recorded
    /// them can read the topics once X25519 falls. Default: rotate.
    #[arg(long)]
    pub keep_pubkey_topic_keys: bool,
    /// Let anyone connect to the embedded broker. By default it accepts
    /// only the credentials C2 issued: each device's (in its provisioning
    /// file and state file) and C2's own (<data>/mqtt.password).
    #[arg(long)]
    pub allow_anonymous: bool,
    /// Keep a mosquitto password file (e4c2.passwd) and ACL file (e4c2.acl)
    /// in DIR, rewritten at start and when devices or topic memberships
    /// change: each device may publish only on its announce topic and its
    /// topics, and subscribe only to its control topic and its topics.
    #[arg(long, value_name = "DIR")]
    pub mosquitto_dir: Option<PathBuf>,
    /// mosquitto's pid file: send it SIGHUP after each rewrite of the
    /// --mosquitto-dir files (mosquitto then re-reads them).
    #[arg(long, value_name = "FILE", requires = "mosquitto_dir")]
    pub mosquitto_pid_file: Option<PathBuf>,
}

/// A rate: a finite number above zero.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate above zero (messages per second)"
        )),
    }
}

/// Offline commands' options.
#[derive(Args, Debug)]
pub struct OfflineArgs {
    /// The data directory: the global --data-dir.
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// Database URL.
    #[arg(long, env = "E4C2_DB")]
    pub db: Option<String>,
    /// File holding the current passphrase (default: E4C2_PASSPHRASE, then <data-dir>/passphrase).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// File holding the new passphrase (passphrase command; default:
    /// E4C2_NEW_PASSPHRASE). When the current one came from
    /// <data-dir>/passphrase, that file is updated.
    #[arg(long)]
    pub new_passphrase_file: Option<PathBuf>,
    /// Argon2id memory (KiB) for the new key.
    #[arg(long, default_value_t = 65536, hide = true)]
    pub kdf_memory_kib: u32,
}

/// Where the server and its data directory are: global options of `e4c2`
/// (before or after the command), also read from the environment.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Data directory: the server's database, TLS files and admin token;
    /// the admin commands read the server's address, certificate and token
    /// from it.
    #[arg(long, global = true, env = "E4C2_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// gRPC endpoint of the server for the admin commands (default: from
    /// <data-dir>/server.json, else https://127.0.0.1:5555).
    #[arg(long, global = true, env = "E4C2_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// CA certificate of the server (default: <data-dir>/tls/cert.pem).
    #[arg(long, global = true, env = "E4C2_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// TLS server name to verify.
    #[arg(
        long,
        global = true,
        env = "E4C2_TLS_SERVER_NAME",
        default_value = "localhost"
    )]
    pub tls_server_name: String,
    /// Admin token file (default: E4C2_TOKEN, then <data-dir>/admin.token).
    #[arg(long, global = true, env = "E4C2_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Output of an admin command.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct OutputArgs {
    /// JSON output for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Paging.
#[derive(Args, Debug, Clone, Copy)]
pub struct PageArgs {
    /// Rows to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Rows (at most 1000).
    #[arg(long, default_value_t = 100)]
    pub count: u32,
}

/// Waiting for delivery.
#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// Return once the commands are queued, without waiting for delivery.
    #[arg(long)]
    pub no_wait: bool,
    /// Once the broker acknowledged every command, wait this many seconds
    /// at most for the devices to confirm (state reports; e4go and libe4
    /// devices never confirm). 0: do not wait.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub wait_devices: f64,
}

/// A client on the command line.
#[derive(Args, Debug, Clone)]
pub struct ClientArg {
    /// Client name (or id in hex with --by-id).
    pub client: String,
    /// Read CLIENT as a 32-hex-digit id.
    #[arg(long)]
    pub by_id: bool,
}

/// Client commands.
#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client.
    Add {
        #[command(flatten)]
        conn: OutputArgs,
        /// Name.
        name: String,
        /// symmetric, pubkey, pq, pq-draft or hybrid.
        #[arg(long, default_value = "symmetric")]
        suite: String,
        /// Explicit id (hex).
        #[arg(long)]
        id: Option<String>,
        /// Symmetric key (KEY: hex, or a file, @FILE or a path, holding raw
        /// bytes or hex); generated if absent (printed once, or written to
        /// --out).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Signature public key of a device that made its own keys (KEY).
        #[arg(long, value_name = "KEY", conflicts_with = "out")]
        sig_public_key: Option<String>,
        /// KEM public key of a device that made its own keys (KEY).
        #[arg(long, value_name = "KEY", conflicts_with = "out")]
        kem_public_key: Option<String>,
        /// Write the device's provisioning file (mode 0600, never over an
        /// existing file): its id, suite and keys (for the pubkey and pq
        /// suites the key pairs are generated here; C2 gets only the public
        /// keys) and C2's key. Start the device with `e4 client --provision
        /// FILE`, then delete the file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The broker address (HOST:PORT) written to the provisioning file
        /// (default: the running server's broker, from server.json).
        #[arg(long, value_name = "HOST:PORT", requires = "out")]
        broker: Option<String>,
    },
    /// Show a client.
    Get {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
    },
    /// Remove a client.
    Remove {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
    },
    /// List clients.
    List {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        page: PageArgs,
    },
    /// A new MQTT password for a device (printed once; the old one stops
    /// working at the device's next connection). Give it to the device
    /// (`e4 client --mqtt-password-file`).
    MqttPassword {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
    },
    /// New client key (SetIdKey; a KEM device is asked to rekey).
    NewKey {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Reset a client's topics (ResetTopics).
    Reset {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
    },
    /// Send a device its whole state again: the key (and format) of each
    /// of its topics, whatever it reported. Devices that report their state
    /// (e4-rs) are brought up to date without this.
    Resync {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// A client's topics.
    Topics {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Link SOURCE to TARGET (TARGET is to hold SOURCE's public key).
    Link {
        #[command(flatten)]
        conn: OutputArgs,
        /// Source name.
        source: String,
        /// Target name.
        target: String,
    },
    /// Remove a link.
    Unlink {
        #[command(flatten)]
        conn: OutputArgs,
        /// Source name.
        source: String,
        /// Target name.
        target: String,
    },
    /// Clients linked to a client.
    Linked {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Send SOURCE's public key to TARGET (SetPubKey).
    SendPubkey {
        #[command(flatten)]
        conn: OutputArgs,
        /// Source name.
        source: String,
        /// Target name.
        target: String,
    },
    /// Remove SOURCE's public key from TARGET (RemovePubKey).
    RemovePubkey {
        #[command(flatten)]
        conn: OutputArgs,
        /// Source name.
        source: String,
        /// Target name.
        target: String,
    },
    /// Remove every public key from a client (ResetPubKeys).
    ResetPubkeys {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        client: ClientArg,
    },
}

/// Topic commands.
#[derive(Subcommand, Debug)]
pub enum TopicCmd {
    /// Create a topic.
    Add {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        /// Message format (a suite); default: the first member's suite.
        #[arg(long)]
        format: Option<String>,
    },
    /// Change a topic's message format (SetTopicFormat to members as needed;
    /// refused, changing nothing, when a member cannot read it).
    Format {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        /// Format: symmetric, pubkey, pq, pq-draft or hybrid.
        format: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Show a topic.
    Get {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
    },
    /// Remove a topic (RemoveTopic to every member).
    Remove {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List topics.
    List {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Rotate a topic key (SetTopicKey to every member).
    Rotate {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Members of a topic.
    Clients {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Add a client to a topic (SetTopicKey).
    Join {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        #[command(flatten)]
        client: ClientArg,
    },
    /// Remove a client from a topic (RemoveTopic) and rotate the topic's
    /// key for the members left (the removed device holds the old key).
    Leave {
        #[command(flatten)]
        conn: OutputArgs,
        /// Topic.
        topic: String,
        #[command(flatten)]
        client: ClientArg,
        /// Do not rotate the topic key now: the removed device can read
        /// the topic until the next rotation.
        #[arg(long)]
        no_rotate: bool,
    },
}

/// C2 commands.
#[derive(Subcommand, Debug)]
pub enum C2Cmd {
    /// New C2 key pair (SetC2Key to every client of the suite).
    NewKey {
        #[command(flatten)]
        conn: OutputArgs,
        /// pubkey, pq, pq-draft or hybrid (default: all).
        #[arg(long)]
        suite: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Suites served and C2's public keys.
    CryptoMode {
        #[command(flatten)]
        conn: OutputArgs,
    },
}

/// A rule on the command line.
#[derive(Args, Debug, Clone)]
pub struct RuleArg {
    /// Rule name.
    pub name: String,
}

/// Rule commands.
#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// Add a rule (checked by the server: a refused rule changes nothing).
    Add {
        #[command(flatten)]
        conn: OutputArgs,
        /// Unique name.
        name: String,
        /// What it acts on: topic:NAME, client:NAME, all-topics,
        /// all-clients or suite:NAME.
        #[arg(long, value_name = "TARGET")]
        target: String,
        /// When it fires (repeat for several): every:DURATION (e.g.
        /// every:1h), cron:EXPR (6 or 7 fields, seconds first, UTC, e.g.
        /// "cron:0 0 3 * * *"), event:KIND (client_joined, client_left,
        /// client_removed, suite_upgraded, below_minimum), key-age:DURATION,
        /// count:N (membership changes).
        #[arg(long = "trigger", value_name = "TRIGGER", required = true)]
        triggers: Vec<String>,
        /// What it does: rotate-topic-key, new-client-key, rotate-c2-key,
        /// remove-from-topic:TOPIC or renegotiate (ask devices to announce
        /// again, so that today's policy applies to them).
        #[arg(long, value_name = "ACTION")]
        action: String,
        /// Slots missed while no C2 ran: fire once for all of them on
        /// start, or skip them.
        #[arg(long, value_parser = ["fire-once", "skip"], default_value = "fire-once")]
        missed: String,
        /// Add it disabled (`rule enable` later).
        #[arg(long)]
        disabled: bool,
    },
    /// List rules: targets, triggers, actions, next and last fire.
    List {
        #[command(flatten)]
        conn: OutputArgs,
    },
    /// Show a rule and its last firings.
    Show {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
    },
    /// Enable a rule: it fires from its next slot after now.
    Enable {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
    },
    /// Disable a rule (it keeps its history; `rule fire` still works).
    Disable {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
    },
    /// Remove a rule and its history.
    Remove {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
    },
    /// Fire a rule now on its whole target (history reason `manual`).
    Fire {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
        /// Only say what it would queue; nothing is queued or changed.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// A rule's firings, newest first.
    History {
        #[command(flatten)]
        conn: OutputArgs,
        #[command(flatten)]
        rule: RuleArg,
        /// Firings (at most 200).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only firings older than this firing id (paging; see --json).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
    },
}

/// `$HOME/.local/share/e4c2`, or `./e4c2-data` without a home.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/e4c2"),
        None => PathBuf::from("e4c2-data"),
    }
}
