//! # e4-testkit: test-only support for e4-rs
//!
//! Not published, never a dependency of production code:
//!
//! * [`TestRng`], the seeded generator (SHAKE-256 of a seed) of the tests,
//!   benchmarks, fuzz targets and `e4-vectors generate`;
//! * suite fixtures written once and parameterised by a provider
//!   (`&'static CryptoProvider`) and a suite ([`fixtures`]): key pairs and
//!   identities, a [`C2`] that seals commands for any suite, clients
//!   ([`Party`]), protect/unprotect/apply helpers, state [`Snapshot`]s;
//! * the `provider × suite` matrix: [`conformance!`] generates one
//!   `#[test]` per pair compiled in, named `<test>::<provider>::<suite>`;
//!   [`matrix()`], [`offering`], [`restricted`] are its run-time side.
//!
//! The conformance suite itself is `tests/conformance.rs` (see the
//! README for the commands that run it per provider).

pub mod fixtures;
mod macros;
pub mod matrix;
pub mod rng;

pub use fixtures::*;
pub use matrix::{is_seeded, matrix, offering, providers, restricted, SEEDED_PROVIDERS};
pub use rng::TestRng;

/// The crates the fixtures are written against (for the macros).
pub use e4_backends as backends;
pub use e4_proto as proto;
pub use e4_proto::{CryptoProvider, SuiteId};
