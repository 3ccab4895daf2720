//! Helpers shared by the negotiation messages (the refusal reasons are
//! [`crate::error::NegotiationError`], inside [`Error::Negotiation`]).

use super::*;

pub(super) fn check_fresh(ts: u64, now: u64) -> Result<(), Error> {
    time::check_message(ts, now).map_err(|e| match e {
        Error::TimestampInFuture => NegotiationError::InFuture.into(),
        _ => NegotiationError::TooOld.into(),
    })
}

pub(super) fn suite_from_code(code: u8) -> Result<SuiteId, Error> {
    SuiteId::from_code(code)
}

pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
