//! A small cache of topic name → topic hash, so that the string-topic API
//! (`Client::protect(topic, ..)`) does not pay a SHA3-256 per message.
//!
//! Applications publish on a handful of topics; the cache keeps the last
//! [`TOPIC_CACHE_SLOTS`] topics of at most [`TOPIC_CACHE_MAX_LEN`] bytes
//! (longer ones are hashed every time), replaced round-robin. Lookups
//! compare the whole topic: a hit is exactly the topic that was hashed.
//! Memory: at most `TOPIC_CACHE_SLOTS × (TOPIC_CACHE_MAX_LEN + 40)` bytes,
//! about 5.4 KB, on the heap (the cache needs `alloc`; no_std builds
//! without it hash every time or use the `*_hashed` API).

use crate::crypto::Sha3;
use crate::ids::TopicHash;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Topics kept.
pub const TOPIC_CACHE_SLOTS: usize = 32;
/// Longest topic kept, in bytes.
pub const TOPIC_CACHE_MAX_LEN: usize = 128;

/// Topic name → hash, bounded (see the module documentation).
#[derive(Default)]
pub struct TopicCache {
    entries: Vec<(Box<[u8]>, TopicHash)>,
    next: usize,
}

impl TopicCache {
    /// The hash of `topic`, from the cache or computed (and kept).
    pub fn hash(&mut self, hash: &dyn Sha3, topic: &[u8]) -> TopicHash {
        if let Some((_, h)) = self.entries.iter().find(|(t, _)| **t == *topic) {
            return *h;
        }
        let h = TopicHash::of(hash, topic);
        if topic.len() <= TOPIC_CACHE_MAX_LEN {
            let entry = (Box::from(topic), h);
            if self.entries.len() < TOPIC_CACHE_SLOTS {
                self.entries.push(entry);
            } else {
                self.entries[self.next] = entry;
                self.next = (self.next + 1) % TOPIC_CACHE_SLOTS;
            }
        }
        h
    }

    /// Topics currently kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its calls; the "hash" is the topic's first bytes.
    #[derive(Default)]
    struct Counting(AtomicUsize);
    impl Sha3 for Counting {
        fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
            self.0.fetch_add(1, Ordering::Relaxed);
            let mut out = [0u8; 32];
            let mut i = 0;
            for p in parts {
                for b in p.iter() {
                    out[i % 32] ^= b.wrapping_add(i as u8);
                    i += 1;
                }
            }
            out
        }
    }

    #[test]
    fn hits_skip_the_hash_and_give_the_same_value() {
        let h = Counting::default();
        let mut c = TopicCache::default();
        let a = c.hash(&h, b"sensors/a");
        assert_eq!(h.0.load(Ordering::Relaxed), 1);
        assert_eq!(c.hash(&h, b"sensors/a"), a);
        assert_eq!(h.0.load(Ordering::Relaxed), 1);
        assert_eq!(a, TopicHash::of(&h, b"sensors/a"));
        // A prefix or extension is another topic.
        assert_ne!(c.hash(&h, b"sensors/"), a);
        assert_ne!(c.hash(&h, b"sensors/ab"), a);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn bounded_in_count_and_length() {
        let h = Counting::default();
        let mut c = TopicCache::default();
        let long = [b'x'; TOPIC_CACHE_MAX_LEN + 1];
        c.hash(&h, &long);
        c.hash(&h, &long);
        assert!(c.is_empty());
        for i in 0..3 * TOPIC_CACHE_SLOTS {
            let t = alloc::format!("t/{i}");
            assert_eq!(c.hash(&h, t.as_bytes()), TopicHash::of(&h, t.as_bytes()));
            assert!(c.len() <= TOPIC_CACHE_SLOTS);
        }
        assert_eq!(c.len(), TOPIC_CACHE_SLOTS);
    }
}
