//! `derived.jsonl` kinds and the raw AEAD: hashes, ids, control topics,
//! password derivation, the public-key command key, AES-SIV.

use crate::json::*;
use e4_backends::password::{ed25519_seed_from_password_bytes, symkey_from_password_bytes};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{ClientId, ControlTopic, Id, Identity, SuiteId, SymKey, TopicHash};
use serde_json::Value;

pub fn check(kind: &str, case: &Value) -> Res<()> {
    let p = crate::provider();
    match kind {
        "topic_hash" => {
            let t = topic_bytes(case)?;
            if let Some(full) = opt_hex(case, "sha3_256")? {
                ensure_hex("sha3_256", &p.hash.sha3_256(&[&t]), &full)?;
            }
            ensure_hex(
                "topic_hash",
                &TopicHash::of(p.hash, &t).0,
                &hex_(case, "topic_hash")?,
            )
        }
        "control_topic" => check_control_topic(case),
        "id_from_name" => {
            let name = match opt(case, "name_hex") {
                Some(_) => hex_(case, "name_hex")?,
                None => str_(case, "name")?.as_bytes().to_vec(),
            };
            let id = Id::from_alias(p.hash, &name);
            ensure_hex("id", &id.0, &hex_(case, "id")?)?;
            if let Some(t) = opt(case, "control_topic").and_then(|v| v.as_str()) {
                ensure_eq("control_topic", id.control_topic().as_str(), t)?;
            }
            Ok(())
        }
        "symkey_from_password" | "ed25519_from_password" => check_password(kind, case),
        "pubkey_shared_key" => check_shared_key(case),
        "aead" => check_aead(case),
        other => Err(format!("unknown kind `{other}`")),
    }
}

/// e4go's `TopicForID` of an id of any length, the topic its symmetric
/// client listens on, and whether its public-key client takes the id.
fn check_control_topic(case: &Value) -> Res<()> {
    let id = hex_(case, "id")?;
    let topic = ControlTopic::new(&id)
        .ok_or_else(|| format!("a {}-byte id has no e4-rs control topic", id.len()))?;
    ensure_eq(
        "control_topic",
        topic.as_str(),
        str_(case, "control_topic")?,
    )?;
    let client_id = ClientId::from_slice(&id);
    if let Some(t) = opt(case, "e4go_symkey_client_receiving_topic").and_then(|v| v.as_str()) {
        let client_id = client_id.ok_or("e4go's symmetric client took an id e4-rs refuses")?;
        let client = id_client(client_id, SuiteId::Symmetric)?
            .map_err(|e| format!("a symmetric client refused the id: {e}"))?;
        ensure_eq("receiving topic", client.control_topic().as_str(), t)?;
        if !client.client_id().is_control_topic(t.as_bytes()) {
            return Err("the client does not recognise its control topic".into());
        }
    }
    let pubkey = opt(case, "e4go_pubkey_client").and_then(|v| v.as_str());
    if let (Some(result), Some(client_id)) = (pubkey, client_id) {
        if crate::provider().supports(SuiteId::PubKey) {
            let ours = id_client(client_id, SuiteId::PubKey)?;
            match (result == "ok", ours) {
                (true, Ok(_)) | (false, Err(e4_proto::Error::InvalidArgument)) => {}
                (_, Ok(_)) => {
                    return Err(format!(
                        "e4go's public-key client refused the id ({result}), ours took it"
                    ))
                }
                (_, Err(e)) => {
                    return Err(format!("public-key client: e4go said {result}, ours {e}"))
                }
            }
        }
    }
    Ok(())
}

/// A client of `suite` with id `id` and a fixed, valid identity.
fn id_client(id: ClientId, suite: SuiteId) -> Res<Result<crate::state::VClient, e4_proto::Error>> {
    let identity = match suite {
        SuiteId::Symmetric => Identity::Symmetric(SymKey::new([7; 32])),
        _ => {
            let seed = [7u8; 32];
            let mut sk = [0u8; 64];
            sk[..32].copy_from_slice(&seed);
            sk[32..].copy_from_slice(&e4_backends::ed25519::public_from_seed(&seed));
            Identity::PubKey {
                signing: Ed25519Secret::new(sk),
                c2_public: [9; 32],
            }
        }
    };
    let clock = crate::state::StepClock::default();
    Ok(crate::state::VClient::with_client_id(
        crate::provider(),
        suite,
        id,
        identity,
        e4_proto::store::MemStore::new(),
        clock,
    ))
}

/// The password's exact bytes: `password_hex` when present (it may not be
/// UTF-8, which e4go refuses as `invalid_password`), else `password`.
fn password(case: &Value) -> Res<Vec<u8>> {
    match opt(case, "password_hex") {
        Some(_) => hex_(case, "password_hex"),
        None => Ok(str_(case, "password")?.as_bytes().to_vec()),
    }
}

fn check_password(kind: &str, case: &Value) -> Res<()> {
    if let Some(kdf) = opt(case, "kdf") {
        let same = str_(kdf, "algorithm")? == "argon2i"
            && u64_(kdf, "version")? == 19
            && str_(kdf, "salt_hex")?.is_empty()
            && u64_(kdf, "time_cost")? == 1
            && u64_(kdf, "memory_kib")? == 65536
            && u64_(kdf, "parallelism")? == 4
            && u64_(kdf, "output_len")? == 32
            && opt(kdf, "secret")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .is_empty()
            && opt(kdf, "associated_data")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .is_empty();
        if !same {
            return Err(format!("unsupported kdf parameters {kdf}"));
        }
    }
    let pw = password(case)?;
    let expect = str_(case, "expect")?;
    if kind == "symkey_from_password" {
        match symkey_from_password_bytes(&pw) {
            Err(e) => ensure_eq("outcome", e.category(), expect),
            Ok(k) => {
                ensure_eq("outcome", "ok", expect)?;
                ensure_hex("key", k.as_bytes(), &hex_(case, "key")?)?;
                if let (Some(name), Some(id)) =
                    (opt(case, "client_name"), opt_hex(case, "client_id")?)
                {
                    let name = name.as_str().ok_or("client_name is not a string")?;
                    let got = Id::from_alias(crate::provider().hash, name.as_bytes());
                    ensure_hex("client_id", &got.0, &id)?;
                }
                Ok(())
            }
        }
    } else {
        match ed25519_seed_from_password_bytes(&pw) {
            Err(e) => ensure_eq("outcome", e.category(), expect),
            Ok(seed) => {
                ensure_eq("outcome", "ok", expect)?;
                ensure_hex("seed", &seed[..], &hex_(case, "seed")?)?;
                let public = e4_backends::ed25519::public_from_seed(&seed);
                if let Some(pk) = opt_hex(case, "ed25519_public_key")? {
                    ensure_hex("ed25519_public_key", &public, &pk)?;
                }
                if let Some(sk) = opt_hex(case, "ed25519_private_key")? {
                    ensure_hex(
                        "ed25519_private_key",
                        &[&seed[..], &public[..]].concat(),
                        &sk,
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn check_shared_key(case: &Value) -> Res<()> {
    let p = crate::provider();
    let suite = p.suite(SuiteId::PubKey).map_err(|e| e.to_string())?;
    let x = suite.x25519().map_err(|e| e.to_string())?;
    let seed: [u8; 32] = arr(case, "client_ed25519_seed")?;
    let ed_pub: [u8; 32] = arr(case, "client_ed25519_public_key")?;
    ensure_hex(
        "client_ed25519_public_key",
        &e4_backends::ed25519::public_from_seed(&seed),
        &ed_pub,
    )?;
    let curve_priv = x.secret_from_ed25519_seed(&seed);
    ensure_hex(
        "client_curve25519_private_key",
        &curve_priv,
        &hex_(case, "client_curve25519_private_key")?,
    )?;
    let curve_pub = x
        .public_from_ed25519(&ed_pub)
        .ok_or("client public key is not a point")?;
    ensure_hex(
        "client_curve25519_public_key",
        &curve_pub,
        &hex_(case, "client_curve25519_public_key")?,
    )?;
    ensure_hex(
        "curve25519 public of the converted secret",
        &x.public_key(&curve_priv),
        &curve_pub,
    )?;
    let c2_priv: [u8; 32] = arr(case, "c2_curve25519_private_key")?;
    let c2_pub: [u8; 32] = arr(case, "c2_curve25519_public_key")?;
    ensure_hex("c2_curve25519_public_key", &x.public_key(&c2_priv), &c2_pub)?;
    let point = x.diffie_hellman(&c2_priv, &curve_pub);
    ensure_hex(
        "x25519_shared_point (C2 side)",
        &point,
        &hex_(case, "x25519_shared_point")?,
    )?;
    ensure_hex(
        "x25519_shared_point (client side)",
        &x.diffie_hellman(&curve_priv, &c2_pub),
        &point,
    )?;
    ensure_hex(
        "shared_key",
        &p.hash.sha3_256(&[&point]),
        &hex_(case, "shared_key")?,
    )
}

fn check_aead(case: &Value) -> Res<()> {
    let p = crate::provider();
    let key = SymKey::from_slice(&hex_(case, "key")?).ok_or("key not 32 bytes")?;
    let ad = hex_(case, "associated_data")?;
    let pt = hex_(case, "plaintext")?;
    let output = hex_(case, "output")?;
    let mut buf = pt.clone();
    let siv = p.siv.seal(&key, &ad, &mut buf);
    let sealed = [&siv[..], &buf[..]].concat();
    ensure_hex("output", &sealed, &output)?;
    if output.len() < 16 {
        return Err("output shorter than the SIV".into());
    }
    let mut ct = output[16..].to_vec();
    p.siv
        .open(&key, &ad, output[..16].try_into().expect("16"), &mut ct)
        .map_err(|e| format!("open: {e}"))?;
    ensure_hex("opened plaintext", &ct, &pt)
}
