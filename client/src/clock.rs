//! A settable clock that can be shared between threads and tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use e4_proto::Clock;

/// A clock whose time is set by hand; clones share the same time. For tests,
/// scripts and known-answer vectors (`e4 protect --now`).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock stopped at `now` (unix seconds).
    pub fn new(now: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }
    /// Set the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst)
    }
    /// Move the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
