//! Per-topic hot path: the topic hash and the prepared AES-SIV key of one
//! topic, kept between messages.
//!
//! [`e4_proto::Client::protect`] hashes the topic name (SHA3-256, about
//! 0.5 µs) and the provider's [`AesSiv`](crate::base::AesSiv) expands the
//! topic key on every call. A [`TopicCipher`] does both once: each call
//! then looks the topic key up in the client's store as usual (so a key
//! set, rotated or removed by C2 takes effect at once), compares it in
//! constant time with the prepared one, prepares again only if it changed,
//! and protects through [`Client::protect_hashed_with`]. The bytes are
//! exactly those of [`Client::protect`]; every suite works, the symmetric
//! one gains the most.
//!
//! ```
//! use e4_backends::{fast::TopicCipher, provider};
//! use e4_proto::{store::MemStore, Client, FixedClock, Id, Identity, SuiteId, SymKey};
//!
//! let p = provider();
//! let mut client: Client<_, _> = Client::new(
//!     p,
//!     SuiteId::Symmetric,
//!     Id::from_alias(p.hash, b"device"),
//!     Identity::Symmetric(SymKey::new([7; 32])),
//!     MemStore::new(),
//!     FixedClock::new(1_800_000_000),
//! )
//! .unwrap();
//! let hash = client.topic_hash("sensors/t");
//! client.set_topic_key(&hash, &SymKey::new([9; 32])).unwrap();
//!
//! let mut tc = TopicCipher::new(p.hash, "sensors/t");
//! let mut out = [0u8; 64 + 24];
//! let n = tc.protect(&client, &[1; 64], &mut out).unwrap();
//! let mut plain = [0u8; 88];
//! assert_eq!(tc.unprotect(&mut client, &out[..n], &mut plain), Ok(64));
//! ```

use crate::base::PreparedSiv;
use e4_proto::crypto::{Sha3, Siv};
use e4_proto::store::Store;
use e4_proto::{Client, Clock, Error, TopicHash};

/// One topic's hash and prepared key (see the module documentation).
#[derive(Debug, Clone)]
pub struct TopicCipher {
    hash: TopicHash,
    prepared: Option<PreparedSiv>,
}

impl TopicCipher {
    /// The cipher of `topic` (hashes it once, with `hash`).
    pub fn new(hash: &dyn Sha3, topic: &str) -> TopicCipher {
        TopicCipher::from_hash(TopicHash::of(hash, topic.as_bytes()))
    }

    /// The cipher of an already hashed topic.
    pub fn from_hash(hash: TopicHash) -> TopicCipher {
        TopicCipher {
            hash,
            prepared: None,
        }
    }

    /// The topic hash.
    pub fn topic_hash(&self) -> &TopicHash {
        &self.hash
    }

    /// Forget the prepared key (zeroized); the next call prepares again.
    pub fn clear(&mut self) {
        self.prepared = None;
    }

    /// The key preparation for the client's current key of this topic.
    fn prepared<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
    ) -> Result<&PreparedSiv, Error> {
        let entry = client
            .store()
            .topic(&self.hash)
            .ok_or(Error::TopicKeyNotFound)?;
        match &self.prepared {
            Some(p) if p.is_key(&entry.key) => {}
            _ => self.prepared = Some(PreparedSiv::new(&entry.key)),
        }
        Ok(self.prepared.as_ref().expect("just set"))
    }

    /// [`Client::protect`] for this topic.
    pub fn protect<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let hash = self.hash;
        let siv = self.prepared(client)?;
        client.protect_hashed_with(siv, &hash, payload, out)
    }

    /// [`Client::protect_batch`] for this topic.
    pub fn protect_batch<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        payloads: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let hash = self.hash;
        let siv = self.prepared(client)?;
        client.protect_batch_with(siv, &hash, payloads, out)
    }

    /// [`Client::unprotect_hashed`] for this topic (a previous key during
    /// a transition is used unprepared).
    pub fn unprotect<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &mut Client<S, C, R>,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let hash = self.hash;
        self.prepared(client)?;
        let siv: &dyn Siv = self.prepared.as_ref().expect("prepared");
        client.unprotect_hashed_with(siv, &hash, msg, out)
    }
}

#[cfg(all(test, feature = "std", feature = "symmetric"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::provider;
    use e4_proto::store::MemStore;
    use e4_proto::{FixedClock, Id, Identity, SuiteId, SymKey};
    use std::vec;
    use std::vec::Vec;

    type C = Client<MemStore, FixedClock>;

    fn client(suite: SuiteId, seed: u8) -> C {
        let p = provider();
        let identity = match suite {
            SuiteId::Symmetric => Identity::Symmetric(SymKey::new([seed; 32])),
            _ => unreachable!(),
        };
        Client::new(
            p,
            suite,
            Id::from_alias(p.hash, &[seed]),
            identity,
            MemStore::new(),
            FixedClock::new(1_800_000_000),
        )
        .unwrap()
    }

    #[test]
    fn same_bytes_as_client_and_follows_key_changes() {
        let p = provider();
        let mut c = client(SuiteId::Symmetric, 1);
        let mut tc = TopicCipher::new(p.hash, "a/b");
        let h = *tc.topic_hash();
        let mut a = [0u8; 200];
        let mut b = [0u8; 200];
        assert_eq!(tc.protect(&c, b"x", &mut a), Err(Error::TopicKeyNotFound));
        for (round, key) in [[3u8; 32], [4; 32], [3; 32]].iter().enumerate() {
            c.set_topic_key(&h, &SymKey::new(*key)).unwrap();
            c.clock().set(1_800_000_000 + round as u64);
            for len in [0usize, 1, 16, 33, 150] {
                let payload = vec![len as u8; len];
                let n = tc.protect(&c, &payload, &mut a).unwrap();
                let m = c.protect("a/b", &payload, &mut b).unwrap();
                assert_eq!(a[..n], b[..m]);
                if len > 0 {
                    let mut plain = [0u8; 200];
                    c.set_replay_protection(false);
                    assert_eq!(tc.unprotect(&mut c, &a[..n], &mut plain), Ok(len));
                    assert_eq!(plain[..len], payload[..]);
                }
            }
        }
        c.set_topic_key(&h, &SymKey::new([5; 32])).unwrap();
        // The previous key ([3; 32]) still opens during the transition.
        let mut plain = [0u8; 200];
        assert!(tc.unprotect(&mut c, &b[..24 + 150], &mut plain).is_ok());
    }

    #[test]
    fn batch_matches_single_protects() {
        let mut c = client(SuiteId::Symmetric, 2);
        let mut tc = TopicCipher::new(provider().hash, "t");
        c.set_topic_key(tc.topic_hash(), &SymKey::new([8; 32]))
            .unwrap();
        let payloads: Vec<Vec<u8>> = (0..70).map(|i| vec![i as u8; (i * 37) % 300]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        let total: usize = payloads.iter().map(|p| p.len() + 24).sum();
        let mut out = vec![0u8; total];
        assert_eq!(
            c.protect_batch(tc.topic_hash(), &refs, &mut out[..total - 1]),
            Err(Error::BufferTooSmall)
        );
        for via_topic_cipher in [false, true] {
            out.fill(0);
            let n = if via_topic_cipher {
                tc.protect_batch(&c, &refs, &mut out).unwrap()
            } else {
                c.protect_batch(tc.topic_hash(), &refs, &mut out).unwrap()
            };
            assert_eq!(n, total);
            let mut at = 0;
            for p in &payloads {
                let mut one = vec![0u8; p.len() + 24];
                c.protect_hashed(tc.topic_hash(), p, &mut one).unwrap();
                assert_eq!(out[at..at + one.len()], one[..]);
                at += one.len();
            }
        }
    }
}
