//! Replaying protected messages and commands against a client built from
//! the case, and checking outcome, plaintext and state.

use crate::json::*;
use crate::state::{client_of, compare_state, mode_suite, StepClock, VClient};
use e4_proto::command::Command;
use e4_proto::{Id, SymKey, TopicHash};
use serde_json::Value;

/// Feed `protected` to the client as received on `topic` at `now`; returns
/// the outcome category and the plaintext of an accepted message.
pub fn deliver(
    c: &mut VClient,
    clock: &StepClock,
    topic: &[u8],
    protected: &[u8],
    now: u64,
) -> (String, Option<Vec<u8>>) {
    clock.set(now);
    let mut out = vec![0u8; protected.len()];
    if topic == c.control_topic().as_str().as_bytes() {
        match c.process_command(protected, &mut out) {
            Ok(_) => ("ok_command".into(), None),
            Err(e) => (e.category().into(), None),
        }
    } else {
        let h = TopicHash::of(c.provider().hash, topic);
        match c.unprotect_hashed(&h, protected, &mut out) {
            Ok(n) => ("ok".into(), Some(out[..n].to_vec())),
            Err(e) => (e.category().into(), None),
        }
    }
}

/// Check outcome (and plaintext, when the case gives one and it was accepted).
pub fn check_outcome(what: &str, v: &Value, outcome: &str, plaintext: Option<Vec<u8>>) -> Res<()> {
    ensure_eq(&format!("{what} outcome"), outcome, str_(v, "expect")?)?;
    if let (Some(p), Some(want)) = (plaintext, opt_hex(v, "plaintext")?) {
        ensure_hex(&format!("{what} plaintext"), &p, &want)?;
    }
    Ok(())
}

fn step_topic(step: &Value, case: &Value) -> Res<Vec<u8>> {
    if opt(step, "command_bytes").is_some() || str_(step, "op").ok() == Some("command") {
        let rt = opt(step, "receiving_topic")
            .or(opt(case, "receiving_topic"))
            .and_then(|v| v.as_str());
        return rt
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| "missing `receiving_topic`".into());
    }
    topic_bytes(step).or_else(|_| topic_bytes(case))
}

/// Extra receiver state some negative cases need.
fn apply_setup(c: &mut VClient, case: &Value) -> Res<()> {
    if let Some(bytes) = opt_hex(case, "setup_command_bytes")? {
        match Command::parse(&bytes, &c.suite().command_lengths()) {
            Ok(Command::SetTopicKey { key, topic }) => c.set_topic_key(&topic, &SymKey::new(*key)),
            Ok(Command::SetPubKey { key, id }) => c.set_pubkey(&id, key),
            other => return Err(format!("unsupported setup command {other:?}")),
        }
        .map_err(|e| format!("setup command: {e}"))?;
        return Ok(());
    }
    if let Some(extra) = opt(case, "extra_client_topic_key") {
        let (topic, key) = match extra {
            Value::String(_) => (
                str_(case, "message_topic")?.as_bytes().to_vec(),
                hex_(case, "extra_client_topic_key")?,
            ),
            obj => (topic_bytes(obj)?, hex_(obj, "key")?),
        };
        let h = TopicHash::of(c.provider().hash, &topic);
        c.set_topic_key(
            &h,
            &SymKey::from_slice(&key).ok_or("extra topic key not 32 bytes")?,
        )
        .map_err(|e| e.to_string())?;
    }
    if let Some(extra) = opt(case, "extra_known_pubkey") {
        let id = Id::from_slice(&hex_(extra, "id")?).ok_or("extra pubkey id not 16 bytes")?;
        c.set_pubkey(&id, &hex_(extra, "public_key")?)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A single protected message or command (positive or negative).
pub fn check_single(case: &Value) -> Res<()> {
    let clock = StepClock::default();
    let now = u64_(case, "now")?;
    clock.set(now);
    let mut c = client_of(case, &clock)?;
    apply_setup(&mut c, case)?;
    if opt(case, "command_bytes").is_some() {
        check_command_key(case)?;
    }
    let topic = step_topic(case, case)?;
    let protected = hex_(case, "protected")?;
    let (outcome, pt) = deliver(&mut c, &clock, &topic, &protected, now);
    check_outcome("case", case, &outcome, pt)?;
    if let Some(st) = opt(case, "state_after") {
        compare_state("state_after", &c, st)?;
    }
    if let Some(steps) = opt(case, "followups") {
        run_steps(&mut c, &clock, case, steps)?;
        if let Some(st) = opt(case, "state_after_followups") {
            compare_state("state_after_followups", &c, st)?;
        }
    }
    check_sender_protect(case)?;
    Ok(())
}

/// A case made of ordered steps (key transition).
pub fn check_steps(case: &Value) -> Res<()> {
    let clock = StepClock::default();
    clock.set(u64_(case, "now").or_else(|_| first_now(case))?);
    let mut c = client_of(case, &clock)?;
    run_steps(&mut c, &clock, case, field(case, "steps")?)
}

fn first_now(case: &Value) -> Res<u64> {
    let steps = field(case, "steps")?
        .as_array()
        .ok_or("`steps` is not an array")?;
    steps.first().map(|s| u64_(s, "now")).unwrap_or(Ok(0))
}

fn run_steps(c: &mut VClient, clock: &StepClock, case: &Value, steps: &Value) -> Res<()> {
    for (i, step) in steps
        .as_array()
        .ok_or("steps are not an array")?
        .iter()
        .enumerate()
    {
        let what = format!("step {}", i + 1);
        let topic = step_topic(step, case)?;
        let protected = hex_(step, "protected")?;
        let (outcome, pt) = deliver(c, clock, &topic, &protected, u64_(step, "now")?);
        check_outcome(&what, step, &outcome, pt)
            .map_err(|e| format!("{e} ({})", str_(step, "description").unwrap_or("")))?;
        if let Some(st) = opt(step, "state_after") {
            compare_state(&format!("{what} state_after"), c, st)?;
        }
    }
    Ok(())
}

/// Commands files: the command key the C2 used must be the one the client
/// derives, and the protected bytes must be what we would build.
fn check_command_key(case: &Value) -> Res<()> {
    if opt(case, "kind").is_some()
        || opt(case, "tamper").is_some()
        || opt(case, "truncated_to").is_some()
    {
        return Ok(()); // negative cases may use a wrong key on purpose
    }
    let p = crate::provider();
    if mode_suite(str_(case, "mode")?)?.is_kem_suite() {
        return Ok(()); // a fresh KEM key per command: nothing static to compare
    }
    let key = SymKey::from_slice(&hex_(case, "command_key")?).ok_or("command key not 32 bytes")?;
    if let Some(c2_priv) = opt_hex(case, "c2_curve25519_private_key")? {
        let suite = p
            .suite(mode_suite(str_(case, "mode")?)?)
            .map_err(|e| e.to_string())?;
        let x = suite.x25519().map_err(|e| e.to_string())?;
        let ed_pub: [u8; 32] = arr(case, "client_ed25519_public_key")?;
        let curve_pub = x
            .public_from_ed25519(&ed_pub)
            .ok_or("client public key is not a point")?;
        let c2_priv: [u8; 32] = c2_priv
            .as_slice()
            .try_into()
            .map_err(|_| "c2 private key not 32 bytes")?;
        let derived = e4_proto::command::pubkey_command_key(p, suite, &c2_priv, &curve_pub)
            .map_err(|e| e.to_string())?;
        ensure_hex("C2-side command key", derived.as_bytes(), key.as_bytes())?;
    }
    let protected = hex_(case, "protected")?;
    let cmd = hex_(case, "command_bytes")?;
    let mut out = vec![0u8; cmd.len() + 24];
    e4_proto::message::seal_symmetric(p.siv, &key, u64_(case, "timestamp")?, &cmd, &mut out)
        .map_err(|e| e.to_string())?;
    ensure_hex("C2-side protected command", &out, &protected)
}

/// Message files: protecting the plaintext at the same time must give the
/// same bytes (AES-SIV and Ed25519 are deterministic).
fn check_sender_protect(case: &Value) -> Res<()> {
    if opt(case, "kind").is_some()
        || opt(case, "plaintext").is_none()
        || opt(case, "command_bytes").is_some()
    {
        return Ok(());
    }
    let mode = str_(case, "mode")?;
    let sender = match mode {
        "symkey" => case.clone(),
        "pubkey" if opt(case, "sender_ed25519_private_key").is_some() => serde_json::json!({
            "mode": "pubkey",
            "client_id": str_(case, "sender_id")?,
            "client_ed25519_private_key": str_(case, "sender_ed25519_private_key")?,
            "c2_curve25519_public_key": str_(case, "c2_curve25519_public_key")?,
            "topic_hex": hex::encode(topic_bytes(case)?),
            "topic_key": str_(case, "topic_key")?,
        }),
        _ => return Ok(()),
    };
    let clock = StepClock::default();
    clock.set(u64_(case, "timestamp")?);
    let c = client_of(&sender, &clock)?;
    let pt = hex_(case, "plaintext")?;
    let mut out = vec![0u8; pt.len() + c.overhead()];
    let h = TopicHash::of(c.provider().hash, &topic_bytes(case)?);
    let n = c
        .protect_hashed(&h, &pt, &mut out)
        .map_err(|e| format!("protect: {e}"))?;
    ensure_hex("sender-side protect", &out[..n], &hex_(case, "protected")?)
}

/// `symkey_protect`: a protect call that must fail (or succeed) as stated.
pub fn check_protect_call(case: &Value) -> Res<()> {
    let clock = StepClock::default();
    clock.set(u64_(case, "now")?);
    let c = client_of(case, &clock)?;
    let pt = hex_(case, "plaintext")?;
    let mut out = vec![0u8; pt.len() + c.overhead()];
    let h = TopicHash::of(c.provider().hash, &topic_bytes(case)?);
    let outcome = match c.protect_hashed(&h, &pt, &mut out) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.category().to_string(),
    };
    ensure_eq("protect outcome", outcome.as_str(), str_(case, "expect")?)
}
