//! `e4-vectors generate`: the project's own known-answer files, one per
//! suite compiled in, in the format `check` reads.
//!
//! Everything is drawn from a seeded [`TestRng`] and fixed clocks. The
//! symmetric and public-key suites are the production ones. The
//! post-quantum suites come from [`crate::seeded`], a generation-only
//! provider: ML-KEM-768 and ML-DSA-65 from RustCrypto (`ml-kem`, `ml-dsa`)
//! with key generation and encapsulation seeded from the rng and
//! deterministic ML-DSA signing, because pqcrypto (the production backend)
//! draws its own randomness and offers no hook. The pq-draft suite uses
//! ML-KEM-768 key pairs and encapsulations (pqcrypto-kyber 0.8's kyber768
//! decapsulates them identically) and ML-DSA-65 key pairs as Dilithium3
//! draft keys (same key format, only key generation differs), signed by
//! pqcrypto-dilithium 0.5, whose signing is deterministic.
//!
//! So all five files (`symmetric`, `pubkey`, `pq-draft`, `pq`, `hybrid`)
//! are byte-for-byte reproducible. Every receiving client here, like
//! `check`, uses the real `e4_backends::provider()` (pqcrypto): outcomes are
//! computed, and later checked, by PQClean verifying and decapsulating
//! RustCrypto's output.

use crate::state::{describe, StepClock, VClient};
use e4_proto::c2::{seal_command_vec, C2Secret, DeviceKey};
use e4_proto::client::KemIdentity;
use e4_proto::command::Command;
use e4_proto::crypto::Rng;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::store::MemStore;
use e4_proto::{CryptoProvider, Id, Identity, Suite, SuiteId, SymKey, TopicHash};
use e4_testkit::TestRng;
use serde_json::{json, Value};
use std::path::Path;

/// The fixed "now" of every generated case.
const NOW: u64 = 1_800_000_000;
const TOPIC: &str = "sensors/temperature";
const OTHER_TOPIC: &str = "actuators/valve";

fn mode_name(s: SuiteId) -> &'static str {
    match s {
        SuiteId::Symmetric => "symkey",
        SuiteId::PubKey => "pubkey",
        other => other.name(),
    }
}

/// One device's material, with everything a vector needs to rebuild it.
struct Device {
    id: Id,
    identity: Identity,
    fields: Value,
    sig_pk: Vec<u8>,
}

/// C2's material for a suite.
struct C2 {
    x25519_sk: [u8; 32],
    sig_sk: Vec<u8>,
    fields: Value,
}

fn random<const N: usize>(rng: &mut TestRng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b);
    b
}

fn make_c2(p: &CryptoProvider, suite: &Suite, rng: &mut TestRng) -> Result<C2, String> {
    match suite.id {
        SuiteId::Symmetric => Ok(C2 {
            x25519_sk: [0; 32],
            sig_sk: vec![],
            fields: json!({}),
        }),
        SuiteId::PubKey => {
            let sk: [u8; 32] = random(rng);
            let pk = suite.x25519().map_err(|e| e.to_string())?.public_key(&sk);
            Ok(C2 {
                x25519_sk: sk,
                sig_sk: vec![],
                fields: json!({"c2_curve25519_private_key": hex::encode(sk), "c2_curve25519_public_key": hex::encode(pk)}),
            })
        }
        _ => {
            let sig = suite.sig().map_err(|e| e.to_string())?;
            let (mut sk, mut pk) = (vec![0; sig.secret_key_len()], vec![0; sig.public_key_len()]);
            sig.generate(rng, &mut sk, &mut pk)
                .map_err(|e| e.to_string())?;
            let _ = p;
            Ok(C2 {
                x25519_sk: [0; 32],
                sig_sk: sk,
                fields: json!({"c2_sig_pk": hex::encode(pk)}),
            })
        }
    }
}

fn make_device(
    p: &CryptoProvider,
    suite: &Suite,
    c2: &C2,
    name: &str,
    rng: &mut TestRng,
) -> Result<Device, String> {
    let id = Id::from_alias(p.hash, name.as_bytes());
    let mode = mode_name(suite.id);
    let e = |e: e4_proto::Error| e.to_string();
    Ok(match suite.id {
        SuiteId::Symmetric => {
            let key: [u8; 32] = random(rng);
            Device {
                id,
                identity: Identity::Symmetric(SymKey::new(key)),
                fields: json!({"mode": mode, "client_id": hex::encode(id.0), "client_key": hex::encode(key)}),
                sig_pk: vec![],
            }
        }
        SuiteId::PubKey => {
            let sig = suite.sig().map_err(e)?;
            let (mut sk, mut pk) = ([0u8; 64], [0u8; 32]);
            sig.generate(rng, &mut sk, &mut pk).map_err(e)?;
            let c2_pub = &c2.fields["c2_curve25519_public_key"];
            Device {
                id,
                identity: Identity::PubKey {
                    signing: Ed25519Secret::new(sk),
                    c2_public: hex::decode(c2_pub.as_str().unwrap_or_default())
                        .ok()
                        .and_then(|v| v.try_into().ok())
                        .ok_or("c2 key")?,
                },
                fields: json!({
                    "mode": mode,
                    "client_id": hex::encode(id.0),
                    "client_ed25519_private_key": hex::encode(sk),
                    "client_ed25519_public_key": hex::encode(pk),
                    "c2_curve25519_public_key": c2_pub,
                }),
                sig_pk: pk.to_vec(),
            }
        }
        _ => {
            let sig = suite.sig().map_err(e)?;
            let kem = suite.kem().map_err(e)?;
            let (mut ssk, mut spk) = (vec![0; sig.secret_key_len()], vec![0; sig.public_key_len()]);
            sig.generate(rng, &mut ssk, &mut spk).map_err(e)?;
            let (mut ksk, mut kpk) = (vec![0; kem.secret_key_len()], vec![0; kem.public_key_len()]);
            kem.generate(rng, &mut ksk, &mut kpk).map_err(e)?;
            let c2_pk = hex::decode(c2.fields["c2_sig_pk"].as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            Device {
                id,
                fields: json!({
                    "mode": mode,
                    "client_id": hex::encode(id.0),
                    "client_sig_sk": hex::encode(&ssk),
                    "client_sig_pk": hex::encode(&spk),
                    "client_kem_sk": hex::encode(&ksk),
                    "client_kem_pk": hex::encode(&kpk),
                    "c2_sig_pk": hex::encode(&c2_pk),
                }),
                identity: Identity::Kem(KemIdentity {
                    sig_sk: SecretBytes::new(ssk),
                    sig_pk: spk.clone(),
                    kem_sk: SecretBytes::new(ksk),
                    kem_pk: kpk,
                    c2_sig_pk: c2_pk,
                }),
                sig_pk: spk,
            }
        }
    })
}

fn client(
    p: &'static CryptoProvider,
    suite: SuiteId,
    d: &Device,
    clock: &StepClock,
) -> Result<VClient, String> {
    let mut c = VClient::new(
        p,
        suite,
        d.id,
        d.identity.clone(),
        MemStore::new(),
        clock.clone(),
    )
    .map_err(|e| e.to_string())?;
    c.set_replay_protection(false);
    Ok(c)
}

/// C2 side: protect command bytes for `d`.
fn protect_command(
    p: &CryptoProvider,
    suite: &Suite,
    c2: &C2,
    d: &Device,
    cmd: &[u8],
    ts: u64,
    rng: &mut TestRng,
) -> Result<Vec<u8>, String> {
    let public;
    let device = match &d.identity {
        Identity::Symmetric(k) => DeviceKey::Symmetric(k),
        Identity::PubKey { signing, .. } => {
            public = signing.public();
            DeviceKey::PubKey(&public)
        }
        Identity::Kem(k) => DeviceKey::Kem(&k.kem_pk),
    };
    let secret = match suite.id {
        SuiteId::Symmetric => C2Secret::None,
        SuiteId::PubKey => C2Secret::X25519(&c2.x25519_sk),
        _ => C2Secret::Signing(&c2.sig_sk),
    };
    seal_command_vec(p, suite.id, &d.id, device, secret, ts, cmd, rng).map_err(|e| e.to_string())
}

fn merge(mut a: Value, b: &Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

fn outcome_of(c: &mut VClient, clock: &StepClock, topic: &str, msg: &[u8], now: u64) -> String {
    crate::replay::deliver(c, clock, topic.as_bytes(), msg, now).0
}

/// Every case of one suite: `p` (the seeded generation provider) makes
/// keys, signatures and encapsulations; receiving clients use the real
/// provider, as `check` does.
fn suite_cases(
    p: &'static CryptoProvider,
    suite: &'static Suite,
    seed: &str,
) -> Result<Vec<Value>, String> {
    let real = e4_backends::provider();
    let mut rng = TestRng::from_seed(seed.as_bytes());
    let mode = mode_name(suite.id);
    let c2 = make_c2(p, suite, &mut rng)?;
    let rx = make_device(p, suite, &c2, "kat-receiver", &mut rng)?;
    let tx = make_device(p, suite, &c2, "kat-sender", &mut rng)?;
    let topic_key: [u8; 32] = random(&mut rng);
    let new_key: [u8; 32] = random(&mut rng);
    let th = TopicHash::of(p.hash, TOPIC.as_bytes());
    let clock = StepClock::default();
    clock.set(NOW);
    let mut sender = client(p, suite.id, &tx, &clock)?;
    sender
        .set_topic_key(&th, &SymKey::new(topic_key))
        .map_err(|e| e.to_string())?;
    let signed = suite.sig.is_some();
    let known = if signed {
        json!([{"id": hex::encode(tx.id.0), "public_key": hex::encode(&tx.sig_pk)}])
    } else {
        json!([])
    };
    let mut cases = Vec::new();
    let protect = |sender: &VClient, ts: u64, pt: &[u8]| -> Result<Vec<u8>, String> {
        clock.set(ts);
        let mut out = vec![0; pt.len() + sender.overhead()];
        let n = sender
            .protect(TOPIC, pt, &mut out)
            .map_err(|e| e.to_string())?;
        out.truncate(n);
        Ok(out)
    };
    let receiver_fields = merge(
        rx.fields.clone(),
        &json!({"topic": TOPIC, "topic_hex": hex::encode(TOPIC), "topic_key": hex::encode(topic_key), "known_pubkeys": known}),
    );
    let sender_fields = match suite.id {
        SuiteId::PubKey => json!({
            "sender_id": hex::encode(tx.id.0),
            "sender_ed25519_private_key": tx.fields["client_ed25519_private_key"],
            "sender_ed25519_public_key": tx.fields["client_ed25519_public_key"],
        }),
        SuiteId::Symmetric => json!({}),
        _ => json!({"sender_id": hex::encode(tx.id.0), "sender_sig_pk": hex::encode(&tx.sig_pk)}),
    };

    // 1. Messages of several sizes, accepted.
    let mut sizes = vec![1usize, 16, 17, 64, 1000];
    if suite.id.is_kem_suite() {
        sizes.insert(0, 0);
    }
    let mut base = Vec::new();
    for n in sizes {
        let pt: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
        let msg = protect(&sender, NOW, &pt)?;
        if n == 64 {
            base = msg.clone();
        }
        cases.push(merge(
            merge(receiver_fields.clone(), &sender_fields),
            &json!({
                "case": format!("kat_{mode}_msg/len_{n}"),
                "plaintext": hex::encode(&pt), "plaintext_len": n,
                "timestamp": NOW, "now": NOW, "protected": hex::encode(&msg), "protected_len": msg.len(),
                "expect": "ok",
            }),
        ));
    }

    // 2. Negative messages: tampered, truncated, stale, future, unknown topic.
    let mut rx_client = crate::state::client_of(&receiver_fields, &clock)?;
    let pt64: Vec<u8> = (0..64).map(|i| (i * 7 + 3) as u8).collect();
    let mut negatives: Vec<(String, Vec<u8>, &str, u64)> = Vec::new();
    for (label, idx) in [
        ("timestamp_byte0", 0),
        ("first_body_byte", 8),
        ("middle", base.len() / 2),
        ("last_byte", base.len() - 1),
    ] {
        let mut m = base.clone();
        m[idx] ^= 0x01;
        negatives.push((format!("flip_{label}"), m, TOPIC, NOW));
    }
    negatives.push((
        "truncated_by_1".into(),
        base[..base.len() - 1].to_vec(),
        TOPIC,
        NOW,
    ));
    negatives.push(("truncated_to_8".into(), base[..8].to_vec(), TOPIC, NOW));
    negatives.push((
        "stale_600s".into(),
        protect(&sender, NOW - 600, &pt64)?,
        TOPIC,
        NOW,
    ));
    negatives.push((
        "future_1s".into(),
        protect(&sender, NOW + 1, &pt64)?,
        TOPIC,
        NOW,
    ));
    negatives.push(("unknown_topic".into(), base.clone(), OTHER_TOPIC, NOW));
    if suite.id.is_kem_suite() {
        let mut m = base.clone();
        m[8] = if suite.id == SuiteId::PostQuantum {
            SuiteId::PqDraft.code()
        } else {
            SuiteId::PostQuantum.code()
        };
        negatives.push(("other_suite_byte".into(), m, TOPIC, NOW));
    }
    for (label, msg, topic, now) in negatives {
        let expect = outcome_of(&mut rx_client, &clock, topic, &msg, now);
        if expect == "ok" {
            return Err(format!("{mode} negative {label} was accepted"));
        }
        cases.push(merge(
            receiver_fields.clone(),
            &json!({
                "case": format!("kat_{mode}_neg/{label}"), "kind": format!("{mode}_message"),
                "topic": topic, "topic_hex": hex::encode(topic), "topic_key": Value::Null, "client_topic_key": if topic == TOPIC { json!(hex::encode(topic_key)) } else { Value::Null },
                "protected": hex::encode(&msg), "protected_len": msg.len(), "now": now, "expect": expect,
            }),
        ));
    }

    // 3. Every command, from the same initial state.
    let initial = |c: &mut VClient| -> Result<(), String> {
        c.set_topic_key(&th, &SymKey::new(topic_key))
            .map_err(|e| e.to_string())?;
        let other = TopicHash::of(p.hash, OTHER_TOPIC.as_bytes());
        c.set_topic_key(&other, &SymKey::new(new_key))
            .map_err(|e| e.to_string())?;
        if signed {
            c.set_pubkey(&tx.id, &tx.sig_pk)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let new_pk = make_device(p, suite, &c2, "kat-newcomer", &mut rng)?;
    let set_id_key: Vec<u8> = match &rx.identity {
        Identity::Symmetric(_) => random::<32>(&mut rng).to_vec(),
        _ => {
            let mut sk = [0u8; 64];
            let mut pk = [0u8; 32];
            if let Some(s) = p.suite(SuiteId::PubKey).ok().and_then(|s| s.sig) {
                s.generate(&mut rng, &mut sk, &mut pk)
                    .map_err(|e| e.to_string())?;
            }
            sk.to_vec()
        }
    };
    let new_c2: Vec<u8> = match suite.id {
        SuiteId::PubKey => suite
            .x25519()
            .map_err(|e| e.to_string())?
            .public_key(&random(&mut rng))
            .to_vec(),
        SuiteId::Symmetric => random::<32>(&mut rng).to_vec(),
        _ => new_pk.sig_pk.clone(),
    };
    let fresh_key: [u8; 32] = random(&mut rng);
    let commands: Vec<(&str, Command)> = vec![
        ("remove_topic", Command::RemoveTopic(th)),
        ("reset_topics", Command::ResetTopics),
        ("set_id_key", Command::SetIdKey(&set_id_key)),
        (
            "set_topic_key",
            Command::SetTopicKey {
                key: &fresh_key,
                topic: th,
            },
        ),
        ("remove_pubkey", Command::RemovePubKey(tx.id)),
        ("reset_pubkeys", Command::ResetPubKeys),
        (
            "set_pubkey",
            Command::SetPubKey {
                key: &new_pk.sig_pk,
                id: new_pk.id,
            },
        ),
        ("set_c2_key", Command::SetC2Key(&new_c2)),
    ];
    for (label, cmd) in commands {
        if matches!(cmd, Command::SetPubKey { .. }) && !signed {
            // symmetric: the E4 encoding with a 32-byte key, refused as unsupported
        }
        let bytes = match (&cmd, signed) {
            (Command::SetPubKey { id, .. }, false) => Command::SetPubKey {
                key: &[9u8; 32],
                id: *id,
            }
            .to_vec(),
            _ => cmd.to_vec(),
        };
        let mut c = client(real, suite.id, &rx, &clock)?;
        initial(&mut c)?;
        let initial_state = describe(&c);
        let protected = protect_command(p, suite, &c2, &rx, &bytes, NOW, &mut rng)?;
        let control = c.control_topic().as_str().to_string();
        let expect = outcome_of(&mut c, &clock, &control, &protected, NOW);
        let command_key = match &rx.identity {
            Identity::Symmetric(k) => json!(hex::encode(k.as_bytes())),
            Identity::PubKey { signing, .. } => {
                let key = e4_proto::c2::e4_command_key(
                    p,
                    suite.id,
                    DeviceKey::PubKey(&signing.public()),
                    C2Secret::X25519(&c2.x25519_sk),
                )
                .map_err(|e| e.to_string())?;
                json!(hex::encode(key.as_bytes()))
            }
            _ => Value::Null,
        };
        cases.push(merge(
            merge(rx.fields.clone(), &c2.fields),
            &json!({
                "case": format!("kat_{mode}_cmd/{label}"), "command": cmd.name(), "command_code": cmd.opcode(),
                "receiving_topic": control, "initial_state": initial_state,
                "command_bytes": hex::encode(&bytes), "command_key": command_key,
                "timestamp": NOW, "now": NOW, "protected": hex::encode(&protected),
                "expect": expect, "state_after": describe(&c),
            }),
        ));
    }

    // 4. Key transition: rotate, old key accepted for 3600 s, then refused.
    let mut c = client(real, suite.id, &rx, &clock)?;
    initial(&mut c)?;
    let initial_state = describe(&c);
    let control = c.control_topic().as_str().to_string();
    let rotate = Command::SetTopicKey {
        key: &new_key,
        topic: th,
    }
    .to_vec();
    let rotate_msg = protect_command(p, suite, &c2, &rx, &rotate, NOW, &mut rng)?;
    let mut new_sender = client(p, suite.id, &tx, &clock)?;
    new_sender
        .set_topic_key(&th, &SymKey::new(new_key))
        .map_err(|e| e.to_string())?;
    let mut steps = Vec::new();
    let plan: Vec<(&str, Vec<u8>, &str, u64)> = vec![
        ("rotate the topic key", rotate_msg, control.as_str(), NOW),
        (
            "message under the old key",
            protect(&sender, NOW + 10, &pt64)?,
            TOPIC,
            NOW + 10,
        ),
        (
            "message under the new key",
            protect(&new_sender, NOW + 10, &pt64)?,
            TOPIC,
            NOW + 10,
        ),
        (
            "old key, 3599 s after the rotation",
            protect(&sender, NOW + 3599, &pt64)?,
            TOPIC,
            NOW + 3599,
        ),
        (
            "old key, 3600 s after the rotation",
            protect(&sender, NOW + 3600, &pt64)?,
            TOPIC,
            NOW + 3600,
        ),
    ];
    for (desc, msg, topic, now) in plan {
        let expect = outcome_of(&mut c, &clock, topic, &msg, now);
        let mut step = json!({
            "op": if topic == control { "command" } else { "unprotect" }, "description": desc,
            "topic": topic, "timestamp": now, "now": now, "protected": hex::encode(&msg), "expect": expect,
        });
        if topic == control {
            step["state_after"] = describe(&c);
        } else if expect == "ok" {
            step["plaintext"] = json!(hex::encode(&pt64));
        }
        steps.push(step);
    }
    let expected: Vec<&str> = steps
        .iter()
        .map(|s| s["expect"].as_str().unwrap_or(""))
        .collect();
    if expected != ["ok_command", "ok", "ok", "ok", "timestamp_too_old"] {
        return Err(format!("{mode} transition gave {expected:?}"));
    }
    cases.push(merge(
        merge(rx.fields.clone(), &c2.fields),
        &json!({
            "case": format!("kat_{mode}_transition/old_key_for_3600s"), "receiving_topic": control,
            "topic": TOPIC, "initial_state": initial_state, "known_pubkeys": known, "steps": steps,
        }),
    ));
    Ok(cases)
}

/// Write one file per suite; returns (file, number of cases).
pub fn write_all(dir: &Path) -> Result<Vec<(String, usize)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = crate::seeded::provider();
    let mut written = Vec::new();
    for suite in p.suites {
        let cases = suite_cases(p, suite, &format!("e4-rs kat {}", suite.id.name()))?;
        let path = dir.join(format!("{}.jsonl", suite.id.name()));
        let mut text = String::new();
        for c in &cases {
            text.push_str(&serde_json::to_string(c).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        let tmp = path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        written.push((path.display().to_string(), cases.len()));
    }
    Ok(written)
}
