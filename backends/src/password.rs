//! e4go's key derivation from passwords.

use crate::argon2i::e4go_derive;
use e4_proto::{Error, SymKey};

/// Minimum password length in bytes (e4go counts bytes, not characters).
pub const MIN_PASSWORD_LEN: usize = 16;

/// A symmetric key from a password, as e4go derives it
/// (Argon2i v0x13, empty salt, t=1, m=64 MiB, p=4).
pub fn symkey_from_password(password: &str) -> Result<SymKey, Error> {
    if password.len() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidPassword);
    }
    Ok(SymKey::new(e4go_derive(password.as_bytes())))
}

/// An Ed25519 seed from a password, as e4go derives it (same Argon2i).
pub fn ed25519_seed_from_password(password: &str) -> Result<zeroize::Zeroizing<[u8; 32]>, Error> {
    if password.len() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidPassword);
    }
    Ok(zeroize::Zeroizing::new(e4go_derive(password.as_bytes())))
}
