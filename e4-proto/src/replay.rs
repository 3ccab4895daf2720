//! Replay rejection beyond E4's freshness window.
//!
//! E4 accepts any authentic message whose timestamp is less than 600 s old,
//! so a broker can replay it for ten minutes. [`ReplayCache`] remembers the
//! SIV (which AES-SIV derives from key, timestamp and plaintext, so a
//! byte-identical message has the same SIV) and timestamp of the last `N`
//! accepted messages, across topics, in fixed memory (`N * 40` bytes).
//!
//! Signed messages are remembered per sender ([`replay_tag`]).
//!
//! When the cache is full of entries still inside the window, the entry with
//! the oldest timestamp is evicted and its timestamp becomes a floor: any
//! later message with a timestamp at or below the floor is refused. So a
//! replay is never accepted; the price of overflow is that legitimate
//! messages may be refused: one older than `N` newer ones, and, since
//! timestamps have a one-second resolution, any message beyond the `N`-th
//! within the same second (across all topics). `N` therefore bounds the
//! accepted rate at about `N` messages per second while the cache is full:
//! size it for the device's traffic (`e4-client` uses a larger cache than
//! the 64 entries of `e4_proto::Client`'s default), or switch replay
//! rejection off where E4's 600 s window is enough.

use crate::error::Error;
use crate::ids::{Id, TopicHash};
use crate::time::MAX_MESSAGE_AGE;

/// The value a replay cache remembers of an accepted message: its SIV, and
/// for the signed formats the SIV combined (XOR) with the authenticated
/// sender's id. Two members that publish the same payload in the same
/// second produce the same SIV (the sender is not part of it), and a member
/// can re-sign another's message as its own; keyed by sender, neither
/// suppresses the other's genuine message, while a byte-identical copy is
/// still refused. A sender cannot steer the XOR onto another sender's
/// entry: it would need an SIV, a PRF output under the topic key, of its
/// choosing. Symmetric messages carry no sender: identical bytes are one
/// message.
pub fn replay_tag(siv: &[u8; 16], sender: Option<&Id>) -> [u8; 16] {
    let mut tag = *siv;
    if let Some(id) = sender {
        for (t, s) in tag.iter_mut().zip(id.0) {
            *t ^= s;
        }
    }
    tag
}

#[derive(Clone, Copy)]
struct Seen {
    topic: TopicHash,
    ts: u64,
    siv: [u8; 16],
}

/// Remembers recently accepted messages. `N` bounds the memory.
#[derive(Clone)]
pub struct ReplayCache<const N: usize> {
    seen: [Option<Seen>; N],
    floor: Option<u64>,
}

impl<const N: usize> Default for ReplayCache<N> {
    fn default() -> Self {
        ReplayCache {
            seen: [None; N],
            floor: None,
        }
    }
}

impl<const N: usize> ReplayCache<N> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse a message already accepted (or older than the overflow floor).
    /// Does not record it: call [`ReplayCache::record`] once it is accepted.
    pub fn check(&self, topic: &TopicHash, ts: u64, siv: &[u8; 16]) -> Result<(), Error> {
        if self.floor.is_some_and(|f| ts <= f) {
            return Err(Error::Replayed);
        }
        let dup = self
            .seen
            .iter()
            .flatten()
            .any(|s| s.ts == ts && s.siv == *siv && s.topic == *topic);
        if dup {
            Err(Error::Replayed)
        } else {
            Ok(())
        }
    }

    /// Remember an accepted message.
    pub fn record(&mut self, topic: &TopicHash, ts: u64, siv: &[u8; 16], now: u64) {
        if N == 0 {
            return;
        }
        let expired = |s: &Seen| (s.ts as i64) <= (now as i64).saturating_sub(MAX_MESSAGE_AGE);
        let slot = match self
            .seen
            .iter()
            .position(|s| s.as_ref().is_none_or(expired))
        {
            Some(i) => i,
            None => {
                // Full of live entries: evict the oldest and raise the floor.
                let (i, oldest) = self
                    .seen
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.map(|s| (i, s.ts)))
                    .min_by_key(|&(_, ts)| ts)
                    .expect("N > 0 and full");
                self.floor = Some(self.floor.map_or(oldest, |f| f.max(oldest)));
                i
            }
        };
        self.seen[slot] = Some(Seen {
            topic: *topic,
            ts,
            siv: *siv,
        });
    }

    /// Forget everything (e.g. after the keys were replaced).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The overflow floor: messages stamped at or below it are refused.
    pub fn floor(&self) -> Option<u64> {
        self.floor
    }

    /// Refuse every message stamped at or below `ts` from now on: what a
    /// client does after a restart that could not save the cache, since it
    /// cannot know what the previous process accepted.
    pub fn raise_floor(&mut self, ts: u64) {
        self.floor = Some(self.floor.map_or(ts, |f| f.max(ts)));
    }

    /// The remembered messages still inside the freshness window at `now`,
    /// as (topic, timestamp, tag), to save them.
    pub fn live_entries(&self, now: u64) -> impl Iterator<Item = (TopicHash, u64, [u8; 16])> + '_ {
        let horizon = (now as i64).saturating_sub(MAX_MESSAGE_AGE);
        self.seen
            .iter()
            .flatten()
            .filter(move |s| (s.ts as i64) > horizon)
            .map(|s| (s.topic, s.ts, s.siv))
    }

    /// A cache from what [`ReplayCache::floor`] and
    /// [`ReplayCache::live_entries`] saved: the same messages are refused
    /// (entries beyond `N` raise the floor as [`ReplayCache::record`] does).
    pub fn restore(
        floor: Option<u64>,
        entries: impl IntoIterator<Item = (TopicHash, u64, [u8; 16])>,
        now: u64,
    ) -> Self {
        let mut c = ReplayCache {
            floor,
            ..Self::default()
        };
        for (topic, ts, tag) in entries {
            c.record(&topic, ts, &tag, now);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TopicHash = TopicHash([1; 16]);

    #[test]
    fn a_restored_cache_refuses_what_the_saved_one_did() {
        let mut c = ReplayCache::<4>::new();
        for (i, ts) in [100u64, 101, 102, 103, 104].iter().enumerate() {
            c.record(&T, *ts, &[i as u8; 16], 104);
        }
        let saved: std::vec::Vec<_> = c.live_entries(104).collect();
        assert_eq!(saved.len(), 4);
        let r = ReplayCache::<4>::restore(c.floor(), saved, 110);
        assert_eq!(
            r.check(&T, 100, &[0; 16]),
            Err(Error::Replayed),
            "below the floor"
        );
        assert_eq!(
            r.check(&T, 104, &[4; 16]),
            Err(Error::Replayed),
            "remembered"
        );
        r.check(&T, 104, &[5; 16]).unwrap();
        // Entries older than the window are not saved.
        assert_eq!(r.live_entries(104 + 600).count(), 0);
        let mut f = ReplayCache::<4>::new();
        f.raise_floor(200);
        assert_eq!(f.check(&T, 200, &[9; 16]), Err(Error::Replayed));
        f.check(&T, 201, &[9; 16]).unwrap();
    }

    #[test]
    fn duplicate_is_refused_distinct_is_accepted() {
        let mut c = ReplayCache::<4>::new();
        c.check(&T, 100, &[1; 16]).unwrap();
        c.record(&T, 100, &[1; 16], 100);
        assert_eq!(c.check(&T, 100, &[1; 16]), Err(Error::Replayed));
        c.check(&T, 100, &[2; 16]).unwrap();
        c.check(&TopicHash([2; 16]), 100, &[1; 16]).unwrap();
    }

    #[test]
    fn overflow_raises_floor_and_never_accepts_a_replay() {
        let mut c = ReplayCache::<2>::new();
        for (ts, b) in [(100, 1u8), (101, 2), (102, 3)] {
            c.record(&T, ts, &[b; 16], 102);
        }
        // (100, 1) was evicted: its replay is refused by the floor.
        assert_eq!(c.check(&T, 100, &[1; 16]), Err(Error::Replayed));
        assert_eq!(c.check(&T, 101, &[2; 16]), Err(Error::Replayed));
        c.check(&T, 103, &[4; 16]).unwrap();
    }

    #[test]
    fn expired_entries_are_reused_without_floor() {
        let mut c = ReplayCache::<1>::new();
        c.record(&T, 100, &[1; 16], 100);
        c.record(&T, 800, &[2; 16], 800);
        c.check(&T, 799, &[3; 16]).unwrap();
    }
}
