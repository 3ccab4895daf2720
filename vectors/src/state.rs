//! Building a client from a vector's description of it, and describing a
//! client's state in the vectors' terms for comparison.

use crate::json::*;
use e4_proto::client::KemIdentity;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::store::{MemStore, PreviousKey, Store, TopicEntry};
use e4_proto::{Client, ClientId, Clock, Id, Identity, SuiteId, SymKey, TopicHash};
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

/// A clock shared between the checker and a client, moved per step.
#[derive(Clone, Default)]
pub struct StepClock(Rc<Cell<u64>>);

impl StepClock {
    pub fn set(&self, now: u64) {
        self.0.set(now)
    }
}

impl Clock for StepClock {
    fn now(&self) -> u64 {
        self.0.get()
    }
}

/// The client type used to replay vectors: no replay cache (e4go has none).
pub type VClient = Client<MemStore, StepClock, 0>;

pub fn mode_suite(mode: &str) -> Res<SuiteId> {
    match mode {
        "symkey" => Ok(SuiteId::Symmetric),
        "pubkey" => Ok(SuiteId::PubKey),
        other => SuiteId::from_name(other).map_err(|_| format!("unknown mode `{other}`")),
    }
}

fn first_hex(v: &Value, names: &[&str]) -> Res<Vec<u8>> {
    for n in names {
        if let Some(b) = opt_hex(v, n)? {
            return Ok(b);
        }
    }
    Err(format!("missing field, one of {names:?}"))
}

/// The identity described by a case (client fields, or its initial state).
pub fn identity_of(case: &Value, suite: SuiteId) -> Res<(ClientId, Identity)> {
    let st = opt(case, "initial_state").cloned().unwrap_or(Value::Null);
    let id_bytes = match opt(case, "client_id").or_else(|| opt(case, "receiver_id")) {
        Some(_) => first_hex(case, &["client_id", "receiver_id"])?,
        None => hex_(&st, "id")?,
    };
    // e4go's symmetric clients take ids of any non-zero length.
    let id = ClientId::from_slice(&id_bytes).ok_or_else(|| {
        format!(
            "a {}-byte client id (1 to {} bytes)",
            id_bytes.len(),
            e4_proto::ids::CLIENT_ID_MAX
        )
    })?;
    let identity = match suite {
        SuiteId::Symmetric => {
            let k = first_hex(case, &["client_key"]).or_else(|_| hex_(&st, "key"))?;
            Identity::Symmetric(SymKey::from_slice(&k).ok_or("client key is not 32 bytes")?)
        }
        SuiteId::PubKey => {
            let sk = first_hex(
                case,
                &["client_ed25519_private_key", "receiver_ed25519_private_key"],
            )
            .or_else(|_| hex_(&st, "ed25519_private_key"))?;
            let c2 = first_hex(case, &["c2_curve25519_public_key"])
                .or_else(|_| hex_(&st, "c2_public_key"))?;
            Identity::PubKey {
                signing: Ed25519Secret::from_slice(&sk)
                    .ok_or("ed25519 private key is not 64 bytes")?,
                c2_public: c2
                    .as_slice()
                    .try_into()
                    .map_err(|_| "c2 public key is not 32 bytes")?,
            }
        }
        _ => Identity::Kem(KemIdentity {
            sig_sk: SecretBytes::new(hex_(case, "client_sig_sk")?),
            sig_pk: hex_(case, "client_sig_pk")?,
            kem_sk: SecretBytes::new(hex_(case, "client_kem_sk")?),
            kem_pk: hex_(case, "client_kem_pk")?,
            c2_sig_pk: hex_(case, "c2_sig_pk")?,
        }),
    };
    Ok((id, identity))
}

/// A client as the case describes it, at time `now`.
pub fn client_of(case: &Value, clock: &StepClock) -> Res<VClient> {
    let suite = mode_suite(str_(case, "mode")?)?;
    let (id, identity) = identity_of(case, suite)?;
    let mut store = MemStore::new();
    if let Some(st) = opt(case, "initial_state") {
        load_state(st, &mut store)?;
    } else {
        let topic = topic_bytes(case).ok();
        let key = opt_hex(case, "client_topic_key")?.or(opt_hex(case, "topic_key")?);
        if let (Some(t), Some(k)) = (topic, key) {
            let h = TopicHash::of(crate::provider().hash, &t);
            store
                .set_topic(
                    h,
                    TopicEntry {
                        key: SymKey::from_slice(&k).ok_or("topic key not 32 bytes")?,
                        previous: None,
                    },
                )
                .map_err(|e| e.to_string())?;
        }
        for name in ["known_pubkeys", "receiver_known_pubkeys"] {
            if let Some(list) = opt(case, name) {
                load_pubkeys(list, &mut store)?;
            }
        }
    }
    let mut c =
        VClient::with_client_id(crate::provider(), suite, id, identity, store, clock.clone())
            .map_err(|e| format!("cannot build client: {e}"))?;
    c.set_replay_protection(false);
    Ok(c)
}

fn load_pubkeys(list: &Value, store: &mut MemStore) -> Res<()> {
    for p in list.as_array().ok_or("pubkey list is not an array")? {
        let id = Id::from_slice(&hex_(p, "id")?).ok_or("pubkey id not 16 bytes")?;
        store
            .set_pubkey(id, &hex_(p, "public_key")?)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn load_state(st: &Value, store: &mut MemStore) -> Res<()> {
    if let Some(list) = opt(st, "topic_keys") {
        for t in list.as_array().ok_or("topic_keys is not an array")? {
            let h =
                TopicHash::from_slice(&hex_(t, "topic_hash")?).ok_or("topic hash not 16 bytes")?;
            let key = SymKey::from_slice(&hex_(t, "key")?).ok_or("topic key not 32 bytes")?;
            store
                .set_topic(
                    h,
                    TopicEntry {
                        key,
                        previous: None,
                    },
                )
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(list) = opt(st, "transition_keys") {
        for t in list.as_array().ok_or("transition_keys is not an array")? {
            let h =
                TopicHash::from_slice(&hex_(t, "topic_hash")?).ok_or("topic hash not 16 bytes")?;
            let old = SymKey::from_slice(&hex_(t, "old_key")?).ok_or("old key not 32 bytes")?;
            let set_at = u64_(t, "timestamp")?;
            // e4go keeps transition entries beside the topic key; without a
            // topic key they can never be used.
            if let Some(e) = store.topic(&h).cloned() {
                store
                    .set_topic(
                        h,
                        TopicEntry {
                            key: e.key,
                            previous: Some(PreviousKey { key: old, set_at }),
                        },
                    )
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if let Some(list) = opt(st, "pubkeys") {
        load_pubkeys(list, store)?;
    }
    Ok(())
}

/// The client's state in the shape of the vectors' `state` objects (the
/// fields e4go persists).
pub fn describe(c: &VClient) -> Value {
    let p = crate::provider();
    let mut topic_keys = Vec::new();
    let mut transition_keys = Vec::new();
    c.store().for_each_topic(&mut |h, e| {
        topic_keys
            .push(json!({"topic_hash": hex::encode(h.0), "key": hex::encode(e.key.as_bytes())}));
        if let Some(prev) = &e.previous {
            let slot = &p.hash.sha3_256(&[&h.0])[..16];
            transition_keys.push(json!({
                "slot": hex::encode(slot),
                "topic_hash": hex::encode(h.0),
                "old_key": hex::encode(prev.key.as_bytes()),
                "timestamp": prev.set_at,
            }));
        }
    });
    transition_keys.sort_by(|a, b| a["slot"].as_str().cmp(&b["slot"].as_str()));
    let mut pubkeys = Vec::new();
    c.store().for_each_pubkey(&mut |id, k| {
        pubkeys.push(json!({"id": hex::encode(id.0), "public_key": hex::encode(k)}))
    });
    let mut v = json!({
        "id": hex::encode(c.client_id().as_bytes()),
        "receiving_topic": c.control_topic().as_str(),
        "topic_keys": topic_keys,
        "transition_keys": transition_keys,
    });
    match c.identity() {
        Identity::Symmetric(k) => v["key"] = json!(hex::encode(k.as_bytes())),
        Identity::PubKey { signing, c2_public } => {
            v["ed25519_private_key"] = json!(hex::encode(signing.as_bytes()));
            v["ed25519_public_key"] = json!(hex::encode(signing.public()));
            v["c2_public_key"] = json!(hex::encode(c2_public));
            v["pubkeys"] = json!(pubkeys);
        }
        Identity::Kem(k) => {
            v["c2_sig_pk"] = json!(hex::encode(&k.c2_sig_pk));
            v["pubkeys"] = json!(pubkeys);
        }
    }
    v
}

/// Compare every field the expected state gives (unknown extra fields in
/// the expectation are compared too, so nothing is silently skipped).
pub fn compare_state(what: &str, c: &VClient, want: &Value) -> Res<()> {
    let got = describe(c);
    let want_obj = want
        .as_object()
        .ok_or_else(|| format!("{what}: state is not an object"))?;
    for (k, w) in want_obj {
        let g = got.get(k).unwrap_or(&Value::Null);
        // An absent list and an empty one are the same state.
        let empty = |x: &Value| x.is_null() || x.as_array().is_some_and(|a| a.is_empty());
        if g != w && !(empty(g) && empty(w)) {
            return Err(format!("{what}: field `{k}`: got {g}, expected {w}"));
        }
    }
    Ok(())
}
