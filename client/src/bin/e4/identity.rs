//! Client identities on the command line, and `e4 id`.

use std::path::{Path, PathBuf};

use clap::Args;
use e4_client::config::id_from_name;
use e4_client::{Config, Provisioning};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{Id, SymKey};
use zeroize::Zeroizing;

use crate::keys::{parse_id, read_key, read_key_array};
use crate::CliError;
use e4_proto::{Family, SuiteId};

/// Print the id and control topic of a device name (id = SHA3-256(name)[..16]).
#[derive(Args, Debug)]
pub struct IdArgs {
    /// The device name.
    #[arg(long)]
    name: String,
}

pub fn run_id(a: IdArgs) -> Result<(), CliError> {
    let id = id_from_name(crate::provider(), &a.name)?;
    println!("id: {id}");
    println!("control topic: {}", id.control_topic());
    Ok(())
}

/// A secret command-line value: zeroized on drop, never printed.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(Zeroizing::new(s.to_owned())))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The password from `--password`/`E4_PASSWORD` or from the first line of a file.
pub fn read_password(
    arg: Option<&str>,
    file: Option<&Path>,
) -> Result<Zeroizing<String>, CliError> {
    match (arg, file) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "give the password once: --password (or E4_PASSWORD) or --password-file",
        )),
        (Some(p), None) => Ok(Zeroizing::new(p.to_owned())),
        (None, Some(f)) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(f).map_err(CliError::io("read password from", f))?,
            );
            let line = text.lines().next().unwrap_or("");
            Ok(Zeroizing::new(line.to_owned()))
        }
        (None, None) => Err(CliError::usage("no password given")),
    }
}

/// How to create a client (when its state file does not exist yet).
#[derive(Args, Debug)]
pub struct IdentityArgs {
    /// Crypto suite of a new client: symmetric, pubkey, pq, pq-draft or
    /// hybrid.
    #[arg(long, value_parser = crate::parse_suite, default_value = "symmetric")]
    pub suite: SuiteId,
    /// Device name; the id is SHA3-256(name)[..16], as in e4go.
    #[arg(long, conflicts_with = "id")]
    pub name: Option<String>,
    /// Client id (32 hex digits). Random when neither --id nor --name is given.
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
    /// Password (at least 16 bytes) from which the key is derived exactly as
    /// e4go does; needs --name. Visible to other users in `ps`: prefer
    /// --password-file or the E4_PASSWORD variable.
    #[arg(long, env = "E4_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Client key: 32-byte symmetric key, or 64-byte Ed25519 private key
    /// (seed ‖ public) for --suite pubkey; hex, or a file holding raw bytes
    /// or hex (FILE or @FILE).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// C2's public key: Curve25519 for --suite pubkey, C2's signature key
    /// for the pq suites; hex, or a file holding raw bytes or hex (FILE or
    /// @FILE).
    #[arg(long, value_name = "KEY")]
    pub c2_key: Option<String>,
    /// Provisioning file written by C2 (`e4c2 client add NAME --out FILE`):
    /// a new client takes its name, id, suite and keys from it, and it names
    /// the broker when --broker is not given. If the state file exists, the
    /// provisioning file must name the same client; its keys are then
    /// ignored. It holds the device's secrets: delete it once the state file
    /// is made.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["suite", "name", "id", "password", "password_file", "key", "c2_key"]
    )]
    pub provision: Option<PathBuf>,
}

impl IdentityArgs {
    /// The provisioning file of --provision, read.
    pub fn provisioning(&self) -> Result<Option<Provisioning>, CliError> {
        let Some(path) = &self.provision else {
            return Ok(None);
        };
        let p = Provisioning::read(path)
            .map_err(|e| CliError::Failed(format!("--provision {}: {e}", path.display())))?;
        Ok(Some(p))
    }

    /// Whether any option that creates a client was given.
    pub fn given(&self) -> bool {
        self.name.is_some()
            || self.id.is_some()
            || self.password.is_some()
            || self.password_file.is_some()
            || self.key.is_some()
            || self.c2_key.is_some()
    }

    /// The id these options name, if any.
    pub fn named_id(&self) -> Result<Option<Id>, CliError> {
        match (&self.name, &self.id) {
            (Some(n), _) => Ok(Some(id_from_name(crate::provider(), n)?)),
            (None, Some(h)) => parse_id(h).map(Some),
            (None, None) => Ok(None),
        }
    }

    fn password(&self) -> Result<Option<Zeroizing<String>>, CliError> {
        if self.password.is_none() && self.password_file.is_none() {
            return Ok(None);
        }
        if self.key.is_some() {
            return Err(CliError::usage("give either a password or --key, not both"));
        }
        let arg = self.password.as_ref().map(|s| s.0.as_str());
        read_password(arg, self.password_file.as_deref()).map(Some)
    }

    fn name_for_password(&self) -> Result<&str, CliError> {
        match &self.name {
            Some(n) if self.id.is_none() => Ok(n),
            _ => Err(CliError::usage(
                "a password needs --name (the id is derived from the name), and no --id",
            )),
        }
    }

    /// The configuration of a new client.
    pub fn config(&self) -> Result<Config, CliError> {
        let password = self.password()?;
        let id = self.named_id()?;
        let suite = self.suite;
        match suite.family() {
            Family::E4Symmetric => {
                if self.c2_key.is_some() {
                    return Err(CliError::usage(
                        "--c2-key is not used in the symmetric suite",
                    ));
                }
                match (password, &self.key) {
                    (Some(pw), _) => Ok(Config::sym_name_and_password(
                        self.name_for_password()?,
                        &pw,
                    )),
                    (None, Some(k)) => {
                        let key = read_key_array::<32>(k, "client key")?;
                        Ok(Config::sym_id_and_key(id, SymKey::new(*key)))
                    }
                    (None, None) => Err(CliError::usage(
                        "a new symmetric client needs --key, or --name with a password",
                    )),
                }
            }
            Family::E4PublicKey => {
                let c2 = self.c2_key.as_deref().ok_or_else(|| {
                    CliError::usage(
                        "a new pubkey client needs --c2-key (C2's Curve25519 public key)",
                    )
                })?;
                let c2 = read_key_array::<32>(c2, "C2 public key")?;
                match (password, &self.key) {
                    (Some(pw), _) => Ok(Config::pub_name_and_password(
                        self.name_for_password()?,
                        &pw,
                        *c2,
                    )),
                    (None, Some(k)) => {
                        let key = read_key_array::<64>(k, "Ed25519 private key")?;
                        Ok(Config::pub_id_and_key(id, Ed25519Secret::new(*key), *c2))
                    }
                    (None, None) => Err(CliError::usage(
                        "a new pubkey client needs --key, or --name with a password",
                    )),
                }
            }
            Family::Kem => {
                if password.is_some() || self.key.is_some() {
                    return Err(CliError::usage(
                        "pq clients generate their keys on the device: omit --key and the password",
                    ));
                }
                let c2 = self.c2_key.as_deref().ok_or_else(|| {
                    CliError::usage("a new pq client needs --c2-key (C2's signature public key)")
                })?;
                let c2 = read_key(c2, "C2 signature public key", suite.params().c2_public_key)?;
                Ok(Config::kem_generate(suite, id, &c2))
            }
        }
    }
}
