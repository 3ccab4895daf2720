//! Replay rejection beyond E4's freshness window.
//!
//! E4 accepts any authentic message younger than 600 s, so whoever relays
//! messages (the broker, or anyone on the path) could deliver one again and
//! again for ten minutes. This client remembers what it accepted, keyed by
//! timestamp and SIV (AES-SIV derives the SIV from key, timestamp and
//! plaintext, so a byte-identical message has the same one), and in the
//! signed formats by sender too (`e4_proto::replay::replay_tag`: two
//! members sending the same payload in the same second, or one re-signing
//! the other's message, do not suppress each other):
//!
//! * topic messages: `e4_proto::replay::ReplayCache` with
//!   [`MESSAGE_REPLAY_SLOTS`] entries (40 bytes each, about 40 KiB), in
//!   memory only. When it is full of entries younger than 600 s, the oldest
//!   is evicted and its timestamp becomes a floor: later messages stamped at
//!   or below it are refused too. So a replay is never accepted; the price is
//!   that more than [`MESSAGE_REPLAY_SLOTS`] messages stamped in the same
//!   second, or one arriving after that many newer ones, may be refused.
//!   Across restarts: [`crate::Client::close`] (or dropping the client)
//!   saves the entries younger than 600 s in the state file (at most about
//!   140 KB of JSON when full), and opening the file takes them back, then
//!   saves the state without them. A process that stopped without closing
//!   (crash, kill) left no entries: the next open cannot know what it
//!   accepted and refuses every message stamped at or before the moment of
//!   opening (messages sent from then on are accepted). Either way a
//!   message accepted before a restart is never accepted again.
//! * commands: a [`CommandLog`] of [`COMMAND_LOG_SLOTS`] entries with the
//!   same overflow rule, saved in the state file with every state change, so
//!   a command is never applied twice, even across restarts.
//!
//! Replay rejection is on by default; [`crate::Client::set_replay_protection`]
//! turns it off for messages (e4go's behaviour). The command log stays on: a
//! replayed command is refused whatever that setting.

use e4_proto::crypto::SIV_LEN;
use e4_proto::message::{SignedMessage, SymMessage};
use e4_proto::replay::replay_tag;
use e4_proto::time::MAX_MESSAGE_AGE;
use e4_proto::{Error, Family, Suite, TopicHash};

/// Accepted topic messages remembered for replay rejection.
pub const MESSAGE_REPLAY_SLOTS: usize = 1024;
/// Accepted commands remembered (and persisted) for replay rejection.
pub const COMMAND_LOG_SLOTS: usize = 64;

/// A remembered message: its timestamp and SIV.
pub(crate) type Tag = (u64, [u8; SIV_LEN]);

/// The topic-message replay cache as a clean close saves it in the state
/// file: the overflow floor and the messages still inside the window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SavedMessages {
    pub floor: Option<u64>,
    pub seen: Vec<(TopicHash, u64, [u8; SIV_LEN])>,
}

/// Timestamp and replay tag (the SIV, combined with the sender's id in the
/// signed formats: [`replay_tag`]) of a topic message that already
/// authenticated.
pub(crate) fn message_tag(suite: &Suite, msg: &[u8]) -> Result<Tag, Error> {
    match suite.id.family() {
        Family::E4Symmetric => {
            let m = SymMessage::parse(msg)?;
            Ok((m.ts, *m.siv))
        }
        Family::E4PublicKey => {
            let m = SignedMessage::parse_pubkey(msg)?;
            Ok((m.ts, replay_tag(m.siv_part()?.0, Some(&m.sender))))
        }
        Family::Kem => {
            let m = SignedMessage::parse_kem(msg, suite.id)?;
            Ok((m.ts, replay_tag(m.siv_part()?.0, Some(&m.sender))))
        }
    }
}

fn expired(ts: u64, now: u64) -> bool {
    (ts as i64) <= (now as i64).saturating_sub(MAX_MESSAGE_AGE)
}

/// The commands accepted within the freshness window (bounded, persisted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandLog {
    floor: Option<u64>,
    seen: Vec<Tag>,
}

impl CommandLog {
    /// A log from saved parts; None if it holds more than
    /// [`COMMAND_LOG_SLOTS`] entries.
    pub(crate) fn from_parts(floor: Option<u64>, seen: Vec<Tag>) -> Option<CommandLog> {
        (seen.len() <= COMMAND_LOG_SLOTS).then_some(CommandLog { floor, seen })
    }

    /// The overflow floor: commands stamped at or below it are refused.
    pub fn floor(&self) -> Option<u64> {
        self.floor
    }

    /// The remembered commands (timestamp, SIV).
    pub(crate) fn seen(&self) -> &[Tag] {
        &self.seen
    }

    /// Refuse a command already accepted (or stamped at or below the floor).
    pub(crate) fn check(&self, tag: &Tag) -> Result<(), Error> {
        if self.floor.is_some_and(|f| tag.0 <= f) || self.seen.contains(tag) {
            return Err(Error::Replayed);
        }
        Ok(())
    }

    /// Remember an accepted command; forget what left the window.
    pub(crate) fn record(&mut self, tag: Tag, now: u64) {
        self.seen.retain(|(ts, _)| !expired(*ts, now));
        if self.floor.is_some_and(|f| expired(f, now)) {
            self.floor = None;
        }
        if self.seen.len() >= COMMAND_LOG_SLOTS {
            let (i, &(oldest, _)) = self
                .seen
                .iter()
                .enumerate()
                .min_by_key(|(_, (ts, _))| *ts)
                .expect("full log is not empty");
            self.seen.swap_remove(i);
            self.floor = Some(self.floor.map_or(oldest, |f| f.max(oldest)));
        }
        self.seen.push(tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_refused_and_window_forgets() {
        let mut log = CommandLog::default();
        let a = (1000, [1; 16]);
        log.check(&a).unwrap();
        log.record(a, 1000);
        assert_eq!(log.check(&a), Err(Error::Replayed));
        log.check(&(1000, [2; 16])).unwrap();
        // 600 s later the entry is dropped (E4's window refuses it anyway).
        log.record((1600, [3; 16]), 1600);
        assert_eq!(log.seen().len(), 1);
    }

    #[test]
    fn overflow_raises_floor_and_never_accepts_a_replay() {
        let mut log = CommandLog::default();
        for i in 0..=COMMAND_LOG_SLOTS as u64 {
            log.record((100 + i, [i as u8; 16]), 100 + i);
        }
        assert_eq!(log.seen().len(), COMMAND_LOG_SLOTS);
        assert_eq!(log.floor(), Some(100));
        assert_eq!(log.check(&(100, [0; 16])), Err(Error::Replayed));
        assert_eq!(log.check(&(100, [0xee; 16])), Err(Error::Replayed));
        log.check(&(101, [0xee; 16])).unwrap();
        // the floor goes once it is out of the window
        log.record((800, [0xaa; 16]), 800);
        assert_eq!(log.floor(), None);
    }

    #[test]
    fn from_parts_bounds_the_size() {
        assert!(CommandLog::from_parts(None, vec![(1, [0; 16]); COMMAND_LOG_SLOTS]).is_some());
        assert!(CommandLog::from_parts(None, vec![(1, [0; 16]); COMMAND_LOG_SLOTS + 1]).is_none());
    }
}
