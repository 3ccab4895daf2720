//! What a rule is: a target, one or more triggers and an action, each with
//! one canonical text form that the REST and gRPC APIs, the CLI and the
//! database all use (`topic:sensors/t`, `every:2s`, `rotate-topic-key`).
//! Parsing checks the form; [`RuleSpec::check`] checks that the parts fit
//! together (an action the target cannot take is refused here, before any
//! row is written).

use super::schedule::Schedule;
use crate::error::{C2Error, C2Result};
use crate::model::check_topic;
use crate::negotiation::parse_suite_name;
use e4_proto::suite::Family;
use e4_proto::SuiteId;
use std::fmt;
use std::time::Duration;

/// Longest rule name.
pub const MAX_NAME: usize = 64;
/// Shortest interval of an `every:` trigger.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What a rule acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One topic.
    Topic(String),
    /// One client, by name.
    Client(String),
    /// Every topic.
    AllTopics,
    /// Every client.
    AllClients,
    /// The clients of one suite.
    Suite(SuiteId),
}

/// The kinds of change an event trigger reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTrigger {
    /// A client joined a topic.
    ClientJoined,
    /// A client left a topic (removed from it, or by an upgrade).
    ClientLeft,
    /// A client was removed.
    ClientRemoved,
    /// A suite upgrade committed (the device confirmed).
    SuiteUpgraded,
    /// A client was flagged below the policy minimum.
    BelowMinimum,
}

impl EventTrigger {
    /// Every kind.
    pub const ALL: [EventTrigger; 5] = [
        EventTrigger::ClientJoined,
        EventTrigger::ClientLeft,
        EventTrigger::ClientRemoved,
        EventTrigger::SuiteUpgraded,
        EventTrigger::BelowMinimum,
    ];

    /// The text form (also the `rule_events.kind` column).
    pub fn name(self) -> &'static str {
        match self {
            EventTrigger::ClientJoined => "client_joined",
            EventTrigger::ClientLeft => "client_left",
            EventTrigger::ClientRemoved => "client_removed",
            EventTrigger::SuiteUpgraded => "suite_upgraded",
            EventTrigger::BelowMinimum => "below_minimum",
        }
    }

    /// From the text form.
    pub fn from_name(s: &str) -> Option<EventTrigger> {
        EventTrigger::ALL.into_iter().find(|k| k.name() == s)
    }

    /// A change of topic membership (what count triggers count).
    pub fn is_membership(self) -> bool {
        matches!(self, EventTrigger::ClientJoined | EventTrigger::ClientLeft)
    }
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// On a schedule (cron with seconds, or a fixed interval), in UTC.
    Schedule(Schedule),
    /// On each event of a kind, about the target.
    Event(EventTrigger),
    /// When a key of the target is older than this.
    KeyAge(Duration),
    /// After this many membership changes within the target.
    Count(u64),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new topic key, SetTopicKey to every member.
    RotateTopicKey,
    /// A new identity key for each client: SetIdKey (symmetric and
    /// public-key suites), or a rekey request (Renegotiate with the rekey
    /// flag) to a KEM suite's devices, which make their own keys.
    NewClientKey,
    /// A new C2 key pair (per suite), SetC2Key to its clients.
    RotateC2Key,
    /// Remove each client from this topic.
    RemoveFromTopic(String),
    /// Ask each client to announce itself again (Renegotiate, opcode
    /// 0x0A), so that the fleet policy of now applies to it; clients that
    /// never announced (e4go, libe4) are skipped.
    Renegotiate,
}

/// What to do with slots that passed while no C2 ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Fire once for all of them, on start.
    FireOnce,
    /// Skip them (the history says so).
    Skip,
}

/// A rule as an operator writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// Unique name.
    pub name: String,
    /// What it acts on.
    pub target: Target,
    /// When it fires (at least one).
    pub triggers: Vec<Trigger>,
    /// What it does.
    pub action: Action,
    /// Missed slots.
    pub missed: Missed,
}

fn split(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (s.trim(), None),
    }
}

fn need<'a>(what: &str, text: &str, v: Option<&'a str>) -> C2Result<&'a str> {
    v.filter(|v| !v.is_empty())
        .ok_or_else(|| C2Error::invalid(format!("{what} {text:?} needs a value after ':'")))
}

fn no_value(what: &str, text: &str, v: Option<&str>) -> C2Result<()> {
    match v {
        None => Ok(()),
        Some(_) => Err(C2Error::invalid(format!(
            "{what} {text:?} takes no value after ':'"
        ))),
    }
}

/// A duration in humantime form (`2s`, `1h 30m`, `30d`).
pub fn parse_duration(what: &str, text: &str) -> C2Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| C2Error::invalid(format!("{what} {text:?}: {e} (e.g. 30s, 15m, 12h, 30d)")))
}

impl Target {
    /// Parse `topic:NAME`, `client:NAME`, `all-topics`, `all-clients` or
    /// `suite:NAME`.
    pub fn parse(text: &str) -> C2Result<Target> {
        let (k, v) = split(text);
        let t = match k {
            "topic" => {
                let name = need("target", text, v)?;
                check_topic(name)?;
                Target::Topic(name.to_string())
            }
            "client" => Target::Client(need("target", text, v)?.to_string()),
            "all-topics" => {
                no_value("target", text, v)?;
                Target::AllTopics
            }
            "all-clients" => {
                no_value("target", text, v)?;
                Target::AllClients
            }
            "suite" => Target::Suite(parse_suite_name(need("target", text, v)?)?),
            _ => {
                return Err(C2Error::invalid(format!(
                    "unknown target {text:?} (topic:NAME, client:NAME, all-topics, all-clients, suite:NAME)"
                )))
            }
        };
        Ok(t)
    }

    /// Whether it names topics (else clients).
    pub fn is_topics(&self) -> bool {
        matches!(self, Target::Topic(_) | Target::AllTopics)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Topic(t) => write!(f, "topic:{t}"),
            Target::Client(c) => write!(f, "client:{c}"),
            Target::AllTopics => f.write_str("all-topics"),
            Target::AllClients => f.write_str("all-clients"),
            Target::Suite(s) => write!(f, "suite:{}", s.name()),
        }
    }
}

impl Trigger {
    /// Parse `every:DURATION`, `cron:EXPR`, `event:KIND`, `key-age:DURATION`
    /// or `count:N`.
    pub fn parse(text: &str) -> C2Result<Trigger> {
        let (k, v) = split(text);
        Ok(match k {
            "every" => {
                let d = parse_duration("interval", need("trigger", text, v)?)?;
                if d < MIN_INTERVAL {
                    return Err(C2Error::invalid(format!(
                        "trigger {text:?}: the shortest interval is {}",
                        humantime::format_duration(MIN_INTERVAL)
                    )));
                }
                Trigger::Schedule(Schedule::every(d))
            }
            "cron" => Trigger::Schedule(Schedule::cron(need("trigger", text, v)?)?),
            "event" => {
                let name = need("trigger", text, v)?;
                let kind = EventTrigger::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = EventTrigger::ALL.iter().map(|k| k.name()).collect();
                    C2Error::invalid(format!("unknown event {name:?} ({})", known.join(", ")))
                })?;
                Trigger::Event(kind)
            }
            "key-age" => {
                let d = parse_duration("key age", need("trigger", text, v)?)?;
                if d < MIN_INTERVAL {
                    return Err(C2Error::invalid(format!(
                        "trigger {text:?}: a key age is at least 1s"
                    )));
                }
                Trigger::KeyAge(d)
            }
            "count" => {
                let n = need("trigger", text, v)?;
                match n.parse::<u64>() {
                    Ok(n) if n > 0 => Trigger::Count(n),
                    _ => {
                        return Err(C2Error::invalid(format!(
                            "trigger {text:?}: the count is a whole number above 0"
                        )))
                    }
                }
            }
            _ => {
                return Err(C2Error::invalid(format!(
                    "unknown trigger {text:?} (every:DURATION, cron:EXPR with seconds, event:KIND, key-age:DURATION, count:N)"
                )))
            }
        })
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Schedule(s) => write!(f, "{s}"),
            Trigger::Event(k) => write!(f, "event:{}", k.name()),
            Trigger::KeyAge(d) => write!(f, "key-age:{}", humantime::format_duration(*d)),
            Trigger::Count(n) => write!(f, "count:{n}"),
        }
    }
}

impl Action {
    /// Parse `rotate-topic-key`, `new-client-key`, `rotate-c2-key` or
    /// `remove-from-topic:NAME`.
    pub fn parse(text: &str) -> C2Result<Action> {
        let (k, v) = split(text);
        let a = match k {
            "rotate-topic-key" => Action::RotateTopicKey,
            "new-client-key" => Action::NewClientKey,
            "rotate-c2-key" => Action::RotateC2Key,
            "renegotiate" => Action::Renegotiate,
            "remove-from-topic" => {
                let t = need("action", text, v)?;
                check_topic(t)?;
                return Ok(Action::RemoveFromTopic(t.to_string()));
            }
            _ => {
                return Err(C2Error::invalid(format!(
                    "unknown action {text:?} (rotate-topic-key, new-client-key, rotate-c2-key, remove-from-topic:TOPIC, renegotiate)"
                )))
            }
        };
        no_value("action", text, v)?;
        Ok(a)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RotateTopicKey => f.write_str("rotate-topic-key"),
            Action::NewClientKey => f.write_str("new-client-key"),
            Action::RotateC2Key => f.write_str("rotate-c2-key"),
            Action::RemoveFromTopic(t) => write!(f, "remove-from-topic:{t}"),
            Action::Renegotiate => f.write_str("renegotiate"),
        }
    }
}

impl Missed {
    /// Parse `fire-once` or `skip`.
    pub fn parse(text: &str) -> C2Result<Missed> {
        match text.trim() {
            "fire-once" => Ok(Missed::FireOnce),
            "skip" => Ok(Missed::Skip),
            _ => Err(C2Error::invalid(format!(
                "missed slots: {text:?} is neither fire-once nor skip"
            ))),
        }
    }

    /// The text form.
    pub fn name(self) -> &'static str {
        match self {
            Missed::FireOnce => "fire-once",
            Missed::Skip => "skip",
        }
    }
}

/// A suite whose devices C2 gives keys to (SetIdKey), rather than asking
/// them to rekey.
fn c2_sets_keys(s: SuiteId) -> bool {
    s.family() != Family::Kem
}

impl RuleSpec {
    /// From the text forms; every part is checked, then how they fit.
    pub fn parse(
        name: &str,
        target: &str,
        triggers: &[String],
        action: &str,
        missed: Option<&str>,
    ) -> C2Result<RuleSpec> {
        let spec = RuleSpec {
            name: name.trim().to_string(),
            target: Target::parse(target)?,
            triggers: triggers
                .iter()
                .map(|t| Trigger::parse(t))
                .collect::<C2Result<_>>()?,
            action: Action::parse(action)?,
            missed: match missed.filter(|m| !m.is_empty()) {
                Some(m) => Missed::parse(m)?,
                None => Missed::FireOnce,
            },
        };
        spec.check()?;
        Ok(spec)
    }

    /// A stored rule's spec (stored rules were checked when written; a row
    /// that no longer parses, e.g. naming a suite this build lacks, is an
    /// error for that rule only).
    pub fn from_row(row: &crate::db::rules::RuleRow) -> C2Result<RuleSpec> {
        let triggers: Vec<String> = row.triggers.lines().map(str::to_string).collect();
        RuleSpec::parse(
            &row.name,
            &row.target,
            &triggers,
            &row.action,
            Some(&row.missed),
        )
    }

    /// How the parts fit together.
    pub fn check(&self) -> C2Result<()> {
        if self.name.is_empty()
            || self.name.len() > MAX_NAME
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(C2Error::invalid(format!(
                "rule name {:?}: 1 to {MAX_NAME} letters, digits, '-', '_' or '.'",
                self.name
            )));
        }
        if self.triggers.is_empty() {
            return Err(C2Error::invalid("a rule needs at least one trigger"));
        }
        if self.triggers.len() > 8 {
            return Err(C2Error::invalid("a rule has at most 8 triggers"));
        }
        match (&self.action, &self.target) {
            // Events about a client name the topics they concern.
            (Action::RotateTopicKey, t)
                if !t.is_topics()
                    && !self.triggers.iter().all(|t| matches!(t, Trigger::Event(_))) =>
            {
                return Err(C2Error::invalid(format!(
                    "rotate-topic-key acts on topics; target {} names clients (only event triggers, which name their topics, fit it)",
                    self.target
                )));
            }
            (Action::NewClientKey | Action::RemoveFromTopic(_) | Action::Renegotiate, t)
                if t.is_topics() =>
            {
                return Err(C2Error::invalid(format!(
                    "{} acts on clients; target {} names topics",
                    self.action, self.target
                )));
            }
            (Action::NewClientKey, Target::Suite(s))
                if !c2_sets_keys(*s)
                    && self
                        .triggers
                        .iter()
                        .any(|t| matches!(t, Trigger::KeyAge(_))) =>
            {
                return Err(C2Error::invalid(format!(
                    "new-client-key: suite {} devices make their own keys and a rekey changes their \
                     key age only once confirmed; use every: or cron: triggers to ask them to rekey",
                    s.name()
                )));
            }
            (Action::RotateC2Key, Target::Suite(s)) if s.family() == Family::E4Symmetric => {
                return Err(C2Error::invalid(
                    "rotate-c2-key: the symmetric suite has no C2 key",
                ));
            }
            (Action::RotateC2Key, Target::Topic(_) | Target::AllTopics | Target::Client(_)) => {
                return Err(C2Error::invalid(format!(
                    "rotate-c2-key acts on a suite's clients (all-clients or suite:NAME), not {}",
                    self.target
                )));
            }
            _ => {}
        }
        for t in &self.triggers {
            match t {
                Trigger::KeyAge(_)
                    if matches!(
                        self.action,
                        Action::RemoveFromTopic(_) | Action::Renegotiate
                    ) =>
                {
                    return Err(C2Error::invalid(format!(
                        "key-age triggers rotate keys; {} has no key to age",
                        self.action
                    )))
                }
                Trigger::Event(EventTrigger::ClientRemoved)
                    if matches!(
                        self.action,
                        Action::NewClientKey | Action::RemoveFromTopic(_) | Action::Renegotiate
                    ) =>
                {
                    return Err(C2Error::invalid(format!(
                        "event:client_removed: {} cannot act on a client that no longer exists",
                        self.action
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The schedule triggers.
    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.triggers.iter().filter_map(|t| match t {
            Trigger::Schedule(s) => Some(s),
            _ => None,
        })
    }

    /// The first slot strictly after `after_ms` over all schedules.
    pub fn next_slot(&self, after_ms: i64) -> Option<i64> {
        self.schedules()
            .filter_map(|s| s.next_after(after_ms))
            .min()
    }

    /// Triggers, one per line (the database's form).
    pub fn triggers_text(&self) -> String {
        self.triggers
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(target: &str, triggers: &[&str], action: &str) -> C2Result<RuleSpec> {
        let t: Vec<String> = triggers.iter().map(|s| s.to_string()).collect();
        RuleSpec::parse("r1", target, &t, action, None)
    }

    fn err(r: C2Result<RuleSpec>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn text_forms_round_trip() {
        let s = spec(
            "topic:a/b",
            &[
                "every:2s",
                "cron:0 */5 * * * *",
                "event:client_left",
                "key-age:30days",
                "count:10",
            ],
            "rotate-topic-key",
        )
        .unwrap();
        assert_eq!(s.target.to_string(), "topic:a/b");
        assert_eq!(
            s.triggers_text(),
            "every:2s\ncron:0 */5 * * * *\nevent:client_left\nkey-age:30days\ncount:10"
        );
        let again: Vec<String> = s.triggers.iter().map(|t| t.to_string()).collect();
        let s2 = RuleSpec::parse("r1", "topic:a/b", &again, "rotate-topic-key", None).unwrap();
        assert_eq!(s, s2);
        for a in [
            "rotate-topic-key",
            "new-client-key",
            "rotate-c2-key",
            "remove-from-topic:x",
        ] {
            assert_eq!(Action::parse(a).unwrap().to_string(), a);
        }
        for t in [
            "topic:x",
            "client:d",
            "all-topics",
            "all-clients",
            "suite:pq",
        ] {
            assert_eq!(Target::parse(t).unwrap().to_string(), t);
        }
    }

    #[test]
    fn bad_parts_are_named() {
        assert!(err(spec("topics:x", &["every:2s"], "rotate-topic-key")).contains("unknown target"));
        assert!(err(spec("suite:nope", &["every:2s"], "rotate-c2-key")).contains("unknown suite"));
        assert!(err(spec("topic:x", &["every:0.5s"], "rotate-topic-key")).contains("every"));
        assert!(err(spec("topic:x", &["every:soon"], "rotate-topic-key")).contains("soon"));
        assert!(err(spec("topic:x", &["event:boom"], "rotate-topic-key")).contains("boom"));
        assert!(err(spec("topic:x", &["count:0"], "rotate-topic-key")).contains("above 0"));
        assert!(err(spec("topic:x", &[], "rotate-topic-key")).contains("at least one"));
        assert!(err(spec("topic:x", &["every:2s"], "rotate")).contains("unknown action"));
        assert!(err(spec("all-topics:x", &["every:2s"], "rotate-topic-key")).contains("no value"));
        let e = err(RuleSpec::parse(
            "bad name",
            "topic:x",
            &["every:2s".into()],
            "rotate-topic-key",
            None,
        ));
        assert!(e.contains("rule name"), "{e}");
    }

    #[test]
    fn actions_the_target_cannot_take_are_refused() {
        assert!(err(spec("topic:x", &["every:2s"], "new-client-key")).contains("acts on clients"));
        assert!(err(spec("client:d", &["every:2s"], "rotate-topic-key")).contains("acts on topics"));
        assert!(spec("client:d", &["event:client_left"], "rotate-topic-key").is_ok());
        assert!(err(spec("suite:pq", &["key-age:1d"], "new-client-key"))
            .contains("make their own keys"));
        assert!(spec("suite:pq", &["every:1h"], "new-client-key").is_ok());
        assert!(err(spec("suite:symmetric", &["every:2s"], "rotate-c2-key")).contains("no C2 key"));
        assert!(err(spec("topic:x", &["every:2s"], "rotate-c2-key")).contains("suite's clients"));
        assert!(
            err(spec("all-clients", &["key-age:1d"], "remove-from-topic:x")).contains("no key")
        );
        assert!(err(spec(
            "all-clients",
            &["event:client_removed"],
            "new-client-key"
        ))
        .contains("no longer"));
        assert!(spec("suite:pubkey", &["key-age:1d"], "new-client-key").is_ok());
    }
}
