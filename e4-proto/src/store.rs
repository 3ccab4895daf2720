//! Where a client keeps its topic keys and the public keys of other devices.
//!
//! [`FixedStore`] needs no heap: its capacities are const generics chosen at
//! compile time (libe4 hard-codes 100 topics). [`MemStore`] grows on the heap
//! (feature `alloc`) and holds public keys of any suite.

use crate::error::Error;
use crate::ids::{Id, TopicHash};
use crate::keys::{SymKey, ED25519_PK_LEN};

/// A topic's replaced key, kept for the transition period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousKey {
    /// The replaced key.
    pub key: SymKey,
    /// The client's clock when the replacement was processed.
    pub set_at: u64,
}

/// A topic's current key and, during a transition, its previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicEntry {
    /// The current key.
    pub key: SymKey,
    /// The previous key, if the key was replaced.
    pub previous: Option<PreviousKey>,
}

/// Storage of topic keys and public keys. Every mutating call either
/// succeeds completely or changes nothing.
pub trait Store {
    /// The entry of a topic.
    fn topic(&self, hash: &TopicHash) -> Option<&TopicEntry>;
    /// Insert or replace a topic entry.
    fn set_topic(&mut self, hash: TopicHash, entry: TopicEntry) -> Result<(), Error>;
    /// Remove a topic (no error if absent).
    fn remove_topic(&mut self, hash: &TopicHash);
    /// Remove every topic.
    fn clear_topics(&mut self);
    /// Number of topics.
    fn topic_count(&self) -> usize;
    /// Visit every topic, in ascending hash order.
    fn for_each_topic(&self, f: &mut dyn FnMut(&TopicHash, &TopicEntry));
    /// The public key of a device.
    fn pubkey(&self, id: &Id) -> Option<&[u8]>;
    /// Insert or replace a public key.
    fn set_pubkey(&mut self, id: Id, key: &[u8]) -> Result<(), Error>;
    /// Remove a public key; false if there was none.
    fn remove_pubkey(&mut self, id: &Id) -> bool;
    /// Remove every public key.
    fn clear_pubkeys(&mut self);
    /// Number of public keys.
    fn pubkey_count(&self) -> usize;
    /// Visit every public key, in ascending id order.
    fn for_each_pubkey(&self, f: &mut dyn FnMut(&Id, &[u8]));
}

/// A heap-free store with room for `T` topics and `P` Ed25519 public keys.
///
/// Entries are kept sorted, so look-ups are binary searches. Public keys
/// longer than 32 bytes (post-quantum) are refused with
/// [`Error::InvalidArgument`]: use [`MemStore`] for those suites.
pub struct FixedStore<const T: usize, const P: usize> {
    topics: [Option<(TopicHash, TopicEntry)>; T],
    topic_len: usize,
    pubkeys: [(Id, [u8; ED25519_PK_LEN]); P],
    pubkey_len: usize,
}

impl<const T: usize, const P: usize> Default for FixedStore<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const T: usize, const P: usize> FixedStore<T, P> {
    /// An empty store.
    pub fn new() -> Self {
        FixedStore {
            topics: core::array::from_fn(|_| None),
            topic_len: 0,
            pubkeys: [(Id([0; 16]), [0; ED25519_PK_LEN]); P],
            pubkey_len: 0,
        }
    }

    fn topic_index(&self, hash: &TopicHash) -> Result<usize, usize> {
        self.topics[..self.topic_len]
            .binary_search_by(|e| e.as_ref().map(|(h, _)| h).cmp(&Some(hash)))
    }

    fn pubkey_index(&self, id: &Id) -> Result<usize, usize> {
        self.pubkeys[..self.pubkey_len].binary_search_by(|(i, _)| i.cmp(id))
    }
}

impl<const T: usize, const P: usize> Store for FixedStore<T, P> {
    fn topic(&self, hash: &TopicHash) -> Option<&TopicEntry> {
        let i = self.topic_index(hash).ok()?;
        self.topics[i].as_ref().map(|(_, e)| e)
    }

    fn set_topic(&mut self, hash: TopicHash, entry: TopicEntry) -> Result<(), Error> {
        match self.topic_index(&hash) {
            Ok(i) => self.topics[i] = Some((hash, entry)),
            Err(i) => {
                if self.topic_len == T {
                    return Err(Error::StoreFull);
                }
                self.topics[i..=self.topic_len].rotate_right(1);
                self.topics[i] = Some((hash, entry));
                self.topic_len += 1;
            }
        }
        Ok(())
    }

    fn remove_topic(&mut self, hash: &TopicHash) {
        if let Ok(i) = self.topic_index(hash) {
            self.topics[i] = None; // drops (and zeroizes) the keys
            self.topics[i..self.topic_len].rotate_left(1);
            self.topic_len -= 1;
        }
    }

    fn clear_topics(&mut self) {
        for t in self.topics.iter_mut() {
            *t = None;
        }
        self.topic_len = 0;
    }

    fn topic_count(&self) -> usize {
        self.topic_len
    }

    fn for_each_topic(&self, f: &mut dyn FnMut(&TopicHash, &TopicEntry)) {
        for (h, e) in self.topics[..self.topic_len].iter().flatten() {
            f(h, e)
        }
    }

    fn pubkey(&self, id: &Id) -> Option<&[u8]> {
        let i = self.pubkey_index(id).ok()?;
        Some(&self.pubkeys[i].1)
    }

    fn set_pubkey(&mut self, id: Id, key: &[u8]) -> Result<(), Error> {
        let key: [u8; ED25519_PK_LEN] = key.try_into().map_err(|_| Error::InvalidArgument)?;
        match self.pubkey_index(&id) {
            Ok(i) => self.pubkeys[i].1 = key,
            Err(i) => {
                if self.pubkey_len == P {
                    return Err(Error::StoreFull);
                }
                self.pubkeys[i..=self.pubkey_len].rotate_right(1);
                self.pubkeys[i] = (id, key);
                self.pubkey_len += 1;
            }
        }
        Ok(())
    }

    fn remove_pubkey(&mut self, id: &Id) -> bool {
        match self.pubkey_index(id) {
            Ok(i) => {
                self.pubkeys[i..self.pubkey_len].rotate_left(1);
                self.pubkey_len -= 1;
                true
            }
            Err(_) => false,
        }
    }

    fn clear_pubkeys(&mut self) {
        self.pubkey_len = 0;
    }

    fn pubkey_count(&self) -> usize {
        self.pubkey_len
    }

    fn for_each_pubkey(&self, f: &mut dyn FnMut(&Id, &[u8])) {
        for (id, k) in &self.pubkeys[..self.pubkey_len] {
            f(id, k)
        }
    }
}

/// A heap store without capacity limits, for any suite.
#[cfg(feature = "alloc")]
#[derive(Default, Clone, Debug)]
pub struct MemStore {
    topics: alloc::collections::BTreeMap<TopicHash, TopicEntry>,
    pubkeys: alloc::collections::BTreeMap<Id, alloc::vec::Vec<u8>>,
}

#[cfg(feature = "alloc")]
impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }
}

#[cfg(feature = "alloc")]
impl Store for MemStore {
    fn topic(&self, hash: &TopicHash) -> Option<&TopicEntry> {
        self.topics.get(hash)
    }
    fn set_topic(&mut self, hash: TopicHash, entry: TopicEntry) -> Result<(), Error> {
        self.topics.insert(hash, entry);
        Ok(())
    }
    fn remove_topic(&mut self, hash: &TopicHash) {
        self.topics.remove(hash);
    }
    fn clear_topics(&mut self) {
        self.topics.clear();
    }
    fn topic_count(&self) -> usize {
        self.topics.len()
    }
    fn for_each_topic(&self, f: &mut dyn FnMut(&TopicHash, &TopicEntry)) {
        for (h, e) in &self.topics {
            f(h, e)
        }
    }
    fn pubkey(&self, id: &Id) -> Option<&[u8]> {
        self.pubkeys.get(id).map(|v| v.as_slice())
    }
    fn set_pubkey(&mut self, id: Id, key: &[u8]) -> Result<(), Error> {
        self.pubkeys.insert(id, key.to_vec());
        Ok(())
    }
    fn remove_pubkey(&mut self, id: &Id) -> bool {
        self.pubkeys.remove(id).is_some()
    }
    fn clear_pubkeys(&mut self) {
        self.pubkeys.clear();
    }
    fn pubkey_count(&self) -> usize {
        self.pubkeys.len()
    }
    fn for_each_pubkey(&self, f: &mut dyn FnMut(&Id, &[u8])) {
        for (id, k) in &self.pubkeys {
            f(id, k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: u8) -> TopicEntry {
        TopicEntry {
            key: SymKey::new([b; 32]),
            previous: None,
        }
    }

    fn exercise(s: &mut dyn Store) {
        for b in [5u8, 1, 3] {
            s.set_topic(TopicHash([b; 16]), entry(b)).unwrap();
        }
        assert_eq!(s.topic_count(), 3);
        let mut order = [0u8; 3];
        let mut n = 0;
        s.for_each_topic(&mut |h, _| {
            order[n] = h.0[0];
            n += 1
        });
        assert_eq!(order, [1, 3, 5]);
        assert_eq!(s.topic(&TopicHash([3; 16])), Some(&entry(3)));
        s.remove_topic(&TopicHash([3; 16]));
        s.remove_topic(&TopicHash([9; 16]));
        assert_eq!(s.topic(&TopicHash([3; 16])), None);
        assert_eq!(s.topic(&TopicHash([5; 16])), Some(&entry(5)));
        s.set_pubkey(Id([2; 16]), &[2; 32]).unwrap();
        s.set_pubkey(Id([1; 16]), &[1; 32]).unwrap();
        assert_eq!(s.pubkey(&Id([2; 16])), Some(&[2u8; 32][..]));
        assert!(s.remove_pubkey(&Id([2; 16])));
        assert!(!s.remove_pubkey(&Id([2; 16])));
        assert_eq!(s.pubkey_count(), 1);
        s.clear_pubkeys();
        s.clear_topics();
        assert_eq!((s.topic_count(), s.pubkey_count()), (0, 0));
    }

    #[test]
    fn fixed_store_behaves_like_a_sorted_map() {
        exercise(&mut FixedStore::<4, 4>::new());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn mem_store_behaves_like_a_sorted_map() {
        exercise(&mut MemStore::new());
    }

    #[test]
    fn fixed_store_full_changes_nothing() {
        let mut s = FixedStore::<2, 1>::new();
        s.set_topic(TopicHash([1; 16]), entry(1)).unwrap();
        s.set_topic(TopicHash([2; 16]), entry(2)).unwrap();
        assert_eq!(
            s.set_topic(TopicHash([3; 16]), entry(3)),
            Err(Error::StoreFull)
        );
        // replacing an existing entry still works when full
        s.set_topic(TopicHash([2; 16]), entry(7)).unwrap();
        assert_eq!(s.topic_count(), 2);
        s.set_pubkey(Id([1; 16]), &[1; 32]).unwrap();
        assert_eq!(s.set_pubkey(Id([2; 16]), &[1; 32]), Err(Error::StoreFull));
        assert_eq!(
            s.set_pubkey(Id([1; 16]), &[1; 33]),
            Err(Error::InvalidArgument)
        );
    }
}
