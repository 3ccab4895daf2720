//! Debug for the API messages that carry a client key: every field but the
//! key. (prost derives Debug for the others; these two are generated
//! without it, see build.rs.)

use crate::api::grpc::pb;
use std::fmt;

const REDACTED: &str = "<redacted>";

fn key_shown(key: &[u8]) -> Option<&'static str> {
    (!key.is_empty()).then_some(REDACTED)
}

impl fmt::Debug for pb::NewClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClientRequest")
            .field("name", &self.name)
            .field("id", &hex::encode(&self.id))
            .field("suite", &self.suite)
            .field("key", &key_shown(&self.key))
            .field("sig_public_key", &hex::encode(&self.sig_public_key))
            .field("kem_public_key", &hex::encode(&self.kem_public_key))
            .finish()
    }
}

impl fmt::Debug for pb::NewClientResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClientResponse")
            .field("client", &self.client)
            .field("key", &key_shown(&self.key))
            .field("mqtt", &self.mqtt)
            .finish()
    }
}

impl fmt::Debug for pb::MqttCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttCredentials")
            .field("username", &self.username)
            .field("password", &key_shown(self.password.as_bytes()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rest::{NewClientBody, NewClientReply};
    use crate::model::NewClient;

    const KEY: [u8; 32] = [0xa7; 32];

    /// The ways a key's bytes could appear in a Debug output.
    fn assert_no_key(what: &str, shown: &str) {
        let hex = hex::encode(KEY);
        let list = format!("{:?}", &KEY[..4]).trim_end_matches(']').to_string();
        for needle in [hex.as_str(), &hex[..16], "a7a7a7a7", "167, 167", &list[1..]] {
            assert!(
                !shown.contains(needle),
                "{what} shows key bytes ({needle}): {shown}"
            );
        }
        assert!(shown.contains(REDACTED), "{what}: {shown}");
    }

    #[test]
    fn no_type_holding_a_client_key_prints_it() {
        let model = NewClient {
            name: "dev".into(),
            key: Some(zeroize::Zeroizing::new(KEY.to_vec())),
            ..NewClient::default()
        };
        assert_no_key("NewClient", &format!("{model:?}"));
        let body: NewClientBody = serde_json::from_value(serde_json::json!({
            "name": "dev", "key": hex::encode(KEY)
        }))
        .unwrap();
        assert_no_key("NewClientBody", &format!("{body:?}"));
        let reply: NewClientReply = serde_json::from_value(serde_json::json!({
            "client": {"name": "dev", "id": "00", "suite": "symmetric",
                       "control_topic": "e4/00", "created_at": 0,
                       "sig_public_key": null, "allowed_suites": null,
                       "negotiates": false, "below_minimum": false,
                       "pending_suite": null,
                       "delivery": {"up_to_date": "unknown", "reported_at": null,
                                    "topics_unconfirmed": 0, "stale_topics": 0,
                                    "c2_key_current": null}},
            "key": hex::encode(KEY),
            "mqtt": {"username": "00", "password": hex::encode(KEY)}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_no_key("NewClientReply", &format!("{reply:?}"));
        let req = pb::NewClientRequest {
            name: "dev".into(),
            key: KEY.to_vec(),
            ..Default::default()
        };
        assert_no_key("pb::NewClientRequest", &format!("{req:?}"));
        let resp = pb::NewClientResponse {
            client: None,
            key: KEY.to_vec(),
            mqtt: Some(pb::MqttCredentials {
                username: "00".into(),
                password: hex::encode(KEY),
            }),
        };
        assert_no_key("pb::NewClientResponse", &format!("{resp:?}"));
        let p = e4_client::Provisioning::symmetric("dev", &e4_proto::Id([1; 16]), &KEY);
        let shown = format!("{p:?}");
        assert!(!shown.contains(&hex::encode(KEY)), "{shown}");
    }
}
