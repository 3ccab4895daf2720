//! The device's side: announce, accept a SetSuite, confirm, finish.

use super::*;

/// A plaintext buffer wiped on drop.
pub(super) struct Wipe(Vec<u8>);

impl Drop for Wipe {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// The keys a device generated for one offered suite. Secrets are zeroized
/// on drop. Symmetric: all empty (C2 sends the key); public key: Ed25519
/// `seed ‖ public` and public key, no KEM keys.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GeneratedKeys {
    /// The suite.
    pub suite: SuiteId,
    /// Signature secret key.
    pub sig_sk: SecretBytes,
    /// Signature public key.
    pub sig_pk: Vec<u8>,
    /// KEM decapsulation key.
    pub kem_sk: SecretBytes,
    /// KEM encapsulation key.
    pub kem_pk: Vec<u8>,
}

impl Zeroize for GeneratedKeys {
    fn zeroize(&mut self) {
        self.sig_sk.zeroize();
        self.kem_sk.zeroize();
    }
}

impl GeneratedKeys {
    fn generate(
        p: &CryptoProvider,
        suite: SuiteId,
        rng: &mut dyn Rng,
    ) -> Result<GeneratedKeys, Error> {
        let s = p.suite(suite).map_err(|_| Error::UnsupportedSuite)?;
        let mut keys = GeneratedKeys {
            suite,
            sig_sk: SecretBytes::default(),
            sig_pk: Vec::new(),
            kem_sk: SecretBytes::default(),
            kem_pk: Vec::new(),
        };
        if suite == SuiteId::Symmetric {
            return Ok(keys);
        }
        let params = suite.params();
        let sig = s.sig()?;
        let mut sk = alloc::vec![0u8; params.sig_secret_key];
        let mut pk = alloc::vec![0u8; params.sig_public_key];
        let r = sig.generate(rng, &mut sk, &mut pk);
        keys.sig_sk = SecretBytes::new(sk);
        r?;
        keys.sig_pk = pk;
        if suite.is_kem_suite() {
            let kem = s.kem()?;
            let mut sk = alloc::vec![0u8; params.kem_secret_key];
            let mut pk = alloc::vec![0u8; params.kem_public_key];
            let r = kem.generate(rng, &mut sk, &mut pk);
            keys.kem_sk = SecretBytes::new(sk);
            r?;
            keys.kem_pk = pk;
        }
        Ok(keys)
    }

    fn public(&self) -> OfferedKeys {
        OfferedKeys {
            suite: self.suite,
            sig_pk: self.sig_pk.clone(),
            kem_pk: self.kem_pk.clone(),
        }
    }

    /// The device identity in this suite with C2's `key` from the SetSuite.
    fn identity(&self, key: &[u8]) -> Result<Identity, Error> {
        if is_all_zero(key) {
            return Err(NegotiationError::BadKey.into());
        }
        Ok(match self.suite.family() {
            Family::E4Symmetric => Identity::Symmetric(
                SymKey::from_slice(key).ok_or(Error::from(NegotiationError::BadKey))?,
            ),
            Family::E4PublicKey => Identity::PubKey {
                signing: Ed25519Secret::from_slice(self.sig_sk.as_bytes())
                    .ok_or(Error::from(NegotiationError::BadKey))?,
                c2_public: key
                    .try_into()
                    .map_err(|_| Error::from(NegotiationError::BadKey))?,
            },
            Family::Kem => Identity::Kem(KemIdentity {
                sig_sk: self.sig_sk.clone(),
                sig_pk: self.sig_pk.clone(),
                kem_sk: self.kem_sk.clone(),
                kem_pk: self.kem_pk.clone(),
                c2_sig_pk: key.to_vec(),
            }),
        })
    }
}

/// What the device gets from an accepted SetSuite.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Accepted {
    /// The new suite.
    pub suite: SuiteId,
    /// The device's identity in it: build the new `Client` from it.
    pub identity: Identity,
    /// The Confirm to publish on the announce topic.
    pub confirm: Vec<u8>,
}

/// Everything a [`Negotiator`] must persist across a restart (persist it
/// before publishing what the negotiator produced).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NegotiatorParts {
    /// The device.
    pub id: Id,
    /// Its current suite.
    pub current: SuiteId,
    /// The suites it can run.
    pub capabilities: SuiteSet,
    /// The device's ranking (it never moves to a lower or equal rank).
    pub ranking: Ranking,
    /// The latest Announce (empty if none).
    pub announce: Vec<u8>,
    /// The keys generated for its offers (only the chosen suite's once a
    /// SetSuite was accepted).
    pub keys: Vec<GeneratedKeys>,
    /// The SetSuite accepted, if any.
    pub accepted: Option<SetSuite>,
}

/// The device's side of negotiation.
///
/// Lifecycle: [`Negotiator::announce`] (retry it on a timeout: each call
/// generates fresh keys and supersedes the previous Announce), then
/// [`Negotiator::accept`] a SetSuite received on the control topic (route a
/// control message to it when `Client::process_command` refused it with
/// `InvalidCommand`), build a `Client` of the new suite from
/// [`Accepted::identity`] while keeping the current one, publish
/// [`Accepted::confirm`] (re-sign it with [`Negotiator::confirm`] on a
/// timeout), and once the new client has processed its first command call
/// [`Negotiator::finish`] and drop the old client.
pub struct Negotiator {
    pub(super) provider: &'static CryptoProvider,
    pub(super) id: Id,
    pub(super) current: SuiteId,
    pub(super) capabilities: SuiteSet,
    pub(super) ranking: Ranking,
    pub(super) announce: Option<(Announce, [u8; TRANSCRIPT_LEN])>,
    pub(super) keys: Vec<GeneratedKeys>,
    pub(super) accepted: Option<SetSuite>,
}

impl Drop for Negotiator {
    fn drop(&mut self) {
        for k in &mut self.keys {
            k.zeroize();
        }
        if let Some(s) = &mut self.accepted {
            s.key.zeroize();
        }
    }
}

impl fmt::Debug for Negotiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Negotiator")
            .field("id", &self.id)
            .field("current", &self.current)
            .field("offered", &self.offered())
            .field("announced", &self.announce.is_some())
            .field("accepted", &self.accepted.as_ref().map(|s| s.suite))
            .finish()
    }
}

impl Negotiator {
    /// A negotiator for device `id` running `current`, able to run
    /// `capabilities` (those compiled into `provider` and ranked above
    /// `current` by `ranking` are offered).
    pub fn new(
        provider: &'static CryptoProvider,
        id: Id,
        current: SuiteId,
        capabilities: SuiteSet,
        ranking: Ranking,
    ) -> Result<Negotiator, Error> {
        if !provider.supports(current) {
            return Err(Error::UnsupportedSuite);
        }
        Ok(Negotiator {
            provider,
            id,
            current,
            capabilities,
            ranking,
            announce: None,
            keys: Vec::new(),
            accepted: None,
        })
    }

    /// [`Negotiator::new`] for `client`'s device and suite.
    pub fn for_client<S: Store, C: Clock, const R: usize>(
        client: &Client<S, C, R>,
        capabilities: SuiteSet,
        ranking: Ranking,
    ) -> Result<Negotiator, Error> {
        Negotiator::new(
            client.provider(),
            *client.id(),
            client.suite(),
            capabilities,
            ranking,
        )
    }

    /// The device's current suite.
    pub fn current(&self) -> SuiteId {
        self.current
    }
    /// The suites this device offers.
    pub fn offered(&self) -> SuiteSet {
        self.ranking.above(
            self.current,
            self.capabilities
                .intersection(SuiteSet::compiled_in(self.provider)),
        )
    }
    /// Whether the latest Announce offered the current suite again (a
    /// rekey, see [`Negotiator::announce_rekey`]).
    pub fn rekey_offered(&self) -> bool {
        self.announce
            .as_ref()
            .is_some_and(|(a, _)| a.offered(self.current).is_some())
    }
    /// The latest Announce, if any.
    pub fn latest_announce(&self) -> Option<&[u8]> {
        self.announce.as_ref().map(|(a, _)| a.as_bytes())
    }
    /// The suite of the accepted SetSuite, if any.
    pub fn accepted_suite(&self) -> Option<SuiteId> {
        self.accepted.as_ref().map(|s| s.suite)
    }

    fn check_client<S: Store, C: Clock, const R: usize>(
        &self,
        client: &Client<S, C, R>,
    ) -> Result<(), Error> {
        if *client.id() != self.id || client.suite() != self.current {
            return Err(NegotiationError::ClientMismatch.into());
        }
        Ok(())
    }

    /// Build a new Announce at the client's clock, with fresh keys for each
    /// offered suite, authenticated with the client's current identity. It
    /// supersedes any previous Announce (whose keys are erased). Refused
    /// once a SetSuite was accepted.
    pub fn announce<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, Error> {
        self.announce_offering(client, rng, false)
    }

    /// [`Negotiator::announce`] that also offers the current suite with
    /// fresh keys: C2 answers with a SetSuite for the current suite when
    /// nothing stronger is offered and allowed, and once the exchange
    /// finishes the device's old keys are gone (forward secrecy after a
    /// leak of the old decapsulation key). Only for a KEM suite
    /// ([`NegotiationError::RekeyUnsupported`] otherwise: symmetric and
    /// public-key devices get new keys with SetIdKey).
    pub fn announce_rekey<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, Error> {
        if !self.current.is_kem_suite() {
            return Err(NegotiationError::RekeyUnsupported.into());
        }
        self.announce_offering(client, rng, true)
    }

    fn announce_offering<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        rng: &mut dyn Rng,
        rekey: bool,
    ) -> Result<Vec<u8>, Error> {
        self.check_client(client)?;
        if self.accepted.is_some() {
            return Err(NegotiationError::AlreadyAccepted.into());
        }
        let mut offered = self.offered();
        if rekey {
            offered = offered.with(self.current);
        }
        let mut keys = Vec::new();
        for s in offered.iter() {
            keys.push(GeneratedKeys::generate(self.provider, s, rng)?);
        }
        let offers: Vec<OfferedKeys> = keys.iter().map(GeneratedKeys::public).collect();
        let mut bytes =
            encode_announce_body(client.clock().now(), &self.id, self.current, &offers)?;
        authenticate(
            self.provider,
            self.current,
            Kind::Announce,
            signer_of(client.identity()),
            &mut bytes,
        )?;
        let parsed = Announce::parse(&bytes)?;
        let transcript = parsed.transcript(self.provider);
        for k in &mut self.keys {
            k.zeroize();
        }
        self.keys = keys;
        self.announce = Some((parsed, transcript));
        Ok(bytes)
    }

    /// Authenticate a control-topic command with `client` (the device's
    /// current suite: freshness and C2's authentication) and, if it is a
    /// SetSuite answering the latest Announce for an offered suite ranked
    /// above the current one, accept it: returns the new identity and the
    /// Confirm. A SetSuite identical to the one already accepted returns the
    /// same identity and a freshly signed Confirm; any other is refused.
    pub fn accept<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        msg: &[u8],
    ) -> Result<Accepted, Error> {
        let mut buf = Wipe(alloc::vec![0u8; msg.len()]);
        let opened = client.open_control(msg, &mut buf.0)?;
        self.accept_opened(client, &opened)
    }

    /// [`Negotiator::accept`] for a control message the device already
    /// opened (with `client` or a copy of its state).
    pub fn accept_opened<S: Store, C: Clock, const R: usize>(
        &mut self,
        client: &Client<S, C, R>,
        opened: &Opened<'_>,
    ) -> Result<Accepted, Error> {
        self.check_client(client)?;
        let set = SetSuite::parse(opened.plaintext())?;
        let (_, transcript) = self
            .announce
            .as_ref()
            .ok_or(Error::from(NegotiationError::NoAnnounce))?;
        if !ct_eq(&set.transcript, transcript) {
            return Err(NegotiationError::TranscriptMismatch.into());
        }
        if let Some(prev) = &self.accepted {
            if prev.suite != set.suite || !ct_eq(prev.key.as_bytes(), set.key.as_bytes()) {
                return Err(NegotiationError::Conflict.into());
            }
        }
        // Never lower; the same suite only as the rekey the device asked
        // for (it offered the current suite again with fresh keys).
        let rekey = set.suite == self.current && self.rekey_offered();
        if self.ranking.rank(set.suite) <= self.ranking.rank(self.current) && !rekey {
            return Err(NegotiationError::Downgrade.into());
        }
        let keys = self
            .keys
            .iter()
            .find(|k| k.suite == set.suite)
            .ok_or(Error::from(NegotiationError::NotOffered))?;
        if set.key.len() != SetSuite::key_len(self.provider, set.suite)? {
            return Err(NegotiationError::BadKey.into());
        }
        let identity = keys.identity(set.key.as_bytes())?;
        let confirm = seal_confirm(
            self.provider,
            &self.id,
            set.suite,
            transcript,
            &identity,
            client.clock().now(),
        )?;
        let suite = set.suite;
        // Only the chosen suite's keys are still needed.
        for k in self.keys.iter_mut().filter(|k| k.suite != suite) {
            k.zeroize();
        }
        self.keys.retain(|k| k.suite == suite);
        self.accepted = Some(set);
        Ok(Accepted {
            suite,
            identity,
            confirm,
        })
    }

    fn accepted_keys(&self) -> Result<(&SetSuite, &GeneratedKeys), Error> {
        let set = self
            .accepted
            .as_ref()
            .ok_or(Error::from(NegotiationError::NoAnnounce))?;
        let keys = self
            .keys
            .iter()
            .find(|k| k.suite == set.suite)
            .ok_or(Error::from(NegotiationError::InvalidParts))?;
        Ok((set, keys))
    }

    /// The identity in the accepted suite (to rebuild the new client after
    /// a restart).
    pub fn new_identity(&self) -> Result<Identity, Error> {
        let (set, keys) = self.accepted_keys()?;
        keys.identity(set.key.as_bytes())
    }

    /// A Confirm of the accepted SetSuite signed at `now` (to retry when no
    /// command arrives in the new suite).
    pub fn confirm(&self, now: u64) -> Result<Vec<u8>, Error> {
        let (set, keys) = self.accepted_keys()?;
        let identity = keys.identity(set.key.as_bytes())?;
        seal_confirm(
            self.provider,
            &self.id,
            set.suite,
            &set.transcript,
            &identity,
            now,
        )
    }

    /// The new client has processed its first command, so C2 committed:
    /// the accepted suite becomes the current one and everything of the
    /// exchange is erased (drop the old client too). Returns the new suite.
    pub fn finish(&mut self) -> Result<SuiteId, Error> {
        let suite = self
            .accepted
            .as_ref()
            .ok_or(Error::from(NegotiationError::NoAnnounce))?
            .suite;
        for k in &mut self.keys {
            k.zeroize();
        }
        self.keys.clear();
        self.accepted = None;
        self.announce = None;
        self.current = suite;
        Ok(suite)
    }

    /// The parts to persist.
    pub fn to_parts(&self) -> NegotiatorParts {
        NegotiatorParts {
            id: self.id,
            current: self.current,
            capabilities: self.capabilities,
            ranking: self.ranking,
            announce: self
                .announce
                .as_ref()
                .map(|(a, _)| a.as_bytes().to_vec())
                .unwrap_or_default(),
            keys: self.keys.clone(),
            accepted: self.accepted.clone(),
        }
    }

    /// Rebuild a negotiator from persisted parts, checking that they are
    /// consistent: the Announce parses and is this device's in its current
    /// suite, the keys are exactly those it offered (or, once a SetSuite was
    /// accepted, the chosen suite's), the accepted SetSuite answers it.
    pub fn from_parts(
        provider: &'static CryptoProvider,
        parts: NegotiatorParts,
    ) -> Result<Negotiator, Error> {
        let mut n = Negotiator::new(
            provider,
            parts.id,
            parts.current,
            parts.capabilities,
            parts.ranking,
        )?;
        n.keys = parts.keys;
        n.accepted = parts.accepted;
        if parts.announce.is_empty() {
            if !n.keys.is_empty() || n.accepted.is_some() {
                return Err(NegotiationError::InvalidParts.into());
            }
            return Ok(n);
        }
        let a = Announce::parse(&parts.announce)
            .map_err(|_| Error::from(NegotiationError::InvalidParts))?;
        if a.device != n.id || a.current != n.current {
            return Err(NegotiationError::InvalidParts.into());
        }
        let transcript = a.transcript(provider);
        let expected: Vec<&OfferedKeys> = match &n.accepted {
            Some(set) => {
                if !ct_eq(&set.transcript, &transcript) {
                    return Err(NegotiationError::InvalidParts.into());
                }
                a.offers.iter().filter(|o| o.suite == set.suite).collect()
            }
            None => a.offers.iter().collect(),
        };
        let consistent = expected.len() == n.keys.len()
            && expected.iter().zip(&n.keys).all(|(o, k)| **o == k.public());
        if !consistent {
            return Err(NegotiationError::InvalidParts.into());
        }
        if n.accepted.is_some() {
            n.new_identity()
                .map_err(|_| Error::from(NegotiationError::InvalidParts))?;
        }
        n.announce = Some((a, transcript));
        Ok(n)
    }
}
