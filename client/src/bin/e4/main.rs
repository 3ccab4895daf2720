//! `e4`: keys, one-shot protection, and an interactive MQTT client.

mod identity;
mod keygen;
mod keys;
mod protect;
mod shell;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use e4_proto::{CryptoProvider, SuiteId};

/// E4 end-to-end protection of MQTT payloads.
///
/// A KEY is hex, or a file holding raw bytes or hex: FILE or @FILE (as
/// e4c2 takes it), e.g. a file written by `e4 keygen`. Topic names follow
/// the rules C2 applies: not empty, no control characters, no wildcards
/// (+, #) except in subscription filters, nothing under e4/ or e4c2/. Exit
/// status: 0 on success, 1 on failure, 2 on a usage error.
#[derive(Parser, Debug)]
#[command(name = "e4", version, propagate_version = true)]
struct Cli {
    /// Crypto provider: pqclean, libcrux, rustcrypto or small (those
    /// compiled in; default: the fastest of them).
    #[arg(long, global = true, env = "E4_PROVIDER", value_name = "NAME")]
    provider: Option<String>,
    #[command(subcommand)]
    command: Command,
}

static PROVIDER: std::sync::OnceLock<&'static CryptoProvider> = std::sync::OnceLock::new();

/// The crypto provider chosen with `--provider` (or the default).
pub fn provider() -> &'static CryptoProvider {
    PROVIDER.get().copied().unwrap_or_else(e4_client::provider)
}

/// Every compiled provider and its suites, for error messages and help.
fn compiled_providers() -> String {
    e4_client::providers()
        .iter()
        .map(|p| {
            let suites: Vec<&str> = p.suites.iter().map(|s| s.id.name()).collect();
            format!("{} ({})", p.name, suites.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    Keygen(keygen::KeygenArgs),
    Protect(protect::ProtectArgs),
    Unprotect(protect::UnprotectArgs),
    Client(shell::ClientArgs),
    Id(identity::IdArgs),
}

/// A crypto suite named on the command line (`SuiteId::from_name`):
/// symmetric, pubkey, pq, pq-draft or hybrid.
pub fn parse_suite(name: &str) -> Result<SuiteId, String> {
    SuiteId::from_name(name).map_err(|_| {
        let names: Vec<&str> = SuiteId::ALL.iter().map(|s| s.name()).collect();
        format!("unknown suite {name:?} (one of: {})", names.join(", "))
    })
}

/// A failed command: usage errors exit with 2, the rest with 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The library refused.
    #[error(transparent)]
    E4(#[from] e4_client::Error),
    /// A file could not be read or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, explained.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::Usage(msg.into())
    }
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Io { op, path, source }
    }
}

impl From<e4_client::StateError> for CliError {
    fn from(e: e4_client::StateError) -> CliError {
        CliError::E4(e.into())
    }
}

impl From<e4_client::ConfigError> for CliError {
    fn from(e: e4_client::ConfigError) -> CliError {
        CliError::E4(e.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(name) = &cli.provider {
        match e4_client::provider_by_name(name) {
            Ok(p) => {
                let _ = PROVIDER.set(p);
            }
            Err(e) => {
                eprintln!(
                    "e4: error: --provider {name:?}: {}\n  compiled in: {}",
                    match e {
                        e4_client::ProviderError::Unknown => "no such crypto provider",
                        e4_client::ProviderError::NotCompiled => "not compiled into this build",
                    },
                    compiled_providers()
                );
                return ExitCode::from(2);
            }
        }
    }
    let (name, result) = match cli.command {
        Command::Keygen(a) => ("keygen", keygen::run(a)),
        Command::Protect(a) => ("protect", protect::run_protect(a)),
        Command::Unprotect(a) => ("unprotect", protect::run_unprotect(a)),
        Command::Client(a) => ("client", shell::run(a)),
        Command::Id(a) => ("id", identity::run_id(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("e4 {name}: error: {msg}\n\nFor more information, try 'e4 {name} --help'.");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("e4 {name}: error: {e}");
            ExitCode::from(1)
        }
    }
}
