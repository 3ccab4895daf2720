//! The commands published to each device in the last seconds, to never
//! publish the same bytes twice.
//!
//! A command is sealed when published, with the current second as its
//! timestamp; E4's symmetric and public-key command formats are
//! deterministic, so the same command to the same device in the same second
//! (join, leave without rotation and join again; a resync right after a
//! join) gives the same bytes, and the device rightly refuses the second
//! copy as a replay. The publisher holds such a command until the next
//! second instead.

use e4_proto::Id;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Entries older than this are forgotten (a repeat needs the same second).
const KEEP: Duration = Duration::from_secs(2);
/// Pruning starts above this many devices.
const PRUNE_ABOVE: usize = 4096;

/// Commands remembered per device: beyond 8 in two seconds the oldest is
/// forgotten (one command is in flight per device, so that takes a broker
/// acknowledging more than 4 a second to one device).
const PER_DEVICE: usize = 8;

/// Per device: when, and a digest of what, was published lately.
#[derive(Default)]
pub struct LastSent {
    last: HashMap<Id, Vec<(Instant, u64)>>,
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl LastSent {
    /// Whether `bytes` are what was last published to `client` (a digest
    /// collision only delays a command by a second).
    pub fn is_repeat(&self, client: &Id, bytes: &[u8]) -> bool {
        let d = digest(bytes);
        self.last
            .get(client)
            .is_some_and(|sent| sent.iter().any(|(at, x)| at.elapsed() < KEEP && *x == d))
    }

    /// Record `bytes` as published to `client` now.
    pub fn record(&mut self, client: Id, bytes: &[u8]) {
        if self.last.len() > PRUNE_ABOVE {
            self.last.retain(|_, sent| {
                sent.retain(|(at, _)| at.elapsed() < KEEP);
                !sent.is_empty()
            });
        }
        let sent = self.last.entry(client).or_default();
        sent.retain(|(at, _)| at.elapsed() < KEEP);
        if sent.len() >= PER_DEVICE {
            sent.remove(0);
        }
        sent.push((Instant::now(), digest(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_to_the_same_device_are_a_repeat() {
        let mut l = LastSent::default();
        let (a, b) = (Id([1; 16]), Id([2; 16]));
        assert!(!l.is_repeat(&a, b"cmd"));
        l.record(a, b"cmd");
        assert!(l.is_repeat(&a, b"cmd"));
        assert!(!l.is_repeat(&a, b"cmd2"));
        assert!(!l.is_repeat(&b, b"cmd"));
        // Not only the last one: join, leave, join again in one second.
        l.record(a, b"cmd2");
        assert!(l.is_repeat(&a, b"cmd"));
        assert!(l.is_repeat(&a, b"cmd2"));
        for i in 0..PER_DEVICE as u8 {
            l.record(a, &[i]);
        }
        assert!(!l.is_repeat(&a, b"cmd"), "at most {PER_DEVICE} kept");
    }

    #[test]
    fn pruning_keeps_recent_entries() {
        let mut l = LastSent::default();
        for i in 0..(PRUNE_ABOVE as u32 + 10) {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_le_bytes());
            l.record(Id(id), b"x");
        }
        // Entries are recent, so none is pruned yet; the map stays usable.
        assert!(l.is_repeat(&Id([0; 16]), b"x"));
    }
}
