//! e4go's key derivation from passwords.
//!
//! e4go's `ValidatePassword` refuses a password that is not valid UTF-8,
//! then one shorter than 16 bytes (bytes, not characters), both as
//! `invalid password`. A Rust `&str` is always UTF-8, so the `&str`
//! functions only check the length; the `_bytes` functions take the
//! password as it arrives (a file, a vector's `password_hex`) and refuse
//! invalid UTF-8 first, as e4go does.

use crate::argon2i::e4go_derive;
use e4_proto::{Error, SymKey};

/// Minimum password length in bytes (e4go counts bytes, not characters).
pub const MIN_PASSWORD_LEN: usize = 16;

/// A symmetric key from a password, as e4go derives it
/// (Argon2i v0x13, empty salt, t=1, m=64 MiB, p=4).
pub fn symkey_from_password(password: &str) -> Result<SymKey, Error> {
    symkey_from_password_bytes(password.as_bytes())
}

/// An Ed25519 seed from a password, as e4go derives it (same Argon2i).
pub fn ed25519_seed_from_password(password: &str) -> Result<zeroize::Zeroizing<[u8; 32]>, Error> {
    ed25519_seed_from_password_bytes(password.as_bytes())
}

/// [`symkey_from_password`] of raw bytes: [`Error::InvalidPassword`] if they
/// are not valid UTF-8 (whatever their length) or shorter than 16 bytes.
pub fn symkey_from_password_bytes(password: &[u8]) -> Result<SymKey, Error> {
    check_password(password)?;
    Ok(SymKey::new(e4go_derive(password)))
}

/// [`ed25519_seed_from_password`] of raw bytes: [`Error::InvalidPassword`]
/// if they are not valid UTF-8 (whatever their length) or shorter than 16
/// bytes.
pub fn ed25519_seed_from_password_bytes(
    password: &[u8],
) -> Result<zeroize::Zeroizing<[u8; 32]>, Error> {
    check_password(password)?;
    Ok(zeroize::Zeroizing::new(e4go_derive(password)))
}

/// e4go's `ValidatePassword`: valid UTF-8, then at least 16 bytes.
pub fn check_password(password: &[u8]) -> Result<(), Error> {
    if core::str::from_utf8(password).is_err() || password.len() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidPassword);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_an_invalid_password_in_both_derivations() {
        // long enough, but not UTF-8: a lone continuation byte, an overlong
        // encoding, a UTF-16 surrogate, a truncated sequence
        let bad: [&[u8]; 4] = [
            b"\x80password-long-enough",
            b"password-long-\xc0\xafenough",
            b"password-long-enough-\xed\xa0\x80",
            b"password-long-enough-\xe2\x82",
        ];
        for pw in bad {
            assert!(pw.len() >= MIN_PASSWORD_LEN);
            assert_eq!(check_password(pw), Err(Error::InvalidPassword));
            assert_eq!(
                symkey_from_password_bytes(pw).err(),
                Some(Error::InvalidPassword)
            );
            assert_eq!(
                ed25519_seed_from_password_bytes(pw).err(),
                Some(Error::InvalidPassword)
            );
        }
        // short and not UTF-8: the same category
        assert_eq!(check_password(b"\xff"), Err(Error::InvalidPassword));
        // 16 bytes of UTF-8 in 7 characters is long enough (bytes count)
        assert_eq!("ééééé€€".len(), 16);
        assert_eq!(check_password("ééééé€€".as_bytes()), Ok(()));
        assert_eq!(
            check_password(b"fifteen-bytes!!"),
            Err(Error::InvalidPassword)
        );
    }
}
