//! Key types: fixed-size, zeroized on drop, compared in constant time, and
//! never printed.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a symmetric key.
pub const SYM_KEY_LEN: usize = 32;
/// Length of an Ed25519 private key in Go/RFC 8032 form (seed ‖ public).
pub const ED25519_SK_LEN: usize = 64;
/// Length of an Ed25519 public key.
pub const ED25519_PK_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const ED25519_SIG_LEN: usize = 64;
/// Length of a Curve25519 (X25519) key.
pub const X25519_LEN: usize = 32;

/// A 32-byte symmetric key (topic key, symmetric client key, command key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymKey([u8; SYM_KEY_LEN]);

impl SymKey {
    /// Wrap 32 bytes.
    pub const fn new(bytes: [u8; SYM_KEY_LEN]) -> SymKey {
        SymKey(bytes)
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<SymKey> {
        bytes.try_into().ok().map(SymKey)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; SYM_KEY_LEN] {
        &self.0
    }

    /// True if every byte is zero (E4 refuses such client keys).
    pub fn is_zero(&self) -> bool {
        is_all_zero(&self.0)
    }
}

impl PartialEq for SymKey {
    fn eq(&self, other: &SymKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SymKey {}

impl fmt::Debug for SymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymKey(<redacted>)")
    }
}

/// An Ed25519 private key in the 64-byte Go form `seed(32) ‖ public(32)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Ed25519Secret([u8; ED25519_SK_LEN]);

impl Ed25519Secret {
    /// Wrap 64 bytes (`seed ‖ public`).
    pub const fn new(bytes: [u8; ED25519_SK_LEN]) -> Ed25519Secret {
        Ed25519Secret(bytes)
    }

    /// A key from exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Ed25519Secret> {
        bytes.try_into().ok().map(Ed25519Secret)
    }

    /// All 64 bytes.
    pub fn as_bytes(&self) -> &[u8; ED25519_SK_LEN] {
        &self.0
    }

    /// The 32-byte seed.
    pub fn seed(&self) -> &[u8; 32] {
        self.0[..32].try_into().expect("64-byte key")
    }

    /// The public half, bytes 32..64 (as e4go reads it, without checking it
    /// matches the seed).
    pub fn public(&self) -> [u8; ED25519_PK_LEN] {
        self.0[32..].try_into().expect("64-byte key")
    }
}

impl PartialEq for Ed25519Secret {
    fn eq(&self, other: &Ed25519Secret) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for Ed25519Secret {}

impl fmt::Debug for Ed25519Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Secret(<redacted>)")
    }
}

/// Secret bytes of a length only known at run time (post-quantum secret
/// keys), zeroized on drop.
#[cfg(feature = "alloc")]
#[derive(Clone, Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretBytes(alloc::vec::Vec<u8>);

#[cfg(feature = "alloc")]
impl SecretBytes {
    /// Take ownership of secret bytes.
    pub fn new(bytes: alloc::vec::Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }
    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> SecretBytes {
        SecretBytes(bytes.to_vec())
    }
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(feature = "alloc")]
impl PartialEq for SecretBytes {
    fn eq(&self, other: &SecretBytes) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}
#[cfg(feature = "alloc")]
impl Eq for SecretBytes {}

#[cfg(feature = "alloc")]
impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Constant-time check that every byte is zero.
pub fn is_all_zero(bytes: &[u8]) -> bool {
    let mut acc = 0u8;
    for b in bytes {
        acc |= *b;
    }
    acc.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_key_bytes() {
        let k = SymKey::new([0x41; 32]);
        let s = format_args!("{k:?}").to_string();
        assert!(!s.contains("41") && s.contains("redacted"));
    }

    #[test]
    fn zero_detection_and_equality() {
        assert!(SymKey::new([0; 32]).is_zero());
        let mut b = [0u8; 32];
        b[31] = 1;
        assert!(!SymKey::new(b).is_zero());
        assert_eq!(SymKey::new(b), SymKey::new(b));
        assert_ne!(SymKey::new(b), SymKey::new([0; 32]));
        assert!(SymKey::from_slice(&[0; 31]).is_none());
        let sk = Ed25519Secret::new([7; 64]);
        assert_eq!(sk.seed(), &[7; 32]);
        assert_eq!(sk.public(), [7; 32]);
    }

    extern crate std;
    use std::string::ToString;
}
