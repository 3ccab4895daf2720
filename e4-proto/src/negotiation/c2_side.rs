//! C2's side: check an Announce, answer it, check the Confirm.

use super::*;

/// C2: check an Announce from `device`, whose registered suite is
/// `current` and material `registered`. `last_accepted` is the timestamp of
/// the last Announce C2 accepted from this device (None if none): the new
/// one must be strictly newer, and fresh (600 s window, not in the future).
///
/// Order: structure, device, suite, freshness, newer-than-last,
/// authentication, then the lengths of the offered keys of every suite
/// compiled in. On success the caller records `announce.ts()` as the new
/// last accepted timestamp and calls [`choose`].
pub fn verify_announce(
    p: &CryptoProvider,
    msg: &[u8],
    device: &Id,
    current: SuiteId,
    registered: &DeviceMaterial,
    last_accepted: Option<u64>,
    now: u64,
) -> Result<Announce, Error> {
    let a = Announce::parse(msg)?;
    if a.device != *device {
        return Err(NegotiationError::WrongDevice.into());
    }
    if a.current != current {
        return Err(NegotiationError::WrongSuite.into());
    }
    check_fresh(a.ts, now)?;
    if last_accepted.is_some_and(|last| a.ts <= last) {
        return Err(NegotiationError::NotNewer.into());
    }
    verify_auth(
        p,
        current,
        Kind::Announce,
        registered,
        &a.bytes[..a.auth_at],
        a.auth(),
    )?;
    for o in &a.offers {
        if let Ok((sig_len, kem_len)) = offer_key_lens(p, o.suite) {
            let ok = o.sig_pk.len() == sig_len
                && o.kem_pk.len() == kem_len
                && (sig_len == 0 || !is_all_zero(&o.sig_pk))
                && (kem_len == 0 || !is_all_zero(&o.kem_pk));
            if !ok {
                return Err(NegotiationError::BadKey.into());
            }
        }
    }
    Ok(a)
}

/// What C2 remembers between sending a SetSuite and receiving the Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pending {
    /// The device.
    pub device: Id,
    /// The suite C2 moves it to.
    pub suite: SuiteId,
    /// The transcript of the Announce answered.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// The timestamp of that Announce.
    pub announce_ts: u64,
    /// The device's material in the new suite (its offered keys, or the new
    /// symmetric key): what C2 registers once the Confirm verifies.
    pub material: DeviceMaterial,
}

/// C2: the SetSuite moving the device of `announce` (already verified) to
/// `suite` (the [`Decision::Upgrade`] of [`choose`]), and the [`Pending`]
/// state to keep until the Confirm.
///
/// `c2_public` is C2's public key for the new suite: its X25519 public key
/// (public-key suite) or its signature public key (kem suites); it must be
/// empty for the symmetric suite, whose new client key is drawn from `rng`.
/// Protect `SetSuite::encode()` with `c2::seal_command_vec` under the
/// device's current suite.
pub fn answer(
    p: &CryptoProvider,
    announce: &Announce,
    suite: SuiteId,
    c2_public: &[u8],
    rng: &mut dyn Rng,
) -> Result<(SetSuite, Pending), Error> {
    let offered = announce
        .offered(suite)
        .ok_or(Error::from(NegotiationError::NotOffered))?;
    let (sig_len, kem_len) = offer_key_lens(p, suite)?;
    if offered.sig_pk.len() != sig_len || offered.kem_pk.len() != kem_len {
        return Err(NegotiationError::BadKey.into());
    }
    let key_len = SetSuite::key_len(p, suite)?;
    let (key, material) = match suite.family() {
        Family::E4Symmetric => {
            if !c2_public.is_empty() {
                return Err(NegotiationError::BadKey.into());
            }
            let mut k = Zeroizing::new([0u8; SYM_KEY_LEN]);
            while is_all_zero(&k[..]) {
                rng.fill(&mut k[..]);
            }
            (
                SecretBytes::from_slice(&k[..]),
                DeviceMaterial::Symmetric(SymKey::new(*k)),
            )
        }
        Family::E4PublicKey | Family::Kem => {
            if c2_public.len() != key_len || is_all_zero(c2_public) {
                return Err(NegotiationError::BadKey.into());
            }
            let material = if suite == SuiteId::PubKey {
                DeviceMaterial::PubKey(
                    offered
                        .sig_pk
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::from(NegotiationError::BadKey))?,
                )
            } else {
                DeviceMaterial::Kem {
                    sig_pk: offered.sig_pk.clone(),
                    kem_pk: offered.kem_pk.clone(),
                }
            };
            (SecretBytes::from_slice(c2_public), material)
        }
    };
    let transcript = announce.transcript(p);
    Ok((
        SetSuite {
            suite,
            transcript,
            key,
        },
        Pending {
            device: announce.device,
            suite,
            transcript,
            announce_ts: announce.ts,
            material,
        },
    ))
}

/// C2: check a Confirm against the pending answer: device, suite,
/// transcript (constant time), freshness, then the new suite's
/// authenticator with the offered keys. On success C2 commits: the device
/// runs `pending.suite` with `pending.material`, and C2 erases its
/// current-suite material.
pub fn verify_confirm(
    p: &CryptoProvider,
    msg: &[u8],
    pending: &Pending,
    now: u64,
) -> Result<Confirm, Error> {
    let c = Confirm::parse(msg)?;
    if c.device != pending.device {
        return Err(NegotiationError::WrongDevice.into());
    }
    if c.suite != pending.suite {
        return Err(NegotiationError::WrongSuite.into());
    }
    if !ct_eq(&c.transcript, &pending.transcript) {
        return Err(NegotiationError::TranscriptMismatch.into());
    }
    check_fresh(c.ts, now)?;
    verify_auth(
        p,
        pending.suite,
        Kind::Confirm,
        &pending.material,
        &msg[..CONFIRM_FIXED],
        &c.auth,
    )?;
    Ok(c)
}
