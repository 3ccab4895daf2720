//! Flood control for the announce listener (issue 12, item 1): anyone who
//! can publish on `e4c2/announce/+` can send C2 messages as fast as the
//! broker forwards them. Before a message is looked at, it must pass a
//! per-device token bucket (keyed by the device id in its topic) and a
//! global one; what does not is dropped (acknowledged, counted in
//! `e4c2_negotiation_dropped_total{limit}`, never verified). Refusals are
//! logged sampled ([`RefusalLog`]): the first refusal of a device in an
//! interval is a line, the rest of that interval are counted and reported
//! in one line per device, and the number of lines per interval is bounded
//! whatever the number of devices (random ids included).

use e4_proto::Id;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A token bucket: holds up to `burst` tokens, refilled at `rate` per
/// second; one message takes one token.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: rate.max(0.0),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Take a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Give back a token taken for a message dropped further on.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }

    /// Whether the bucket is full (a new bucket would behave the same).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// The announce listener's rate limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnounceLimits {
    /// Messages per second one device may send, sustained.
    pub device_rate: f64,
    /// Messages one device may send at once.
    pub device_burst: u32,
    /// Messages per second from all devices together (the burst is one
    /// second's worth).
    pub global_rate: f64,
}

impl Default for AnnounceLimits {
    /// A device sends an Announce at most once per second and per
    /// connection attempt, a Confirm per retry, a state report per
    /// connection, per batch of commands and per hour: 2/s with a burst of
    /// 20 leaves room for all of them. 200/s for everyone: verifying a
    /// message costs a database read and a signature check, outside any
    /// write transaction (1 to 2 ms on a loaded 2-core machine, so the
    /// listener stays under half a core whatever arrives).
    fn default() -> Self {
        AnnounceLimits {
            device_rate: 2.0,
            device_burst: 20,
            global_rate: 200.0,
        }
    }
}

/// Which limit dropped a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The device's own bucket.
    Device,
    /// The bucket of all devices.
    Global,
}

impl Limit {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Device => "device",
            Limit::Global => "global",
        }
    }
}

/// Devices tracked at most; beyond, buckets that refilled are forgotten
/// (a full bucket is the same as none), and a device that still finds no
/// room is limited by the global bucket alone.
pub const MAX_TRACKED_DEVICES: usize = 100_000;

/// Per-device and global token buckets.
#[derive(Debug)]
pub struct AnnounceLimiter {
    limits: AnnounceLimits,
    global: TokenBucket,
    devices: HashMap<Id, TokenBucket>,
    max_devices: usize,
}

impl AnnounceLimiter {
    /// Full buckets.
    pub fn new(limits: AnnounceLimits, now: Instant) -> AnnounceLimiter {
        Self::with_capacity(limits, MAX_TRACKED_DEVICES, now)
    }

    fn with_capacity(limits: AnnounceLimits, max_devices: usize, now: Instant) -> AnnounceLimiter {
        let global_burst = limits.global_rate.ceil().clamp(1.0, u32::MAX as f64) as u32;
        AnnounceLimiter {
            limits,
            global: TokenBucket::new(limits.global_rate, global_burst, now),
            devices: HashMap::new(),
            max_devices: max_devices.max(1),
        }
    }

    /// Whether a message from `device` (None: a topic that names no
    /// device) may be looked at now; `Err` names the limit that drops it.
    pub fn check(&mut self, device: Option<&Id>, now: Instant) -> Result<(), Limit> {
        let mut own = None;
        if let Some(id) = device {
            if !self.devices.contains_key(id) && self.devices.len() >= self.max_devices {
                self.devices.retain(|_, b| !b.is_full(now));
            }
            if self.devices.len() < self.max_devices || self.devices.contains_key(id) {
                let b = self.devices.entry(*id).or_insert_with(|| {
                    TokenBucket::new(self.limits.device_rate, self.limits.device_burst, now)
                });
                if !b.try_take(now) {
                    return Err(Limit::Device);
                }
                own = Some(*id);
            }
        }
        if !self.global.try_take(now) {
            if let Some(b) = own.and_then(|id| self.devices.get_mut(&id)) {
                b.give_back();
            }
            return Err(Limit::Global);
        }
        Ok(())
    }

    /// Devices with a bucket.
    pub fn tracked(&self) -> usize {
        self.devices.len()
    }
}

/// What the listener logs about refused and dropped messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// The first refusal of a device in an interval (None: a topic that
    /// names no device).
    Refused {
        /// The device of the topic.
        device: Option<Id>,
        /// Why.
        error: String,
    },
    /// Further refusals of a device in the interval that ended, not logged
    /// one by one.
    Suppressed {
        /// The device.
        device: Option<Id>,
        /// How many.
        count: u64,
    },
    /// Refusals of devices that got no line of their own in the interval
    /// that ended (the line budget was spent).
    Unlogged {
        /// How many refusals.
        count: u64,
    },
    /// Messages the rate limits dropped in the interval that ended.
    Dropped {
        /// By the per-device limit.
        device: u64,
        /// By the global limit.
        global: u64,
    },
}

/// Sampled logging of refusals: at most `max_lines` devices get a line of
/// their own per interval, each one at most once (its further refusals
/// are counted and reported when the interval ends), plus one line for
/// the rest and one for drops. So at most `2 * max_lines + 2` lines per
/// interval, whatever arrives.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    max_lines: usize,
    started: Instant,
    /// Devices that got a line this interval, and their refusals since.
    devices: HashMap<Option<Id>, u64>,
    unlogged: u64,
    dropped_device: u64,
    dropped_global: u64,
}

/// Interval of [`RefusalLog`].
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Devices with a line of their own per interval.
pub const LOG_LINES: usize = 20;

impl RefusalLog {
    /// Start an interval now.
    pub fn new(interval: Duration, max_lines: usize, now: Instant) -> RefusalLog {
        RefusalLog {
            interval,
            max_lines,
            started: now,
            devices: HashMap::new(),
            unlogged: 0,
            dropped_device: 0,
            dropped_global: 0,
        }
    }

    /// The interval's summary lines if it ended, and a new interval.
    pub fn tick(&mut self, now: Instant) -> Vec<LogLine> {
        if now.saturating_duration_since(self.started) < self.interval {
            return Vec::new();
        }
        let mut out: Vec<LogLine> = self
            .devices
            .drain()
            .filter(|(_, n)| *n > 1)
            .map(|(device, n)| LogLine::Suppressed {
                device,
                count: n - 1,
            })
            .collect();
        if self.unlogged > 0 {
            out.push(LogLine::Unlogged {
                count: self.unlogged,
            });
        }
        if self.dropped_device + self.dropped_global > 0 {
            out.push(LogLine::Dropped {
                device: self.dropped_device,
                global: self.dropped_global,
            });
        }
        self.unlogged = 0;
        self.dropped_device = 0;
        self.dropped_global = 0;
        self.started = now;
        out
    }

    /// A refusal: the lines to log now.
    pub fn refused(
        &mut self,
        device: Option<Id>,
        error: &dyn std::fmt::Display,
        now: Instant,
    ) -> Vec<LogLine> {
        let mut out = self.tick(now);
        if let Some(n) = self.devices.get_mut(&device) {
            *n += 1;
        } else if self.devices.len() < self.max_lines {
            self.devices.insert(device, 1);
            out.push(LogLine::Refused {
                device,
                error: error.to_string(),
            });
        } else {
            self.unlogged += 1;
        }
        out
    }

    /// A message dropped by a rate limit: the lines to log now.
    pub fn dropped(&mut self, limit: Limit, now: Instant) -> Vec<LogLine> {
        let out = self.tick(now);
        match limit {
            Limit::Device => self.dropped_device += 1,
            Limit::Global => self.dropped_global += 1,
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Id {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Id(b)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 5, t0);
        assert!((0..5).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        // 2 per second: one token after 500 ms, not before.
        assert!(!b.try_take(t0 + Duration::from_millis(400)));
        assert!(b.try_take(t0 + Duration::from_millis(510)));
        assert!(!b.try_take(t0 + Duration::from_millis(510)));
        // Never more than the burst, however long it waited.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.is_full(later));
        assert_eq!((0..10).filter(|_| b.try_take(later)).count(), 5);
        // A clock that goes backwards adds nothing.
        assert!(!b.try_take(t0));
    }

    #[test]
    fn a_zero_rate_bucket_never_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(1000)));
    }

    #[test]
    fn one_device_cannot_use_up_the_global_budget() {
        let t0 = Instant::now();
        let limits = AnnounceLimits {
            device_rate: 1.0,
            device_burst: 3,
            global_rate: 10.0,
        };
        let mut l = AnnounceLimiter::new(limits, t0);
        let flood = id(1);
        let results: Vec<_> = (0..1000).map(|_| l.check(Some(&flood), t0)).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
        assert!(results[3..].iter().all(|r| *r == Err(Limit::Device)));
        // Another device still gets through.
        assert_eq!(l.check(Some(&id(2)), t0), Ok(()));
        // After a second the flooding device has one more token.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(Some(&flood), t1), Ok(()));
        assert_eq!(l.check(Some(&flood), t1), Err(Limit::Device));
    }

    #[test]
    fn many_devices_hit_the_global_limit_and_keep_their_own_tokens() {
        let t0 = Instant::now();
        let limits = AnnounceLimits {
            device_rate: 1.0,
            device_burst: 2,
            global_rate: 5.0,
        };
        let mut l = AnnounceLimiter::new(limits, t0);
        let passed = (0..100)
            .filter(|n| l.check(Some(&id(*n)), t0).is_ok())
            .count();
        assert_eq!(passed, 5);
        assert_eq!(l.check(Some(&id(99)), t0), Err(Limit::Global));
        // Device 99 was dropped by the global limit: its own bucket was
        // given its tokens back, so once the global bucket refills it
        // passes twice.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(Some(&id(99)), t1), Ok(()));
        assert_eq!(l.check(Some(&id(99)), t1), Ok(()));
        assert_eq!(l.check(Some(&id(99)), t1), Err(Limit::Device));
        // A topic without a device counts against the global limit only.
        let t2 = t0 + Duration::from_secs(10);
        assert_eq!(
            (0..10).filter(|_| l.check(None, t2).is_ok()).count(),
            5,
            "global burst"
        );
    }

    #[test]
    fn the_device_table_is_bounded() {
        let t0 = Instant::now();
        let limits = AnnounceLimits {
            device_rate: 1.0,
            device_burst: 1,
            global_rate: 1e9,
        };
        let mut l = AnnounceLimiter::with_capacity(limits, 10, t0);
        for n in 0..1000 {
            assert_eq!(l.check(Some(&id(n)), t0), Ok(()));
        }
        assert!(l.tracked() <= 10, "{}", l.tracked());
        // Buckets that refilled are forgotten to make room.
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(l.check(Some(&id(5000)), t1), Ok(()));
        assert_eq!(l.check(Some(&id(5000)), t1), Err(Limit::Device));
        assert!(l.tracked() <= 10);
    }

    #[test]
    fn refusals_are_logged_once_per_device_per_interval_with_a_count() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new(Duration::from_secs(10), 3, t0);
        let mut lines = Vec::new();
        for _ in 0..500 {
            lines.extend(log.refused(Some(id(1)), &"forged", t0));
        }
        lines.extend(log.refused(Some(id(2)), &"stale", t0));
        assert_eq!(
            lines,
            vec![
                LogLine::Refused {
                    device: Some(id(1)),
                    error: "forged".into()
                },
                LogLine::Refused {
                    device: Some(id(2)),
                    error: "stale".into()
                },
            ]
        );
        // Nothing until the interval ends, then the count of what was not
        // logged.
        assert!(log.tick(t0 + Duration::from_secs(9)).is_empty());
        let end = log.tick(t0 + Duration::from_secs(10));
        assert_eq!(
            end,
            vec![LogLine::Suppressed {
                device: Some(id(1)),
                count: 499
            }]
        );
        // A new interval: device 1 gets a line again.
        let again = log.refused(Some(id(1)), &"forged", t0 + Duration::from_secs(11));
        assert_eq!(again.len(), 1);
        assert!(log.tick(t0 + Duration::from_secs(12)).is_empty());
    }

    #[test]
    fn lines_per_interval_are_bounded_whatever_the_number_of_devices() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new(Duration::from_secs(10), 5, t0);
        let mut lines = Vec::new();
        for n in 0..10_000 {
            lines.extend(log.refused(Some(id(n)), &"unknown device", t0));
            lines.extend(log.refused(Some(id(n % 3)), &"forged", t0));
        }
        for _ in 0..7 {
            lines.extend(log.dropped(Limit::Device, t0));
        }
        lines.extend(log.dropped(Limit::Global, t0));
        assert_eq!(lines.len(), 5);
        let end = log.tick(t0 + Duration::from_secs(10));
        assert!(end.len() <= 5 + 2, "{end:?}");
        let suppressed: u64 = end
            .iter()
            .map(|l| match l {
                LogLine::Suppressed { count, .. } | LogLine::Unlogged { count } => *count,
                _ => 0,
            })
            .sum();
        // Every refusal is either a line or counted in one.
        assert_eq!(suppressed + 5, 20_000);
        assert!(end.contains(&LogLine::Dropped {
            device: 7,
            global: 1
        }));
    }
}
