//! The keys a client keeps prepared (`e4_proto::prepared`: topic AES-SIV
//! keys, its own signing key, senders' public keys) give exactly the bytes
//! and decisions of the unprepared path, and follow every key change: a
//! replaced or removed key is never used from the cache.

mod common;

use common::*;
use e4_backends::base::AesSiv;
use e4_backends::provider;
use e4_proto::{Command, Error, Identity, SuiteId, SymKey};

const PAYLOAD: &[u8] = b"21.5 degrees, prepared";

fn signature_len(suite: SuiteId) -> usize {
    provider()
        .suite(suite)
        .unwrap()
        .sig()
        .map_or(0, |s| s.signature_len())
}

#[test]
fn protect_is_byte_for_byte_the_unprepared_seal() {
    for suite in suites() {
        let (_c2, sender, _receiver) = pair(suite, &SymKey::new([7; 32]));
        let h = sender.client.topic_hash(TOPIC);
        for len in [0usize, 1, 16, 64, 1000] {
            let payload = vec![len as u8; len];
            let n = len + sender.client.overhead();
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            // Twice through the cache (the second call uses the kept key),
            // once with AES-SIV preparing the key per call.
            for _ in 0..2 {
                sender.client.protect_hashed(&h, &payload, &mut a).unwrap();
            }
            sender
                .client
                .protect_hashed_with(&AesSiv, &h, &payload, &mut b)
                .unwrap();
            let sig_len = signature_len(suite);
            // Ed25519 is deterministic: the prepared signing key gives the
            // same signature; ML-DSA signs with fresh randomness, so the
            // signed bytes are compared and the signatures verified.
            let deterministic = suite == SuiteId::PubKey || suite == SuiteId::Symmetric;
            let cmp = if deterministic { n } else { n - sig_len };
            assert_eq!(a[..cmp], b[..cmp], "{suite}, {len} bytes");
            if sig_len > 0 {
                let sig = provider().suite(suite).unwrap().sig().unwrap();
                for m in [&a, &b] {
                    let (signed, s) = m.split_at(n - sig_len);
                    sig.verify(&sender.sig_pk, signed, s).unwrap();
                }
            }
        }
    }
}

#[test]
fn a_changed_or_removed_topic_key_is_not_used_from_the_cache() {
    for suite in suites() {
        let (c2, mut sender, mut receiver) = pair(suite, &SymKey::new([1; 32]));
        receiver.client.set_replay_protection(false);
        let old = protect(&sender.client, TOPIC, PAYLOAD);
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &old).unwrap(),
            PAYLOAD
        );

        // The sender's key changes by a command: its next message is under
        // the new key (a receiver with only the new key opens it, one with
        // only the old key does not).
        let h = sender.client.topic_hash(TOPIC);
        let set = Command::SetTopicKey {
            key: &[2; 32],
            topic: h,
        };
        let cmd = c2.command(&sender.client, &set);
        apply(&mut sender.client, &cmd).unwrap();
        let new = protect(&sender.client, TOPIC, PAYLOAD);
        let mut fresh = new_party(suite, "fresh", &c2);
        fresh.join(TOPIC, &SymKey::new([2; 32]));
        fresh.trust(&sender);
        assert_eq!(unprotect(&mut fresh.client, TOPIC, &new).unwrap(), PAYLOAD);
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &new),
            Err(Error::NotAuthentic),
            "{suite}: the receiver still has the old key"
        );

        // Set directly, then removed by a command: nothing is sealed or
        // opened with a kept key.
        receiver.join(TOPIC, &SymKey::new([2; 32]));
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &new).unwrap(),
            PAYLOAD
        );
        let cmd = c2.command(&receiver.client, &Command::RemoveTopic(h));
        apply(&mut receiver.client, &cmd).unwrap();
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &new),
            Err(Error::TopicKeyNotFound)
        );
        let mut out = vec![0u8; PAYLOAD.len() + receiver.client.overhead()];
        assert_eq!(
            receiver.client.protect(TOPIC, PAYLOAD, &mut out),
            Err(Error::TopicKeyNotFound)
        );
    }
}

#[test]
fn a_replaced_sender_key_is_not_used_from_the_cache() {
    for suite in suites().into_iter().filter(|s| s.signs_messages()) {
        let (c2, sender, mut receiver) = pair(suite, &SymKey::new([3; 32]));
        receiver.client.set_replay_protection(false);
        let msg = protect(&sender.client, TOPIC, PAYLOAD);
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &msg).unwrap(),
            PAYLOAD
        );

        // Another key for the same sender id: the message no longer verifies.
        let other = new_party(suite, "someone else", &c2);
        receiver
            .client
            .set_pubkey(sender.client.id(), &other.sig_pk)
            .unwrap();
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &msg),
            Err(Error::InvalidSignature),
            "{suite}"
        );
        // Back to the real key by a command, then removed by a command.
        let set = Command::SetPubKey {
            key: &sender.sig_pk,
            id: *sender.client.id(),
        };
        let cmd = c2.command(&receiver.client, &set);
        apply(&mut receiver.client, &cmd).unwrap();
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &msg).unwrap(),
            PAYLOAD
        );
        let cmd = c2.command(
            &receiver.client,
            &Command::RemovePubKey(*sender.client.id()),
        );
        apply(&mut receiver.client, &cmd).unwrap();
        assert_eq!(
            unprotect(&mut receiver.client, TOPIC, &msg),
            Err(Error::PubKeyNotFound)
        );
    }
}

#[test]
fn a_new_identity_signs_with_the_new_key() {
    let suite = SuiteId::PubKey;
    let (c2, mut sender, mut receiver) = pair(suite, &SymKey::new([4; 32]));
    let replacement = new_party(suite, "replacement", &c2);
    let Identity::PubKey { signing, .. } = replacement.client.identity() else {
        panic!("a public-key identity");
    };
    let cmd = c2.command(&sender.client, &Command::SetIdKey(signing.as_bytes()));
    apply(&mut sender.client, &cmd).unwrap();
    let msg = protect(&sender.client, TOPIC, PAYLOAD);
    // The receiver knows the old key: refused; with the new one: accepted.
    assert_eq!(
        unprotect(&mut receiver.client, TOPIC, &msg),
        Err(Error::InvalidSignature)
    );
    receiver
        .client
        .set_pubkey(sender.client.id(), &replacement.sig_pk)
        .unwrap();
    assert_eq!(
        unprotect(&mut receiver.client, TOPIC, &msg).unwrap(),
        PAYLOAD
    );
}

/// e4_proto::prepared documents 1 040 bytes per kept topic key (the
/// RustCrypto AES keeps both key schedules under run-time detection) and
/// 192 per Ed25519 sender (on x86-64; other targets' AES layouts differ).
#[cfg(target_arch = "x86_64")]
#[test]
fn kept_keys_stay_within_the_documented_memory() {
    let aes = std::mem::size_of::<e4_backends::base::PreparedSiv>();
    let point = std::mem::size_of::<ed25519_dalek::VerifyingKey>();
    println!("PreparedSiv {aes} B, VerifyingKey {point} B");
    assert!(aes <= 1040, "PreparedSiv is {aes} bytes");
    assert!(point <= 192, "VerifyingKey is {point} bytes");
}
