//! Broker credentials: who may connect, under which MQTT client id.
//!
//! A device's MQTT user name is its E4 id in lowercase hex (32 digits):
//! the same string ends its control topic `e4/<hex id>` and its announce
//! topic `e4c2/announce/<hex id>`, so mosquitto's ACL patterns use `%u`.
//! Its client id must be `e4-<user>` (E4Mqtt's default) or start with
//! `e4-<user>-`; C2's own user is `e4c2`, with client ids `e4c2` and
//! `e4c2-…`. Passwords are 256 random bits in hex, issued by C2.

use crate::datadir::{read_secret, write_private, DataDir};
use crate::error::C2Result;
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use e4_proto::Id;
use zeroize::Zeroizing;

/// C2's own MQTT user name.
pub const C2_USER: &str = "e4c2";

/// A device's MQTT user name.
pub fn device_user(id: &Id) -> String {
    hex::encode(id.0)
}

/// The device a user name belongs to (None: not a device user name).
pub fn device_of_user(user: &str) -> Option<Id> {
    if user.len() != 32 || user.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Id::from_slice(&hex::decode(user).ok()?)
}

/// Whether `user` may connect with MQTT client id `client_id`: a user
/// cannot take over (and disconnect) another user's session.
pub fn client_id_allowed(user: &str, client_id: &str) -> bool {
    let prefix = if user == C2_USER {
        C2_USER.to_string()
    } else {
        format!("e4-{user}")
    };
    client_id
        .strip_prefix(&prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// A new random password (256 bits, hex).
pub fn generate_password() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill(&mut b[..]);
    Zeroizing::new(hex::encode(&b[..]))
}

/// C2's own broker password, from `<data>/mqtt.password` (0600), generated
/// there at the first start.
pub fn c2_password(dir: &DataDir) -> C2Result<Zeroizing<String>> {
    let f = dir.mqtt_password_file();
    if f.is_file() {
        return read_secret(&f);
    }
    let p = generate_password();
    write_private(&f, format!("{}\n", *p).as_bytes())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_and_client_ids() {
        let id = Id([0xab; 16]);
        let u = device_user(&id);
        assert_eq!(u, "ab".repeat(16));
        assert_eq!(device_of_user(&u), Some(id));
        assert_eq!(device_of_user(&u.to_uppercase()), None);
        assert_eq!(device_of_user("e4c2"), None);
        assert!(client_id_allowed(&u, &format!("e4-{u}")));
        assert!(client_id_allowed(&u, &format!("e4-{u}-shell")));
        assert!(!client_id_allowed(&u, &format!("e4-{u}x")));
        assert!(!client_id_allowed(&u, &format!("e4-{}", "cd".repeat(16))));
        assert!(!client_id_allowed(&u, "e4c2"));
        assert!(client_id_allowed(C2_USER, "e4c2"));
        assert!(client_id_allowed(C2_USER, "e4c2-announce"));
        assert!(!client_id_allowed(C2_USER, &format!("e4-{u}")));
        assert_eq!(generate_password().len(), 64);
    }
}
