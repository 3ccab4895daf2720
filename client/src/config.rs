//! How a client is created: e4go's four configurations (id + key, name +
//! password, in symmetric and public-key mode) plus the post-quantum ones.

use e4_backends::password::{ed25519_seed_from_password, symkey_from_password, MIN_PASSWORD_LEN};
use e4_backends::rng::OsRng;
use e4_proto::client::KemIdentity;
use e4_proto::crypto::{CryptoProvider, Rng};
use e4_proto::keys::{is_all_zero, Ed25519Secret, SecretBytes, X25519_LEN};
use e4_proto::{Id, Identity, SuiteId, SymKey};
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// Longest client name e4go accepts.
pub const MAX_NAME_LEN: usize = 255;

/// The key material and id of a new client. `id: None` draws a random id,
/// as e4go does for an empty id.
#[derive(Clone)]
#[non_exhaustive]
pub enum Config {
    /// Symmetric suite from an id and a 32-byte key (e4go `SymIDAndKey`).
    SymIdAndKey {
        /// The id, or None for a random one.
        id: Option<Id>,
        /// The client key (not all zeros).
        key: SymKey,
    },
    /// Symmetric suite from a name and a password (e4go
    /// `SymNameAndPassword`): id = SHA3-256(name)[..16], key = Argon2i of the
    /// password exactly as e4go derives it.
    SymNameAndPassword {
        /// The device name.
        name: String,
        /// At least 16 bytes.
        password: Zeroizing<String>,
    },
    /// Public-key suite from an id, an Ed25519 private key (`seed ‖ public`)
    /// and C2's Curve25519 public key (e4go `PubIDAndKey`).
    PubIdAndKey {
        /// The id, or None for a random one.
        id: Option<Id>,
        /// The signing key.
        key: Ed25519Secret,
        /// C2's Curve25519 public key.
        c2_public: [u8; X25519_LEN],
    },
    /// Public-key suite from a name and a password (e4go
    /// `PubNameAndPassword`): the Ed25519 seed is the Argon2i output.
    PubNameAndPassword {
        /// The device name.
        name: String,
        /// At least 16 bytes.
        password: Zeroizing<String>,
        /// C2's Curve25519 public key.
        c2_public: [u8; X25519_LEN],
    },
    /// A kem suite (post-quantum, draft): signature and KEM key pairs are
    /// generated on the device; give C2 [`crate::Client::public_key`] and
    /// [`crate::Client::kem_public_key`].
    KemGenerate {
        /// The suite (must be a kem suite).
        suite: SuiteId,
        /// The id, or None for a random one.
        id: Option<Id>,
        /// C2's signature public key.
        c2_sig_pk: Vec<u8>,
    },
    /// A kem suite with key pairs generated elsewhere.
    KemIdAndKeys {
        /// The suite (must be a kem suite).
        suite: SuiteId,
        /// The id, or None for a random one.
        id: Option<Id>,
        /// All key material.
        keys: KemIdentity,
    },
}

/// Keys and passwords are never printed.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Config::SymIdAndKey { .. } => "SymIdAndKey",
            Config::SymNameAndPassword { .. } => "SymNameAndPassword",
            Config::PubIdAndKey { .. } => "PubIdAndKey",
            Config::PubNameAndPassword { .. } => "PubNameAndPassword",
            Config::KemGenerate { .. } => "KemGenerate",
            Config::KemIdAndKeys { .. } => "KemIdAndKeys",
        };
        f.debug_struct(name)
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// e4go `SymIDAndKey`.
    pub fn sym_id_and_key(id: Option<Id>, key: SymKey) -> Config {
        Config::SymIdAndKey { id, key }
    }
    /// e4go `SymNameAndPassword`.
    pub fn sym_name_and_password(name: &str, password: &str) -> Config {
        Config::SymNameAndPassword {
            name: name.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        }
    }
    /// e4go `PubIDAndKey`.
    pub fn pub_id_and_key(id: Option<Id>, key: Ed25519Secret, c2_public: [u8; 32]) -> Config {
        Config::PubIdAndKey { id, key, c2_public }
    }
    /// e4go `PubNameAndPassword`.
    pub fn pub_name_and_password(name: &str, password: &str, c2_public: [u8; 32]) -> Config {
        Config::PubNameAndPassword {
            name: name.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            c2_public,
        }
    }
    /// A kem-suite client whose keys are generated now.
    pub fn kem_generate(suite: SuiteId, id: Option<Id>, c2_sig_pk: &[u8]) -> Config {
        Config::KemGenerate {
            suite,
            id,
            c2_sig_pk: c2_sig_pk.to_vec(),
        }
    }

    /// The suite this configuration creates.
    pub fn suite(&self) -> SuiteId {
        match self {
            Config::SymIdAndKey { .. } | Config::SymNameAndPassword { .. } => SuiteId::Symmetric,
            Config::PubIdAndKey { .. } | Config::PubNameAndPassword { .. } => SuiteId::PubKey,
            Config::KemGenerate { suite, .. } | Config::KemIdAndKeys { suite, .. } => *suite,
        }
    }

    /// Check everything and derive the id and identity (runs Argon2i for the
    /// password configurations: about a second in debug builds).
    pub(crate) fn resolve(
        self,
        p: &CryptoProvider,
    ) -> Result<(SuiteId, Id, Identity), ConfigError> {
        let suite = self.suite();
        if !p.supports(suite) {
            return Err(ConfigError::SuiteNotCompiled(suite));
        }
        let (id, identity) = match self {
            Config::SymIdAndKey { id, key } => {
                if key.is_zero() {
                    return Err(ConfigError::ZeroKey("client key"));
                }
                (id_or_random(id), Identity::Symmetric(key))
            }
            Config::SymNameAndPassword { name, password } => {
                let id = id_from_name(p, &name)?;
                check_password(&password)?;
                let key = symkey_from_password(&password).map_err(|_| password_error(&password))?;
                (id, Identity::Symmetric(key))
            }
            Config::PubIdAndKey { id, key, c2_public } => {
                check_ed25519(&key)?;
                check_c2_public(&c2_public)?;
                (
                    id_or_random(id),
                    Identity::PubKey {
                        signing: key,
                        c2_public,
                    },
                )
            }
            Config::PubNameAndPassword {
                name,
                password,
                c2_public,
            } => {
                let id = id_from_name(p, &name)?;
                check_c2_public(&c2_public)?;
                let signing = ed25519_from_password(&password)?;
                (id, Identity::PubKey { signing, c2_public })
            }
            Config::KemGenerate {
                suite,
                id,
                c2_sig_pk,
            } => {
                let keys = generate_kem_identity(p, suite, c2_sig_pk)?;
                (id_or_random(id), Identity::Kem(keys))
            }
            Config::KemIdAndKeys { suite, id, keys } => {
                check_kem_identity(p, suite, &keys)?;
                (id_or_random(id), Identity::Kem(keys))
            }
        };
        Ok((suite, id, identity))
    }
}

/// The id of a device name: `SHA3-256(name)[..16]` (e4go `HashIDAlias`).
pub fn id_from_name(p: &CryptoProvider, name: &str) -> Result<Id, ConfigError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ConfigError::NameLength(name.len()));
    }
    Ok(Id::from_alias(p.hash, name.as_bytes()))
}

/// A random 16-byte id (e4go `RandomID`).
pub fn random_id() -> Id {
    let mut id = [0u8; 16];
    OsRng.fill(&mut id);
    Id(id)
}

fn id_or_random(id: Option<Id>) -> Id {
    id.unwrap_or_else(random_id)
}

fn check_password(password: &str) -> Result<(), ConfigError> {
    if password.len() < MIN_PASSWORD_LEN {
        return Err(password_error(password));
    }
    Ok(())
}

fn password_error(password: &str) -> ConfigError {
    ConfigError::PasswordTooShort {
        min: MIN_PASSWORD_LEN,
        got: password.len(),
    }
}

/// The Ed25519 private key (`seed ‖ public`) e4go derives from a password.
pub fn ed25519_from_password(password: &str) -> Result<Ed25519Secret, ConfigError> {
    check_password(password)?;
    let seed = ed25519_seed_from_password(password).map_err(|_| password_error(password))?;
    let public = ed25519_public(&seed)?;
    let mut sk = Zeroizing::new([0u8; 64]);
    sk[..32].copy_from_slice(&seed[..]);
    sk[32..].copy_from_slice(&public);
    Ok(Ed25519Secret::new(*sk))
}

/// The Ed25519 public key of a seed (the public-key suite must be compiled
/// in).
fn ed25519_public(seed: &[u8; 32]) -> Result<[u8; 32], ConfigError> {
    #[cfg(feature = "pubkey")]
    return Ok(e4_backends::ed25519::public_from_seed(seed));
    #[cfg(not(feature = "pubkey"))]
    {
        let _ = seed;
        Err(ConfigError::SuiteNotCompiled(SuiteId::PubKey))
    }
}

fn check_ed25519(key: &Ed25519Secret) -> Result<(), ConfigError> {
    if is_all_zero(key.as_bytes()) {
        return Err(ConfigError::ZeroKey("Ed25519 private key"));
    }
    let public = ed25519_public(key.seed())?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &public[..],
        &key.public()[..],
    )) {
        return Err(ConfigError::Ed25519Mismatch);
    }
    Ok(())
}

fn check_c2_public(key: &[u8; 32]) -> Result<(), ConfigError> {
    if is_all_zero(key) {
        return Err(ConfigError::ZeroKey("C2 public key"));
    }
    Ok(())
}

fn kem_suite(p: &CryptoProvider, suite: SuiteId) -> Result<&'static e4_proto::Suite, ConfigError> {
    if !suite.is_kem_suite() {
        return Err(ConfigError::WrongSuite(suite));
    }
    p.suite(suite)
        .map_err(|_| ConfigError::SuiteNotCompiled(suite))
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), ConfigError> {
    if expected == got {
        Ok(())
    } else {
        Err(ConfigError::KeyLength {
            what,
            expected,
            got,
        })
    }
}

/// Check the lengths of kem-suite key material.
pub(crate) fn check_kem_identity(
    p: &CryptoProvider,
    suite: SuiteId,
    k: &KemIdentity,
) -> Result<(), ConfigError> {
    let s = kem_suite(p, suite)?;
    let sig = s.sig.ok_or(ConfigError::WrongSuite(suite))?;
    let kem = s.kem.ok_or(ConfigError::WrongSuite(suite))?;
    check_len("signature secret key", sig.secret_key_len(), k.sig_sk.len())?;
    check_len("signature public key", sig.public_key_len(), k.sig_pk.len())?;
    check_len("KEM secret key", kem.secret_key_len(), k.kem_sk.len())?;
    check_len("KEM public key", kem.public_key_len(), k.kem_pk.len())?;
    check_len(
        "C2 signature public key",
        sig.public_key_len(),
        k.c2_sig_pk.len(),
    )?;
    if is_all_zero(&k.c2_sig_pk) {
        return Err(ConfigError::ZeroKey("C2 signature public key"));
    }
    Ok(())
}

/// Generate the signature and KEM key pairs of a kem-suite device.
pub fn generate_kem_identity(
    p: &CryptoProvider,
    suite: SuiteId,
    c2_sig_pk: Vec<u8>,
) -> Result<KemIdentity, ConfigError> {
    let s = kem_suite(p, suite)?;
    let sig = s.sig.ok_or(ConfigError::WrongSuite(suite))?;
    let kem = s.kem.ok_or(ConfigError::WrongSuite(suite))?;
    let mut sig_pk = vec![0; sig.public_key_len()];
    let mut kem_pk = vec![0; kem.public_key_len()];
    let mut sig_sk = Zeroizing::new(vec![0u8; sig.secret_key_len()]);
    let mut kem_sk = Zeroizing::new(vec![0u8; kem.secret_key_len()]);
    // The buffers have the suite's exact lengths: generation cannot fail.
    sig.generate(&mut OsRng, &mut sig_sk, &mut sig_pk)
        .and_then(|()| kem.generate(&mut OsRng, &mut kem_sk, &mut kem_pk))
        .map_err(|_| ConfigError::WrongSuite(suite))?;
    let keys = KemIdentity {
        sig_sk: SecretBytes::from_slice(&sig_sk),
        sig_pk,
        kem_sk: SecretBytes::from_slice(&kem_sk),
        kem_pk,
        c2_sig_pk,
    };
    check_kem_identity(p, suite, &keys)?;
    Ok(keys)
}
