//! Timestamps, the injectable clock, and E4's two freshness checks.

use crate::error::Error;
use core::cell::Cell;

/// Length of a wire timestamp (little-endian unix seconds).
pub const TIMESTAMP_LEN: usize = 8;
/// How far in the past a message or command timestamp may be (seconds).
pub const MAX_MESSAGE_AGE: i64 = 600;
/// How long a replaced topic key stays usable (seconds).
pub const TRANSITION_PERIOD: i64 = 3600;

/// A source of the current unix time in seconds.
///
/// E4's reference client reads a clock with sub-second precision and its
/// checks behave as if the current second had already begun: a timestamp
/// equal to `now` is accepted, `now - 600` is already too old.
pub trait Clock {
    /// Current unix time in whole seconds.
    fn now(&self) -> u64;
}

/// A clock that returns a settable value: for tests, vectors and scripts.
#[derive(Debug, Default)]
pub struct FixedClock(Cell<u64>);

impl FixedClock {
    /// A clock stopped at `now`.
    pub const fn new(now: u64) -> FixedClock {
        FixedClock(Cell::new(now))
    }
    /// Move the clock.
    pub fn set(&self, now: u64) {
        self.0.set(now)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0.get()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

/// The system clock.
#[cfg(feature = "std")]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Encode a timestamp.
pub fn encode(ts: u64) -> [u8; TIMESTAMP_LEN] {
    ts.to_le_bytes()
}

/// Decode the first 8 bytes of `bytes` (caller checked the length).
pub fn decode(bytes: &[u8]) -> u64 {
    let mut b = [0u8; TIMESTAMP_LEN];
    b.copy_from_slice(&bytes[..TIMESTAMP_LEN]);
    u64::from_le_bytes(b)
}

/// e4go's window check: accept `now - max_age < ts <= now`, where `ts` is
/// read as a signed 64-bit value (a top bit set makes it "too old").
fn check_window(ts: u64, now: u64, max_age: i64) -> Result<(), Error> {
    let ts = ts as i64;
    let now = now as i64;
    if ts > now {
        return Err(Error::TimestampInFuture);
    }
    if ts <= now.saturating_sub(max_age) {
        return Err(Error::TimestampTooOld);
    }
    Ok(())
}

/// Freshness of a message or command timestamp (600 s window, no future).
pub fn check_message(ts: u64, now: u64) -> Result<(), Error> {
    check_window(ts, now, MAX_MESSAGE_AGE)
}

/// Validity of a transition (previous) key set at `set_at` (3600 s).
pub fn check_transition(set_at: u64, now: u64) -> Result<(), Error> {
    check_window(set_at, now, TRANSITION_PERIOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_match_e4go() {
        let now = 1_800_000_000;
        assert_eq!(check_message(now, now), Ok(()));
        assert_eq!(check_message(now - 599, now), Ok(()));
        assert_eq!(check_message(now - 600, now), Err(Error::TimestampTooOld));
        assert_eq!(check_message(now + 1, now), Err(Error::TimestampInFuture));
        assert_eq!(check_message(0, now), Err(Error::TimestampTooOld));
        assert_eq!(
            check_message(now | (1 << 63), now),
            Err(Error::TimestampTooOld)
        );
        assert_eq!(check_transition(now - 3599, now), Ok(()));
        assert_eq!(
            check_transition(now - 3600, now),
            Err(Error::TimestampTooOld)
        );
        assert_eq!(
            check_transition(now + 5, now),
            Err(Error::TimestampInFuture)
        );
    }

    #[test]
    fn fixed_clock_moves() {
        let c = FixedClock::new(5);
        assert_eq!(c.now(), 5);
        c.set(9);
        assert_eq!((&c).now(), 9);
        assert_eq!(
            decode(&encode(0x0102_0304_0506_0708)),
            0x0102_0304_0506_0708
        );
    }
}
