//! What the outbox publisher tells health checks and metrics: whether it is
//! connected, when the broker last acknowledged a command, and its window.

use crate::db::now_ms;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// By default, a publisher with commands older than this and no
/// acknowledgement for as long is stalled: it may be connected, but it does
/// not deliver (`e4c2 serve --stall-after`).
pub const STALL_AFTER: Duration = Duration::from_secs(30);

/// Shared between the publisher task and the service.
#[derive(Debug)]
pub struct PublisherStatus {
    connected: AtomicBool,
    last_ack_ms: AtomicI64,
    failures: AtomicU64,
    window: AtomicU64,
    stall_after: Duration,
}

impl Default for PublisherStatus {
    fn default() -> Self {
        PublisherStatus::new(STALL_AFTER)
    }
}

/// How delivery is going, for `/v1/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing waits.
    Idle,
    /// Commands wait and the broker acknowledges them.
    Delivering,
    /// Commands have waited longer than the stall threshold and nothing was
    /// acknowledged for as long, though the publisher is connected.
    Stalled,
    /// Commands wait and the publisher has no connection.
    Disconnected,
}

impl Delivery {
    /// The name shown by the APIs.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Idle => "idle",
            Delivery::Delivering => "delivering",
            Delivery::Stalled => "stalled",
            Delivery::Disconnected => "disconnected",
        }
    }
}

impl PublisherStatus {
    /// A status judging stalls after `stall_after`.
    pub fn new(stall_after: Duration) -> PublisherStatus {
        PublisherStatus {
            connected: AtomicBool::new(false),
            last_ack_ms: AtomicI64::new(0),
            failures: AtomicU64::new(0),
            window: AtomicU64::new(0),
            stall_after,
        }
    }

    /// Connected (CONNACK) or not.
    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::SeqCst);
    }

    /// Whether the publisher holds a connection.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// The broker acknowledged commands now.
    pub fn acknowledged(&self) {
        self.last_ack_ms.store(now_ms(), Ordering::SeqCst);
    }

    /// Failed connection attempts since the last healthy connection.
    pub fn set_failures(&self, n: u64) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// Failed connection attempts since the last healthy connection.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// The publish window in use.
    pub fn set_window(&self, w: usize) {
        self.window.store(w as u64, Ordering::SeqCst);
    }

    /// The publish window in use.
    pub fn window(&self) -> u64 {
        self.window.load(Ordering::SeqCst)
    }

    /// Judge delivery given the oldest pending command's creation time
    /// (unix ms; None when nothing is pending) at `now` (unix ms).
    pub fn delivery(&self, oldest_pending_ms: Option<i64>, now: i64) -> Delivery {
        let Some(oldest) = oldest_pending_ms else {
            return Delivery::Idle;
        };
        let stall = self.stall_after.as_millis() as i64;
        let waited_long = now - oldest > stall;
        let no_ack_lately = now - self.last_ack_ms.load(Ordering::SeqCst) > stall;
        match (self.connected(), waited_long && no_ack_lately) {
            (false, _) => Delivery::Disconnected,
            (true, true) => Delivery::Stalled,
            (true, false) => Delivery::Delivering,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_publisher_that_acknowledges_nothing_is_stalled() {
        let s = PublisherStatus::default();
        let now = now_ms();
        assert_eq!(s.delivery(None, now), Delivery::Idle);
        assert_eq!(s.delivery(Some(now - 1000), now), Delivery::Disconnected);
        s.set_connected(true);
        // A fresh command: delivering.
        assert_eq!(s.delivery(Some(now - 1000), now), Delivery::Delivering);
        // An old command and no acknowledgement for a minute: stalled.
        assert_eq!(s.delivery(Some(now - 60_000), now), Delivery::Stalled);
        // An old command, but the broker acknowledges (a large rotation
        // draining): delivering.
        s.acknowledged();
        assert_eq!(s.delivery(Some(now - 60_000), now), Delivery::Delivering);
    }
}
