//! # e4-c2: the E4 command-and-control server
//!
//! Key management for E4 devices: clients, topics, memberships, key
//! rotation, public keys between devices and C2's own keys, over gRPC
//! (`proto/c2.proto`) and REST (`/openapi.json`). Every state change and
//! the commands it implies are written in one database transaction (an
//! outbox); a worker publishes the commands with MQTT QoS 2 and marks them
//! sent once the broker acknowledged them. Secrets are encrypted at rest
//! under a key derived with Argon2id from the operator's passphrase.

pub mod api;
pub mod auth;
pub mod automation;
pub mod bootstrap;
pub mod cli;
pub mod crypto_at_rest;
pub mod datadir;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod error;
pub mod events;
pub mod key_integrity;
pub mod metrics;
pub mod model;
pub mod mqtt;
pub mod negotiation;
pub mod outbox;
pub mod server;
pub mod service;
pub mod tls;

pub use error::{C2Error, C2Result};
