//! What to do on a topic the client has no key for.
//!
//! E4's rule, and the default here, is strict: a message for a topic
//! without a key is neither sent nor accepted in cleartext. Cleartext can be
//! allowed per topic (MQTT filters such as `public/#` or `+/status`), for
//! deployments that mix protected and public topics. A topic that has a key
//! is always protected, whatever the policy, and a cleartext message on it
//! is refused: the policy cannot be used to downgrade a protected topic.

use std::collections::BTreeSet;

/// Per-topic cleartext opt-ins. The default allows none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPolicy {
    cleartext: BTreeSet<String>,
}

impl TopicPolicy {
    /// The strict policy: no cleartext anywhere.
    pub fn strict() -> TopicPolicy {
        TopicPolicy::default()
    }

    /// Allow cleartext on the topics matching `filter` (MQTT syntax: `+`
    /// matches one level, a final `#` any number of levels). Returns false
    /// if the filter is malformed or breaks the topic-name rules
    /// ([`valid_filter`]), and changes nothing.
    pub fn allow_cleartext(&mut self, filter: &str) -> bool {
        if !valid_filter(filter) {
            return false;
        }
        self.cleartext.insert(filter.to_owned());
        true
    }

    /// Withdraw a filter given to [`TopicPolicy::allow_cleartext`].
    pub fn disallow_cleartext(&mut self, filter: &str) -> bool {
        self.cleartext.remove(filter)
    }

    /// The cleartext filters.
    pub fn cleartext_filters(&self) -> impl Iterator<Item = &str> {
        self.cleartext.iter().map(String::as_str)
    }

    /// Whether a topic without a key may carry cleartext.
    pub fn allows_cleartext(&self, topic: &str) -> bool {
        self.cleartext.iter().any(|f| filter_matches(f, topic))
    }
}

/// Whether `filter` is a well-formed MQTT topic filter that passes the
/// topic-name rules ([`e4_proto::topic_name::check_topic_filter`]: no
/// control character, wildcards only as whole levels, not under the
/// reserved `e4/` and `e4c2/`).
pub fn valid_filter(filter: &str) -> bool {
    e4_proto::topic_name::check_topic_filter(filter).is_ok()
}

/// MQTT filter matching (topics starting with `$` are not matched by
/// wildcards at the first level, as brokers do).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_mqtt() {
        assert!(filter_matches("a/b", "a/b"));
        assert!(!filter_matches("a/b", "a/b/c"));
        assert!(filter_matches("a/+", "a/b"));
        assert!(!filter_matches("a/+", "a/b/c"));
        assert!(filter_matches("a/#", "a/b/c"));
        assert!(filter_matches("a/#", "a"));
        assert!(filter_matches("#", "x/y"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(filter_matches("+/+", "/x"));
    }

    #[test]
    fn strict_by_default_and_malformed_filters_refused() {
        let mut p = TopicPolicy::strict();
        assert!(!p.allows_cleartext("news"));
        assert!(!p.allow_cleartext("a/#/b"));
        assert!(!p.allow_cleartext("a+"));
        assert!(!p.allow_cleartext(""));
        assert!(!p.allow_cleartext("a\nb/#"));
        assert!(!p.allow_cleartext("e4/#"));
        assert!(!p.allow_cleartext("e4c2/announce/+"));
        assert_eq!(p, TopicPolicy::strict());
        assert!(p.allow_cleartext("public/#"));
        assert!(p.allows_cleartext("public/news"));
        assert!(!p.allows_cleartext("private/news"));
        assert!(p.disallow_cleartext("public/#"));
        assert!(!p.allows_cleartext("public/news"));
    }
}
