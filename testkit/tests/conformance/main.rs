//! The conformance suite: every provider compiled in, with every suite it
//! offers (`e4_testkit::conformance!` makes one test per pair, named
//! `<property>::<provider>::<suite>`).
//!
//! * `sizes`: the algorithms' sizes are the suite table's
//!   (`SuiteId::params`), overheads are what the encoders produce;
//! * `round_trips`: topic messages, every command, key transition;
//! * `cross_provider`: sealed with one provider, opened with every other
//!   (messages, commands, key pairs);
//! * `known_answers`: the same seeds give the same bytes (key pairs,
//!   encapsulations, signatures, whole messages and commands) with every
//!   seeded provider, and the others accept them;
//! * `kat`: the project's `vectors/kat/*.jsonl` replayed with each provider;
//! * `tamper`: bit flips and truncations are refused and change nothing;
//! * `restricted`: a provider without a suite refuses it precisely.

mod cross_provider;
mod kat;
mod known_answers;
mod restricted;
mod round_trips;
mod sizes;
mod tamper;

use e4_testkit::{matrix, providers, SuiteId};

fn sorted(mut v: Vec<(&'static str, SuiteId)>) -> Vec<(&'static str, SuiteId)> {
    v.sort();
    v
}

/// The tests generated are exactly the pairs e4-backends compiled: none
/// missing (a provider or suite whose feature reached e4-backends but not
/// e4-testkit), none extra (a provider that no longer offers a suite).
#[test]
fn the_matrix_is_every_compiled_provider_and_suite() {
    let compiled = sorted(matrix().iter().map(|(p, s)| (p.name, *s)).collect());
    assert!(!compiled.is_empty());
    for generated in [
        sizes::algorithm_sizes_match_the_suite_table::generated(),
        round_trips::messages_round_trip::generated(),
        kat::project_kat_files_replay::generated(),
    ] {
        assert_eq!(
            sorted(generated),
            compiled,
            "the conformance matrix (e4-testkit's features) differs from what \
             e4-backends compiled: enable the same features on e4-testkit"
        );
    }
}

#[test]
fn every_provider_is_known_by_name() {
    for p in providers() {
        assert_eq!(
            e4_testkit::backends::provider_by_name(p.name).map(|q| q.name),
            Ok(p.name)
        );
        assert!(!p.suites.is_empty(), "{} offers no suite", p.name);
    }
}
