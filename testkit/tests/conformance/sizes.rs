//! The provider's algorithms have the suite table's sizes, and the
//! overheads of the table are what the encoders produce.

use e4_proto::c2::protected_command_len;
use e4_proto::command::Command;
use e4_proto::message::{PUBKEY_OVERHEAD, SYM_OVERHEAD};
use e4_proto::{Error, Family, Id, SymKey, TopicHash};
use e4_testkit::*;

conformance!(algorithm_sizes_match_the_suite_table, |provider, suite| {
    let s = provider.suite(suite).unwrap();
    assert_eq!(s.id, suite);
    let p = suite.params();
    let mut r = rng(&format!("sizes {suite}"));
    match s.sig {
        Some(sig) => {
            assert_eq!(sig.public_key_len(), p.sig_public_key);
            assert_eq!(sig.secret_key_len(), p.sig_secret_key);
            assert_eq!(sig.signature_len(), p.signature);
            let (sk, pk) = sig_keypair(provider, suite, &mut r);
            let mut signature = vec![0u8; p.signature];
            sig.sign(&sk, b"sizes", &mut signature).unwrap();
            assert_eq!(sig.verify(&pk, b"sizes", &signature), Ok(()));
            // a key, signature or message of another length is refused
            let mut long = signature.clone();
            long.push(0);
            assert_eq!(
                sig.verify(&pk, b"sizes", &long),
                Err(Error::InvalidSignature)
            );
            assert_eq!(
                sig.verify(&pk[1..], b"sizes", &signature),
                Err(Error::InvalidSignature)
            );
            let mut short = vec![0u8; p.signature - 1];
            assert!(sig.sign(&sk, b"sizes", &mut short).is_err());
        }
        None => {
            assert_eq!(p.family, Family::E4Symmetric);
            assert_eq!((p.sig_public_key, p.sig_secret_key, p.signature), (0, 0, 0));
        }
    }
    match s.kem {
        Some(kem) => {
            assert_eq!(p.family, Family::Kem);
            assert_eq!(kem.public_key_len(), p.kem_public_key);
            assert_eq!(kem.secret_key_len(), p.kem_secret_key);
            assert_eq!(kem.ciphertext_len(), p.kem_ciphertext);
            let (sk, pk) = kem_keypair(provider, suite, &mut r);
            let mut ct = vec![0u8; p.kem_ciphertext];
            let ss = kem.encapsulate(&mut r, &pk, &mut ct).unwrap();
            assert_eq!(ss.as_bytes().len(), p.shared_secret);
            assert_eq!(kem.decapsulate(&sk, &ct), Ok(ss));
            let mut short = vec![0u8; p.kem_ciphertext - 1];
            assert!(kem.encapsulate(&mut r, &pk, &mut short).is_err());
            assert!(kem.encapsulate(&mut r, &pk[1..], &mut ct).is_err());
            // C2's key, as a device holds it, is its signature key
            assert_eq!(p.c2_public_key, p.sig_public_key);
        }
        None => {
            assert_ne!(p.family, Family::Kem);
            assert_eq!(
                (
                    p.kem_public_key,
                    p.kem_secret_key,
                    p.kem_ciphertext,
                    p.shared_secret
                ),
                (0, 0, 0, 0)
            );
        }
    }
    assert_eq!(s.x25519.is_some(), p.family == Family::E4PublicKey);
    if let Some(x) = s.x25519 {
        assert_eq!(p.c2_public_key, 32);
        let (a, b) = (random_key(&mut r), random_key(&mut r));
        let (pa, pb) = (x.public_key(&a), x.public_key(&b));
        assert_eq!(x.diffie_hellman(&a, &pb), x.diffie_hellman(&b, &pa));
    }
    if p.family == Family::E4Symmetric {
        assert_eq!(p.c2_public_key, 0);
    }
});

conformance!(overheads_match_the_encoders, |provider, suite| {
    let key = SymKey::new([0x42; 32]);
    let (c2, a, b) = pair(provider, suite, &key);
    let overhead = suite.message_overhead();
    assert_eq!(a.client.overhead(), overhead);
    match suite.family() {
        Family::E4Symmetric => assert_eq!(overhead, SYM_OVERHEAD),
        Family::E4PublicKey => assert_eq!(overhead, PUBKEY_OVERHEAD),
        Family::Kem => assert_eq!(overhead, 8 + 1 + 16 + 16 + suite.params().signature),
    }
    for len in [0usize, 1, 16, 1000] {
        let msg = protect(&a.client, TOPIC, &payload(len));
        assert_eq!(msg.len(), len + overhead, "{len} bytes");
        assert_eq!(msg[..8], NOW.to_le_bytes());
        if suite.is_kem_suite() {
            assert_eq!(msg[8], suite.code());
        }
        // a buffer one byte short is refused
        let mut out = vec![0u8; len + overhead - 1];
        assert_eq!(
            a.client.protect(TOPIC, &payload(len), &mut out),
            Err(Error::BufferTooSmall)
        );
    }

    // every command the suite has, sealed by C2
    let l = suite.command_lengths();
    let pk = vec![0x5au8; l.pubkey];
    let c2_key = vec![0x6bu8; l.c2_key];
    let id_key = l.id_key.map(|n| vec![0x7cu8; n]);
    let mut commands = vec![
        Command::RemoveTopic(TopicHash([1; 16])),
        Command::ResetTopics,
        Command::SetTopicKey {
            key: &[9; 32],
            topic: TopicHash([2; 16]),
        },
        Command::RemovePubKey(Id([3; 16])),
        Command::ResetPubKeys,
        Command::SetPubKey {
            key: &pk,
            id: Id([4; 16]),
        },
        Command::SetC2Key(&c2_key),
    ];
    if let Some(k) = &id_key {
        commands.push(Command::SetIdKey(k));
    }
    for cmd in &commands {
        let bytes = cmd.to_vec();
        assert_eq!(bytes.len(), cmd.encoded_len());
        match suite.command_len(cmd.opcode()) {
            Some(n) => assert_eq!(bytes.len(), n, "{cmd:?}"),
            None => {
                assert!(cmd.opcode() >= 4 && !l.pubkey_ops, "{cmd:?}");
                continue;
            }
        }
        let sealed = c2.protect(&b.client, NOW, &bytes);
        assert_eq!(
            sealed.len(),
            suite.command_overhead() + bytes.len(),
            "{cmd:?}"
        );
        assert_eq!(sealed.len(), protected_command_len(suite, bytes.len()));
        assert_eq!(sealed[..8], NOW.to_le_bytes());
        if suite.is_kem_suite() {
            assert_eq!(sealed[8], suite.code());
        }
    }
    // an empty command is never sealed
    assert_eq!(c2.seal_for(&b.client, NOW, &[]), Err(Error::InvalidCommand));
});
