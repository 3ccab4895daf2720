//! Message overhead in bytes (not a timing): protected length minus payload
//! length of a topic message and of a SetTopicKey command, per suite,
//! measured by protecting for real. Printed as a table and written to
//! `e4-overhead.json` beside criterion's results for `plot.py`.

use e4_benches::{suites, Fixture, SIZES};
use e4_proto::command::Command;
use e4_proto::TopicHash;
use std::fmt::Write as _;

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); nothing to parse.
    let key = [0x42u8; 32];
    let cmd = Command::SetTopicKey {
        key: &key,
        topic: TopicHash([7; 16]),
    }
    .to_vec();
    let mut json = String::from("{\n");
    println!(
        "| suite | message overhead (B) | at 16 B payload | command overhead (B) | signature (B) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut first = true;
    for suite in suites() {
        let mut f = Fixture::new(suite);
        let per_size: Vec<usize> = SIZES.iter().map(|&n| f.message(n).len() - n).collect();
        assert!(
            per_size.iter().all(|&o| o == per_size[0]),
            "constant overhead"
        );
        let msg = per_size[0];
        let command = f.seal_command(&cmd).len() - cmd.len();
        let sig = suite.sig.map_or(0, |s| s.signature_len());
        let expansion = (16 + msg) as f64 / 16.0;
        println!(
            "| {} | {msg} | {:.1}x | {command} | {sig} |",
            suite.id.name(),
            expansion
        );
        if !first {
            json.push_str(",\n");
        }
        first = false;
        let _ = write!(
            json,
            "  \"{}\": {{\"message\": {msg}, \"command\": {command}, \"signature\": {sig}}}",
            suite.id.name()
        );
    }
    json.push_str("\n}\n");
    // Where criterion writes: $CRITERION_HOME, else <target dir>/criterion.
    let dir = std::env::var_os("CRITERION_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|t| std::path::PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
        });
    std::fs::create_dir_all(&dir).expect("target/criterion");
    std::fs::write(dir.join("e4-overhead.json"), json).expect("write overhead json");
}
