//! The negotiation messages and their exact encodings.

use super::*;

/// The transcript of an Announce: `SHA3-256("e4 negotiation v1" | bytes)`.
pub fn transcript_of(p: &CryptoProvider, announce: &[u8]) -> [u8; TRANSCRIPT_LEN] {
    p.hash.sha3_256(&[TRANSCRIPT_LABEL, announce])
}

/// One offered suite with the device's fresh public keys for it (both empty
/// for the symmetric suite; no KEM key for the public-key suite).
#[derive(Clone, PartialEq, Eq)]
pub struct OfferedKeys {
    /// The suite.
    pub suite: SuiteId,
    /// The signature public key.
    pub sig_pk: Vec<u8>,
    /// The KEM encapsulation key.
    pub kem_pk: Vec<u8>,
}

impl fmt::Debug for OfferedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OfferedKeys({}, sig pk {} B, kem pk {} B)",
            self.suite,
            self.sig_pk.len(),
            self.kem_pk.len()
        )
    }
}

pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(Error::from(NegotiationError::Malformed))?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(Error::from(NegotiationError::Malformed))?;
        self.at = end;
        Ok(s)
    }
    pub(super) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u16(&mut self) -> Result<usize, Error> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
}

pub(super) fn push_u16(out: &mut Vec<u8>, n: usize) -> Result<(), Error> {
    let n = u16::try_from(n).map_err(|_| Error::from(NegotiationError::BadKey))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// A parsed Announce. Parsing checks the structure only; C2 authenticates
/// it with [`verify_announce`].
#[derive(Clone, PartialEq, Eq)]
pub struct Announce {
    pub(super) ts: u64,
    pub(super) device: Id,
    pub(super) current: SuiteId,
    pub(super) offers: Vec<OfferedKeys>,
    pub(super) auth_at: usize,
    pub(super) bytes: Vec<u8>,
}

impl fmt::Debug for Announce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announce")
            .field("ts", &self.ts)
            .field("device", &self.device)
            .field("current", &self.current)
            .field("offers", &self.offers)
            .finish_non_exhaustive()
    }
}

impl Announce {
    /// Parse untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Announce, Error> {
        if bytes.len() < ANNOUNCE_FIXED {
            return Err(NegotiationError::Malformed.into());
        }
        let mut r = Reader { bytes, at: 0 };
        let ts = time::decode(r.take(TIMESTAMP_LEN)?);
        if r.u8()? != ANNOUNCE_KIND {
            return Err(NegotiationError::WrongKind.into());
        }
        let device =
            Id::from_slice(r.take(ID_LEN)?).ok_or(Error::from(NegotiationError::Malformed))?;
        let current = suite_from_code(r.u8()?)?;
        let n = usize::from(r.u8()?);
        if n > MAX_OFFERS {
            return Err(NegotiationError::DuplicateOffer.into());
        }
        let mut offers: Vec<OfferedKeys> = Vec::with_capacity(n);
        let mut seen = SuiteSet::EMPTY;
        for _ in 0..n {
            let suite = suite_from_code(r.u8()?)?;
            if seen.contains(suite) {
                return Err(NegotiationError::DuplicateOffer.into());
            }
            seen = seen.with(suite);
            let len = r.u16()?;
            let sig_pk = r.take(len)?.to_vec();
            let len = r.u16()?;
            let kem_pk = r.take(len)?.to_vec();
            offers.push(OfferedKeys {
                suite,
                sig_pk,
                kem_pk,
            });
        }
        let auth_at = r.at;
        if auth_at >= bytes.len() {
            return Err(NegotiationError::Malformed.into());
        }
        Ok(Announce {
            ts,
            device,
            current,
            offers,
            auth_at,
            bytes: bytes.to_vec(),
        })
    }

    /// The device's timestamp.
    pub fn ts(&self) -> u64 {
        self.ts
    }
    /// The device.
    pub fn device(&self) -> &Id {
        &self.device
    }
    /// The device's current suite.
    pub fn current(&self) -> SuiteId {
        self.current
    }
    /// The offered suites with their keys, in wire order.
    pub fn offers(&self) -> &[OfferedKeys] {
        &self.offers
    }
    /// The keys offered for `suite`.
    pub fn offered(&self, suite: SuiteId) -> Option<&OfferedKeys> {
        self.offers.iter().find(|o| o.suite == suite)
    }
    /// The offer, for [`choose`].
    pub fn offer(&self) -> Offer {
        Offer {
            current: self.current,
            suites: self
                .offers
                .iter()
                .fold(SuiteSet::EMPTY, |acc, o| acc.with(o.suite)),
        }
    }
    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The authenticator (tag or signature).
    pub fn auth(&self) -> &[u8] {
        &self.bytes[self.auth_at..]
    }
    /// The transcript hash a SetSuite answering this Announce carries.
    pub fn transcript(&self, p: &CryptoProvider) -> [u8; TRANSCRIPT_LEN] {
        transcript_of(p, &self.bytes)
    }
}

pub(super) fn encode_announce_body(
    ts: u64,
    device: &Id,
    current: SuiteId,
    offers: &[OfferedKeys],
) -> Result<Vec<u8>, Error> {
    if offers.len() > MAX_OFFERS {
        return Err(NegotiationError::DuplicateOffer.into());
    }
    let mut out = Vec::new();
    out.extend_from_slice(&time::encode(ts));
    out.push(ANNOUNCE_KIND);
    out.extend_from_slice(&device.0);
    out.push(current.code());
    out.push(offers.len() as u8);
    for o in offers {
        out.push(o.suite.code());
        push_u16(&mut out, o.sig_pk.len())?;
        out.extend_from_slice(&o.sig_pk);
        push_u16(&mut out, o.kem_pk.len())?;
        out.extend_from_slice(&o.kem_pk);
    }
    Ok(out)
}

/// A parsed SetSuite command. The key is C2's public key for the new suite
/// (X25519 for the public-key suite, the suite's signature public key for
/// kem suites), or, for a move to the symmetric suite, the new client key:
/// it is kept as a secret and zeroized.
#[derive(Clone, PartialEq, Eq)]
pub struct SetSuite {
    /// The suite to move to.
    pub suite: SuiteId,
    /// The transcript of the Announce it answers.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// C2's key for the new suite.
    pub key: SecretBytes,
}

impl fmt::Debug for SetSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetSuite({}, {} B key)", self.suite, self.key.len())
    }
}

impl SetSuite {
    /// Parse command plaintext (opcode included). Key length is checked
    /// against the suite by the device ([`SetSuite::key_len`]).
    pub fn parse(bytes: &[u8]) -> Result<SetSuite, Error> {
        let (&op, _) = bytes
            .split_first()
            .ok_or(Error::from(NegotiationError::Malformed))?;
        if op != SET_SUITE_OPCODE {
            return Err(NegotiationError::NotSetSuite.into());
        }
        if bytes.len() <= SET_SUITE_FIXED {
            return Err(NegotiationError::Malformed.into());
        }
        let suite = suite_from_code(bytes[1])?;
        let mut transcript = [0u8; TRANSCRIPT_LEN];
        transcript.copy_from_slice(&bytes[2..SET_SUITE_FIXED]);
        Ok(SetSuite {
            suite,
            transcript,
            key: SecretBytes::from_slice(&bytes[SET_SUITE_FIXED..]),
        })
    }

    /// The command plaintext, to protect with `c2::seal_command_vec` under
    /// the device's current suite.
    pub fn encode(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(SET_SUITE_FIXED + self.key.len());
        out.push(SET_SUITE_OPCODE);
        out.push(self.suite.code());
        out.extend_from_slice(&self.transcript);
        out.extend_from_slice(self.key.as_bytes());
        SecretBytes::new(out)
    }

    /// The length of the key a SetSuite for `suite` carries.
    pub fn key_len(p: &CryptoProvider, suite: SuiteId) -> Result<usize, Error> {
        p.suite(suite).map_err(|_| Error::UnsupportedSuite)?;
        Ok(match suite.family() {
            // The new client key.
            Family::E4Symmetric => SYM_KEY_LEN,
            Family::E4PublicKey | Family::Kem => suite.params().c2_public_key,
        })
    }
}

/// A parsed Confirm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Confirm {
    /// The device's timestamp.
    pub ts: u64,
    /// The device.
    pub device: Id,
    /// The suite the device moved to.
    pub suite: SuiteId,
    /// The transcript of the Announce the SetSuite answered.
    pub transcript: [u8; TRANSCRIPT_LEN],
    /// The authenticator (tag or signature).
    pub auth: Vec<u8>,
}

impl Confirm {
    /// Parse untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Confirm, Error> {
        if bytes.len() <= CONFIRM_FIXED {
            return Err(NegotiationError::Malformed.into());
        }
        if bytes[TIMESTAMP_LEN] != CONFIRM_KIND {
            return Err(NegotiationError::WrongKind.into());
        }
        let device = Id::from_slice(&bytes[TIMESTAMP_LEN + 1..TIMESTAMP_LEN + 1 + ID_LEN])
            .ok_or(Error::from(NegotiationError::Malformed))?;
        let suite = suite_from_code(bytes[HEAD_LEN - 1])?;
        let mut transcript = [0u8; TRANSCRIPT_LEN];
        transcript.copy_from_slice(&bytes[HEAD_LEN..CONFIRM_FIXED]);
        Ok(Confirm {
            ts: time::decode(bytes),
            device,
            suite,
            transcript,
            auth: bytes[CONFIRM_FIXED..].to_vec(),
        })
    }
}

pub(super) fn seal_confirm(
    p: &CryptoProvider,
    device: &Id,
    suite: SuiteId,
    transcript: &[u8; TRANSCRIPT_LEN],
    identity: &Identity,
    ts: u64,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(CONFIRM_FIXED + 16);
    out.extend_from_slice(&time::encode(ts));
    out.push(CONFIRM_KIND);
    out.extend_from_slice(&device.0);
    out.push(suite.code());
    out.extend_from_slice(transcript);
    authenticate(p, suite, Kind::Confirm, signer_of(identity), &mut out)?;
    Ok(out)
}
