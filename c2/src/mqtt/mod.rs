//! MQTT: where commands go (an embedded broker or an external one) and the
//! worker that publishes the outbox.

pub mod announce;
pub mod broker;
pub mod broker_auth;
pub mod credentials;
pub mod embedded;
pub mod inflight;
pub mod last_sent;
pub mod mosquitto_files;
pub mod password_hash;
pub mod publisher;
pub mod rate_limit;
pub mod reconnect;
pub mod status;

pub use broker::BrokerAddr;
