//! Fuzz `Command::parse` with every suite's argument lengths (whatever
//! parses must encode back to exactly the same bytes), and `Control::parse`
//! for every suite (whatever parses keeps its opcode, and an E4 command
//! parses as `Command::parse` would, but for the other mode's id key).
#![no_main]

use e4_fuzz::all_lengths;
use e4_proto::command::Command;
use e4_proto::control::{self, Control};
use e4_proto::suite::CommandLengths;
use e4_proto::SuiteId;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static LENGTHS: OnceLock<Vec<CommandLengths>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    for l in LENGTHS.get_or_init(all_lengths) {
        let Ok(cmd) = Command::parse(data, l) else {
            continue;
        };
        assert_eq!(cmd.opcode(), data[0]);
        assert_ne!(cmd.name(), "Unknown");
        assert_eq!(cmd.encoded_len(), data.len());
        let mut out = vec![0u8; data.len()];
        assert_eq!(cmd.encode(&mut out), Ok(data.len()));
        assert_eq!(out, data, "{cmd:?} re-encodes differently");
        assert_eq!(Command::parse(&out, l), Ok(cmd));
        let _ = format!("{cmd:?}");
    }
    for suite in SuiteId::ALL {
        match Control::parse(data, suite) {
            Ok(c) => {
                assert_eq!(c.opcode(), data[0]);
                if let Control::Command(cmd) = c {
                    let lengths = suite.command_lengths();
                    assert_eq!(control::parse_command(data, &lengths), Ok(cmd));
                }
            }
            Err(_) => {}
        }
    }
});
