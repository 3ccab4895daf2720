//! Unit tests of suite negotiation.

use super::*;
use SuiteId::{Hybrid, PostQuantum as Pq, PqDraft, PubKey, Symmetric as Sym};

#[test]
fn suite_sets_and_rankings() {
    let s = SuiteSet::of(&[Sym, Hybrid]);
    assert!(s.contains(Sym) && s.contains(Hybrid) && !s.contains(Pq));
    assert_eq!(s.len(), 2);
    assert_eq!(s.with(Pq).without(Sym), SuiteSet::of(&[Pq, Hybrid]));
    assert_eq!(SuiteSet::ALL.len(), 5);
    assert!(SuiteSet::EMPTY.is_empty());
    assert_eq!(s.iter().collect::<Vec<_>>(), [Sym, Hybrid]);
    let r = Ranking::DEFAULT;
    assert_eq!(r.rank(Sym), 0);
    assert_eq!(r.rank(Hybrid), 4);
    assert!(r.rank(PqDraft) < r.rank(Pq));
    assert_eq!(
        r.above(PubKey, SuiteSet::ALL),
        SuiteSet::of(&[PqDraft, Pq, Hybrid])
    );
    assert_eq!(r.strongest(SuiteSet::of(&[PubKey, PqDraft])), Some(PqDraft));
    assert_eq!(r.strongest(SuiteSet::EMPTY), None);
    assert_eq!(Ranking::new(r.order()), Ok(r));
    assert_eq!(
        Ranking::new(&[Sym, Sym, Pq, PqDraft, Hybrid]),
        Err(Error::Negotiation(NegotiationError::InvalidRanking))
    );
}

#[test]
fn choose_never_moves_down() {
    let p = Policy::default();
    for cur in SuiteId::ALL {
        for bits in 0u8..32 {
            let offer = Offer {
                current: cur,
                suites: SuiteSet::from_bits(bits),
            };
            match choose(&p, &offer, SuiteSet::ALL) {
                Decision::Upgrade(s) => {
                    assert!(p.ranking.rank(s) > p.ranking.rank(cur));
                    assert!(offer.suites.contains(s));
                    assert_eq!(
                        p.ranking.strongest(offer.suites),
                        Some(s),
                        "strongest offered is chosen"
                    );
                }
                Decision::Stay => {
                    assert!(p.ranking.above(cur, offer.suites).is_empty());
                    assert!(!(cur.is_kem_suite() && offer.suites.contains(cur)));
                }
                Decision::Rekey(s) => {
                    assert_eq!(s, cur, "a rekey keeps the suite");
                    assert!(cur.is_kem_suite() && offer.suites.contains(cur));
                    assert!(p.ranking.above(cur, offer.suites).is_empty());
                }
                Decision::BelowMinimum => unreachable!("minimum is symmetric"),
            }
        }
    }
}

#[test]
fn set_suite_round_trips_and_parsers_refuse_garbage() {
    let s = SetSuite {
        suite: Pq,
        transcript: [7; 32],
        key: SecretBytes::from_slice(&[9; 40]),
    };
    let bytes = s.encode();
    assert_eq!(bytes.as_bytes()[0], SET_SUITE_OPCODE);
    assert_eq!(SetSuite::parse(bytes.as_bytes()), Ok(s));
    assert_eq!(
        SetSuite::parse(&[]),
        Err(Error::Negotiation(NegotiationError::Malformed))
    );
    assert_eq!(
        SetSuite::parse(&[3; 60]),
        Err(Error::Negotiation(NegotiationError::NotSetSuite))
    );
    assert_eq!(
        SetSuite::parse(&[8; 34]),
        Err(Error::Negotiation(NegotiationError::Malformed))
    );
    assert_eq!(SetSuite::parse(&[8; 35]), Err(Error::UnknownSuite));
    assert!(!alloc::format!(
        "{:?}",
        SetSuite::parse(&[8, 0x10, 0x41, 0x42, 0x43].repeat(9)).unwrap()
    )
    .contains("65"));

    // an Announce by hand: no offers, a 16-byte tag
    let mut a = alloc::vec![0u8; 8];
    a.push(ANNOUNCE_KIND);
    a.extend_from_slice(&[5; 16]);
    a.push(Sym.code());
    a.push(0);
    assert_eq!(
        Announce::parse(&a),
        Err(Error::Negotiation(NegotiationError::Malformed))
    );
    a.extend_from_slice(&[1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    let p = Announce::parse(&a).unwrap();
    assert_eq!(p.offer().suites, SuiteSet::EMPTY);
    assert_eq!(p.auth().len(), 16);
    a[26] = 1; // one offer read from the tag: symmetric, no keys
    let p = Announce::parse(&a).unwrap();
    assert_eq!(p.offers()[0].suite, Sym);
    assert_eq!(p.auth(), &[1; 11]);
    a[26] = 2; // a second offer would be symmetric again
    assert_eq!(
        Announce::parse(&a),
        Err(Error::Negotiation(NegotiationError::DuplicateOffer))
    );
    a[26] = 6;
    assert_eq!(
        Announce::parse(&a),
        Err(Error::Negotiation(NegotiationError::DuplicateOffer))
    );
    a[8] = CONFIRM_KIND;
    assert_eq!(
        Announce::parse(&a),
        Err(Error::Negotiation(NegotiationError::WrongKind))
    );
    assert_eq!(
        Confirm::parse(&[2; 58]),
        Err(Error::Negotiation(NegotiationError::Malformed))
    );
    assert_eq!(
        Confirm::parse(&[1; 59]),
        Err(Error::Negotiation(NegotiationError::WrongKind))
    );
}
