//! Post-quantum algorithms from pqcrypto (PQClean).
//!
//! pqcrypto draws its randomness inside the C code and offers no RNG
//! parameter, so `generate`, `encapsulate` and `sign` ignore the `rng`
//! argument here: known-answer files check these algorithms in the
//! verify/decapsulate direction.

use alloc::vec::Vec;
use e4_proto::crypto::{Kem, Rng, SignatureScheme};
use e4_proto::{Error, SymKey};
use pqcrypto_traits::kem::{Ciphertext as _, PublicKey as _, SecretKey as _, SharedSecret as _};
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _, SecretKey as _};
use zeroize::Zeroize;

fn copy_exact(dst: &mut [u8], src: &[u8]) -> Result<(), Error> {
    if dst.len() != src.len() {
        return Err(Error::BufferTooSmall);
    }
    dst.copy_from_slice(src);
    Ok(())
}

macro_rules! pq_kem {
    ($(#[$doc:meta])* $name:ident, $m:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Kem for $name {
            fn public_key_len(&self) -> usize {
                { use $m as m; m::public_key_bytes() }
            }
            fn secret_key_len(&self) -> usize {
                { use $m as m; m::secret_key_bytes() }
            }
            fn ciphertext_len(&self) -> usize {
                { use $m as m; m::ciphertext_bytes() }
            }
            fn generate(&self, _rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let (p, s) = m::keypair();
                copy_exact(pk, p.as_bytes())?;
                let mut sb: Vec<u8> = s.as_bytes().to_vec();
                let r = copy_exact(sk, &sb);
                sb.zeroize();
                r
            }
            fn encapsulate(&self, _rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
                use $m as m;
                let pk = m::PublicKey::from_bytes(pk).map_err(|_| Error::InvalidArgument)?;
                let (ss, c) = m::encapsulate(&pk);
                copy_exact(ct, c.as_bytes())?;
                SymKey::from_slice(ss.as_bytes()).ok_or(Error::Crypto)
            }
            fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
                use $m as m;
                let sk = m::SecretKey::from_bytes(sk).map_err(|_| Error::InvalidArgument)?;
                let ct = m::Ciphertext::from_bytes(ct).map_err(|_| Error::NotAuthentic)?;
                let ss = m::decapsulate(&ct, &sk);
                SymKey::from_slice(ss.as_bytes()).ok_or(Error::Crypto)
            }
        }
    };
}

macro_rules! pq_sig {
    ($(#[$doc:meta])* $name:ident, $m:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl SignatureScheme for $name {
            fn public_key_len(&self) -> usize {
                { use $m as m; m::public_key_bytes() }
            }
            fn secret_key_len(&self) -> usize {
                { use $m as m; m::secret_key_bytes() }
            }
            fn signature_len(&self) -> usize {
                { use $m as m; m::signature_bytes() }
            }
            fn generate(&self, _rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let (p, s) = m::keypair();
                copy_exact(pk, p.as_bytes())?;
                let mut sb: Vec<u8> = s.as_bytes().to_vec();
                let r = copy_exact(sk, &sb);
                sb.zeroize();
                r
            }
            fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
                use $m as m;
                let sk = m::SecretKey::from_bytes(sk).map_err(|_| Error::InvalidArgument)?;
                copy_exact(sig, m::detached_sign(msg, &sk).as_bytes())
            }
            fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
                use $m as m;
                let pk = m::PublicKey::from_bytes(pk).map_err(|_| Error::InvalidSignature)?;
                let sig = m::DetachedSignature::from_bytes(sig).map_err(|_| Error::InvalidSignature)?;
                m::verify_detached_signature(&sig, msg, &pk).map_err(|_| Error::InvalidSignature)
            }
        }
    };
}

#[cfg(feature = "pq")]
pq_kem!(
    /// ML-KEM-768 (FIPS 203).
    MlKem768, pqcrypto_mlkem::mlkem768
);
#[cfg(feature = "pq")]
pq_sig!(
    /// ML-DSA-65 (FIPS 204), empty context string.
    MlDsa65, pqcrypto_mldsa::mldsa65
);
#[cfg(feature = "pq-round3")]
pq_kem!(
    /// Kyber768 of pqcrypto-kyber 0.8: the draft FIPS 203 construction
    /// (encapsulation identical to ML-KEM-768; key generation differs).
    Kyber768Draft, pqcrypto_kyber::kyber768
);
#[cfg(feature = "pq-round3")]
pq_sig!(
    /// Dilithium3 of pqcrypto-dilithium 0.5: the draft FIPS 204 version
    /// (4032-byte secret key, 3309-byte signature), not round 3.
    Dilithium3Draft, pqcrypto_dilithium::dilithium3
);
