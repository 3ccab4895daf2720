//! Keys a backend prepared once, kept by the client: the AES-SIV key of
//! each topic it uses (key schedule and CMAC subkeys) and the decoded
//! public key of each sender it verifies.
//!
//! Preparing an AES-256 key costs about what sealing 64 bytes does, and
//! decompressing an Ed25519 public key a sixth of a verification; a client
//! uses a handful of topics and hears a handful of senders, so both are
//! kept, bounded: [`PREPARED_TOPIC_SLOTS`] topic keys and
//! [`PREPARED_SENDER_SLOTS`] senders, replaced round-robin. An entry is used
//! only for exactly the key it was prepared from (topic keys compared in
//! constant time), and is dropped (zeroized by the backend's type) when the
//! client's store forgets or replaces the key. Memory with the RustCrypto
//! AES (run-time AES-NI detection keeps both key schedules): 1 040 bytes
//! per topic key, 192 per Ed25519 sender (checked by e4-backends' tests),
//! so at most about 24 KB. Backends that gain nothing return no
//! preparation and nothing is kept.

use crate::crypto::{PreparedSivKey, PreparedVerifier, SignatureScheme, Siv};
use crate::ids::{Id, TopicHash};
use crate::keys::SymKey;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Topic keys kept prepared.
pub const PREPARED_TOPIC_SLOTS: usize = 16;
/// Senders whose public keys are kept decoded.
pub const PREPARED_SENDER_SLOTS: usize = 32;

/// Bounded entries replaced round-robin: [`PreparedTopics`] and
/// [`PreparedSenders`].
pub struct Kept<K, V> {
    entries: Vec<(K, V)>,
    next: usize,
    cap: usize,
}

impl<K: PartialEq, V> Kept<K, V> {
    const fn new(cap: usize) -> Self {
        Kept {
            entries: Vec::new(),
            next: 0,
            cap,
        }
    }

    fn position(&self, k: &K) -> Option<usize> {
        self.entries.iter().position(|(e, _)| e == k)
    }

    fn insert(&mut self, k: K, v: V) -> usize {
        if self.entries.len() < self.cap {
            self.entries.push((k, v));
            self.entries.len() - 1
        } else {
            let i = self.next;
            self.entries[i] = (k, v);
            self.next = (self.next + 1) % self.cap;
            i
        }
    }

    /// Drop `k`'s entry (its key was replaced or removed).
    pub fn forget(&mut self, k: &K) {
        if let Some(i) = self.position(k) {
            self.entries.swap_remove(i);
            self.next = 0;
        }
    }

    /// Drop every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }

    /// Entries currently kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Prepared AES-SIV keys per topic (see the module documentation).
pub type PreparedTopics = Kept<TopicHash, Box<dyn PreparedSivKey>>;

impl Default for PreparedTopics {
    fn default() -> Self {
        Kept::new(PREPARED_TOPIC_SLOTS)
    }
}

impl PreparedTopics {
    /// The preparation of `key`, the current key of `topic`: kept, or made
    /// by `siv` and kept; `None` when `siv` does not prepare keys.
    pub fn get(&mut self, siv: &dyn Siv, topic: &TopicHash, key: &SymKey) -> Option<&dyn Siv> {
        let i = match self.position(topic) {
            Some(i) if self.entries[i].1.is_key(key) => i,
            Some(i) => {
                match siv.prepare_key(key) {
                    Some(p) => self.entries[i].1 = p,
                    None => {
                        self.entries.swap_remove(i);
                        return None;
                    }
                }
                i
            }
            None => {
                let p = siv.prepare_key(key)?;
                self.insert(*topic, p)
            }
        };
        Some(self.entries[i].1.as_siv())
    }
}

/// Decoded public keys per sender (see the module documentation).
pub type PreparedSenders = Kept<Id, Box<dyn PreparedVerifier>>;

impl Default for PreparedSenders {
    fn default() -> Self {
        Kept::new(PREPARED_SENDER_SLOTS)
    }
}

impl PreparedSenders {
    /// The verifier of `pk`, the current public key of `sender`: kept, or
    /// prepared by `scheme` and kept; `None` when `scheme` does not prepare
    /// keys or `pk` does not decode (the caller then verifies unprepared,
    /// which reports the error).
    pub fn get(
        &mut self,
        scheme: &dyn SignatureScheme,
        sender: &Id,
        pk: &[u8],
    ) -> Option<&dyn PreparedVerifier> {
        let i = match self.position(sender) {
            Some(i) if self.entries[i].1.public_key() == pk => i,
            Some(i) => {
                self.entries.swap_remove(i);
                let v = scheme.prepare_verifier(pk)?;
                self.insert(*sender, v)
            }
            None => {
                let v = scheme.prepare_verifier(pk)?;
                self.insert(*sender, v)
            }
        };
        Some(&*self.entries[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Rng, SIV_LEN};
    use crate::Error;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its preparations; seals nothing (only the caches are tested).
    #[derive(Default)]
    struct Counting(AtomicUsize);
    struct Prepared(SymKey);
    impl Siv for Prepared {
        fn seal(&self, _key: &SymKey, _ad: &[u8], _buf: &mut [u8]) -> [u8; SIV_LEN] {
            [1; SIV_LEN]
        }
        fn open(&self, _: &SymKey, _: &[u8], _: &[u8; SIV_LEN], _: &mut [u8]) -> Result<(), Error> {
            Ok(())
        }
    }
    impl PreparedSivKey for Prepared {
        fn is_key(&self, key: &SymKey) -> bool {
            self.0 == *key
        }
        fn as_siv(&self) -> &dyn Siv {
            self
        }
    }
    impl Siv for Counting {
        fn seal(&self, _key: &SymKey, _ad: &[u8], _buf: &mut [u8]) -> [u8; SIV_LEN] {
            [0; SIV_LEN]
        }
        fn open(&self, _: &SymKey, _: &[u8], _: &[u8; SIV_LEN], _: &mut [u8]) -> Result<(), Error> {
            Ok(())
        }
        fn prepare_key(&self, key: &SymKey) -> Option<Box<dyn PreparedSivKey>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(Box::new(Prepared(key.clone())))
        }
    }

    fn seal_with(s: &dyn Siv) -> [u8; SIV_LEN] {
        s.seal(&SymKey::new([0; 32]), &[], &mut [])
    }

    #[test]
    fn a_topic_key_is_prepared_once_and_again_when_it_changes() {
        let siv = Counting::default();
        let mut c = PreparedTopics::default();
        let (t, k1, k2) = (
            TopicHash([1; 16]),
            SymKey::new([1; 32]),
            SymKey::new([2; 32]),
        );
        for _ in 0..3 {
            assert_eq!(
                seal_with(c.get(&siv, &t, &k1).expect("prepared")),
                [1; SIV_LEN]
            );
        }
        assert_eq!(siv.0.load(Ordering::Relaxed), 1);
        c.get(&siv, &t, &k2).expect("prepared");
        assert_eq!(siv.0.load(Ordering::Relaxed), 2);
        assert_eq!(c.len(), 1);
        c.forget(&t);
        assert!(c.is_empty());
    }

    #[test]
    fn topics_are_bounded() {
        let siv = Counting::default();
        let mut c = PreparedTopics::default();
        for i in 0..(PREPARED_TOPIC_SLOTS as u8 * 2) {
            c.get(&siv, &TopicHash([i; 16]), &SymKey::new([i; 32]));
        }
        assert_eq!(c.len(), PREPARED_TOPIC_SLOTS);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn a_backend_that_prepares_nothing_keeps_nothing() {
        struct Plain;
        impl Siv for Plain {
            fn seal(&self, _: &SymKey, _: &[u8], _: &mut [u8]) -> [u8; SIV_LEN] {
                [0; SIV_LEN]
            }
            fn open(
                &self,
                _: &SymKey,
                _: &[u8],
                _: &[u8; SIV_LEN],
                _: &mut [u8],
            ) -> Result<(), Error> {
                Ok(())
            }
        }
        let mut c = PreparedTopics::default();
        assert!(c
            .get(&Plain, &TopicHash([1; 16]), &SymKey::new([1; 32]))
            .is_none());
        assert!(c.is_empty());
    }

    struct Scheme(AtomicUsize);
    struct Verifier(Vec<u8>);
    impl PreparedVerifier for Verifier {
        fn public_key(&self) -> &[u8] {
            &self.0
        }
        fn verify(&self, _msg: &[u8], sig: &[u8]) -> Result<(), Error> {
            if sig == self.0.as_slice() {
                Ok(())
            } else {
                Err(Error::InvalidSignature)
            }
        }
    }
    impl SignatureScheme for Scheme {
        fn public_key_len(&self) -> usize {
            4
        }
        fn secret_key_len(&self) -> usize {
            4
        }
        fn signature_len(&self) -> usize {
            4
        }
        fn generate(&self, _: &mut dyn Rng, _: &mut [u8], _: &mut [u8]) -> Result<(), Error> {
            Ok(())
        }
        fn sign(&self, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<(), Error> {
            Ok(())
        }
        fn verify(&self, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), Error> {
            Ok(())
        }
        fn prepare_verifier(&self, pk: &[u8]) -> Option<Box<dyn PreparedVerifier>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            (pk != [0; 4]).then(|| Box::new(Verifier(pk.to_vec())) as Box<dyn PreparedVerifier>)
        }
    }

    #[test]
    fn a_sender_key_is_decoded_once_and_again_when_it_changes() {
        let s = Scheme(AtomicUsize::new(0));
        let mut c = PreparedSenders::default();
        let id = Id([7; 16]);
        for _ in 0..3 {
            let v = c.get(&s, &id, &[1; 4]).expect("decoded");
            assert!(v.verify(b"m", &[1; 4]).is_ok());
        }
        assert_eq!(s.0.load(Ordering::Relaxed), 1);
        // A new key for the same sender: the old one is never used again.
        let v = c.get(&s, &id, &[2; 4]).expect("decoded");
        assert_eq!(v.public_key(), [2; 4]);
        assert!(v.verify(b"m", &[1; 4]).is_err());
        assert_eq!(c.len(), 1);
        // A key that does not decode is not kept, and the stale one is gone.
        assert!(c.get(&s, &id, &[0; 4]).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn senders_are_bounded() {
        let s = Scheme(AtomicUsize::new(0));
        let mut c = PreparedSenders::default();
        for i in 1..=(PREPARED_SENDER_SLOTS as u8 * 2) {
            c.get(&s, &Id([i; 16]), &[i; 4]);
        }
        assert_eq!(c.len(), PREPARED_SENDER_SLOTS);
        c.forget(&Id([PREPARED_SENDER_SLOTS as u8 * 2; 16]));
        assert_eq!(c.len(), PREPARED_SENDER_SLOTS - 1);
    }
}
