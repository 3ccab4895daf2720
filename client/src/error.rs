//! Errors of the client library. Every failing operation leaves the client
//! (in memory and on disk) exactly as it was.

use std::path::PathBuf;

use e4_proto::SuiteId;

/// Every way a client operation can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The E4 protocol refused the operation (unknown topic key, bad
    /// authentication, stale timestamp, replayed message, ...).
    #[error("{0}")]
    Protocol(#[from] e4_proto::Error),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A constructor was given unusable key material or names.
    #[error("invalid client configuration: {0}")]
    Config(#[from] ConfigError),
    /// Strict topic policy: no key for the topic, and the topic is not
    /// opted in to cleartext.
    #[error(
        "refusing cleartext on topic `{topic}`: no key for it and cleartext is not allowed there"
    )]
    CleartextRefused {
        /// The topic.
        topic: String,
    },
    /// A message arrived on, or was addressed to, the client's control
    /// topic where only protected commands are accepted.
    #[error("the control topic `{topic}` only carries protected commands")]
    ControlTopic {
        /// The control topic.
        topic: String,
    },
    /// A topic name or subscription filter the application gave breaks the
    /// topic-name rules ([`e4_proto::topic_name`]: empty, too long, a
    /// control character, a misplaced wildcard, or under the reserved
    /// `e4/` and `e4c2/`).
    #[error("invalid topic \"{}\": {error}", topic.escape_debug())]
    TopicName {
        /// The topic or filter.
        topic: String,
        /// Which rule it breaks.
        error: e4_proto::TopicNameError,
    },
    /// A SetTopicFormat this client cannot serve: only the symmetric format
    /// on a non-symmetric client, or the client's own suite, are valid.
    #[error("topic {topic}: a `{suite}` client cannot use the `{format}` message format")]
    TopicFormat {
        /// The topic.
        topic: e4_proto::TopicHash,
        /// The format asked for.
        format: SuiteId,
        /// The client's suite.
        suite: SuiteId,
    },
    /// The MQTT connection failed or was closed.
    #[cfg(feature = "mqtt")]
    #[error("MQTT: {0}")]
    Mqtt(#[from] crate::mqtt::MqttError),
}

impl Error {
    /// The protocol error, if this is one (convenient for matching).
    pub fn protocol(&self) -> Option<e4_proto::Error> {
        match self {
            Error::Protocol(e) => Some(*e),
            _ => None,
        }
    }
}

/// Invalid arguments to a client constructor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The client name is empty or longer than 255 bytes.
    #[error("client name must be 1 to 255 bytes long (got {0} bytes)")]
    NameLength(usize),
    /// e4go requires passwords of at least 16 bytes.
    #[error("password must be at least {min} bytes long (got {got})")]
    PasswordTooShort {
        /// Minimum length.
        min: usize,
        /// Given length.
        got: usize,
    },
    /// E4 refuses all-zero keys.
    #[error("the {0} is all zeros")]
    ZeroKey(&'static str),
    /// A key has the wrong length for the suite.
    #[error("the {what} must be {expected} bytes (got {got})")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// The public half of a 64-byte Ed25519 private key does not match its seed.
    #[error("the Ed25519 private key's public half (bytes 32..64) does not match its seed")]
    Ed25519Mismatch,
    /// The suite is not compiled into this build.
    #[error("crypto suite `{0}` is not compiled into this build")]
    SuiteNotCompiled(SuiteId),
    /// The configuration is for another kind of suite.
    #[error("crypto suite `{0}` cannot be used with this kind of configuration")]
    WrongSuite(SuiteId),
}

/// Failures of the state file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An I/O operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state file does not exist.
    #[error("state file {0} does not exist")]
    NotFound(PathBuf),
    /// Creating a state where one already exists (it is never replaced).
    #[error("state file {0} already exists; refusing to replace it")]
    AlreadyExists(PathBuf),
    /// Another process holds the state file.
    #[error("state file {0} is in use by another process")]
    Locked(PathBuf),
    /// The file is readable by group or others.
    #[error("state file {path} has mode {mode:04o}: it holds secret keys and must not be accessible to group or others (run `chmod 600 {path}`)")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not an e4-client state file.
    #[error("{path} is not an e4-client state file ({reason})")]
    NotAStateFile {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The file was written by another version of the format.
    #[error("state file {path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u64,
        /// Version this build reads.
        supported: u64,
    },
    /// Truncated, damaged or edited content.
    #[error("state file {path} is corrupted: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The state names a suite this build does not include.
    #[error(
        "state file {path} is for crypto suite `{suite}`, which is not compiled into this build"
    )]
    SuiteNotCompiled {
        /// The file.
        path: PathBuf,
        /// The suite.
        suite: SuiteId,
    },
}
