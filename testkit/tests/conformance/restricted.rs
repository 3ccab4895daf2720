//! A build without a suite (here: the provider under test restricted to
//! its other suites, `e4_testkit::restricted`) refuses it with
//! `Error::UnsupportedSuite` wherever it is asked for it: creating a client
//! of the suite, sealing a command for it, a message or command of it
//! reaching a client of another suite. The suites it kept still work.

use e4_proto::c2::{seal_command_vec, DeviceKey};
use e4_proto::command::Command;
use e4_proto::store::MemStore;
use e4_proto::{Client, Error, FixedClock, Id, Identity, SuiteId, SuiteSet, SymKey};
use e4_testkit::*;

conformance!(
    a_provider_without_the_suite_refuses_it,
    |provider, suite| {
        let kept: Vec<SuiteId> = provider
            .suites
            .iter()
            .map(|s| s.id)
            .filter(|&s| s != suite)
            .collect();
        let r = restricted(provider, &kept);
        assert!(!r.supports(suite));
        assert_eq!(r.suite(suite).err(), Some(Error::UnsupportedSuite));
        assert!(!SuiteSet::compiled_in(r).contains(suite));
        assert_eq!(SuiteSet::compiled_in(r).len(), kept.len());

        // creating a client of the suite (with keys the full provider made)
        let c2 = C2::new(provider, suite, &mut rng(&format!("restricted c2 {suite}")));
        let (identity, _) = identity(provider, suite, &mut rng("restricted device"), &c2.public());
        let id = Id::from_alias(provider.hash, b"restricted device");
        let client = Client::<MemStore, FixedClock>::new(
            r,
            suite,
            id,
            identity.clone(),
            MemStore::new(),
            FixedClock::new(NOW),
        );
        assert_eq!(client.err(), Some(Error::UnsupportedSuite));

        // sealing a command for a device of the suite
        let public;
        let device = match &identity {
            Identity::Symmetric(k) => DeviceKey::Symmetric(k),
            Identity::PubKey { signing, .. } => {
                public = signing.public();
                DeviceKey::PubKey(&public)
            }
            Identity::Kem(k) => DeviceKey::Kem(&k.kem_pk),
        };
        let sealed = seal_command_vec(
            r,
            suite,
            &id,
            device,
            c2.secret(),
            NOW,
            &Command::ResetTopics.to_vec(),
            &mut rng("restricted encapsulation"),
        );
        assert_eq!(sealed.err(), Some(Error::UnsupportedSuite));

        // a message or command of the suite reaching a kem client of a suite the
        // build kept: the suite byte names a suite it does not run
        if suite.is_kem_suite() {
            let key = SymKey::new([0x4d; 32]);
            let (c2, a, _) = pair(provider, suite, &key);
            let long = payload(4000);
            let msg = protect(&a.client, TOPIC, &long);
            let cmd = c2.protect(&a.client, NOW, &[&[1u8][..], &long].concat());
            for &other in kept.iter().filter(|s| s.is_kem_suite()) {
                let (_, _, mut b) = pair(r, other, &key);
                let before = snapshot(&b.client);
                assert_eq!(
                    unprotect(&mut b.client, TOPIC, &msg),
                    Err(Error::UnsupportedSuite),
                    "a {suite} message to a {other} client"
                );
                assert_eq!(
                    apply(&mut b.client, &cmd),
                    Err(Error::UnsupportedSuite),
                    "a {suite} command to a {other} client"
                );
                assert_eq!(snapshot(&b.client), before);
            }
        }

        // the suites it kept still work
        for other in kept {
            let key = SymKey::new([0x4e; 32]);
            let (c2, a, mut b) = pair(r, other, &key);
            let msg = protect(&a.client, TOPIC, b"still here");
            assert_eq!(
                unprotect(&mut b.client, TOPIC, &msg),
                Ok(b"still here".to_vec()),
                "{other}"
            );
            let cmd = c2.command(&b.client, &Command::ResetTopics);
            assert_eq!(apply(&mut b.client, &cmd), Ok(1), "{other}");
        }
    }
);

conformance!(a_symmetric_only_build, |provider, suite| {
    let r = restricted(provider, &[SuiteId::Symmetric]);
    if !provider.supports(SuiteId::Symmetric) {
        assert!(r.suites.is_empty());
        return;
    }
    let key = SymKey::new([0x4f; 32]);
    if suite == SuiteId::Symmetric {
        let (_c2, a, mut b) = pair(r, suite, &key);
        let msg = protect(&a.client, TOPIC, b"sym");
        assert_eq!(unprotect(&mut b.client, TOPIC, &msg), Ok(b"sym".to_vec()));
    } else {
        let c2 = C2::new(provider, suite, &mut rng("sym-only c2"));
        let (identity, _) = identity(provider, suite, &mut rng("sym-only device"), &c2.public());
        let id = Id::from_alias(provider.hash, b"sym-only device");
        let client = Client::<MemStore, FixedClock>::new(
            r,
            suite,
            id,
            identity,
            MemStore::new(),
            FixedClock::new(NOW),
        );
        assert_eq!(client.err(), Some(Error::UnsupportedSuite));
    }
});
