//! Fuzz `Client::unprotect` on the client's control topic, fixed clock.
//!
//! The first byte selects the suite (bits 0-1) and the mode (bits 2-3):
//! raw bytes; bytes steered past the cheap checks (fresh timestamp, suite
//! byte); or fuzz-chosen command bytes protected by C2, then fuzz-chosen
//! edits. Oracles: edited commands are refused and change nothing; genuine
//! ones give exactly `Command::parse`'s verdict and, when applied, have the
//! command's effect; a replay is refused.
//!
//! Both judgements are exact. A raw input the device accepts is C2's only
//! if it is byte-identical to C2's protection of its plaintext for this
//! device at C2's time ([`SuiteKeys::sealed_by_c2`]): libFuzzer's comparison
//! hooks hand genuine commands of earlier runs to the raw modes, and those
//! are then judged like the protected mode's. A replayed command is judged
//! against the keys the device holds after the first application: if a
//! SetIdKey or SetC2Key replaced them, the command no longer authenticates
//! (`NotAuthentic`, before the replay cache is consulted); otherwise it is
//! `Replayed` ([`SuiteKeys::authentic_under`]).
#![no_main]

use e4_fuzz::*;
use e4_proto::command::Command;
use e4_proto::control;
use e4_proto::keys::is_all_zero;
use e4_proto::store::Store;
use e4_proto::{Error, Identity, SuiteId, Unprotected};
use libfuzzer_sys::fuzz_target;

fn apply(c: &mut FuzzClient, msg: &[u8]) -> Result<u8, Error> {
    let topic = c.control_topic().as_str().to_owned();
    let mut out = vec![0u8; msg.len()];
    match c.unprotect(&topic, msg, &mut out)? {
        Unprotected::Command(op) => Ok(op),
        other => panic!("the control topic gave {other:?}"),
    }
}

/// Check that `cmd`, applied, had its effect (`before`: the state before).
fn check_effect(c: &FuzzClient, cmd: &Command<'_>, before: &Snapshot) {
    let s = c.store();
    match *cmd {
        Command::RemoveTopic(h) => assert!(s.topic(&h).is_none()),
        Command::ResetTopics => assert_eq!(s.topic_count(), 0),
        Command::SetTopicKey { key, topic } => {
            assert_eq!(s.topic(&topic).unwrap().key.as_bytes(), key)
        }
        Command::RemovePubKey(id) => assert!(s.pubkey(&id).is_none()),
        Command::ResetPubKeys => assert_eq!(s.pubkey_count(), 0),
        Command::SetPubKey { key, id } => {
            if is_all_zero(key) {
                assert_eq!(&snapshot(c), before);
            } else {
                assert_eq!(s.pubkey(&id), Some(key));
            }
        }
        Command::SetIdKey(key) => match c.identity() {
            Identity::Symmetric(k) => assert_eq!(&k.as_bytes()[..], key),
            Identity::PubKey { signing, .. } => assert_eq!(&signing.as_bytes()[..], key),
            other => panic!("SetIdKey applied to {other:?}"),
        },
        Command::SetC2Key(key) => match c.identity() {
            Identity::PubKey { c2_public, .. } => assert_eq!(&c2_public[..], key),
            Identity::Kem(k) => assert_eq!(&k.c2_sig_pk[..], key),
            other => panic!("SetC2Key applied to {other:?}"),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let suite = suite_of(sel);
    with_receiver(suite, |dev| run(suite, sel, rest, dev));
});

fn run(suite: SuiteId, sel: u8, rest: &[u8], dev: &mut FuzzClient) {
    let keys = keys(suite);
    let before = snapshot(dev);
    match (sel >> 2) & 3 {
        0 | 1 => {
            let mut msg = rest.to_vec();
            if sel & 4 != 0 {
                let age = rest.first().copied().unwrap_or(0);
                steer(suite, &mut msg, age, None);
            }
            // The plaintext, if the bytes authenticate (nothing is applied).
            let mut scratch = vec![0u8; msg.len()];
            let plain = dev
                .open_control(&msg, &mut scratch)
                .map(|o| o.plaintext().to_vec());
            match plain {
                Ok(cmd) => {
                    assert!(
                        keys.sealed_by_c2(dev.id(), &before.identity, &msg, &cmd),
                        "forged command authenticated: {cmd:?}"
                    );
                    judge(suite, dev, &cmd, &msg, &before);
                }
                Err(_) => {
                    let r = apply(dev, &msg);
                    assert!(r.is_err(), "forged command accepted: {r:?}");
                    assert_eq!(snapshot(dev), before);
                }
            }
        }
        _ => {
            let Some((&len, rest)) = rest.split_first() else {
                return;
            };
            let len = usize::from(len).min(rest.len());
            let (cmd, edits) = rest.split_at(len);
            let Some(msg) = keys.protect_command(dev, NOW, cmd) else {
                return;
            };
            let bad = edit(&msg, edits);
            if bad != msg {
                let r = apply(dev, &bad);
                assert!(r.is_err(), "edited command accepted: {r:?}");
                assert_eq!(snapshot(dev), before);
            }
            judge(suite, dev, cmd, &msg, &before);
        }
    }
}

/// Deliver `msg`, C2's protection of the command bytes `cmd` for `dev`
/// (in the state `before`), then deliver it again.
fn judge(suite: SuiteId, dev: &mut FuzzClient, cmd: &[u8], msg: &[u8], before: &Snapshot) {
    let keys = keys(suite);
    let lengths = suite.command_lengths();
    // As the device parses it (the other E4 mode's identity key is
    // e4go's invalid argument: see control::parse_command).
    let parsed = control::parse_command(cmd, &lengths);
    let r = apply(dev, msg);
    match (parsed, r) {
        // E4 refuses protected commands of 24 bytes or less (as e4go)
        (_, r) if cmd.is_empty() => {
            assert_eq!(r, Err(Error::TooShortCiphertext));
            assert_eq!(&snapshot(dev), before);
        }
        (Err(e), r) => {
            assert_eq!(r, Err(e));
            assert_eq!(&snapshot(dev), before);
        }
        (Ok(c), Ok(op)) => {
            assert_eq!(op, c.opcode());
            check_effect(dev, &c, before);
            let after = snapshot(dev);
            // judged against the keys the device holds now
            let replay = match keys.authentic_under(&after.identity, msg, cmd) {
                Ok(()) => Error::Replayed,
                Err(e) => e,
            };
            assert_eq!(apply(dev, msg), Err(replay), "{c:?} delivered twice");
            assert_eq!(snapshot(dev), after);
        }
        (Ok(c), Err(e)) => {
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument | Error::PubKeyNotFound | Error::UnsupportedOperation
                ),
                "{c:?} failed with {e:?}"
            );
            assert_eq!(&snapshot(dev), before);
        }
    }
}
