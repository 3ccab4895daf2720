//! Fuzz `Client::unprotect` on a provisioned data topic, fixed clock.
//!
//! The first byte selects the suite (bits 0-1) and the mode (bits 2-3):
//! raw bytes; bytes steered past the cheap checks (fresh timestamp, suite
//! byte, known sender id); or a genuine message of a fuzz-chosen payload
//! with fuzz-chosen edits. Oracles: only the genuine bytes are accepted, and
//! only with their payload; a failure changes no state and leaves the
//! genuine message acceptable.
//!
//! "Genuine" is exact, not "the bytes this run generated": libFuzzer's
//! comparison hooks hand the genuine messages of earlier runs to the raw
//! mode, so a raw input that is accepted must be byte-identical to what the
//! sender produces for the returned payload at the sender's time (or, for a
//! suite that signs with fresh randomness, to a message the sender produced
//! in this process: [`is_genuine_message`]); then it is genuine, and a
//! second delivery must be `Replayed`. Anything else accepted is a forgery.
#![no_main]

use e4_fuzz::*;
use e4_proto::{Error, SuiteId, Unprotected};
use libfuzzer_sys::fuzz_target;

fn unprotect(c: &mut FuzzClient, msg: &[u8], out_len: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; out_len];
    match c.unprotect(TOPIC, msg, &mut out)? {
        Unprotected::Message(n) => {
            out.truncate(n);
            Ok(out)
        }
        other => panic!("a data topic gave {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let suite = suite_of(sel);
    with_receiver(suite, |rx| run(suite, sel, rest, rx));
});

fn run(suite: SuiteId, sel: u8, rest: &[u8], rx: &mut FuzzClient) {
    let keys = keys(suite);
    let before = snapshot(rx);
    match (sel >> 2) & 3 {
        // raw bytes, with a full and a short output buffer
        0 | 1 => {
            let mut msg = rest.to_vec();
            if sel & 4 != 0 {
                let age = rest.first().copied().unwrap_or(0);
                steer(suite, &mut msg, age, Some(&keys.sender_id));
            }
            let mut accepted = false;
            for out_len in [msg.len(), msg.len() / 2] {
                if let Ok(payload) = unprotect(rx, &msg, out_len) {
                    assert!(!accepted, "accepted twice: {payload:?}");
                    assert!(
                        is_genuine_message(suite, &msg, &payload),
                        "forged message accepted: Ok({payload:?})"
                    );
                    accepted = true;
                }
                assert_eq!(snapshot(rx), before);
            }
            if accepted {
                assert_eq!(unprotect(rx, &msg, msg.len()), Err(Error::Replayed));
                assert_eq!(snapshot(rx), before);
            }
        }
        // a genuine message, edited
        _ => {
            let Some((&len, rest)) = rest.split_first() else {
                return;
            };
            let len = usize::from(len).min(rest.len());
            let (payload, edits) = rest.split_at(len);
            let msg = genuine_message(suite, payload);
            let genuine = if suite == SuiteId::Symmetric && payload.is_empty() {
                Err(Error::TooShortCiphertext)
            } else {
                Ok(payload.to_vec())
            };
            let bad = edit(&msg, edits);
            let r = unprotect(rx, &bad, bad.len());
            if bad == msg {
                assert_eq!(r, genuine);
            } else {
                // (exact: accepted only if the edit made another genuine
                // message, which would take an AES-SIV collision)
                if let Ok(p) = &r {
                    assert!(
                        is_genuine_message(suite, &bad, p),
                        "edited message accepted: {r:?}"
                    );
                }
                assert_eq!(snapshot(rx), before);
                assert_eq!(unprotect(rx, &msg, msg.len()), genuine);
            }
            if genuine.is_ok() {
                // and never twice
                assert_eq!(unprotect(rx, &msg, msg.len()), Err(Error::Replayed));
            }
            assert_eq!(snapshot(rx), before);
        }
    }
}
