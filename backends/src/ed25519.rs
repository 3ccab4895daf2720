//! E4's public-key suite: Ed25519 (ed25519-dalek) and X25519 (x25519-dalek,
//! curve25519-dalek for the Edwards-to-Montgomery conversion).

#[cfg(feature = "alloc")]
use alloc::boxed::Box;
#[cfg(feature = "alloc")]
use e4_proto::crypto::{PreparedVerifier, Signer};
use e4_proto::crypto::{Rng, SignatureScheme, X25519};
use e4_proto::keys::{ED25519_PK_LEN, ED25519_SIG_LEN, ED25519_SK_LEN};
use e4_proto::Error;
use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

/// Ed25519 with 64-byte `seed ‖ public` secret keys (Go/RFC 8032 form).
///
/// Verification is e4go's: canonical `S < L` required, cofactorless
/// equation, small-order keys not rejected.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ed25519;

/// The expanded secret and the verifying key of a 64-byte `seed ‖ public`
/// secret key.
///
/// The public half is taken from the key, as Go's `ed25519.Sign` (and so
/// e4go) does, instead of being recomputed from the seed: that second
/// base-point multiplication doubled the cost of a signature. A key whose
/// halves disagree would make signatures that verify under no key and, with
/// the consistent key, leak the seed's scalar; keys are checked where they
/// enter (e4-client's `check_ed25519`, C2's key generation), and generated
/// here consistent.
fn signing_parts(sk: &[u8]) -> Result<(ExpandedSecretKey, VerifyingKey), Error> {
    if sk.len() != ED25519_SK_LEN {
        return Err(Error::InvalidArgument);
    }
    let (seed, public) = sk.split_at(32);
    let seed: &[u8; 32] = seed.try_into().map_err(|_| Error::InvalidArgument)?;
    let public: &[u8; 32] = public.try_into().map_err(|_| Error::InvalidArgument)?;
    let verifying = VerifyingKey::from_bytes(public).map_err(|_| Error::InvalidArgument)?;
    Ok((ExpandedSecretKey::from(seed), verifying))
}

impl SignatureScheme for Ed25519 {
    fn public_key_len(&self) -> usize {
        ED25519_PK_LEN
    }
    fn secret_key_len(&self) -> usize {
        ED25519_SK_LEN
    }
    fn signature_len(&self) -> usize {
        ED25519_SIG_LEN
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != ED25519_SK_LEN || pk.len() != ED25519_PK_LEN {
            return Err(Error::BufferTooSmall);
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill(&mut seed[..]);
        let key = SigningKey::from_bytes(&seed);
        sk.copy_from_slice(&key.to_keypair_bytes());
        pk.copy_from_slice(key.verifying_key().as_bytes());
        Ok(())
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        if sig.len() != ED25519_SIG_LEN {
            return Err(Error::BufferTooSmall);
        }
        let (expanded, verifying) = signing_parts(sk)?;
        sig.copy_from_slice(&raw_sign::<Sha512>(&expanded, msg, &verifying).to_bytes());
        Ok(())
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let pk: &[u8; 32] = pk.try_into().map_err(|_| Error::InvalidSignature)?;
        let sig: &[u8; 64] = sig.try_into().map_err(|_| Error::InvalidSignature)?;
        let vk = VerifyingKey::from_bytes(pk).map_err(|_| Error::InvalidSignature)?;
        vk.verify(msg, &Signature::from_bytes(sig))
            .map_err(|_| Error::InvalidSignature)
    }
    #[cfg(feature = "alloc")]
    fn prepare_signer(&self, sk: &[u8]) -> Option<Box<dyn Signer + Send + Sync>> {
        let (expanded, verifying) = signing_parts(sk).ok()?;
        Some(Box::new(PreparedSigner {
            expanded,
            verifying,
        }))
    }
    #[cfg(feature = "alloc")]
    fn prepare_verifier(&self, pk: &[u8]) -> Option<Box<dyn PreparedVerifier>> {
        let pk: &[u8; 32] = pk.try_into().ok()?;
        Some(Box::new(PreparedVerifyingKey(
            VerifyingKey::from_bytes(pk).ok()?,
        )))
    }
}

/// A signing key decoded once: the expanded secret (zeroized on drop) and
/// the public point.
#[cfg(feature = "alloc")]
struct PreparedSigner {
    expanded: ExpandedSecretKey,
    verifying: VerifyingKey,
}

#[cfg(feature = "alloc")]
impl Signer for PreparedSigner {
    fn signature_len(&self) -> usize {
        ED25519_SIG_LEN
    }
    fn sign(&self, msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        if sig.len() != ED25519_SIG_LEN {
            return Err(Error::BufferTooSmall);
        }
        sig.copy_from_slice(&raw_sign::<Sha512>(&self.expanded, msg, &self.verifying).to_bytes());
        Ok(())
    }
}

/// A public key decompressed once.
#[cfg(feature = "alloc")]
struct PreparedVerifyingKey(VerifyingKey);

#[cfg(feature = "alloc")]
impl PreparedVerifier for PreparedVerifyingKey {
    fn public_key(&self) -> &[u8] {
        self.0.as_bytes()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let sig: &[u8; 64] = sig.try_into().map_err(|_| Error::InvalidSignature)?;
        self.0
            .verify(msg, &Signature::from_bytes(sig))
            .map_err(|_| Error::InvalidSignature)
    }
}

/// The Ed25519 public key of a 32-byte seed.
pub fn public_from_seed(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// X25519 from x25519-dalek.
#[derive(Debug, Clone, Copy, Default)]
pub struct X25519Dalek;

impl X25519 for X25519Dalek {
    fn diffie_hellman(&self, sk: &[u8; 32], pk: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(*sk, *pk)
    }
    fn public_key(&self, sk: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(*sk, x25519_dalek::X25519_BASEPOINT_BYTES)
    }
    fn secret_from_ed25519_seed(&self, seed: &[u8; 32]) -> [u8; 32] {
        let mut h: [u8; 64] = Sha512::digest(seed).into();
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        zeroize::Zeroize::zeroize(&mut h);
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        s
    }
    fn public_from_ed25519(&self, pk: &[u8; 32]) -> Option<[u8; 32]> {
        curve25519_dalek::edwards::CompressedEdwardsY(*pk)
            .decompress()
            .map(|p| p.to_montgomery().to_bytes())
    }
}
