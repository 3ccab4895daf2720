//! Shared helpers for the e4-c2 integration tests.

pub mod mqtt_proxy;
