//! When to reconnect to the broker, and what to log about it.
//!
//! The delay doubles after every failure, from `min` to `max`, and goes
//! back to `min` only after a connection that stayed up for
//! [`HEALTHY_AFTER`]: a broker that accepts the connection and drops it at
//! once (as mosquitto did when C2 exceeded its in-flight limit) is retried
//! ever more slowly, not every 100 ms forever.
//!
//! The log says it once per change of state: one WARN when the connection
//! is lost (or cannot be made), a WARN summary with the count at most once
//! a minute while it stays down, one INFO when it is back for good (a
//! connection that stayed up [`HEALTHY_AFTER`]; one dropped sooner is part
//! of the same outage). Each attempt in between is a DEBUG line.

use e4_backends::rng::OsRng;
use std::time::Duration;
use tokio::time::Instant;

/// A connection that stayed up this long resets the backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// At most one WARN line per this interval while the broker stays down.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What one connection (publisher, announce listener) knows of its
/// failures.
#[derive(Debug)]
pub struct Reconnect {
    what: &'static str,
    broker: String,
    min: Duration,
    max: Duration,
    next: Duration,
    failures: u64,
    ever_up: bool,
    up_since: Option<Instant>,
    down_since: Option<Instant>,
    last_summary: Option<Instant>,
}

impl Reconnect {
    /// `what` names the connection in the log.
    pub fn new(what: &'static str, broker: String, min: Duration, max: Duration) -> Reconnect {
        Reconnect {
            what,
            broker,
            min,
            max: max.max(min),
            next: min,
            failures: 0,
            ever_up: false,
            up_since: None,
            down_since: None,
            last_summary: None,
        }
    }

    /// Failed attempts since the last healthy connection.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The connection is up (CONNACK received).
    pub fn up(&mut self) {
        if !self.ever_up && self.down_since.is_none() {
            tracing::info!(connection = self.what, broker = %self.broker, "connected to broker");
        } else {
            tracing::debug!(
                connection = self.what,
                failed_attempts = self.failures,
                "connected; waiting to see it stay up"
            );
        }
        self.ever_up = true;
        self.up_since = Some(Instant::now());
    }

    /// Call while connected: once the connection has stayed up long enough,
    /// an outage is over (logged once) and the backoff starts again from
    /// its minimum.
    pub fn still_up(&mut self) {
        if !self.up_since.is_some_and(|t| t.elapsed() >= HEALTHY_AFTER) {
            return;
        }
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                connection = self.what,
                broker = %self.broker,
                failed_attempts = self.failures,
                down_ms = since.elapsed().saturating_sub(HEALTHY_AFTER).as_millis() as u64,
                "broker connection restored"
            );
        }
        self.next = self.min;
        self.failures = 0;
    }

    /// The connection failed or was lost: how long to wait before the next
    /// attempt.
    pub fn down(&mut self, error: &str) -> Duration {
        self.still_up();
        self.up_since = None;
        self.failures += 1;
        let wait = jitter(self.next);
        let now = Instant::now();
        if self.down_since.is_none() {
            self.down_since = Some(now);
            self.last_summary = Some(now);
            let what = if self.ever_up {
                "broker connection lost; commands stay queued, reconnecting"
            } else {
                "cannot connect to the broker; commands stay queued, retrying"
            };
            tracing::warn!(connection = self.what, broker = %self.broker, error, "{what}");
        } else if self
            .last_summary
            .is_none_or(|t| now.duration_since(t) >= SUMMARY_EVERY)
        {
            self.last_summary = Some(now);
            tracing::warn!(
                connection = self.what,
                broker = %self.broker,
                failed_attempts = self.failures,
                down_s = self.down_since.map_or(0, |t| now.duration_since(t).as_secs()),
                retry_in_ms = wait.as_millis() as u64,
                last_error = error,
                "broker still unavailable"
            );
        } else {
            tracing::debug!(
                connection = self.what,
                failed_attempts = self.failures,
                error,
                retry_in_ms = wait.as_millis() as u64,
                "reconnect attempt failed"
            );
        }
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// `d` with +-25 % jitter, so that several C2 processes do not retry in
/// lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 1];
    e4_proto::crypto::Rng::fill(&mut OsRng, &mut b);
    d.mul_f64(0.75 + (b[0] as f64 / 255.0) * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_while_connections_die_young_and_resets_after_a_healthy_one() {
        let min = Duration::from_millis(100);
        let mut r = Reconnect::new("test", "b".into(), min, Duration::from_secs(30));
        let mut waits = Vec::new();
        for _ in 0..6 {
            r.up();
            tokio::time::advance(Duration::from_millis(50)).await;
            waits.push(r.down("reset"));
        }
        // Each connection was accepted, yet the delay kept doubling.
        for (i, w) in waits.iter().enumerate() {
            let base = min * 2u32.pow(i as u32);
            assert!(
                *w >= base.mul_f64(0.74) && *w <= base.mul_f64(1.26),
                "{i}: {w:?}"
            );
        }
        assert_eq!(r.failures(), 6);
        r.up();
        tokio::time::advance(HEALTHY_AFTER).await;
        let w = r.down("reset");
        assert!(w <= min.mul_f64(1.26), "{w:?}");
        assert_eq!(r.failures(), 1);
    }

    /// Captures what the log says.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self, level: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .lines()
                .filter(|l| l.contains(level))
                .count()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_logged_once_then_summarised_not_per_attempt() {
        let log = Captured::default();
        let w = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut r = Reconnect::new(
            "test",
            "b".into(),
            Duration::from_millis(100),
            Duration::from_secs(1),
        );
        r.up();
        assert_eq!(log.lines("INFO"), 1, "connected");
        // Two minutes of a broker that accepts and drops the connection:
        // hundreds of attempts.
        let mut attempts = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            r.up();
            let wait = r.down("connection reset");
            tokio::time::advance(wait).await;
            attempts += 1;
        }
        assert!(attempts > 100, "{attempts}");
        // One line at the outage, one summary a minute, whatever the count.
        assert!(log.lines("WARN") <= 3, "{}", log.lines("WARN"));
        assert!(log.lines("failed_attempts") >= 1);
        // Reconnected: no line for each reconnection either (it never
        // stayed up), then one when it comes back for good.
        assert_eq!(log.lines("INFO"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped() {
        let mut r = Reconnect::new(
            "t",
            "b".into(),
            Duration::from_millis(100),
            Duration::from_secs(1),
        );
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            last = r.down("refused");
        }
        assert!(last <= Duration::from_millis(1260), "{last:?}");
    }
}
