//! Secrets at rest: a master key derived with Argon2id from the operator
//! passphrase (random salt stored in the database), and XChaCha20-Poly1305
//! with the record's identity as associated data, so a ciphertext moved to
//! another row does not decrypt. Public keys are stored in clear but
//! authenticated: HMAC-SHA256 under a subkey of the master key (see
//! `key_integrity`).

use crate::error::{C2Error, C2Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use hmac::Mac;
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Length of the random salt.
pub const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Minimum passphrase length in bytes.
pub const MIN_PASSPHRASE_LEN: usize = 16;

/// Argon2id cost parameters (stored next to the salt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation).
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// `m,t,p` as stored.
    pub fn encode(&self) -> String {
        format!("argon2id,m={},t={},p={}", self.m_kib, self.t, self.p)
    }

    /// Parse [`KdfParams::encode`]'s output.
    pub fn decode(s: &str) -> C2Result<KdfParams> {
        let bad = || C2Error::internal(format!("unreadable kdf parameters {s:?}"));
        let mut parts = s.split(',');
        if parts.next() != Some("argon2id") {
            return Err(bad());
        }
        let mut get = |prefix: &str| -> C2Result<u32> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(prefix))
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)
        };
        Ok(KdfParams {
            m_kib: get("m=")?,
            t: get("t=")?,
            p: get("p=")?,
        })
    }
}

/// Label of the subkey that authenticates public keys at rest.
const PUBLIC_KEY_MAC_LABEL: &[u8] = b"e4c2 public key mac v1";

/// The key that encrypts every secret in the database, and the subkey that
/// authenticates the public keys stored in clear. Zeroized on drop.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    public_key_mac: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A fresh random salt.
pub fn random_salt() -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    OsRng.fill(&mut s);
    s
}

/// Refuse passphrases that are too short to be one.
pub fn check_passphrase(p: &[u8]) -> C2Result<()> {
    if p.len() < MIN_PASSPHRASE_LEN {
        return Err(C2Error::invalid(format!(
            "the passphrase must be at least {MIN_PASSPHRASE_LEN} bytes"
        )));
    }
    Ok(())
}

impl MasterKey {
    /// Argon2id(passphrase, salt) with `params`.
    pub fn derive(passphrase: &[u8], salt: &[u8], params: KdfParams) -> C2Result<MasterKey> {
        check_passphrase(passphrase)?;
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
            .map_err(|e| C2Error::internal(format!("argon2 parameters: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut key = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase, salt, &mut key[..])
            .map_err(|e| C2Error::internal(format!("argon2: {e}")))?;
        // HKDF-Expand(master, label, 32): one HMAC block, the master key
        // being uniformly random already.
        let mut label = PUBLIC_KEY_MAC_LABEL.to_vec();
        label.push(1);
        let public_key_mac = Zeroizing::new(hmac_sha256(&key[..], &label));
        Ok(MasterKey {
            key,
            public_key_mac,
        })
    }

    fn public_key_hmac(&self, msg: &[u8]) -> HmacSha256 {
        let mut m = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.public_key_mac[..])
            .expect("HMAC takes any key length");
        m.update(msg);
        m
    }

    /// HMAC-SHA256 of `msg` under the public-key subkey.
    pub fn public_key_mac(&self, msg: &[u8]) -> [u8; 32] {
        self.public_key_hmac(msg).finalize().into_bytes().into()
    }

    /// Whether `tag` is [`MasterKey::public_key_mac`] of `msg` (constant time).
    pub fn verify_public_key_mac(&self, msg: &[u8], tag: &[u8]) -> bool {
        self.public_key_hmac(msg).verify_slice(tag).is_ok()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.key[..]).into())
    }

    /// Encrypt `plaintext` bound to `aad`: `nonce(24) ‖ ciphertext ‖ tag(16)`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a bounded buffer");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt a [`MasterKey::seal`] output bound to `aad`.
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> C2Result<Zeroizing<Vec<u8>>> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(C2Error::internal("encrypted record too short"));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| {
                C2Error::internal("a record failed to decrypt (wrong passphrase or tampering)")
            })
    }

    /// Decrypt exactly 32 bytes.
    pub fn open_key32(&self, aad: &[u8], blob: &[u8]) -> C2Result<Zeroizing<[u8; 32]>> {
        let v = self.open(aad, blob)?;
        let mut k = Zeroizing::new([0u8; 32]);
        if v.len() != 32 {
            return Err(C2Error::internal("encrypted key of the wrong length"));
        }
        k.copy_from_slice(&v);
        Ok(k)
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m =
        <HmacSha256 as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Associated data naming a record: `e4c2/v1/<kind>/<id>`.
pub fn aad(kind: &str, id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + kind.len() + 1 + id.len());
    v.extend_from_slice(b"e4c2/v1/");
    v.extend_from_slice(kind.as_bytes());
    v.push(b'/');
    v.extend_from_slice(id);
    v
}

/// The associated data of the passphrase check value.
pub const CHECK_AAD: &[u8] = b"e4c2/v1/passphrase-check";
/// The plaintext of the passphrase check value of a database whose public
/// keys are not authenticated yet (written before `pk_mac` existed).
pub const CHECK_PLAINTEXT: &[u8] = b"e4c2 passphrase check";
/// The plaintext of the passphrase check value once every stored public key
/// of a device carries its MAC: a database writer without the passphrase cannot turn
/// it back into [`CHECK_PLAINTEXT`] to have keys trusted on first use again.
pub const CHECK_PLAINTEXT_MACS: &[u8] = b"e4c2 passphrase check; public keys authenticated v1";
/// The plaintext of the passphrase check value once C2's own public keys
/// (`c2_keys`, authenticated since a later version than devices' keys)
/// carry their MAC too. A database still at [`CHECK_PLAINTEXT_MACS`] has
/// only its `c2_keys` rows trusted on first use.
pub const CHECK_PLAINTEXT_MACS_V2: &[u8] = b"e4c2 passphrase check; public keys authenticated v2";

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams {
            m_kib: 256,
            t: 1,
            p: 1,
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let k = MasterKey::derive(b"correct horse battery", &[1; 16], fast()).unwrap();
        let blob = k.seal(&aad("client", b"a"), b"secret");
        assert_eq!(&k.open(&aad("client", b"a"), &blob).unwrap()[..], b"secret");
        assert!(k.open(&aad("client", b"b"), &blob).is_err());
        let other = MasterKey::derive(b"correct horse battery!", &[1; 16], fast()).unwrap();
        assert!(other.open(&aad("client", b"a"), &blob).is_err());
        let salted = MasterKey::derive(b"correct horse battery", &[2; 16], fast()).unwrap();
        assert!(salted.open(&aad("client", b"a"), &blob).is_err());
    }

    #[test]
    fn public_key_macs_depend_on_the_passphrase() {
        let k = MasterKey::derive(b"correct horse battery", &[1; 16], fast()).unwrap();
        let tag = k.public_key_mac(b"keys");
        assert!(k.verify_public_key_mac(b"keys", &tag));
        assert!(!k.verify_public_key_mac(b"keyz", &tag));
        assert!(!k.verify_public_key_mac(b"keys", &tag[..31]));
        let other = MasterKey::derive(b"correct horse battery!", &[1; 16], fast()).unwrap();
        assert!(!other.verify_public_key_mac(b"keys", &tag));
        // The subkey is not the encryption key.
        assert_ne!(tag, hmac_sha256(&k.key[..], b"keys"));
    }

    #[test]
    fn short_passphrase_is_refused() {
        assert!(matches!(
            MasterKey::derive(b"short", &[1; 16], fast()),
            Err(C2Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn params_round_trip() {
        let p = KdfParams::default();
        assert_eq!(KdfParams::decode(&p.encode()).unwrap(), p);
        assert!(KdfParams::decode("scrypt,m=1").is_err());
    }
}
