//! The two APIs over the one [`crate::service::Service`].

pub mod grpc;
mod redact;
pub mod rest;
pub mod rest_rules;

use crate::error::C2Error;

/// The metrics outcome label of a result.
pub fn outcome<T>(r: &Result<T, C2Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    }
}
