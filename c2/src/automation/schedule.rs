//! Schedules in UTC: a cron expression with seconds (parsed by the `cron`
//! crate) or a fixed interval. A schedule is a set of slots, instants in
//! unix ms; every C2 process computes the same slots (intervals count from
//! the unix epoch), so a slot names one fire across processes and restarts.

use crate::error::{C2Error, C2Result};
use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The fields of a cron expression, in order.
const FIELDS: [&str; 7] = [
    "seconds",
    "minutes",
    "hours",
    "day of month",
    "month",
    "day of week",
    "year",
];

/// What each field takes (`*`, lists `a,b`, ranges `a-b` and steps `*/n`
/// of these).
const RANGES: [&str; 7] = [
    "0-59",
    "0-59",
    "0-23",
    "1-31",
    "1-12 or JAN-DEC",
    "1-7 or SUN-SAT",
    "a year, 1970-2100",
];

/// A schedule.
#[derive(Clone)]
pub enum Schedule {
    /// Every `interval`, at the multiples of it since the epoch.
    Every(Duration),
    /// A cron expression (its source text kept for display).
    Cron(String, Box<cron::Schedule>),
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.to_string() == other.to_string()
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every:{}", humantime::format_duration(*d)),
            Schedule::Cron(src, _) => write!(f, "cron:{src}"),
        }
    }
}

impl Schedule {
    /// A fixed interval.
    pub fn every(d: Duration) -> Schedule {
        Schedule::Every(d)
    }

    /// A cron expression: seconds, minutes, hours, day of month, month, day
    /// of week and an optional year. An error quotes the field at fault.
    pub fn cron(expr: &str) -> C2Result<Schedule> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(C2Error::invalid(format!(
                "cron expression {expr:?} has {} fields; it needs 6 or 7 ({}), e.g. \"0 */5 * * * *\"",
                fields.len(),
                FIELDS.join(", ")
            )));
        }
        let canonical = fields.join(" ");
        match cron::Schedule::from_str(&canonical) {
            Ok(s) => {
                if s.upcoming(Utc).next().is_none() {
                    return Err(C2Error::invalid(format!(
                        "cron expression {expr:?} has no future slot"
                    )));
                }
                Ok(Schedule::Cron(canonical, Box::new(s)))
            }
            Err(e) => {
                // Find the field: the one whose replacement by `*` makes
                // the expression valid.
                let culprit = (0..fields.len()).find(|&i| {
                    let mut f = fields.clone();
                    f[i] = "*";
                    if i == 3 || i == 5 {
                        // day of month and day of week: one may need `?`
                        f[if i == 3 { 5 } else { 3 }] = "*";
                    }
                    cron::Schedule::from_str(&f.join(" ")).is_ok()
                });
                // The crate's own message spans lines (the expression, a
                // caret) and can misstate the range: one line of ours.
                let _ = e;
                Err(C2Error::invalid(match culprit {
                    Some(i) => format!(
                        "cron expression {expr:?}: field {} ({}) {:?} is not valid (expected {})",
                        i + 1,
                        FIELDS[i],
                        fields[i],
                        RANGES[i]
                    ),
                    None => format!(
                        "cron expression {expr:?} is not valid (fields: {})",
                        FIELDS.join(", ")
                    ),
                }))
            }
        }
    }

    /// The first slot strictly after `after_ms`.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(d) => {
                let iv = d.as_millis().max(1) as i64;
                Some((after_ms.div_euclid(iv) + 1) * iv)
            }
            Schedule::Cron(_, s) => {
                let t = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
                s.after(&t).next().map(|d| d.timestamp_millis())
            }
        }
    }

    /// The shortest gap between two slots (for the fleet-rate check): the
    /// interval, or the least gap among a cron schedule's next 64 slots.
    pub fn shortest_gap(&self, from_ms: i64) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron(..) => {
                let mut t = from_ms;
                let mut least = i64::MAX;
                let mut prev = None;
                for _ in 0..64 {
                    let Some(n) = self.next_after(t) else { break };
                    if let Some(p) = prev {
                        least = least.min(n - p);
                    }
                    prev = Some(n);
                    t = n;
                }
                Duration::from_millis(if least == i64::MAX {
                    1000
                } else {
                    least as u64
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_count_from_the_epoch() {
        let s = Schedule::every(Duration::from_secs(2));
        assert_eq!(s.next_after(0), Some(2000));
        assert_eq!(s.next_after(1999), Some(2000));
        assert_eq!(s.next_after(2000), Some(4000));
        assert_eq!(s.shortest_gap(0), Duration::from_secs(2));
    }

    #[test]
    fn cron_with_seconds() {
        let s = Schedule::cron("*/10 * * * * *").unwrap();
        assert_eq!(s.next_after(1_000), Some(10_000));
        assert_eq!(s.next_after(10_000), Some(20_000));
        assert_eq!(s.shortest_gap(0), Duration::from_secs(10));
        // 2026-12-08T03:00:00Z
        let s = Schedule::cron("0 0 3 * * *").unwrap();
        assert_eq!(s.next_after(1_796_684_400_000), Some(1_796_698_800_000));
        assert_eq!(s.to_string(), "cron:0 0 3 * * *");
    }

    #[test]
    fn errors_quote_the_field() {
        let e = Schedule::cron("0 61 * * * *").unwrap_err().to_string();
        assert!(e.contains("field 2 (minutes) \"61\""), "{e}");
        let e = Schedule::cron("0 0 25 * * *").unwrap_err().to_string();
        assert!(e.contains("field 3 (hours) \"25\""), "{e}");
        let e = Schedule::cron("0 0 0 * Foo *").unwrap_err().to_string();
        assert!(e.contains("(month) \"Foo\""), "{e}");
        let e = Schedule::cron("* * * * *").unwrap_err().to_string();
        assert!(e.contains("has 5 fields"), "{e}");
        let e = Schedule::cron("0 0 0 1 1 * 2001").unwrap_err().to_string();
        assert!(e.contains("no future slot"), "{e}");
    }
}
