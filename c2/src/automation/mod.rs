//! Automation of key policies: rules that rotate keys on schedules, on
//! events and on key age, each fire exactly once across crashes, restarts
//! and C2 processes sharing one database (docs/automation.md).
//!
//! - [`rule`]: what a rule is (target, triggers, action) and its checks;
//! - [`schedule`]: cron (with seconds) and interval slots, in UTC;
//! - [`inbox`]: events recorded in the transaction of the change itself;
//! - [`act`]: what an action queues, inside the firing's transaction;
//! - [`engine`]: the scheduler in `e4c2 serve`: claims a slot, queues its
//!   commands and moves the rule on, all in one transaction;
//! - [`ops`]: the operations behind the APIs and the CLI (add, list,
//!   enable, fire now, dry run, history).

pub mod act;
pub mod engine;
pub mod inbox;
pub mod ops;
pub mod rule;
pub mod schedule;

pub use inbox::record;
pub use rule::{Action, EventTrigger, Missed, RuleSpec, Target, Trigger};
