//! # e4-client: an E4 client for applications and devices with an OS
//!
//! A [`Client`] protects payloads before they are published and unprotects
//! what it receives, in any crypto suite compiled into `e4-backends`
//! (E4 symmetric and public-key modes, post-quantum). Messages arriving on
//! the client's control topic (`e4/<hex id>`) are commands from C2: they
//! update the client's keys, and the new state is saved to the state file
//! before [`Client::unprotect`] returns.
//!
//! ```
//! use e4_client::{Client, Config, Unprotected};
//! use e4_proto::SymKey;
//!
//! # fn main() -> Result<(), e4_client::Error> {
//! // Two devices in E4's symmetric mode, created like e4go's SymIDAndKey
//! // (`None`: a random id) and sharing the key of "sensors/temp".
//! let mut alice = Client::new(Config::sym_id_and_key(None, SymKey::new([1; 32])))?;
//! let mut bob = Client::new(Config::sym_id_and_key(None, SymKey::new([2; 32])))?;
//! let topic_key = SymKey::new([7; 32]);
//! alice.set_topic_key("sensors/temp", &topic_key)?;
//! bob.set_topic_key("sensors/temp", &topic_key)?;
//!
//! let wire = alice.protect(b"21.5 C", "sensors/temp")?;
//! assert_eq!(wire.len(), 6 + alice.overhead());
//! match bob.unprotect(&wire, "sensors/temp")? {
//!     Unprotected::Message(m) => assert_eq!(m, b"21.5 C"),
//!     Unprotected::Command(c) => unreachable!("{} on a topic", c.name()),
//! }
//! // The same bytes again are a replay: refused.
//! assert!(bob.unprotect(&wire, "sensors/temp").is_err());
//! # Ok(())
//! # }
//! ```
//!
//! Suite negotiation and in-field upgrade (an e4-rs extension, see
//! [`negotiation`]) start once [`Client::set_capabilities`] names suites
//! above the client's current one; [`mqtt::E4Mqtt`] then runs it by itself.
//!
//! Persistent clients use [`Client::create`] once and [`Client::open`]
//! afterwards; see [`state_file`] for the guarantees of the state file. The
//! `mqtt` feature adds [`mqtt::E4Mqtt`], an async MQTT client that applies
//! commands and reconnects by itself. For microcontrollers without an OS,
//! use `e4_proto::Client` with `e4_proto::store::FixedStore`, whose capacity
//! is fixed at compile time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broker_credentials;
pub mod client;
pub mod clock;
pub mod config;
pub mod error;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod negotiation;
pub mod policy;
pub mod provisioning;
pub mod replay;
pub mod state;
pub mod state_file;

pub use broker_credentials::BrokerCredentials;
pub use client::{Client, CommandInfo, TopicInfo, Unprotected};
pub use clock::ManualClock;
pub use config::Config;
pub use e4_proto::{Id, SuiteId, SymKey, TopicHash};
pub use error::{ConfigError, Error, StateError};
pub use negotiation::{Negotiated, NegotiationStatus, SuiteSet};
pub use policy::TopicPolicy;
pub use provisioning::{Provisioning, ProvisioningError};
pub use state_file::FileStore;

// The root README's Rust example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

/// The default crypto provider of this build: the fastest of those
/// compiled in (`e4_backends::default_provider`). Every constructor has a
/// `_with_provider` form to inject another one.
pub fn provider() -> &'static e4_proto::CryptoProvider {
    e4_backends::default_provider()
}

pub use e4_backends::{provider_by_name, providers, ProviderError};
