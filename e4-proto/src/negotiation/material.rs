//! A device's key material and how negotiation messages are authenticated
//! with it.

use super::*;

/// What C2 holds of a device in one suite: enough to protect commands for
/// it and to authenticate its Announce / Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeviceMaterial {
    /// Symmetric suite: the client key (a secret shared with C2).
    Symmetric(SymKey),
    /// Public-key suite: the device's Ed25519 public key.
    PubKey([u8; 32]),
    /// Kem suites: the device's signature and KEM public keys.
    Kem {
        /// Signature public key.
        sig_pk: Vec<u8>,
        /// KEM encapsulation key.
        kem_pk: Vec<u8>,
    },
}

impl DeviceMaterial {
    /// The material C2 registers for a device provisioned with `identity`.
    pub fn of_identity(identity: &Identity) -> DeviceMaterial {
        match identity {
            Identity::Symmetric(k) => DeviceMaterial::Symmetric(k.clone()),
            Identity::PubKey { signing, .. } => DeviceMaterial::PubKey(signing.public()),
            Identity::Kem(k) => DeviceMaterial::Kem {
                sig_pk: k.sig_pk.clone(),
                kem_pk: k.kem_pk.clone(),
            },
        }
    }

    /// The key to pass to [`crate::c2::seal_command`].
    pub fn device_key(&self) -> DeviceKey<'_> {
        match self {
            DeviceMaterial::Symmetric(k) => DeviceKey::Symmetric(k),
            DeviceMaterial::PubKey(pk) => DeviceKey::PubKey(pk),
            DeviceMaterial::Kem { kem_pk, .. } => DeviceKey::Kem(kem_pk),
        }
    }

    /// Whether the material has the shape of `suite`'s.
    fn fits(&self, suite: SuiteId) -> bool {
        matches!(
            (self, suite),
            (DeviceMaterial::Symmetric(_), SuiteId::Symmetric)
                | (DeviceMaterial::PubKey(_), SuiteId::PubKey)
        ) || (matches!(self, DeviceMaterial::Kem { .. }) && suite.is_kem_suite())
    }
}

/// The device's secret side of an authentication.
pub(super) enum Signer<'a> {
    Symmetric(&'a SymKey),
    Signature(&'a [u8]),
}

pub(super) fn signer_of(identity: &Identity) -> Signer<'_> {
    match identity {
        Identity::Symmetric(k) => Signer::Symmetric(k),
        Identity::PubKey { signing, .. } => Signer::Signature(signing.as_bytes()),
        Identity::Kem(k) => Signer::Signature(k.sig_sk.as_bytes()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Announce,
    Confirm,
    Sync,
}

impl Kind {
    fn key_label(self) -> &'static [u8] {
        match self {
            Kind::Announce => ANNOUNCE_KEY_LABEL,
            Kind::Confirm => CONFIRM_KEY_LABEL,
            Kind::Sync => SYNC_KEY_LABEL,
        }
    }
    fn sig_label(self) -> &'static [u8] {
        match self {
            Kind::Announce => ANNOUNCE_SIG_LABEL,
            Kind::Confirm => CONFIRM_SIG_LABEL,
            Kind::Sync => SYNC_SIG_LABEL,
        }
    }
}

pub(super) fn labelled(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + body.len());
    m.extend_from_slice(label);
    m.extend_from_slice(body);
    m
}

pub(super) fn derived_key(p: &CryptoProvider, kind: Kind, key: &SymKey) -> SymKey {
    SymKey::new(p.hash.sha3_256(&[kind.key_label(), key.as_bytes()]))
}

/// Append the authenticator of `body` (which is `out`) under `suite`.
pub(super) fn authenticate(
    p: &CryptoProvider,
    suite: SuiteId,
    kind: Kind,
    signer: Signer<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match (suite.family(), signer) {
        (Family::E4Symmetric, Signer::Symmetric(k)) => {
            let key = derived_key(p, kind, k);
            let tag = p.siv.seal(&key, out, &mut []);
            out.extend_from_slice(&tag);
            Ok(())
        }
        (Family::E4PublicKey | Family::Kem, Signer::Signature(sk)) => {
            let sig = p
                .suite(suite)
                .and_then(|x| x.sig())
                .map_err(|_| Error::UnsupportedSuite)?;
            let mut signature = alloc::vec![0u8; sig.signature_len()];
            sig.sign(sk, &labelled(kind.sig_label(), out), &mut signature)?;
            out.extend_from_slice(&signature);
            Ok(())
        }
        _ => Err(NegotiationError::BadKey.into()),
    }
}

/// Check the authenticator `auth` of `body` under the device's `material`
/// for `suite`.
pub(super) fn verify_auth(
    p: &CryptoProvider,
    suite: SuiteId,
    kind: Kind,
    material: &DeviceMaterial,
    body: &[u8],
    auth: &[u8],
) -> Result<(), Error> {
    if !material.fits(suite) {
        return Err(NegotiationError::BadKey.into());
    }
    let s = p.suite(suite).map_err(|_| Error::UnsupportedSuite)?;
    match material {
        DeviceMaterial::Symmetric(k) => {
            let tag: &[u8; SIV_LEN] = auth
                .try_into()
                .map_err(|_| Error::from(NegotiationError::NotAuthentic))?;
            p.siv
                .open(&derived_key(p, kind, k), body, tag, &mut [])
                .map_err(|_| Error::from(NegotiationError::NotAuthentic))
        }
        DeviceMaterial::PubKey(pk) => verify_sig(s, pk, kind, body, auth),
        DeviceMaterial::Kem { sig_pk, .. } => verify_sig(s, sig_pk, kind, body, auth),
    }
}

pub(super) fn verify_sig(
    s: &crate::suite::Suite,
    pk: &[u8],
    kind: Kind,
    body: &[u8],
    auth: &[u8],
) -> Result<(), Error> {
    let sig = s.sig().map_err(|_| Error::UnsupportedSuite)?;
    if auth.len() != sig.signature_len() {
        return Err(NegotiationError::NotAuthentic.into());
    }
    sig.verify(pk, &labelled(kind.sig_label(), body), auth)
        .map_err(|_| Error::from(NegotiationError::NotAuthentic))
}

/// The (signature, KEM) public key lengths an offer of `suite` carries.
pub fn offer_key_lens(p: &CryptoProvider, suite: SuiteId) -> Result<(usize, usize), Error> {
    p.suite(suite).map_err(|_| Error::UnsupportedSuite)?;
    let params = suite.params();
    Ok((params.sig_public_key, params.kem_public_key))
}
