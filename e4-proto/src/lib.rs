//! # e4-proto: the E4 protocol core
//!
//! Everything E4 needs except the cryptography itself: identifiers, key
//! types, the wire formats of every suite, the eight E4 commands, the client
//! state machine (topic keys, key transition, public-key table, C2 key) and
//! the crypto traits that backends implement (see the `e4-backends` crate).
//!
//! The crate is `#![no_std]`. Without the `alloc` feature it supports the
//! symmetric and public-key suites with caller-provided buffers and a
//! fixed-capacity store, which is what an 8-bit device needs. The
//! post-quantum suites carry kilobyte-sized keys and need `alloc`.
//!
//! The crypto suite of a device is a run-time value ([`SuiteId`]) resolved
//! against the set of backends compiled in ([`CryptoProvider`]), in the
//! spirit of rustls' `CryptoProvider`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod c2;
pub mod client;
pub mod command;
pub mod control;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod keys;
pub mod message;
#[cfg(feature = "alloc")]
pub mod negotiation;
#[cfg(feature = "alloc")]
pub mod prepared;
pub mod renegotiate;
pub mod replay;
pub mod store;
pub mod suite;
pub mod time;
#[cfg(feature = "alloc")]
pub mod topic_cache;
pub mod topic_format;
pub mod topic_name;

pub use client::{Client, Identity, Unprotected};
pub use command::Command;
pub use control::Control;
pub use crypto::CryptoProvider;
pub use error::{Error, NegotiationError};
pub use ids::{ClientId, ControlTopic, Id, TopicHash};
pub use keys::SymKey;
pub use suite::{Family, Suite, SuiteId, SuiteSet};
pub use time::{Clock, FixedClock};
pub use topic_name::{check_topic_filter, check_topic_name, TopicNameError};
