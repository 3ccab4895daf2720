//! SHA3-256 and AES-SIV from RustCrypto: the primitives every suite shares.

use aes_siv::aead::generic_array::GenericArray;
use aes_siv::siv::Aes256Siv;
use aes_siv::KeyInit;
use e4_proto::crypto::{Sha3, Siv, SIV_LEN};
use e4_proto::{Error, SymKey};
use sha3::{Digest, Sha3_256};
use zeroize::Zeroizing;

/// SHA3-256 from the `sha3` crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha3Rc;

impl Sha3 for Sha3Rc {
    fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha3_256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}

/// AES-SIV from the `aes-siv` crate, with E4's doubled key `K ‖ K`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AesSiv;

fn cipher(key: &SymKey) -> Aes256Siv {
    let mut k = Zeroizing::new([0u8; 64]);
    k[..32].copy_from_slice(key.as_bytes());
    k[32..].copy_from_slice(key.as_bytes());
    Aes256Siv::new(GenericArray::from_slice(&k[..]))
}

impl Siv for AesSiv {
    fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
        let tag = cipher(key)
            .encrypt_in_place_detached([ad], buf)
            .expect("one header is within the limit");
        tag.into()
    }

    fn open(
        &self,
        key: &SymKey,
        ad: &[u8],
        siv: &[u8; SIV_LEN],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        cipher(key)
            .decrypt_in_place_detached([ad], buf, GenericArray::from_slice(siv))
            .map_err(|_| Error::NotAuthentic)
    }
}
