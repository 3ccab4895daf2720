//! State reports (`e4_proto::negotiation::sync`): what a device reports is
//! what it holds, C2 accepts an authentic, fresh, newer report of the
//! registered device and suite, and refuses anything else.

mod common;

use common::*;
use e4_proto::negotiation::{
    c2_key_fingerprint, sync_report, topic_key_fingerprint, verify_sync, DeviceMaterial,
    NegotiationError, SyncReport, MAX_REPORTED_TOPICS,
};
use e4_proto::{Error, SuiteId, SymKey};
use proptest::prelude::*;

fn material(p: &Party) -> DeviceMaterial {
    DeviceMaterial::of_identity(p.client.identity())
}

#[test]
fn a_report_lists_exactly_what_the_device_holds() {
    let prov = e4_backends::provider();
    for suite in suites() {
        let (c2, mut a, _b) = pair(suite, &SymKey::new([7; 32]));
        let extra = a.client.topic_hash("other/topic");
        a.client
            .set_topic_key(&extra, &SymKey::new([9; 32]))
            .unwrap();
        let bytes = sync_report(&a.client, false).unwrap();
        let r = verify_sync(prov, &bytes, a.client.id(), suite, &material(&a), None, NOW)
            .unwrap_or_else(|e| panic!("{suite}: {e}"));
        assert_eq!((r.ts(), r.device(), r.suite()), (NOW, a.client.id(), suite));
        let t = a.client.topic_hash(TOPIC);
        let mut expected = vec![
            (t, topic_key_fingerprint(prov, &t, &SymKey::new([7; 32]))),
            (
                extra,
                topic_key_fingerprint(prov, &extra, &SymKey::new([9; 32])),
            ),
        ];
        expected.sort_by_key(|(h, _)| h.0);
        assert_eq!(r.topics(), &expected[..], "{suite}");
        assert!(r.is_complete());
        assert!(!r.new_session());
        let fresh = sync_report(&a.client, true).unwrap();
        assert!(SyncReport::parse(&fresh).unwrap().new_session());
        // Unknown flags are refused.
        let mut bad = fresh.clone();
        bad[26] |= 0x02;
        assert_eq!(
            SyncReport::parse(&bad).unwrap_err(),
            Error::Negotiation(NegotiationError::Malformed)
        );
        let c2_fp = match suite {
            SuiteId::Symmetric => [0; 16],
            _ => c2_key_fingerprint(prov, &c2.public()),
        };
        assert_eq!(r.c2_key(), &c2_fp, "{suite}");
        // The same key on another topic has another fingerprint.
        assert_ne!(expected[0].1, expected[1].1);
    }
}

#[test]
fn c2_refuses_replays_other_devices_suites_and_stale_reports() {
    let prov = e4_backends::provider();
    for suite in suites() {
        let (_c2, a, b) = pair(suite, &SymKey::new([1; 32]));
        let bytes = sync_report(&a.client, false).unwrap();
        let id = *a.client.id();
        let m = material(&a);
        assert_eq!(
            verify_sync(prov, &bytes, &id, suite, &m, Some(NOW), NOW).unwrap_err(),
            Error::Negotiation(NegotiationError::NotNewer)
        );
        assert_eq!(
            verify_sync(prov, &bytes, b.client.id(), suite, &material(&b), None, NOW).unwrap_err(),
            Error::Negotiation(NegotiationError::WrongDevice)
        );
        let other = if suite == SuiteId::Symmetric {
            SuiteId::PubKey
        } else {
            SuiteId::Symmetric
        };
        assert_eq!(
            verify_sync(prov, &bytes, &id, other, &m, None, NOW).unwrap_err(),
            Error::Negotiation(NegotiationError::WrongSuite)
        );
        assert_eq!(
            verify_sync(prov, &bytes, &id, suite, &m, None, NOW + 601).unwrap_err(),
            Error::Negotiation(NegotiationError::TooOld)
        );
        assert_eq!(
            verify_sync(prov, &bytes, &id, suite, &m, None, NOW - 10).unwrap_err(),
            Error::Negotiation(NegotiationError::InFuture)
        );
        // Another device's key material does not authenticate it.
        assert_eq!(
            verify_sync(prov, &bytes, &id, suite, &material(&b), None, NOW).unwrap_err(),
            Error::Negotiation(NegotiationError::NotAuthentic)
        );
    }
}

#[test]
fn every_flipped_bit_and_truncation_is_refused() {
    let prov = e4_backends::provider();
    for suite in [SuiteId::Symmetric, SuiteId::PubKey] {
        let (_c2, a, _b) = pair(suite, &SymKey::new([3; 32]));
        let bytes = sync_report(&a.client, false).unwrap();
        let m = material(&a);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut x = bytes.clone();
                x[i] ^= 1 << bit;
                assert!(
                    verify_sync(prov, &x, a.client.id(), suite, &m, None, NOW).is_err(),
                    "{suite}: byte {i} bit {bit}"
                );
            }
        }
        for n in 0..bytes.len() {
            assert!(verify_sync(prov, &bytes[..n], a.client.id(), suite, &m, None, NOW).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(verify_sync(prov, &longer, a.client.id(), suite, &m, None, NOW).is_err());
    }
}

#[test]
fn a_large_store_is_reported_in_part() {
    let prov = e4_backends::provider();
    let (_c2, mut a, _b) = pair(SuiteId::Symmetric, &SymKey::new([3; 32]));
    for i in 0..MAX_REPORTED_TOPICS + 10 {
        let h = a.client.topic_hash(&format!("t/{i}"));
        a.client.set_topic_key(&h, &SymKey::new([5; 32])).unwrap();
    }
    let bytes = sync_report(&a.client, false).unwrap();
    let r = verify_sync(
        prov,
        &bytes,
        a.client.id(),
        SuiteId::Symmetric,
        &material(&a),
        None,
        NOW,
    )
    .unwrap();
    assert_eq!(r.topics().len(), MAX_REPORTED_TOPICS);
    assert!(!r.is_complete());
    assert!(r.topics().windows(2).all(|w| w[0].0 .0 < w[1].0 .0));
}

proptest! {
    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SyncReport::parse(&bytes);
    }

    #[test]
    fn topics_out_of_order_are_malformed(swap in 0usize..3) {
        let (_c2, mut a, _b) = pair(SuiteId::Symmetric, &SymKey::new([3; 32]));
        for i in 0..4 {
            let h = a.client.topic_hash(&format!("t/{i}"));
            a.client.set_topic_key(&h, &SymKey::new([5; 32])).unwrap();
        }
        let mut bytes = sync_report(&a.client, false).unwrap();
        // Entries start after ts, kind, id, suite, flags, C2 key
        // fingerprint, count.
        let start = 8 + 1 + 16 + 1 + 1 + 16 + 2;
        let len = e4_proto::ids::TOPIC_HASH_LEN + 16;
        let e = |i: usize| start + i * len..start + (i + 1) * len;
        let (x, y) = (bytes[e(swap)].to_vec(), bytes[e(swap + 1)].to_vec());
        bytes[e(swap)].copy_from_slice(&y);
        bytes[e(swap + 1)].copy_from_slice(&x);
        prop_assert_eq!(SyncReport::parse(&bytes).unwrap_err(), Error::Negotiation(NegotiationError::Malformed));
    }
}
