//! Provisioning files: everything a device created by C2 needs to start, in
//! one file. `e4c2 client add NAME --out FILE` writes one (mode 0600, never
//! overwriting an existing file); `e4 client --provision FILE` and
//! [`Provisioning::config`] read it.
//!
//! The file is JSON:
//!
//! ```json
//! { "format": "e4-provisioning/1", "name": "sensor-1",
//!   "id": "<32 hex digits>", "suite": "symmetric", "key": "<hex>",
//!   "c2_public_key": "<hex>", "broker": "127.0.0.1:1883",
//!   "mqtt_username": "<32 hex digits>", "mqtt_password": "<64 hex digits>" }
//! ```
//!
//! Per suite: `symmetric` carries `key` (32 bytes); `pubkey` carries `key`
//! (the Ed25519 private key, seed ‖ public, 64 bytes) and `c2_public_key`
//! (C2's Curve25519 key); the kem suites (`pq`, `pq-draft`, `hybrid`) carry
//! `sig_secret_key`, `sig_public_key`, `kem_secret_key`, `kem_public_key`
//! and `c2_public_key` (C2's signature key). `broker` is optional, and so
//! are `mqtt_username` and `mqtt_password`, the broker credentials C2
//! issued (they go into the state file). The file holds the device's
//! secret keys: move it to the device and delete it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use e4_proto::client::KemIdentity;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::{Family, Id, SuiteId, SymKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::broker_credentials::BrokerCredentials;
use crate::config::Config;
use crate::error::ConfigError;
use crate::state_file::STATE_FILE_MODE;

/// The `format` value of the files this version writes and reads.
pub const PROVISIONING_FORMAT: &str = "e4-provisioning/1";

/// A hex string holding a secret: zeroized on drop, never printed.
type SecretHex = Zeroizing<String>;

/// What a device needs to start: its name, id, suite, keys and C2's key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioning {
    /// Always [`PROVISIONING_FORMAT`].
    pub format: String,
    /// The device's name at C2.
    pub name: String,
    /// The device id, 32 hex digits.
    pub id: String,
    /// The suite name (`symmetric`, `pubkey`, `pq`, `pq-draft`, `hybrid`).
    pub suite: String,
    /// Symmetric key, or Ed25519 private key (seed ‖ public), in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretHex>,
    /// C2's Curve25519 key (pubkey) or signature key (kem suites), in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2_public_key: Option<String>,
    /// Kem suites: signature secret key, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_secret_key: Option<SecretHex>,
    /// Kem suites: signature public key, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_public_key: Option<String>,
    /// Kem suites: KEM decapsulation key, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kem_secret_key: Option<SecretHex>,
    /// Kem suites: KEM encapsulation key, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kem_public_key: Option<String>,
    /// The MQTT broker the device should use (`HOST:PORT`), if C2 knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// The device's MQTT user name, if C2 issued broker credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_username: Option<String>,
    /// The device's MQTT password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_password: Option<SecretHex>,
}

/// Keys are never printed.
impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioning")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("suite", &self.suite)
            .field("broker", &self.broker)
            .field("mqtt_username", &self.mqtt_username)
            .finish_non_exhaustive()
    }
}

/// Why a provisioning file could not be read, used or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisioningError {
    /// Reading or writing the file failed.
    #[error("cannot {action} provisioning file {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists and would be overwritten.
    #[error("provisioning file {} already exists: not overwriting it", .0.display())]
    Exists(PathBuf),
    /// The file is not a provisioning file of this format.
    #[error("not an E4 provisioning file: {0}")]
    Malformed(String),
    /// A field the suite needs is absent.
    #[error("the provisioning file has no `{field}`, which a {suite} device needs")]
    Missing {
        /// The field.
        field: &'static str,
        /// The suite.
        suite: SuiteId,
    },
    /// A field is not valid hex.
    #[error("`{0}` in the provisioning file is not hex")]
    Hex(&'static str),
    /// The key material does not make a valid client.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Provisioning {
    fn new(name: &str, id: &Id, suite: SuiteId) -> Provisioning {
        Provisioning {
            format: PROVISIONING_FORMAT.to_owned(),
            name: name.to_owned(),
            id: hex::encode(id.0),
            suite: suite.name().to_owned(),
            key: None,
            c2_public_key: None,
            sig_secret_key: None,
            sig_public_key: None,
            kem_secret_key: None,
            kem_public_key: None,
            broker: None,
            mqtt_username: None,
            mqtt_password: None,
        }
    }

    /// A symmetric device.
    pub fn symmetric(name: &str, id: &Id, key: &[u8]) -> Provisioning {
        let mut p = Provisioning::new(name, id, SuiteId::Symmetric);
        p.key = Some(secret_hex(key));
        p
    }

    /// A public-key device: its Ed25519 private key (seed ‖ public) and
    /// C2's Curve25519 public key.
    pub fn pubkey(name: &str, id: &Id, signing: &[u8], c2_public: &[u8]) -> Provisioning {
        let mut p = Provisioning::new(name, id, SuiteId::PubKey);
        p.key = Some(secret_hex(signing));
        p.c2_public_key = Some(hex::encode(c2_public));
        p
    }

    /// A kem-suite device and its key pairs (`keys.c2_sig_pk` is C2's key).
    pub fn kem(name: &str, id: &Id, suite: SuiteId, keys: &KemIdentity) -> Provisioning {
        let mut p = Provisioning::new(name, id, suite);
        p.sig_secret_key = Some(secret_hex(keys.sig_sk.as_bytes()));
        p.sig_public_key = Some(hex::encode(&keys.sig_pk));
        p.kem_secret_key = Some(secret_hex(keys.kem_sk.as_bytes()));
        p.kem_public_key = Some(hex::encode(&keys.kem_pk));
        p.c2_public_key = Some(hex::encode(&keys.c2_sig_pk));
        p
    }

    /// Set the broker address.
    pub fn with_broker(mut self, broker: Option<String>) -> Provisioning {
        self.broker = broker;
        self
    }

    /// Set the broker credentials.
    pub fn with_mqtt_credentials(mut self, c: Option<BrokerCredentials>) -> Provisioning {
        self.mqtt_username = c.as_ref().map(|c| c.username.clone());
        self.mqtt_password = c.map(|c| c.password);
        self
    }

    /// The broker credentials, if the file has both user name and password.
    pub fn mqtt_credentials(&self) -> Option<BrokerCredentials> {
        Some(BrokerCredentials {
            username: self.mqtt_username.clone()?,
            password: self.mqtt_password.clone()?,
        })
    }

    /// Parse a provisioning file's text.
    pub fn from_json(text: &str) -> Result<Provisioning, ProvisioningError> {
        let p: Provisioning =
            serde_json::from_str(text).map_err(|e| ProvisioningError::Malformed(e.to_string()))?;
        if p.format != PROVISIONING_FORMAT {
            return Err(ProvisioningError::Malformed(format!(
                "format `{}`, expected `{PROVISIONING_FORMAT}`",
                p.format
            )));
        }
        Ok(p)
    }

    /// The file's text (JSON, one object).
    pub fn to_json(&self) -> Zeroizing<String> {
        // Serialising strings and options cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(self).unwrap_or_default() + "\n")
    }

    /// Read a provisioning file.
    pub fn read(path: impl AsRef<Path>) -> Result<Provisioning, ProvisioningError> {
        let path = path.as_ref();
        let text =
            Zeroizing::new(
                fs::read_to_string(path).map_err(|source| ProvisioningError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                })?,
            );
        Provisioning::from_json(&text)
    }

    /// Write a new provisioning file with mode 0600; an existing file is
    /// never overwritten. A failed write leaves no file behind.
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<(), ProvisioningError> {
        let path = path.as_ref();
        let io = |action| {
            move |source| ProvisioningError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(STATE_FILE_MODE)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => ProvisioningError::Exists(path.to_owned()),
                _ => io("create")(e),
            })?;
        let written = f
            .write_all(self.to_json().as_bytes())
            .and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(path);
            return Err(io("write")(e));
        }
        Ok(())
    }

    /// The suite named in the file.
    pub fn suite(&self) -> Result<SuiteId, ProvisioningError> {
        SuiteId::from_name(&self.suite)
            .map_err(|_| ProvisioningError::Malformed(format!("unknown suite `{}`", self.suite)))
    }

    /// The device id.
    pub fn client_id(&self) -> Result<Id, ProvisioningError> {
        let bytes: [u8; 16] = hex::decode(&self.id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ProvisioningError::Malformed("`id` is not 32 hex digits".into()))?;
        Ok(Id(bytes))
    }

    /// The configuration that creates this device's client.
    pub fn config(&self) -> Result<Config, ProvisioningError> {
        let suite = self.suite()?;
        let id = Some(self.client_id()?);
        let field = |value: Option<&str>, name: &'static str| {
            let text = value.ok_or(ProvisioningError::Missing { field: name, suite })?;
            hex::decode(text)
                .map(Zeroizing::new)
                .map_err(|_| ProvisioningError::Hex(name))
        };
        let key = || field(self.key.as_ref().map(|s| s.as_str()), "key");
        let c2 = || field(self.c2_public_key.as_deref(), "c2_public_key");
        let fixed = |bytes: Zeroizing<Vec<u8>>, what: &'static str, n: usize| {
            if bytes.len() == n {
                Ok(bytes)
            } else {
                Err(ConfigError::KeyLength {
                    what,
                    expected: n,
                    got: bytes.len(),
                })
            }
        };
        match suite.family() {
            Family::E4Symmetric => {
                let k = fixed(key()?, "client key", 32)?;
                let mut a = [0u8; 32];
                a.copy_from_slice(&k);
                Ok(Config::sym_id_and_key(id, SymKey::new(a)))
            }
            Family::E4PublicKey => {
                let k = fixed(key()?, "Ed25519 private key", 64)?;
                let c = fixed(c2()?, "C2 public key", 32)?;
                let mut sk = Zeroizing::new([0u8; 64]);
                sk.copy_from_slice(&k);
                let mut c2_public = [0u8; 32];
                c2_public.copy_from_slice(&c);
                Ok(Config::pub_id_and_key(
                    id,
                    Ed25519Secret::new(*sk),
                    c2_public,
                ))
            }
            Family::Kem => {
                let keys = KemIdentity {
                    sig_sk: SecretBytes::from_slice(&field(
                        self.sig_secret_key.as_ref().map(|s| s.as_str()),
                        "sig_secret_key",
                    )?),
                    sig_pk: field(self.sig_public_key.as_deref(), "sig_public_key")?.to_vec(),
                    kem_sk: SecretBytes::from_slice(&field(
                        self.kem_secret_key.as_ref().map(|s| s.as_str()),
                        "kem_secret_key",
                    )?),
                    kem_pk: field(self.kem_public_key.as_deref(), "kem_public_key")?.to_vec(),
                    c2_sig_pk: c2()?.to_vec(),
                };
                Ok(Config::KemIdAndKeys { suite, id, keys })
            }
        }
    }
}

fn secret_hex(bytes: &[u8]) -> SecretHex {
    Zeroizing::new(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    fn sym() -> Provisioning {
        Provisioning::symmetric("dev1", &Id([3; 16]), &[7; 32])
            .with_broker(Some("127.0.0.1:1883".into()))
            .with_mqtt_credentials(Some(BrokerCredentials::new(
                "03".repeat(16),
                "9".repeat(64),
            )))
    }

    #[test]
    fn symmetric_file_round_trips_into_a_client() {
        let text = sym().to_json();
        let p = Provisioning::from_json(&text).unwrap();
        assert_eq!(p.broker.as_deref(), Some("127.0.0.1:1883"));
        assert_eq!(
            p.mqtt_credentials(),
            Some(BrokerCredentials::new("03".repeat(16), "9".repeat(64)))
        );
        let c = Client::new(p.config().unwrap()).unwrap();
        assert_eq!(*c.id(), Id([3; 16]));
        assert_eq!(c.suite(), SuiteId::Symmetric);
    }

    #[test]
    fn debug_prints_no_key() {
        let p = sym();
        let shown = format!("{p:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])), "{shown}");
        assert!(!shown.contains(&"9".repeat(64)), "{shown}");
        assert!(shown.contains("dev1"));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let mut p = sym();
        p.format = "other/1".into();
        let e = Provisioning::from_json(&p.to_json()).unwrap_err();
        assert!(
            e.to_string().contains("expected `e4-provisioning/1`"),
            "{e}"
        );

        let mut p = sym();
        p.key = None;
        let e = p.config().unwrap_err();
        assert!(
            matches!(e, ProvisioningError::Missing { field: "key", .. }),
            "{e}"
        );

        let mut p = sym();
        p.key = Some(Zeroizing::new("zz".into()));
        assert!(matches!(p.config(), Err(ProvisioningError::Hex("key"))));

        let mut p = sym();
        p.key = Some(Zeroizing::new(hex::encode([1u8; 31])));
        assert!(matches!(
            p.config(),
            Err(ProvisioningError::Config(ConfigError::KeyLength { .. }))
        ));

        let mut p = sym();
        p.id = "00".into();
        assert!(matches!(p.config(), Err(ProvisioningError::Malformed(_))));

        let text = sym().to_json().replace("\"name\"", "\"nom\"");
        assert!(matches!(
            Provisioning::from_json(&text),
            Err(ProvisioningError::Malformed(_))
        ));
    }

    #[test]
    fn write_new_is_0600_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev1.json");
        sym().write_new(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = fs::read(&path).unwrap();
        let other = Provisioning::symmetric("dev2", &Id([4; 16]), &[8; 32]);
        assert!(matches!(
            other.write_new(&path),
            Err(ProvisioningError::Exists(_))
        ));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(Provisioning::read(&path).unwrap().name, "dev1");
    }

    #[cfg(feature = "pubkey")]
    #[test]
    fn pubkey_file_makes_a_pubkey_client() {
        let sk = crate::config::ed25519_from_password("a password of 16+ bytes").unwrap();
        let p = Provisioning::pubkey("cam", &Id([5; 16]), sk.as_bytes(), &[9; 32]);
        let c = Client::new(
            Provisioning::from_json(&p.to_json())
                .unwrap()
                .config()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(c.suite(), SuiteId::PubKey);
    }

    #[cfg(feature = "pq")]
    #[test]
    fn kem_file_makes_a_kem_client() {
        let suite = SuiteId::PostQuantum;
        let c2 = crate::config::generate_kem_identity(
            crate::provider(),
            suite,
            vec![1; suite.params().c2_public_key],
        )
        .map(|k| k.sig_pk)
        .unwrap();
        let keys = crate::config::generate_kem_identity(crate::provider(), suite, c2).unwrap();
        let p = Provisioning::kem("gw", &Id([6; 16]), suite, &keys);
        let c = Client::new(
            Provisioning::from_json(&p.to_json())
                .unwrap()
                .config()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(c.suite(), suite);
    }
}
