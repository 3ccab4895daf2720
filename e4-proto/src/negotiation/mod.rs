//! Suite negotiation and in-field upgrade (`docs/negotiation.md`).
//!
//! A device announces the suites it can move to, with fresh public keys for
//! each, authenticated under its *current* suite; C2 chooses the strongest
//! suite its policy allows and answers with a `SetSuite` command protected
//! like every command in the current suite; the device checks that the
//! answer is bound to its latest announce and never lowers its rank, moves
//! to the new suite and confirms with the new keys.
//!
//! ```text
//! Announce (device -> C2)
//!   ts(8) | kind=0x01 | device id(16) | current suite(1) | n(1) |
//!   n x ( suite(1) | sig pk len(2) | sig pk | kem pk len(2) | kem pk ) | auth
//! SetSuite (C2 -> device, a command on the control topic)
//!   opcode=0x08 | suite(1) | transcript(32) | C2 key for the new suite
//! Confirm (device -> C2)
//!   ts(8) | kind=0x02 | device id(16) | suite(1) | transcript(32) | auth
//!
//! transcript = SHA3-256("e4 negotiation v1" | Announce bytes)
//! auth, symmetric suite: AES-SIV tag over the empty string, AD = the bytes
//!   before, key SHA3-256("e4 announce key v1" | client key) (Announce) or
//!   SHA3-256("e4 confirm key v1" | client key) (Confirm)
//! auth, signed suites: the suite's signature over
//!   "e4 announce v1" | the bytes before (Announce), or
//!   "e4 confirm v1" | the bytes before (Confirm)
//! ```
//!
//! The module's parts: the message types ([`Announce`], [`SetSuite`],
//! [`Confirm`]) with exact encodings (`wire`); the key material and how
//! messages are authenticated with it (`material`); the policy, ranking and
//! choice of a suite (`policy`); C2's side ([`verify_announce`], [`answer`],
//! [`verify_confirm`], in `c2_side`); and the device's side ([`Negotiator`],
//! in `device_side`). Every parser takes untrusted bytes and returns a
//! [`NegotiationError`], never panics. The submodules share this module's
//! imports and constants (`use super::*`).

use alloc::vec::Vec;
use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::c2::DeviceKey;
use crate::client::{Client, Identity, KemIdentity};
use crate::control::Opened;
use crate::crypto::{CryptoProvider, Rng, SIV_LEN};
use crate::error::Error;
use crate::ids::{Id, TopicHash, ID_LEN};
use crate::keys::{is_all_zero, Ed25519Secret, SecretBytes, SymKey, SYM_KEY_LEN};
use crate::store::Store;
use crate::suite::{Family, SuiteId, SuiteSet};
use crate::time::{self, Clock, TIMESTAMP_LEN};

/// The opcode of `SetSuite` (the first byte of the command plaintext).
/// `Command::parse` and `Client::process_command` refuse it as
/// [`Error::InvalidCommand`]: only the [`Negotiator`] reads it.
pub const SET_SUITE_OPCODE: u8 = 0x08;
/// The kind byte (byte 8) of an Announce: version 1.
pub const ANNOUNCE_KIND: u8 = 0x01;
/// The kind byte (byte 8) of a Confirm: version 1.
pub const CONFIRM_KIND: u8 = 0x02;
/// The kind byte (byte 8) of a state report (see [`SyncReport`]): version 1.
pub const SYNC_KIND: u8 = 0x03;
/// Length of a transcript hash.
pub const TRANSCRIPT_LEN: usize = 32;
/// Most offers an Announce may carry (one per known suite).
pub const MAX_OFFERS: usize = SuiteId::ALL.len();

const TRANSCRIPT_LABEL: &[u8] = b"e4 negotiation v1";
const ANNOUNCE_KEY_LABEL: &[u8] = b"e4 announce key v1";
const CONFIRM_KEY_LABEL: &[u8] = b"e4 confirm key v1";
const ANNOUNCE_SIG_LABEL: &[u8] = b"e4 announce v1";
const CONFIRM_SIG_LABEL: &[u8] = b"e4 confirm v1";
const SYNC_KEY_LABEL: &[u8] = b"e4 sync key v1";
const SYNC_SIG_LABEL: &[u8] = b"e4 sync v1";

/// `ts | kind | device id | suite` (both Announce and Confirm start so).
const HEAD_LEN: usize = TIMESTAMP_LEN + 1 + ID_LEN + 1;
/// Announce: head plus the offer count.
const ANNOUNCE_FIXED: usize = HEAD_LEN + 1;
/// Confirm: head plus the transcript.
const CONFIRM_FIXED: usize = HEAD_LEN + TRANSCRIPT_LEN;
/// SetSuite: opcode, suite, transcript.
const SET_SUITE_FIXED: usize = 1 + 1 + TRANSCRIPT_LEN;

mod c2_side;
mod checks;
mod device_side;
mod material;
mod policy;
mod sync;
mod wire;

pub use crate::error::NegotiationError;
pub use c2_side::*;
use checks::*;
pub use device_side::*;
pub use material::*;
pub use policy::*;
pub use sync::*;
pub use wire::*;

#[cfg(test)]
mod tests;
