//! `e4-vectors`: check E4 known-answer vector files, and generate the
//! project's own.
//!
//! ```text
//! e4-vectors check [--provider NAME] FILE...   replay every case; per file "N passed, N failed, N skipped"
//! e4-vectors providers                         the providers compiled in and their suites
//! e4-vectors generate [DIR]                    write deterministic KAT files (default vectors/kat)
//! ```

mod derived;
mod generate;
mod json;
mod replay;
mod seeded;
mod state;

use e4_proto::ids::CLIENT_ID_MAX;
use e4_proto::{CryptoProvider, SuiteId};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::OnceLock;

const USAGE: &str = "usage:
  e4-vectors check [OPTIONS] FILE...   check vector files (JSON Lines, format of vectors/interop/e4go/README.md)
  e4-vectors providers                 list the crypto providers compiled in, with their suites
  e4-vectors generate [DIR]            write the project's known-answer files (default: vectors/kat)
options for check:
  --provider NAME              replay with this provider (default: the default provider, see `providers`)
  --no-skip                    count skipped cases as failures
  -v, --verbose                print every case, not only failures";

static PROVIDER: OnceLock<&'static CryptoProvider> = OnceLock::new();

/// The provider `check` replays with (`--provider`, else the default).
pub fn provider() -> &'static CryptoProvider {
    PROVIDER.get_or_init(e4_backends::default_provider)
}

/// What became of one case.
enum Outcome {
    Passed,
    /// Not replayed, for this reason (a suite the provider lacks, an id
    /// e4-rs cannot represent).
    Skipped(String),
}

/// The suite a case needs, if any (hashes, control topics and raw AES-SIV
/// need only the provider's SHA3 and AES-SIV, which every provider has).
fn needed_suite(case: &Value) -> json::Res<Option<SuiteId>> {
    match json::opt(case, "kind").and_then(|k| k.as_str()) {
        Some("topic_hash" | "control_topic" | "id_from_name" | "aead") => Ok(None),
        Some("symkey_from_password") => Ok(Some(SuiteId::Symmetric)),
        Some("ed25519_from_password" | "pubkey_shared_key") => Ok(Some(SuiteId::PubKey)),
        _ => match json::opt(case, "mode").and_then(|m| m.as_str()) {
            Some(mode) => state::mode_suite(mode).map(Some),
            None => Ok(None),
        },
    }
}

/// Why the case cannot be replayed with this provider and build, if so.
///
/// e4go's symmetric clients take ids of any non-zero length and derive the
/// control topic `e4/` + hex of the whole id; e4-rs takes 1 to
/// `CLIENT_ID_MAX` bytes (64 with `long-ids`, on with `std`), so only
/// longer ids are skipped, with a reason (see vectors/interop/README.md).
fn skip_reason(case: &Value, p: &CryptoProvider) -> json::Res<Option<String>> {
    if let Some(suite) = needed_suite(case)? {
        if !p.supports(suite) {
            return Ok(Some(format!("suite {suite} is not in provider {}", p.name)));
        }
    }
    let too_long = |n: usize| {
        Some(format!(
            "a {n}-byte id (e4-rs client ids are 1 to {CLIENT_ID_MAX} bytes)"
        ))
    };
    let kind = json::opt(case, "kind").and_then(|k| k.as_str());
    if kind == Some("control_topic") {
        let n = json::hex_(case, "id")?.len();
        return Ok(if n > CLIENT_ID_MAX { too_long(n) } else { None });
    }
    if json::opt(case, "mode").is_some() {
        let st = json::opt(case, "initial_state");
        for (v, name) in [
            (Some(case), "client_id"),
            (Some(case), "receiver_id"),
            (st, "id"),
        ] {
            if let Some(id) = v.map(|v| json::opt_hex(v, name)).transpose()?.flatten() {
                if id.len() > CLIENT_ID_MAX {
                    return Ok(too_long(id.len()));
                }
            }
        }
    }
    Ok(None)
}

/// Check one case (one JSON object).
fn check_case(case: &Value) -> json::Res<Outcome> {
    if let Some(reason) = skip_reason(case, provider())? {
        return Ok(Outcome::Skipped(reason));
    }
    replay_case(case).map(|_| Outcome::Passed)
}

fn replay_case(case: &Value) -> json::Res<()> {
    if let Some(kind) = json::opt(case, "kind").and_then(|k| k.as_str()) {
        return match kind {
            "symkey_message" | "pubkey_message" | "symkey_command" | "pubkey_command" => {
                replay::check_single(case)
            }
            "symkey_protect" | "pubkey_protect" => replay::check_protect_call(case),
            k if k.ends_with("_message") || k.ends_with("_command") => replay::check_single(case),
            k if k.ends_with("_protect") => replay::check_protect_call(case),
            k => derived::check(k, case),
        };
    }
    if json::opt(case, "steps").is_some() {
        return replay::check_steps(case);
    }
    if json::opt(case, "protected").is_some() {
        return replay::check_single(case);
    }
    Err("unrecognised case shape".into())
}

/// Counts of one file (or of all).
#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
    /// Skip reasons and how often each occurred.
    reasons: BTreeMap<String, usize>,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        for (r, n) in &other.reasons {
            *self.reasons.entry(r.clone()).or_default() += n;
        }
    }

    fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

fn check_file(path: &str, verbose: bool) -> Counts {
    let mut counts = Counts::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: cannot read: {e}");
            counts.failed = 1;
            return counts;
        }
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|case| {
                let name = json::opt(&case, "case")
                    .and_then(|c| c.as_str())
                    .unwrap_or("?")
                    .to_string();
                std::panic::catch_unwind(|| check_case(&case))
                    .unwrap_or_else(|_| Err("checker panicked".into()))
                    .map(|o| (name.clone(), o))
                    .map_err(|e| format!("{name}: {e}"))
            });
        match result {
            Ok((name, Outcome::Passed)) => {
                counts.passed += 1;
                if verbose {
                    println!("  ok   {path}:{} {name}", n + 1);
                }
            }
            Ok((name, Outcome::Skipped(reason))) => {
                counts.skipped += 1;
                if verbose {
                    println!("  skip {path}:{} {name}: {reason}", n + 1);
                }
                *counts.reasons.entry(reason).or_default() += 1;
            }
            Err(e) => {
                counts.failed += 1;
                println!("  FAIL {path}:{} {e}", n + 1);
            }
        }
    }
    counts
}

fn print_reasons(counts: &Counts) {
    for (reason, n) in &counts.reasons {
        println!("  skipped {n}: {reason}");
    }
}

fn check(args: &[String]) -> ExitCode {
    let mut verbose = false;
    let mut no_skip = false;
    let mut name: Option<String> = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" | "--verbose" => verbose = true,
            "--no-skip" => no_skip = true,
            "--provider" => match it.next() {
                Some(n) => name = Some(n.clone()),
                None => {
                    eprintln!("e4-vectors check: --provider needs a name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            a if a.starts_with("--provider=") => name = Some(a["--provider=".len()..].to_string()),
            a if a.starts_with('-') => {
                eprintln!("e4-vectors check: unknown option {a}\n{USAGE}");
                return ExitCode::from(2);
            }
            f => files.push(f.to_string()),
        }
    }
    if files.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let p = match name {
        None => e4_backends::default_provider(),
        Some(n) => match e4_backends::provider_by_name(&n) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("e4-vectors check: --provider {n}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    PROVIDER.set(p).expect("provider chosen once");
    println!("provider: {}", p.name);
    let mut total = Counts::default();
    for f in &files {
        let c = check_file(f, verbose);
        println!("{f}: {}", c.line());
        if !verbose {
            print_reasons(&c);
        }
        total.add(&c);
    }
    if files.len() > 1 {
        println!("total: {}", total.line());
    }
    let bad = total.failed > 0 || (no_skip && total.skipped > 0);
    if no_skip && total.skipped > 0 {
        println!("--no-skip: {} cases were skipped", total.skipped);
    }
    if bad || total.passed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `providers`: each compiled provider with its suites, the default first.
fn list_providers() -> ExitCode {
    let default = e4_backends::default_provider().name;
    for p in e4_backends::providers() {
        let suites: Vec<&str> = p.suites.iter().map(|s| s.id.name()).collect();
        let mark = if p.name == default { "  (default)" } else { "" };
        println!("{:<11} {}{mark}", p.name, suites.join(", "));
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => check(&args[1..]),
        Some("providers") => list_providers(),
        Some("generate") => {
            let dir = args.get(1).map(String::as_str).unwrap_or("vectors/kat");
            match generate::write_all(std::path::Path::new(dir)) {
                Ok(files) => {
                    for (f, n) in files {
                        println!("wrote {f} ({n} cases)");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("e4-vectors generate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(rel: &str) -> String {
        format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    fn small() -> &'static CryptoProvider {
        e4_backends::provider_by_name("small").expect("small is compiled in")
    }

    #[test]
    fn suites_the_provider_lacks_are_skipped() {
        let pubkey = json!({"mode": "pubkey", "client_id": "00".repeat(16)});
        let reason = skip_reason(&pubkey, small()).unwrap().unwrap();
        assert_eq!(reason, "suite pubkey is not in provider small");
        let shared = json!({"kind": "pubkey_shared_key"});
        assert!(skip_reason(&shared, small()).unwrap().is_some());
        let symkey = json!({"mode": "symkey", "client_id": "00".repeat(16)});
        assert_eq!(skip_reason(&symkey, small()).unwrap(), None);
        let aead = json!({"kind": "aead"});
        assert_eq!(skip_reason(&aead, small()).unwrap(), None);
        let unknown = json!({"mode": "no-such-mode"});
        assert!(skip_reason(&unknown, small()).is_err());
    }

    #[test]
    fn ids_of_any_length_up_to_the_client_maximum() {
        let p = e4_backends::default_provider();
        let topic = |n: usize| json!({"kind": "control_topic", "id": "ab".repeat(n)});
        let client = |n: usize| json!({"mode": "symkey", "initial_state": {"id": "ab".repeat(n)}});
        for n in [1, 8, 16, 17, 32, CLIENT_ID_MAX] {
            assert_eq!(skip_reason(&topic(n), p).unwrap(), None, "{n}");
            assert_eq!(skip_reason(&client(n), p).unwrap(), None, "{n}");
        }
        let n = CLIENT_ID_MAX + 1;
        let r = skip_reason(&client(n), p).unwrap().unwrap();
        assert_eq!(
            r,
            format!("a {n}-byte id (e4-rs client ids are 1 to 64 bytes)")
        );
        assert!(skip_reason(&topic(n), p).unwrap().is_some());
    }

    #[test]
    fn unknown_provider_names_what_is_compiled() {
        let e = e4_backends::provider_by_name("no-such-provider").unwrap_err();
        let text = e.to_string();
        for p in e4_backends::providers() {
            assert!(text.contains(p.name), "{text}");
        }
    }

    /// The repository's interop vectors replay with the default provider;
    /// `scripts/check-vectors.sh` replays them with every provider.
    #[test]
    fn interop_vectors_pass_with_the_default_provider() {
        for rel in [
            "interop/e4go/derived.jsonl",
            "interop/e4go/commands_symkey.jsonl",
            "interop/e4go/commands_pubkey.jsonl",
            "interop/e4go/negative.jsonl",
        ] {
            let c = check_file(&file(rel), false);
            assert!(
                c.passed > 0 && c.failed == 0 && c.skipped == 0,
                "{rel}: {}",
                c.line()
            );
        }
        // e4go behaviours: non-UTF-8 passwords, SetIdKey of the other
        // mode's length, control topics and symmetric clients of ids of 1
        // to 64 bytes: all replayed, none skipped.
        let c = check_file(&file("interop/e4rs-e4go-behaviours.jsonl"), false);
        assert_eq!((c.passed, c.failed, c.skipped), (31, 0, 0), "{}", c.line());
    }
}
