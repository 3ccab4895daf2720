//! The admin credential: a random bearer token generated at first start.
//! Only its SHA3-256 digest is stored in the database; requests are checked
//! in constant time.

use crate::error::{C2Error, C2Result};
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of tokens (helps secret scanners).
pub const TOKEN_PREFIX: &str = "e4c2_";

/// A new random token (256 bits).
pub fn generate_token() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill(&mut b[..]);
    Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(&b[..])))
}

/// The stored digest of a token.
pub fn digest(token: &str) -> [u8; 32] {
    e4_backends::provider()
        .hash
        .sha3_256(&[b"e4c2 admin token v1", token.as_bytes()])
}

/// Checks presented credentials.
#[derive(Clone)]
pub struct Verifier {
    digest: [u8; 32],
}

impl Verifier {
    /// From the stored digest.
    pub fn new(digest: [u8; 32]) -> Verifier {
        Verifier { digest }
    }

    /// Check an `Authorization` header value (`Bearer <token>`).
    pub fn check_header(&self, header: Option<&str>) -> C2Result<()> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(C2Error::Unauthenticated)?;
        if bool::from(digest(token).ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(C2Error::Unauthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_token_passes() {
        let t = generate_token();
        assert!(t.starts_with(TOKEN_PREFIX) && t.len() == TOKEN_PREFIX.len() + 64);
        let v = Verifier::new(digest(&t));
        assert!(v.check_header(Some(&format!("Bearer {}", *t))).is_ok());
        assert!(v.check_header(Some(&format!("Bearer {}x", *t))).is_err());
        assert!(v.check_header(Some(&t)).is_err());
        assert!(v.check_header(None).is_err());
        assert!(v.check_header(Some("Bearer ")).is_err());
    }
}
