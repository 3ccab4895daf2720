//! `e4 protect` and `e4 unprotect`: one message, stdin to stdout.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::Args;
use e4_backends::rng::OsRng;
use e4_client::config::generate_kem_identity;
use e4_client::{Client, Config, ManualClock, Unprotected};
use e4_proto::crypto::Rng;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::{Clock, Id, SuiteId, SymKey};
use zeroize::Zeroizing;

use crate::keys::{parse_id, read_key, read_key_array};
use crate::CliError;
use e4_proto::Family;

/// Protect the message on stdin for TOPIC; write the protected bytes to stdout.
///
/// Keys come from the command line, or from a client's state file (--state).
/// The signed suites (pubkey, pq, pq-draft) also need the sender's signing
/// key and id. --now fixes the clock (unix seconds) for scripts and test
/// vectors: the symmetric and pubkey suites are deterministic, so the same
/// input and --now give the same bytes.
///
/// Examples:
///
///   echo -n 21.5 | e4 protect --topic sensors/t --topic-key topic.key > msg.bin
///
///   e4 protect --suite pubkey --topic sensors/t --topic-key topic.key \
///       --signing-key device --name device-1 < in > out
///
///   e4 protect --state device.e4 --topic sensors/t < in > out
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ProtectArgs {
    /// Topic the message is published on (not empty, no control
    /// characters, no wildcards, nothing under e4/ or e4c2/).
    #[arg(long, value_parser = parse_topic_name)]
    topic: String,
    /// Crypto suite: symmetric, pubkey, pq, pq-draft or hybrid.
    #[arg(long, value_parser = crate::parse_suite, default_value = "symmetric")]
    suite: SuiteId,
    /// The topic's key, 32 bytes: hex, or a file holding raw bytes or hex
    /// (FILE or @FILE).
    #[arg(long, value_name = "KEY", required_unless_present = "state")]
    topic_key: Option<String>,
    /// Sender's signing key (pubkey: 64-byte Ed25519 private key; pq: the
    /// ML-DSA secret key): hex, or a file holding raw bytes or hex (FILE or
    /// @FILE).
    #[arg(long, value_name = "KEY")]
    signing_key: Option<String>,
    /// Sender's id (32 hex digits).
    #[arg(long, value_name = "HEX", conflicts_with = "name")]
    id: Option<String>,
    /// Sender's device name (id = SHA3-256(name)[..16]).
    #[arg(long)]
    name: Option<String>,
    /// Use a client's state file (keys and identity) instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["topic_key", "signing_key", "id", "name"])]
    state: Option<PathBuf>,
    /// The current time, in unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
}

/// Unprotect the message on stdin, received on TOPIC; write the payload to stdout.
///
/// With --state, a message on the client's control topic is a command from
/// C2: it is applied, the state file is updated, and its name is printed on
/// stderr. The signed suites need the sender's public key and id.
///
/// Examples:
///
///   e4 unprotect --topic sensors/t --topic-key topic.key < msg.bin
///
///   e4 unprotect --suite pubkey --topic sensors/t --topic-key topic.key \
///       --sender-key device.pub --sender-name device-1 < msg.bin
///
///   e4 unprotect --state device.e4 --topic e4/ID < command.bin
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct UnprotectArgs {
    /// Topic the message was received on: a topic name (not empty, no
    /// control characters, no wildcards, nothing under e4/ or e4c2/), or
    /// with --state the client's control topic e4/ID.
    #[arg(long)]
    topic: String,
    /// Crypto suite: symmetric, pubkey, pq, pq-draft or hybrid.
    #[arg(long, value_parser = crate::parse_suite, default_value = "symmetric")]
    suite: SuiteId,
    /// The topic's key, 32 bytes: hex, or a file holding raw bytes or hex
    /// (FILE or @FILE).
    #[arg(long, value_name = "KEY", required_unless_present = "state")]
    topic_key: Option<String>,
    /// Sender's signature public key (pubkey: 32-byte Ed25519; pq: ML-DSA):
    /// hex, or a file holding raw bytes or hex (FILE or @FILE).
    #[arg(long, value_name = "KEY")]
    sender_key: Option<String>,
    /// Sender's id (32 hex digits).
    #[arg(long, value_name = "HEX", conflicts_with = "sender_name")]
    sender_id: Option<String>,
    /// Sender's device name.
    #[arg(long)]
    sender_name: Option<String>,
    /// Use a client's state file instead (and apply commands to it).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["topic_key", "sender_key", "sender_id", "sender_name"])]
    state: Option<PathBuf>,
    /// The current time, in unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
}

/// A topic name that passes the shared rules
/// ([`e4_proto::topic_name::check_topic_name`]).
fn parse_topic_name(topic: &str) -> Result<String, String> {
    e4_proto::check_topic_name(topic)
        .map(|()| topic.to_owned())
        .map_err(|e| e.to_string())
}

/// `--topic`: a usage error if it breaks the topic-name rules.
fn check_topic(topic: &str) -> Result<(), CliError> {
    e4_proto::check_topic_name(topic)
        .map_err(|e| CliError::usage(format!("--topic {:?}: {e}", topic)))
}

fn clock(now: Option<u64>) -> ManualClock {
    ManualClock::new(now.unwrap_or_else(|| e4_proto::time::SystemClock.now()))
}

fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut v = Vec::new();
    std::io::stdin()
        .read_to_end(&mut v)
        .map_err(CliError::io("read", "stdin"))?;
    Ok(v)
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(CliError::io("write", "stdout"))
}

fn id_of(id: Option<&str>, name: Option<&str>) -> Result<Option<Id>, CliError> {
    match (id, name) {
        (Some(h), _) => parse_id(h).map(Some),
        (None, Some(n)) => Ok(Some(e4_client::config::id_from_name(crate::provider(), n)?)),
        (None, None) => Ok(None),
    }
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    while b.iter().all(|&x| x == 0) {
        OsRng.fill(&mut b);
    }
    b
}

/// A client created for one topic message. Only part of its identity is
/// used for topic messages (the signing key and id of a sender); the rest
/// (client key, C2 keys, a receiver's own keys) is drawn at random here.
fn one_shot_client(
    suite: SuiteId,
    id: Option<Id>,
    signing_key: Option<&str>,
    clock: ManualClock,
) -> Result<Client<ManualClock>, CliError> {
    let config = match suite.family() {
        Family::E4Symmetric => Config::sym_id_and_key(id, SymKey::new(random_nonzero())),
        Family::E4PublicKey => {
            let key = match signing_key {
                Some(k) => Ed25519Secret::new(*read_key_array::<64>(k, "Ed25519 private key")?),
                None => {
                    let seed = Zeroizing::new(random_nonzero::<32>());
                    let mut sk = Zeroizing::new([0u8; 64]);
                    sk[..32].copy_from_slice(&seed[..]);
                    sk[32..].copy_from_slice(&e4_backends::ed25519::public_from_seed(&seed));
                    Ed25519Secret::new(*sk)
                }
            };
            Config::pub_id_and_key(id, key, random_nonzero())
        }
        Family::Kem => {
            let p = suite.params();
            // C2's key is never used: this client receives no commands.
            let mut keys =
                generate_kem_identity(crate::provider(), suite, vec![0xc2; p.c2_public_key])?;
            if let Some(k) = signing_key {
                keys.sig_sk =
                    SecretBytes::from_slice(&read_key(k, "signing key", p.sig_secret_key)?);
            }
            Config::KemIdAndKeys { suite, id, keys }
        }
    };
    Ok(Client::with_clock_and_provider(
        config,
        clock,
        crate::provider(),
    )?)
}

pub fn run_protect(a: ProtectArgs) -> Result<(), CliError> {
    let clock = clock(a.now);
    let client = match &a.state {
        Some(path) => Client::open_with_clock_and_provider(path, clock, crate::provider())?,
        None => {
            let suite = a.suite;
            let id = id_of(a.id.as_deref(), a.name.as_deref())?;
            if suite == SuiteId::Symmetric {
                if a.signing_key.is_some() || id.is_some() {
                    return Err(CliError::usage(
                        "--signing-key, --id and --name are for the signed suites (pubkey, pq, pq-draft)",
                    ));
                }
            } else if a.signing_key.is_none() || id.is_none() {
                return Err(CliError::usage(format!(
                    "suite {} signs messages: give --signing-key and the sender's --id or --name",
                    suite
                )));
            }
            let mut c = one_shot_client(suite, id, a.signing_key.as_deref(), clock)?;
            let key =
                read_key_array::<32>(a.topic_key.as_deref().unwrap_or_default(), "topic key")?;
            c.set_topic_key(&a.topic, &SymKey::new(*key))?;
            c
        }
    };
    let payload = read_stdin()?;
    write_stdout(&client.protect(&payload, &a.topic)?)
}

pub fn run_unprotect(a: UnprotectArgs) -> Result<(), CliError> {
    let clock = clock(a.now);
    let mut client = match &a.state {
        Some(path) => {
            let c = Client::open_with_clock_and_provider(path, clock, crate::provider())?;
            if !c.is_control_topic(&a.topic) {
                check_topic(&a.topic)?;
            }
            c
        }
        None => {
            check_topic(&a.topic)?;
            let suite = a.suite;
            let sender = id_of(a.sender_id.as_deref(), a.sender_name.as_deref())?;
            let mut c = one_shot_client(suite, None, None, clock)?;
            match (suite.signs_messages(), &a.sender_key, sender) {
                (false, None, None) => {}
                (false, _, _) => {
                    return Err(CliError::usage(
                        "--sender-key, --sender-id and --sender-name are for the signed suites",
                    ))
                }
                (true, Some(k), Some(id)) => {
                    let pk_len = suite.params().sig_public_key;
                    c.set_pubkey(&id, &read_key(k, "sender public key", pk_len)?)?;
                }
                (true, _, _) => {
                    return Err(CliError::usage(format!(
                        "suite {suite} verifies signatures: give --sender-key and --sender-id or --sender-name"
                    )))
                }
            }
            let key =
                read_key_array::<32>(a.topic_key.as_deref().unwrap_or_default(), "topic key")?;
            c.set_topic_key(&a.topic, &SymKey::new(*key))?;
            c
        }
    };
    let payload = read_stdin()?;
    match client.unprotect(&payload, &a.topic)? {
        Unprotected::Message(m) => write_stdout(&m),
        Unprotected::Command(info) => {
            let path = client.state_path().map(|p| p.display().to_string());
            match info.negotiation {
                Some(e4_client::Negotiated::Accepted { suite }) => {
                    if let Some((topic, confirm)) = client.take_confirm() {
                        eprintln!("SetSuite accepted: moving to suite {suite}; publish the Confirm (hex, on stdout) on {topic}");
                        write_stdout(hex::encode(confirm).as_bytes())?;
                    }
                }
                Some(e4_client::Negotiated::Upgraded { from, to }) => {
                    eprintln!("suite upgraded from {from} to {to}")
                }
                Some(e4_client::Negotiated::AnnounceRequested) => {
                    eprintln!("C2 asks this device to announce itself again (Renegotiate): the `e4 client` shell announces on its `negotiate` command")
                }
                Some(e4_client::Negotiated::RekeyRequested) => {
                    eprintln!("C2 asks this device to replace its keys (Renegotiate, rekey): an Announce offering fresh keys was saved; the `e4 client` shell publishes it on its `negotiate` command")
                }
                _ => {}
            }
            eprintln!(
                "command applied: {} (state saved to {})",
                info.name(),
                path.unwrap_or_default()
            );
            Ok(())
        }
    }
}
