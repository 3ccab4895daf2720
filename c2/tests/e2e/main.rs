//! End-to-end tests of e4c2, in one binary (one link, shared harness):
//!
//! * `api`: every operation over REST and gRPC against an in-process C2 with
//!   its embedded broker; simulated devices (e4_proto::Client over rumqttc)
//!   receive their keys through the broker and exchange messages.
//! * `api_negotiation`: policy, per-device overrides and topic formats over
//!   REST, gRPC and the admin CLI.
//! * `refusals`: unauthenticated and malformed requests change nothing.
//! * `cli`: the binary's zero-setup start, admin CLI, offline commands.
//! * `resilience`: broker outage, and C2 killed mid-rotation (mosquitto).
//! * `negotiation`: suite upgrades of e4-client devices through an
//!   attacking MQTT proxy; policy overrides; an interrupted upgrade.
//! * `postgres`: the API scenario and a passphrase change on PostgreSQL.
//! * `delivery`: e4-client devices that joined before their first
//!   connection, were offline during rotations and C2 key changes, or lost
//!   their broker session end with the current keys (state reports).
//! * `flood`: 20 000 forged announcements against `e4c2 serve`: refused
//!   or dropped and counted, nothing written, the log bounded.
//! * `automation`: key-policy rules: an interval rule across SIGKILLs,
//!   two processes on PostgreSQL, events, counts, key ages, dry runs.
//! * `broker_acl`: broker access control: the embedded broker admits only
//!   the credentials C2 issued, bound to their client ids; mosquitto with
//!   the generated password and ACL files confines each device to its
//!   topics.
//! * `crash`: `e4c2 serve` SIGKILLed at random moments of rotations, on
//!   both brokers and both databases; seeded (`E4_CRASH_SEED`).
//! * `integrity`: public keys and outbox device keys swapped in the
//!   database behind C2's back are refused and counted; keys stored before
//!   MACs existed are trusted once, at the upgrade.

mod common;

mod api;
mod api_negotiation;
mod automation;
mod broker_acl;
mod cli;
mod crash;
mod delivery;
mod flood;
mod integrity;
mod negotiation;
mod postgres;
mod refusals;
mod resilience;
