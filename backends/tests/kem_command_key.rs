//! The command key of the kem suites binds the recipient's KEM public key
//! (issue 12, item 11): `SHA3-256("e4 kem command key v2" ‖ suite ‖ id ‖
//! device KEM pk ‖ KEM ct ‖ shared secret)`.

mod common;

use common::*;
use e4_backends::provider;
use e4_proto::command::kem_command_key;
use e4_proto::{Command, Error, Identity, SymKey, TopicHash};

#[test]
fn the_command_key_is_the_documented_hash() {
    let p = provider();
    for suite in suites().into_iter().filter(|s| s.is_kem_suite()) {
        let id = e4_proto::Id([1; 16]);
        let (pk, ct, ss) = ([4u8; 40], [2u8; 24], SymKey::new([3; 32]));
        let expected = p.hash.sha3_256(&[
            b"e4 kem command key v2",
            &[suite.code()],
            &id.0,
            &pk,
            &ct,
            ss.as_bytes(),
        ]);
        let key = kem_command_key(p, suite, &id, &pk, &ct, &ss);
        assert_eq!(key.as_bytes(), &expected, "{suite}");
        let other = kem_command_key(p, suite, &id, &[5u8; 40], &ct, &ss);
        assert_ne!(key, other, "{suite}: the public key changes the key");
    }
}

#[test]
fn a_device_holding_another_public_key_refuses_the_command() {
    for suite in suites().into_iter().filter(|s| s.is_kem_suite()) {
        let c2 = new_c2(suite, &mut rng("c2"));
        let mut device = new_party(suite, "device", &c2);
        let set = Command::SetTopicKey {
            key: &[9; 32],
            topic: TopicHash([7; 16]),
        };
        let cmd = c2.command(&device.client, &set);
        // The same decapsulation key, but the device believes its public
        // key is another: the derived command key differs.
        let Identity::Kem(mut k) = device.client.identity().clone() else {
            panic!("a kem identity");
        };
        let (_sk, other_pk) = kem_keypair(suite, &mut rng("other"));
        k.kem_pk = other_pk;
        let mut confused =
            e4_testkit::client(provider(), suite, *device.client.id(), Identity::Kem(k));
        assert_eq!(
            apply(&mut confused, &cmd),
            Err(Error::NotAuthentic),
            "{suite}"
        );
        // The device with its true key pair applies it.
        apply(&mut device.client, &cmd).unwrap();
    }
}
