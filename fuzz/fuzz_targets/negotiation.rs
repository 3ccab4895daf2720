//! Fuzz the parsers of suite negotiation (Announce, Confirm, SetSuite,
//! SetTopicFormat) and C2's verification of an Announce from a registered
//! symmetric device: nothing panics; whatever parses is self-consistent;
//! random bytes never verify.
#![no_main]

use e4_backends::provider;
use e4_proto::negotiation::{verify_announce, Announce, Confirm, DeviceMaterial, SetSuite};
use e4_proto::topic_format::SetTopicFormat;
use e4_proto::SuiteSet;
use e4_proto::{Id, SuiteId, SymKey};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_795_451_461;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Announce::parse(data) {
        assert_eq!(a.as_bytes(), data);
        assert!(a.offers().len() <= SuiteId::ALL.len());
        let offered = a
            .offers()
            .iter()
            .fold(SuiteSet::EMPTY, |s, o| s.with(o.suite));
        assert_eq!(offered.len(), a.offers().len(), "a suite offered twice");
        let _ = format!("{a:?}");
    }
    if let Ok(c) = Confirm::parse(data) {
        let _ = (c.ts, c.device, c.suite, c.transcript);
    }
    if let Ok(s) = SetSuite::parse(data) {
        assert_eq!(s.encode().as_bytes(), data);
    }
    if let Ok(f) = SetTopicFormat::parse(data) {
        assert_eq!(&f.encode()[..], data);
    }
    // C2 receiving these bytes on a symmetric device's announce topic.
    let id = Id([7; 16]);
    let material = DeviceMaterial::Symmetric(SymKey::new([9; 32]));
    let r = verify_announce(
        provider(),
        data,
        &id,
        SuiteId::Symmetric,
        &material,
        None,
        NOW,
    );
    assert!(r.is_err(), "random bytes verified as an Announce");
});
