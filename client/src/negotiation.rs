//! Suite negotiation and in-field upgrade on the device
//! (`docs/negotiation.md`), and per-topic message formats.
//!
//! A client given *capabilities* ([`crate::Client::set_capabilities`]: the
//! suites it may run, default none) announces the suites it ranks above its
//! current one ([`crate::Client::announce`], to publish on
//! [`announce_topic`]; with none above, an Announce offering nothing tells
//! C2 that the device negotiates, and gets no answer); C2 answers on the control topic with a SetSuite
//! (opcode 0x08) protected in the current suite, which
//! [`crate::Client::unprotect`] accepts (a [`crate::CommandInfo`] of opcode 0x08
//! with [`Negotiated::Accepted`]; publish [`crate::Client::take_confirm`]);
//! the first command that opens under the new suite switches the client to
//! it ([`Negotiated::Upgraded`] in that command's [`crate::CommandInfo`]): topic keys
//! are carried over, public keys of other devices are not (other scheme),
//! and if the old suite was symmetric every carried-over topic keeps the
//! symmetric format. Until then the client keeps working in its old suite.
//!
//! SetTopicFormat (opcode 0x09, [`e4_proto::topic_format`]) makes a
//! non-symmetric client protect and unprotect one topic in E4's symmetric
//! format, so that it can share the topic with symmetric devices.
//!
//! Everything here is persisted with the rest of the state before anything
//! it produced is returned for publication.

use std::collections::BTreeMap;

use e4_proto::negotiation::NegotiatorParts;
use e4_proto::{Id, SuiteId, TopicHash};

pub use e4_proto::negotiation::{NegotiationError, Ranking};
pub use e4_proto::renegotiate::{Renegotiate, RENEGOTIATE_OPCODE};
pub use e4_proto::topic_format::{SetTopicFormat, SET_TOPIC_FORMAT_OPCODE};
pub use e4_proto::SuiteSet;

/// The prefix of announce topics: `e4c2/announce/<32 lowercase hex>`.
pub const ANNOUNCE_TOPIC_PREFIX: &str = "e4c2/announce/";

/// The topic on which device `id` publishes its Announce and Confirm.
pub fn announce_topic(id: &Id) -> String {
    format!("{ANNOUNCE_TOPIC_PREFIX}{}", hex::encode(id.0))
}

/// A message the device must publish (topic, payload): an Announce or a
/// Confirm, always on [`announce_topic`].
pub type Publish = (String, Vec<u8>);

/// Where the device is in a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationStatus {
    /// Nothing outstanding.
    Idle,
    /// An Announce was published; waiting for a SetSuite.
    Announced,
    /// A SetSuite for this suite was accepted; the Confirm is out, waiting
    /// for the first command under the new suite.
    Accepted(SuiteId),
}

/// What a command on the control topic did for negotiation
/// ([`crate::CommandInfo::negotiation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// A SetSuite (opcode 0x08) was accepted and persisted: publish the
    /// Confirm ([`crate::Client::take_confirm`]).
    Accepted {
        /// The suite the device moves to.
        suite: SuiteId,
    },
    /// A SetTopicFormat (opcode 0x09) was applied.
    TopicFormat {
        /// The topic.
        topic: TopicHash,
        /// Its format from now on.
        format: SuiteId,
    },
    /// C2 asked the device to announce itself again (Renegotiate, opcode
    /// 0x0A): [`crate::mqtt::E4Mqtt`] publishes an Announce; a caller
    /// driving its own transport calls [`crate::Client::announce`].
    AnnounceRequested,
    /// C2 asked the device to replace its keys in its (KEM) suite
    /// (Renegotiate with the rekey flag): an Announce offering the current
    /// suite again with fresh keys was made and persisted with the
    /// command; [`crate::mqtt::E4Mqtt`] publishes it, a caller driving its
    /// own transport calls [`crate::Client::announce`].
    RekeyRequested,
    /// The first command under the accepted suite arrived: the client now
    /// runs `to` (the old suite's keys are gone) and applied the command
    /// (the [`crate::CommandInfo::opcode`]; 0x09 is a SetTopicFormat).
    Upgraded {
        /// The previous suite.
        from: SuiteId,
        /// The new suite.
        to: SuiteId,
    },
}

/// The persisted negotiation state of a client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NegState {
    /// The suites the device may run.
    pub capabilities: SuiteSet,
    /// The negotiator, from the first Announce until the upgrade finishes.
    pub parts: Option<NegotiatorParts>,
    /// Topics whose format is not the client's suite (only ever symmetric).
    pub formats: BTreeMap<TopicHash, SuiteId>,
}

impl NegState {
    /// Whether the latest Announce, not answered yet, offered `current`
    /// (the device's suite) again: a rekey is under way.
    pub fn rekey_pending(&self, current: SuiteId) -> bool {
        self.parts.as_ref().is_some_and(|p| {
            p.accepted.is_none()
                && e4_proto::negotiation::Announce::parse(&p.announce)
                    .is_ok_and(|a| a.offered(current).is_some())
        })
    }

    pub fn status(&self) -> NegotiationStatus {
        match &self.parts {
            Some(p) => match &p.accepted {
                Some(s) => NegotiationStatus::Accepted(s.suite),
                None if !p.announce.is_empty() => NegotiationStatus::Announced,
                None => NegotiationStatus::Idle,
            },
            None => NegotiationStatus::Idle,
        }
    }
}

/// Apply a SetTopicFormat to a client running `suite`: the symmetric format
/// on a non-symmetric client, or the client's own suite (which removes the
/// override). Anything else is refused, nothing changed.
pub(crate) fn apply_topic_format(
    suite: SuiteId,
    formats: &mut BTreeMap<TopicHash, SuiteId>,
    cmd: &SetTopicFormat,
) -> Result<(), crate::Error> {
    if cmd.format == suite {
        formats.remove(&cmd.topic);
        Ok(())
    } else if cmd.format == SuiteId::Symmetric {
        formats.insert(cmd.topic, SuiteId::Symmetric);
        Ok(())
    } else {
        Err(crate::Error::TopicFormat {
            topic: cmd.topic,
            format: cmd.format,
            suite,
        })
    }
}
