//! Topic-name rules shared by C2, the client library and the `e4` tool.
//!
//! A topic name (what a message is published on, what a topic key is
//! for) passes [`check_topic_name`] when:
//!
//! - it is not empty and at most [`MAX_TOPIC_NAME_LEN`] (65535) bytes long,
//!   MQTT's limit;
//! - it contains no control character (NUL, the C0 controls U+0001..U+001F,
//!   DEL and the C1 controls U+0080..U+009F: [`char::is_control`]);
//! - it contains no MQTT wildcard (`+`, `#`);
//! - its first level is not `e4` (E4 control topics, `e4/<id>`) or `e4c2`
//!   (C2's topics, such as the suite announcements `e4c2/announce/<id>`).
//!
//! A subscription filter passes [`check_topic_filter`] under the same rules,
//! except that the wildcards are allowed where MQTT allows them: `+` as a
//! whole level (`a/+/b`), `#` as the whole last level (`a/#`, `#`). A
//! filter whose first level is literally `e4` or `e4c2` is refused; `#` or
//! `+/…` may match those topics, as any wildcard does.
//!
//! Everything else is allowed, spaces and any Unicode included. The checks
//! need neither `alloc` nor `std`. They are not applied by
//! [`crate::Client`]'s protect and unprotect, which stay byte-compatible
//! with e4go for any topic: applications check the names they are given.

use core::fmt;

/// The longest topic name or filter MQTT can carry, in bytes.
pub const MAX_TOPIC_NAME_LEN: usize = 65535;

/// First topic levels reserved for E4: `e4` (control topics) and `e4c2`
/// (C2's announcement topics).
pub const RESERVED_FIRST_LEVELS: [&str; 2] = ["e4", "e4c2"];

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicNameError {
    /// The topic is empty.
    Empty,
    /// Longer than [`MAX_TOPIC_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A control character ([`char::is_control`]).
    ControlCharacter {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// An MQTT wildcard in a topic name (where messages are published).
    Wildcard {
        /// `+` or `#`.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// A wildcard of a filter that is not a whole level (`+`), or not the
    /// whole last level (`#`).
    MisplacedWildcard {
        /// `+` or `#`.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// The first level is reserved for E4 (`e4`) or for C2 (`e4c2`).
    Reserved {
        /// The reserved first level.
        level: &'static str,
    },
}

impl fmt::Display for TopicNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicNameError::Empty => f.write_str("the topic is empty"),
            TopicNameError::TooLong { len } => write!(
                f,
                "the topic is {len} bytes long; MQTT allows at most {MAX_TOPIC_NAME_LEN}"
            ),
            TopicNameError::ControlCharacter { ch, at } => write!(
                f,
                "the topic contains a control character (U+{:04X}) at byte {at}",
                u32::from(*ch)
            ),
            TopicNameError::Wildcard { ch, at } => write!(
                f,
                "the topic contains the MQTT wildcard `{ch}` at byte {at}; \
                 wildcards are only allowed in subscription filters"
            ),
            TopicNameError::MisplacedWildcard { ch: '#', at } => write!(
                f,
                "the filter has `#` at byte {at}: `#` must be the whole last level (as in a/#)"
            ),
            TopicNameError::MisplacedWildcard { ch, at } => write!(
                f,
                "the filter has `{ch}` at byte {at}: `+` must be a whole level (as in a/+/b)"
            ),
            TopicNameError::Reserved { level: "e4" } => {
                f.write_str("topics under e4/ are reserved for E4 control topics")
            }
            TopicNameError::Reserved { level } => write!(
                f,
                "topics under {level}/ are reserved for C2 (suite announcements)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TopicNameError {}

/// Length, control characters and reserved first level: the rules topic
/// names and filters share.
fn check_common(topic: &str) -> Result<(), TopicNameError> {
    if topic.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if topic.len() > MAX_TOPIC_NAME_LEN {
        return Err(TopicNameError::TooLong { len: topic.len() });
    }
    if let Some((at, ch)) = topic.char_indices().find(|(_, c)| c.is_control()) {
        return Err(TopicNameError::ControlCharacter { ch, at });
    }
    let first = topic.split('/').next().unwrap_or("");
    if let Some(level) = RESERVED_FIRST_LEVELS.iter().find(|l| **l == first) {
        return Err(TopicNameError::Reserved { level });
    }
    Ok(())
}

/// Check a topic name an application publishes on or gives a key for (see
/// the [module documentation](self) for the rules).
pub fn check_topic_name(topic: &str) -> Result<(), TopicNameError> {
    check_common(topic)?;
    match topic.char_indices().find(|(_, c)| matches!(c, '+' | '#')) {
        Some((at, ch)) => Err(TopicNameError::Wildcard { ch, at }),
        None => Ok(()),
    }
}

/// Check a subscription filter: the rules of [`check_topic_name`], with
/// `+` allowed as a whole level and `#` as the whole last level.
pub fn check_topic_filter(filter: &str) -> Result<(), TopicNameError> {
    check_common(filter)?;
    let mut start = 0;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level != "+" && !(level == "#" && last) {
            if let Some((i, ch)) = level.char_indices().find(|(_, c)| matches!(c, '+' | '#')) {
                return Err(TopicNameError::MisplacedWildcard { ch, at: start + i });
            }
        }
        start += level.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[test]
    fn valid_names() {
        for t in [
            "sensors/temp",
            "a",
            "/",
            "/leading",
            "trailing/",
            "a//b",
            "with space/and ünïcødé/温度/🌡",
            "e4x/not-reserved",
            "E4/case-sensitive",
            "x/e4/inner",
            "$SYS/broker",
        ] {
            assert_eq!(check_topic_name(t), Ok(()), "{t:?}");
            assert_eq!(check_topic_filter(t), Ok(()), "{t:?}");
        }
        let longest = "a".repeat(MAX_TOPIC_NAME_LEN);
        assert_eq!(check_topic_name(&longest), Ok(()));
    }

    #[test]
    fn empty() {
        assert_eq!(check_topic_name(""), Err(TopicNameError::Empty));
        assert_eq!(check_topic_filter(""), Err(TopicNameError::Empty));
        assert_eq!(TopicNameError::Empty.to_string(), "the topic is empty");
    }

    #[test]
    fn too_long() {
        let t = "a".repeat(MAX_TOPIC_NAME_LEN + 1);
        let e = TopicNameError::TooLong { len: 65536 };
        assert_eq!(check_topic_name(&t), Err(e));
        assert_eq!(check_topic_filter(&t), Err(e));
        assert_eq!(
            e.to_string(),
            "the topic is 65536 bytes long; MQTT allows at most 65535"
        );
    }

    #[test]
    fn control_characters() {
        for (t, ch, at) in [
            ("a\0b", '\0', 1),
            ("hello\nworld", '\n', 5),
            ("\tx", '\t', 0),
            ("x\u{1f}", '\u{1f}', 1),
            ("del\u{7f}", '\u{7f}', 3),
            ("é\u{85}", '\u{85}', 2),
            ("c1/\u{9f}", '\u{9f}', 3),
        ] {
            let e = TopicNameError::ControlCharacter { ch, at };
            assert_eq!(check_topic_name(t), Err(e), "{t:?}");
            assert_eq!(check_topic_filter(t), Err(e), "{t:?}");
        }
        assert_eq!(
            check_topic_name("hello\nworld").unwrap_err().to_string(),
            "the topic contains a control character (U+000A) at byte 5"
        );
        // Not controls: U+00A0 (no-break space), U+200B, U+2028.
        assert_eq!(check_topic_name("a\u{a0}b\u{200b}c\u{2028}"), Ok(()));
    }

    #[test]
    fn wildcards_in_names() {
        assert_eq!(
            check_topic_name("a/+/b"),
            Err(TopicNameError::Wildcard { ch: '+', at: 2 })
        );
        assert_eq!(
            check_topic_name("a/#"),
            Err(TopicNameError::Wildcard { ch: '#', at: 2 })
        );
        assert_eq!(
            check_topic_name("c++").unwrap_err().to_string(),
            "the topic contains the MQTT wildcard `+` at byte 1; \
             wildcards are only allowed in subscription filters"
        );
    }

    #[test]
    fn wildcards_in_filters() {
        for f in [
            "#", "+", "a/#", "a/+/b", "+/+", "/+", "+/", "a/+/#", "sp ace/+",
        ] {
            assert_eq!(check_topic_filter(f), Ok(()), "{f:?}");
        }
        for (f, ch, at) in [
            ("a/#/b", '#', 2),
            ("a#", '#', 1),
            ("a/b#", '#', 3),
            ("#/a", '#', 0),
            ("a+", '+', 1),
            ("a/+b/c", '+', 2),
            ("x/y/++", '+', 4),
        ] {
            assert_eq!(
                check_topic_filter(f),
                Err(TopicNameError::MisplacedWildcard { ch, at }),
                "{f:?}"
            );
        }
        assert_eq!(
            check_topic_filter("a/#/b").unwrap_err().to_string(),
            "the filter has `#` at byte 2: `#` must be the whole last level (as in a/#)"
        );
        assert_eq!(
            check_topic_filter("a+").unwrap_err().to_string(),
            "the filter has `+` at byte 1: `+` must be a whole level (as in a/+/b)"
        );
    }

    #[test]
    fn reserved_first_levels() {
        for (t, level) in [
            ("e4", "e4"),
            ("e4/", "e4"),
            ("e4/0123456789abcdef0123456789abcdef", "e4"),
            ("e4c2/announce/x", "e4c2"),
            ("e4c2", "e4c2"),
        ] {
            let e = TopicNameError::Reserved { level };
            assert_eq!(check_topic_name(t), Err(e), "{t:?}");
            assert_eq!(check_topic_filter(t), Err(e), "{t:?}");
        }
        assert_eq!(
            check_topic_filter("e4/#"),
            Err(TopicNameError::Reserved { level: "e4" })
        );
        assert_eq!(
            check_topic_filter("e4c2/announce/+"),
            Err(TopicNameError::Reserved { level: "e4c2" })
        );
        assert_eq!(
            check_topic_name("e4/x").unwrap_err().to_string(),
            "topics under e4/ are reserved for E4 control topics"
        );
        assert_eq!(
            check_topic_name("e4c2/x").unwrap_err().to_string(),
            "topics under e4c2/ are reserved for C2 (suite announcements)"
        );
    }

    /// The rules written independently, as a reference for the property
    /// tests.
    fn reference(t: &str, filter: bool) -> bool {
        let levels: Vec<&str> = t.split('/').collect();
        let wildcards_ok = if filter {
            levels.iter().enumerate().all(|(i, l)| match *l {
                "+" => true,
                "#" => i + 1 == levels.len(),
                l => !l.contains(['+', '#']),
            })
        } else {
            !t.contains(['+', '#'])
        };
        !t.is_empty()
            && t.len() <= MAX_TOPIC_NAME_LEN
            && !t.chars().any(char::is_control)
            && !matches!(levels[0], "e4" | "e4c2")
            && wildcards_ok
    }

    fn topicish() -> impl Strategy<Value = String> {
        // Levels drawn from interesting pieces, joined with '/'.
        let piece = prop_oneof![
            Just(String::from("+")),
            Just(String::from("#")),
            Just(String::from("e4")),
            Just(String::from("e4c2")),
            Just(String::new()),
            "[a-z +#]{1,4}",
            any::<char>().prop_map(|c| c.to_string()),
            "\\PC{0,3}",
        ];
        proptest::collection::vec(piece, 1..5).prop_map(|v| v.join("/"))
    }

    proptest! {
        #[test]
        fn names_follow_the_rules(t in topicish()) {
            prop_assert_eq!(check_topic_name(&t).is_ok(), reference(&t, false), "{:?}", t);
        }

        #[test]
        fn filters_follow_the_rules(t in topicish()) {
            prop_assert_eq!(check_topic_filter(&t).is_ok(), reference(&t, true), "{:?}", t);
        }

        #[test]
        fn any_string(t in any::<String>()) {
            prop_assert_eq!(check_topic_name(&t).is_ok(), reference(&t, false));
            prop_assert_eq!(check_topic_filter(&t).is_ok(), reference(&t, true));
        }

        #[test]
        fn every_name_is_a_filter_and_errors_point_at_the_culprit(t in topicish()) {
            if check_topic_name(&t).is_ok() {
                prop_assert!(check_topic_filter(&t).is_ok());
            }
            for e in [check_topic_name(&t).err(), check_topic_filter(&t).err()].into_iter().flatten() {
                if let TopicNameError::ControlCharacter { ch, at }
                | TopicNameError::Wildcard { ch, at }
                | TopicNameError::MisplacedWildcard { ch, at } = e
                {
                    prop_assert_eq!(t[at..].chars().next(), Some(ch));
                    let at_byte = format!("at byte {at}");
                    prop_assert!(e.to_string().contains(&at_byte));
                }
            }
        }

        #[test]
        fn valid_names_with_a_control_character_inserted_are_refused(
            t in "[a-z/ ]{1,8}", c in any::<char>().prop_filter("control", |c| c.is_control()), pos in 0usize..8
        ) {
            prop_assume!(!matches!(t.split('/').next(), Some("e4" | "e4c2")));
            let pos = pos.min(t.len());
            let mut s = t.clone();
            s.insert(pos, c);
            let e = TopicNameError::ControlCharacter { ch: c, at: pos };
            prop_assert_eq!(check_topic_name(&s), Err(e));
            prop_assert_eq!(check_topic_filter(&s), Err(e));
        }
    }
}
