//! The device's MQTT user name and password, issued by C2 with the device
//! (see C2's docs/negotiation.md, "Broker access control"). Kept in the
//! state file; [`crate::mqtt::E4Mqtt`] uses them when its configuration
//! names no credentials.

use zeroize::Zeroizing;

/// MQTT credentials. Debug prints no password.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerCredentials {
    /// MQTT user name (at C2's brokers: the device id in hex).
    pub username: String,
    /// MQTT password.
    pub password: Zeroizing<String>,
}

impl BrokerCredentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> BrokerCredentials {
        BrokerCredentials {
            username: username.into(),
            password: Zeroizing::new(password.into()),
        }
    }
}

impl std::fmt::Debug for BrokerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerCredentials({}, <redacted>)", self.username)
    }
}
