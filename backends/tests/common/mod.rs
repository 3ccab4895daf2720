//! Shared fixtures of the e4-backends integration tests: e4-testkit's
//! (clients of every suite over a `MemStore` and a `FixedClock`, the C2 side
//! that seals commands for them, state snapshots), on the default provider.
//! The provider × suite matrix is e4-testkit's own conformance suite.
#![allow(dead_code)]

use e4_backends::provider;
use e4_proto::crypto::Rng;
use e4_proto::suite::CommandLengths;
use e4_proto::{SuiteId, SymKey};

#[allow(unused_imports)] // each test file uses some
pub use e4_testkit::{
    apply, protect, random_bytes, random_key, rng, snapshot, unprotect, Party, Snapshot,
    TestClient, C2, NOW, TOPIC,
};

/// The suites to test: every suite of the default provider.
pub fn suites() -> Vec<SuiteId> {
    provider().suites.iter().map(|s| s.id).collect()
}

/// Generate a signature key pair of `suite` (secret, public).
pub fn sig_keypair(suite: SuiteId, rng: &mut dyn Rng) -> (Vec<u8>, Vec<u8>) {
    e4_testkit::sig_keypair(provider(), suite, rng)
}

/// Generate a KEM key pair of `suite` (secret, public).
pub fn kem_keypair(suite: SuiteId, rng: &mut dyn Rng) -> (Vec<u8>, Vec<u8>) {
    e4_testkit::kem_keypair(provider(), suite, rng)
}

/// A C2 of `suite` with keys drawn from `rng`.
pub fn new_c2(suite: SuiteId, rng: &mut dyn Rng) -> C2 {
    C2::new(provider(), suite, rng)
}

/// E4's symmetric format under `key`.
pub fn seal_sym(key: &SymKey, ts: u64, payload: &[u8]) -> Vec<u8> {
    e4_testkit::seal_sym(provider(), key, ts, payload)
}

/// A fresh client of `suite` named `alias`, managed by `c2`, with no topic
/// or public key, its clock at [`NOW`].
pub fn new_party(suite: SuiteId, alias: &str, c2: &C2) -> Party {
    Party::new(provider(), suite, alias, c2)
}

/// Whether `suite` signs topic messages.
pub fn has_signatures(suite: SuiteId) -> bool {
    suite.signs_messages()
}

/// A C2, a sender and a receiver of `suite`, both holding the key of
/// [`TOPIC`] (`topic_key`) and each other's signature public key.
pub fn pair(suite: SuiteId, topic_key: &SymKey) -> (C2, Party, Party) {
    e4_testkit::pair(provider(), suite, topic_key)
}

/// The command argument lengths of `suite`.
pub fn lengths(suite: SuiteId) -> CommandLengths {
    suite.command_lengths()
}

/// A fresh identity key for SetIdKey in `suite` (None where unsupported):
/// a 32-byte symmetric key, or a 64-byte Ed25519 `seed ‖ public`.
pub fn new_id_key(suite: SuiteId, rng: &mut dyn Rng) -> Option<Vec<u8>> {
    e4_testkit::new_id_key(provider(), suite, rng)
}
