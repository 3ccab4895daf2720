//! MQTT password hashes in mosquitto's password-file format
//! (`$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>`, what
//! `mosquitto_passwd` writes since mosquitto 2.0).
//!
//! C2 stores this one string per device: the embedded broker verifies
//! against it and the generated mosquitto password file copies it as is,
//! so C2 never needs the plaintext again. The passwords are 256-bit random
//! strings, so a slow KDF adds nothing: mosquitto's default of 101
//! iterations keeps the check on every CONNECT well under a millisecond.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// mosquitto_passwd's iteration count.
pub const ITERATIONS: u32 = 101;
const SALT_LEN: usize = 12;

/// A stored hash that is not in the `$7$` format.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a mosquitto $7$ password hash: {0}")]
pub struct MalformedHash(&'static str);

/// PBKDF2-HMAC-SHA512 with a 64-byte output (one block).
fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 64] {
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

/// Hash `password` with a fresh random salt.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill(&mut salt);
    hash_with(password, &salt, ITERATIONS)
}

fn hash_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let dk = pbkdf2(password.as_bytes(), salt, iterations);
    format!(
        "$7${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(dk)
    )
}

fn parse(stored: &str) -> Result<(u32, Vec<u8>, Vec<u8>), MalformedHash> {
    let mut parts = stored
        .strip_prefix("$7$")
        .ok_or(MalformedHash("prefix"))?
        .split('$');
    let iterations: u32 = parts
        .next()
        .and_then(|i| i.parse().ok())
        .filter(|i| (1..=1_000_000).contains(i))
        .ok_or(MalformedHash("iterations"))?;
    let mut b64 = |what| {
        parts
            .next()
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or(MalformedHash(what))
    };
    let salt = b64("salt")?;
    let dk = b64("hash")?;
    if dk.len() != 64 || parts.next().is_some() {
        return Err(MalformedHash("hash"));
    }
    Ok((iterations, salt, dk))
}

/// Whether `password` matches `stored` (constant time in the hash).
pub fn verify(stored: &str, password: &[u8]) -> Result<bool, MalformedHash> {
    let (iterations, salt, dk) = parse(stored)?;
    Ok(pbkdf2(password, &salt, iterations).ct_eq(&dk[..]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_mosquitto_passwd() {
        // `mosquitto_passwd -b pw alice secret` (mosquitto 2.0.11).
        let stored = "$7$101$J0FXzuNHglj6tAlg$S5rKtinlnqbknhx2Wopl6bab6aBRkjg3JcnEhkQ4avgPe8RKONXH65BnE2UeLXG/kNqfwyb9wwm2IMSlgukwfA==";
        assert_eq!(verify(stored, b"secret"), Ok(true));
        assert_eq!(verify(stored, b"Secret"), Ok(false));
        let (_, salt, _) = parse(stored).unwrap();
        assert_eq!(hash_with("secret", &salt, 101), stored);
    }

    #[test]
    fn round_trip_and_malformed() {
        let h = hash("pw");
        assert!(h.starts_with("$7$101$"));
        assert_eq!(verify(&h, b"pw"), Ok(true));
        assert_ne!(hash("pw"), h, "salted");
        for bad in [
            "",
            "$6$101$a$b",
            "$7$x$AAAA$AAAA",
            "$7$101$AAAA$AAAA",
            "$7$0$AAAA$AAAA",
        ] {
            assert!(verify(bad, b"pw").is_err(), "{bad}");
        }
    }
}
