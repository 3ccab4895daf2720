//! `e4-vectors`: check E4 known-answer vector files, and generate the
//! project's own.
//!
//! ```text
//! e4-vectors check FILE...      replay every case; per file "N passed, N failed"
//! e4-vectors generate [DIR]     write deterministic KAT files (default vectors/kat)
//! ```

mod derived;
mod generate;
mod json;
mod replay;
mod seeded;
mod state;

use serde_json::Value;
use std::process::ExitCode;

const USAGE: &str = "usage:
  e4-vectors check FILE...     check vector files (JSON Lines, format of shared/vectors/e4go/README.md)
  e4-vectors generate [DIR]    write the project's known-answer files (default: vectors/kat)
options for check:
  -v, --verbose                print every case, not only failures";

/// Check one case (one JSON object).
fn check_case(case: &Value) -> json::Res<()> {
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

fn check_file(path: &str, verbose: bool) -> (usize, usize) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: cannot read: {e}");
            return (0, 1);
        }
    };
    let (mut passed, mut failed) = (0, 0);
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
                    .map(|_| name.clone())
                    .map_err(|e| format!("{name}: {e}"))
            });
        match result {
            Ok(name) => {
                passed += 1;
                if verbose {
                    println!("  ok   {path}:{} {name}", n + 1);
                }
            }
            Err(e) => {
                failed += 1;
                println!("  FAIL {path}:{} {e}", n + 1);
            }
        }
    }
    (passed, failed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => {
            let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
            let files: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
            if files.is_empty() {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            let (mut tp, mut tf) = (0, 0);
            for f in &files {
                let (p, fl) = check_file(f, verbose);
                println!("{f}: {p} passed, {fl} failed");
                tp += p;
                tf += fl;
            }
            if files.len() > 1 {
                println!("total: {tp} passed, {tf} failed");
            }
            if tf == 0 && tp > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
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
