//! The client state machine: identity, topic keys with key transition,
//! public keys of other devices, C2's key, command processing.
//!
//! Every operation either succeeds or returns an [`Error`] and leaves the
//! state exactly as it was.

use crate::command::{self, Command};
use crate::control::{self, Opened};
#[cfg(feature = "alloc")]
use crate::crypto::Signer;
use crate::crypto::{CryptoProvider, KeySigner, Siv, SivItem, SIV_LEN};
use crate::error::Error;
use crate::ids::{ClientId, ControlTopic, Id, TopicHash};
use crate::keys::{is_all_zero, Ed25519Secret, SymKey, X25519_LEN};
use crate::message::{self, SignedMessage, SymMessage, SYM_OVERHEAD};
use crate::replay::ReplayCache;
use crate::store::{PreviousKey, Store, TopicEntry};
use crate::suite::{Family, Suite, SuiteId};
use crate::time::{self, Clock};

#[cfg(feature = "alloc")]
use crate::keys::SecretBytes;
#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// The long-term key material of a client, per suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Symmetric suite: the client key, which also protects commands.
    Symmetric(SymKey),
    /// Public-key suite: the Ed25519 key (`seed ‖ public`) and C2's
    /// Curve25519 public key.
    PubKey {
        /// The client's signing key.
        signing: Ed25519Secret,
        /// C2's Curve25519 public key.
        c2_public: [u8; X25519_LEN],
    },
    /// Kem suites (post-quantum, draft, hybrid).
    #[cfg(feature = "alloc")]
    Kem(KemIdentity),
}

/// Key material of a kem-suite client.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KemIdentity {
    /// Signature secret key.
    pub sig_sk: SecretBytes,
    /// Signature public key.
    pub sig_pk: Vec<u8>,
    /// KEM decapsulation key.
    pub kem_sk: SecretBytes,
    /// KEM encapsulation key (given to C2).
    pub kem_pk: Vec<u8>,
    /// C2's signature public key.
    pub c2_sig_pk: Vec<u8>,
}

/// What [`Client::unprotect`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprotected {
    /// An application message of this many bytes, written to `out`.
    Message(usize),
    /// A command (this opcode) that was applied to the state.
    Command(u8),
}

/// Default number of accepted messages remembered for replay rejection.
pub const DEFAULT_REPLAY_SLOTS: usize = 64;

/// An E4 client.
///
/// `S` stores topic and public keys, `C` tells the time, `R` bounds the
/// replay cache (set it to 0 on devices that cannot spare `R * 40` bytes).
pub struct Client<S: Store, C: Clock, const R: usize = DEFAULT_REPLAY_SLOTS> {
    provider: &'static CryptoProvider,
    suite: &'static Suite,
    id: Id,
    client_id: ClientId,
    identity: Identity,
    command_key: Option<SymKey>,
    store: S,
    clock: C,
    replay: ReplayCache<R>,
    replay_on: bool,
    #[cfg(feature = "alloc")]
    topics: core::cell::RefCell<crate::topic_cache::TopicCache>,
    /// Topic keys prepared by the provider, per topic.
    #[cfg(feature = "alloc")]
    prepared: core::cell::RefCell<crate::prepared::PreparedTopics>,
    /// Senders' public keys decoded by the provider.
    #[cfg(feature = "alloc")]
    senders: crate::prepared::PreparedSenders,
    /// This client's signing key decoded by the provider (signed suites).
    #[cfg(feature = "alloc")]
    signer: Option<alloc::boxed::Box<dyn Signer + Send + Sync>>,
}

impl<S: Store, C: Clock, const R: usize> Client<S, C, R> {
    /// A client of `suite` (which must be compiled into `provider` and match
    /// `identity`).
    pub fn new(
        provider: &'static CryptoProvider,
        suite: SuiteId,
        id: Id,
        identity: Identity,
        store: S,
        clock: C,
    ) -> Result<Self, Error> {
        Client::with_client_id(provider, suite, id.into(), identity, store, clock)
    }

    /// A client whose own id is any [`ClientId`]: a symmetric-key client
    /// may have an id of 1 to [`crate::ids::CLIENT_ID_MAX`] bytes, as
    /// e4go's, and listens on `e4/` + the hex of the whole id; the other
    /// suites send their id in every message and need 16 bytes
    /// ([`Error::InvalidArgument`] otherwise).
    pub fn with_client_id(
        provider: &'static CryptoProvider,
        suite: SuiteId,
        client_id: ClientId,
        identity: Identity,
        store: S,
        clock: C,
    ) -> Result<Self, Error> {
        let suite = provider.suite(suite)?;
        let id = match (client_id.as_id(), suite.id.family()) {
            (Some(id), _) => id,
            (None, Family::E4Symmetric) => client_id.slot_id(),
            (None, _) => return Err(Error::InvalidArgument),
        };
        let command_key = derive_command_key(provider, suite, &identity)?;
        #[cfg(feature = "alloc")]
        let signer = prepare_signer(suite, &identity);
        Ok(Client {
            provider,
            suite,
            id,
            client_id,
            identity,
            command_key,
            store,
            clock,
            replay: ReplayCache::new(),
            replay_on: true,
            #[cfg(feature = "alloc")]
            topics: Default::default(),
            #[cfg(feature = "alloc")]
            prepared: Default::default(),
            #[cfg(feature = "alloc")]
            senders: Default::default(),
            #[cfg(feature = "alloc")]
            signer,
        })
    }

    /// Turn replay rejection on (the default) or off (e4go's behaviour).
    pub fn set_replay_protection(&mut self, on: bool) {
        self.replay_on = on;
        self.replay.clear();
    }

    /// Whether replay rejection is on.
    pub fn replay_protection(&self) -> bool {
        self.replay_on
    }

    /// The client's 16-byte id. For a symmetric client made with an id of
    /// another length ([`Client::with_client_id`]), its
    /// [`ClientId::slot_id`]; [`Client::client_id`] is the id itself.
    pub fn id(&self) -> &Id {
        &self.id
    }
    /// The client's own id as it was given.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }
    /// The client's suite.
    pub fn suite(&self) -> SuiteId {
        self.suite.id
    }
    /// The provider this client uses.
    pub fn provider(&self) -> &'static CryptoProvider {
        self.provider
    }
    /// The control topic on which commands arrive.
    pub fn control_topic(&self) -> ControlTopic {
        self.client_id.control_topic()
    }
    /// The identity key material.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// The key store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
    /// Take the client apart (e.g. to persist it).
    pub fn into_parts(self) -> (Id, Identity, S) {
        (self.id, self.identity, self.store)
    }

    /// Hash a topic name. With `alloc`, the last topics used are kept
    /// ([`crate::topic_cache`]): the string-topic calls then cost what the
    /// `*_hashed` ones do.
    pub fn topic_hash(&self, topic: &str) -> TopicHash {
        #[cfg(feature = "alloc")]
        if let Ok(mut cache) = self.topics.try_borrow_mut() {
            return cache.hash(self.provider.hash, topic.as_bytes());
        }
        TopicHash::of(self.provider.hash, topic.as_bytes())
    }

    /// Bytes added to each payload by this client's suite.
    pub fn overhead(&self) -> usize {
        self.suite.id.message_overhead()
    }

    /// Set a topic key directly (provisioning without C2, tests, tools).
    pub fn set_topic_key(&mut self, topic: &TopicHash, key: &SymKey) -> Result<(), Error> {
        #[cfg(feature = "alloc")]
        self.prepared.get_mut().forget(topic);
        self.apply_set_topic_key(topic, key.as_bytes())
    }

    /// Set a device's public key directly.
    pub fn set_pubkey(&mut self, id: &Id, key: &[u8]) -> Result<(), Error> {
        let lengths = self.suite.id.command_lengths();
        if !lengths.pubkey_ops {
            return Err(Error::UnsupportedOperation);
        }
        if key.len() != lengths.pubkey || is_all_zero(key) {
            return Err(Error::InvalidArgument);
        }
        #[cfg(feature = "alloc")]
        self.senders.forget(id);
        self.store.set_pubkey(*id, key)
    }

    /// Protect `payload` for `topic` into `out` (at least
    /// `payload.len() + self.overhead()` bytes); returns the length.
    pub fn protect(&self, topic: &str, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.protect_hashed(&self.topic_hash(topic), payload, out)
    }

    /// [`Client::protect`] with the topic hash computed by the caller (saves
    /// a SHA3 per message on hot paths).
    pub fn protect_hashed(
        &self,
        topic: &TopicHash,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        self.with_topic_siv(topic, &entry.key, |siv| {
            self.seal_entry(siv, entry, payload, out)
        })
    }

    /// `f` with the provider's AES-SIV for `key`, the current key of
    /// `topic`: the kept preparation of that key where the provider
    /// prepares keys ([`crate::prepared`]), else the provider's own.
    fn with_topic_siv<T>(
        &self,
        topic: &TopicHash,
        key: &SymKey,
        f: impl FnOnce(&dyn Siv) -> T,
    ) -> T {
        #[cfg(feature = "alloc")]
        if let Ok(mut prepared) = self.prepared.try_borrow_mut() {
            if let Some(siv) = prepared.get(self.provider.siv, topic, key) {
                return f(siv);
            }
        }
        #[cfg(not(feature = "alloc"))]
        let _ = (topic, key);
        f(self.provider.siv)
    }

    /// [`Client::protect_hashed`] with AES-SIV from `siv` instead of the
    /// provider's, e.g. a backend's key prepared once per topic (the
    /// `e4_backends::fast::TopicCipher` hot path). The bytes are the same.
    pub fn protect_hashed_with(
        &self,
        siv: &dyn Siv,
        topic: &TopicHash,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        self.seal_entry(siv, entry, payload, out)
    }

    /// Seal `payload` under `entry`'s key in this client's message format.
    fn seal_entry(
        &self,
        siv: &dyn Siv,
        entry: &TopicEntry,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ts = self.clock.now();
        let (key, suite) = match &self.identity {
            Identity::Symmetric(_) => {
                return message::seal_symmetric(siv, &entry.key, ts, payload, out)
            }
            Identity::PubKey { signing, .. } => (&signing.as_bytes()[..], None),
            #[cfg(feature = "alloc")]
            Identity::Kem(k) => (k.sig_sk.as_bytes(), Some(self.suite.id)),
        };
        #[cfg(feature = "alloc")]
        if let Some(prepared) = &self.signer {
            let signer: &dyn Signer = &**prepared;
            return message::seal_signed(
                siv, signer, suite, &self.id, &entry.key, ts, payload, out,
            );
        }
        let signer = KeySigner {
            scheme: self.suite.sig()?,
            key,
        };
        message::seal_signed(siv, &signer, suite, &self.id, &entry.key, ts, payload, out)
    }

    /// Protect many payloads for one topic at once, at one clock reading.
    ///
    /// The protected messages are written back to back into `out`: message
    /// `i` is `payloads[i].len() + self.overhead()` bytes long, and each is
    /// byte for byte what [`Client::protect_hashed`] returns for that payload
    /// at the same clock reading. Returns the total length. In the
    /// symmetric suite the AES-SIV work of the whole batch goes through
    /// [`Siv::seal_many`], which a backend may interleave (several CMAC
    /// chains at once); signed suites protect one message after another.
    pub fn protect_batch(
        &self,
        topic: &TopicHash,
        payloads: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        self.with_topic_siv(topic, &entry.key, |siv| {
            self.protect_batch_with(siv, topic, payloads, out)
        })
    }

    /// [`Client::protect_batch`] with AES-SIV from `siv` (see
    /// [`Client::protect_hashed_with`]).
    pub fn protect_batch_with(
        &self,
        siv: &dyn Siv,
        topic: &TopicHash,
        payloads: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        let overhead = self.overhead();
        let total = payloads
            .iter()
            .try_fold(0usize, |acc, p| acc.checked_add(p.len() + overhead))
            .ok_or(Error::BufferTooSmall)?;
        let out = out.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let ts = self.clock.now();
        if !matches!(self.identity, Identity::Symmetric(_)) {
            let mut at = 0;
            for p in payloads {
                at += self.protect_hashed_with(siv, topic, p, &mut out[at..])?;
            }
            return Ok(at);
        }
        const CHUNK: usize = 32;
        let ad = time::encode(ts);
        let mut rest: &mut [u8] = out;
        for group in payloads.chunks(CHUNK) {
            let mut heads: [&mut [u8]; CHUNK] = Default::default();
            let mut k = 0;
            let mut items: [SivItem<'_>; CHUNK] = core::array::from_fn(|_| {
                let Some(p) = group.get(k) else {
                    return SivItem::new(&[], &mut []);
                };
                let (msg, tail) = core::mem::take(&mut rest).split_at_mut(SYM_OVERHEAD + p.len());
                rest = tail;
                let (head, body) = msg.split_at_mut(SYM_OVERHEAD);
                head[..ad.len()].copy_from_slice(&ad);
                body.copy_from_slice(p);
                heads[k] = head;
                k += 1;
                SivItem::new(&ad, body)
            });
            siv.seal_many(&entry.key, &mut items[..group.len()]);
            for (head, item) in heads.iter_mut().zip(&items) {
                if !head.is_empty() {
                    head[ad.len()..].copy_from_slice(&item.siv);
                }
            }
        }
        Ok(total)
    }

    /// Protect `payload` for `topic` in E4's symmetric message format with
    /// the topic key, whatever this client's suite (a topic whose format is
    /// symmetric, shared with symmetric devices: see
    /// [`crate::topic_format`]). `out` must hold at least
    /// `payload.len() + message::SYM_OVERHEAD` bytes; returns the length.
    pub fn protect_symmetric_hashed(
        &self,
        topic: &TopicHash,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        let now = self.clock.now();
        self.with_topic_siv(topic, &entry.key, |siv| {
            message::seal_symmetric(siv, &entry.key, now, payload, out)
        })
    }

    /// Unprotect a topic message in E4's symmetric message format, whatever
    /// this client's suite, with the same freshness, key transition and
    /// replay rules as a symmetric client (see
    /// [`Client::protect_symmetric_hashed`]).
    pub fn unprotect_symmetric_hashed(
        &mut self,
        topic: &TopicHash,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.unprotect_format(None, SuiteId::Symmetric, topic, msg, out)
    }

    /// Unprotect a message received on `topic`. On the control topic it is a
    /// command, applied to the state; elsewhere the payload is written to
    /// `out`, which must be at least as long as `msg`.
    pub fn unprotect(
        &mut self,
        topic: &str,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<Unprotected, Error> {
        if self.client_id.is_control_topic(topic.as_bytes()) {
            return self.process_command(msg, out).map(Unprotected::Command);
        }
        let hash = self.topic_hash(topic);
        self.unprotect_hashed(&hash, msg, out)
            .map(Unprotected::Message)
    }

    /// Unprotect a topic message whose topic hash the caller computed.
    pub fn unprotect_hashed(
        &mut self,
        topic: &TopicHash,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.unprotect_format(None, self.suite.id, topic, msg, out)
    }

    /// [`Client::unprotect_hashed`] with AES-SIV from `siv` instead of the
    /// provider's (see [`Client::protect_hashed_with`]).
    pub fn unprotect_hashed_with(
        &mut self,
        siv: &dyn Siv,
        topic: &TopicHash,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.unprotect_format(Some(siv), self.suite.id, topic, msg, out)
    }

    /// Unprotect in the message format of `format`: this client's suite, or
    /// the symmetric format (which needs only the topic key). `siv`: the
    /// caller's AES-SIV, or `None` for the provider's (with the topic's
    /// prepared key).
    fn unprotect_format(
        &mut self,
        siv: Option<&dyn Siv>,
        format: SuiteId,
        topic: &TopicHash,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let now = self.clock.now();
        let entry = self.store.topic(topic).ok_or(Error::TopicKeyNotFound)?;
        let siv = match siv {
            Some(siv) => siv,
            #[cfg(feature = "alloc")]
            None => self
                .prepared
                .get_mut()
                .get(self.provider.siv, topic, &entry.key)
                .unwrap_or(self.provider.siv),
            #[cfg(not(feature = "alloc"))]
            None => self.provider.siv,
        };
        let (ts, n, tag) = match format.family() {
            Family::E4Symmetric => {
                let m = SymMessage::parse(msg)?;
                time::check_message(m.ts, now)?;
                let n = open_with_transition(siv, entry, now, m.ad, m.siv, m.ct, out)?;
                (m.ts, n, *m.siv)
            }
            family => {
                let sig = self.suite.sig()?;
                let m = if family == Family::E4PublicKey {
                    SignedMessage::parse_pubkey(msg)?
                } else {
                    SignedMessage::parse_kem(msg, format)?
                };
                time::check_message(m.ts, now)?;
                let pk = self.store.pubkey(&m.sender).ok_or(Error::PubKeyNotFound)?;
                #[cfg(feature = "alloc")]
                match self.senders.get(sig, &m.sender, pk) {
                    Some(v) => v.verify(m.signed, m.sig)?,
                    None => sig.verify(pk, m.signed, m.sig)?,
                }
                #[cfg(not(feature = "alloc"))]
                sig.verify(pk, m.signed, m.sig)?;
                let (tag, ct) = m.siv_part()?;
                let n = open_with_transition(siv, entry, now, m.ad, tag, ct, out)?;
                (m.ts, n, crate::replay::replay_tag(tag, Some(&m.sender)))
            }
        };
        if self.replay_on {
            if let Err(e) = self.replay.check(topic, ts, &tag) {
                out[..n].fill(0);
                return Err(e);
            }
            self.replay.record(topic, ts, &tag, now);
        }
        Ok(n)
    }

    /// Check, decrypt and apply a command; returns its opcode. `scratch`
    /// must be at least as long as `msg`; it is wiped afterwards. Only the
    /// eight E4 commands are applied; the e4-rs control messages (SetSuite,
    /// SetTopicFormat) are [`Error::InvalidCommand`] here, as in e4go.
    pub fn process_command(&mut self, msg: &[u8], scratch: &mut [u8]) -> Result<u8, Error> {
        let result = match self.open_control(msg, scratch) {
            Ok(opened) => self.apply(&opened),
            Err(e) => Err(e),
        };
        let n = msg.len().min(scratch.len());
        scratch[..n].fill(0);
        result
    }

    /// Authenticate and decrypt a message received on the control topic
    /// (freshness and C2's authentication, as e4go) without applying it.
    /// `out` (at least as long as `msg`) receives the plaintext, which the
    /// returned [`Opened`] borrows: [`Opened::parse`] says what it is,
    /// [`Client::apply`] applies an E4 command; the caller wipes `out`
    /// afterwards. The replay cache is neither consulted nor updated.
    pub fn open_control<'o>(&self, msg: &[u8], out: &'o mut [u8]) -> Result<Opened<'o>, Error> {
        let now = self.clock.now();
        let (n, ts, tag) = self.open_command(msg, now, out)?;
        Ok(Opened {
            plain: &out[..n],
            ts,
            tag,
        })
    }

    /// Apply an opened E4 command (replay rejection included, when on);
    /// returns its opcode. Anything else ([`crate::control::Control`]'s
    /// other kinds, an unknown opcode) is refused as e4go refuses it.
    /// `opened` should come from this client's [`Client::open_control`], or
    /// from a copy of this client's state.
    pub fn apply(&mut self, opened: &Opened<'_>) -> Result<u8, Error> {
        let now = self.clock.now();
        let lengths = self.suite.id.command_lengths();
        let cmd = control::parse_command(opened.plain, &lengths)?;
        self.apply_command(cmd, now, &opened.ts, &opened.tag)
    }

    fn open_command(
        &self,
        msg: &[u8],
        now: u64,
        out: &mut [u8],
    ) -> Result<(usize, u64, [u8; SIV_LEN]), Error> {
        match &self.identity {
            #[cfg(feature = "alloc")]
            Identity::Kem(k) => command::open_kem_command(
                self.provider,
                self.suite,
                &k.c2_sig_pk,
                &self.id,
                k.kem_sk.as_bytes(),
                &k.kem_pk,
                now,
                msg,
                out,
            ),
            _ => {
                let key = self.command_key.as_ref().ok_or(Error::Crypto)?;
                let m = SymMessage::parse(msg)?;
                time::check_message(m.ts, now)?;
                let n = m.open(self.provider.siv, key, out)?;
                Ok((n, m.ts, *m.siv))
            }
        }
    }

    fn apply_command(
        &mut self,
        cmd: Command<'_>,
        now: u64,
        ts: &u64,
        tag: &[u8; SIV_LEN],
    ) -> Result<u8, Error> {
        // The control topic's replay slot is keyed by the client's own id.
        let control_slot = TopicHash(self.id.0);
        if self.replay_on {
            self.replay.check(&control_slot, *ts, tag)?;
        }
        self.forget_prepared(&cmd);
        match cmd {
            Command::RemoveTopic(h) => self.store.remove_topic(&h),
            Command::ResetTopics => self.store.clear_topics(),
            Command::SetIdKey(key) => self.apply_set_id_key(key)?,
            Command::SetTopicKey { key, topic } => self.apply_set_topic_key_at(&topic, key, now)?,
            Command::RemovePubKey(id) => {
                if !self.store.remove_pubkey(&id) {
                    return Err(Error::PubKeyNotFound);
                }
            }
            Command::ResetPubKeys => self.store.clear_pubkeys(),
            Command::SetPubKey { key, id } => {
                // e4go reports success for an all-zero key but stores nothing.
                if !is_all_zero(key) {
                    self.store.set_pubkey(id, key)?;
                }
            }
            Command::SetC2Key(key) => self.apply_set_c2_key(key)?,
        }
        if self.replay_on {
            self.replay.record(&control_slot, *ts, tag, now);
        }
        Ok(cmd.opcode())
    }

    /// Drop the prepared keys a command replaces or removes (they would
    /// not be used again, but their material should not outlive the key).
    fn forget_prepared(&mut self, cmd: &Command<'_>) {
        #[cfg(feature = "alloc")]
        match cmd {
            Command::RemoveTopic(h) | Command::SetTopicKey { topic: h, .. } => {
                self.prepared.get_mut().forget(h)
            }
            Command::ResetTopics => self.prepared.get_mut().clear(),
            Command::RemovePubKey(id) | Command::SetPubKey { id, .. } => self.senders.forget(id),
            Command::ResetPubKeys => self.senders.clear(),
            Command::SetIdKey(_) | Command::SetC2Key(_) => {}
        }
        #[cfg(not(feature = "alloc"))]
        let _ = cmd;
    }

    fn apply_set_topic_key(&mut self, topic: &TopicHash, key: &[u8; 32]) -> Result<(), Error> {
        let now = self.clock.now();
        self.apply_set_topic_key_at(topic, key, now)
    }

    fn apply_set_topic_key_at(
        &mut self,
        topic: &TopicHash,
        key: &[u8; 32],
        now: u64,
    ) -> Result<(), Error> {
        let key = SymKey::new(*key);
        let entry = match self.store.topic(topic) {
            Some(e) if e.key == key => return Ok(()),
            Some(e) => TopicEntry {
                key,
                previous: Some(PreviousKey {
                    key: e.key.clone(),
                    set_at: now,
                }),
            },
            None => TopicEntry {
                key,
                previous: None,
            },
        };
        self.store.set_topic(*topic, entry)
    }

    fn apply_set_id_key(&mut self, key: &[u8]) -> Result<(), Error> {
        if is_all_zero(key) {
            return Err(Error::InvalidArgument);
        }
        let identity = match &self.identity {
            // e4go: "invalid symmetric key length" / "invalid private key
            // length" (unreachable here: parsing checked the length).
            Identity::Symmetric(_) => {
                Identity::Symmetric(SymKey::from_slice(key).ok_or(Error::InvalidArgument)?)
            }
            Identity::PubKey { c2_public, .. } => Identity::PubKey {
                signing: Ed25519Secret::from_slice(key).ok_or(Error::InvalidArgument)?,
                c2_public: *c2_public,
            },
            #[cfg(feature = "alloc")]
            Identity::Kem(_) => return Err(Error::UnsupportedOperation),
        };
        self.replace_identity(identity)
    }

    fn apply_set_c2_key(&mut self, key: &[u8]) -> Result<(), Error> {
        if is_all_zero(key) {
            return Err(Error::InvalidArgument);
        }
        let identity = match &self.identity {
            Identity::Symmetric(_) => return Err(Error::UnsupportedOperation),
            Identity::PubKey { signing, .. } => Identity::PubKey {
                signing: signing.clone(),
                c2_public: key.try_into().map_err(|_| Error::InvalidCommandLength)?,
            },
            #[cfg(feature = "alloc")]
            Identity::Kem(k) => {
                let mut k = k.clone();
                k.c2_sig_pk = key.to_vec();
                Identity::Kem(k)
            }
        };
        self.replace_identity(identity)
    }

    fn replace_identity(&mut self, identity: Identity) -> Result<(), Error> {
        let command_key = derive_command_key(self.provider, self.suite, &identity)?;
        #[cfg(feature = "alloc")]
        {
            self.signer = prepare_signer(self.suite, &identity);
        }
        self.identity = identity;
        self.command_key = command_key;
        Ok(())
    }
}

/// The signing key of `identity` prepared by the suite's scheme, if the
/// suite signs and the scheme prepares keys.
#[cfg(feature = "alloc")]
fn prepare_signer(
    suite: &Suite,
    identity: &Identity,
) -> Option<alloc::boxed::Box<dyn Signer + Send + Sync>> {
    let sk = match identity {
        Identity::Symmetric(_) => return None,
        Identity::PubKey { signing, .. } => signing.as_bytes(),
        Identity::Kem(k) => k.sig_sk.as_bytes(),
    };
    suite.sig().ok()?.prepare_signer(sk)
}

/// The AES-SIV key of commands for the E4 suites (None for kem suites,
/// whose command keys are per command).
fn derive_command_key(
    p: &CryptoProvider,
    suite: &Suite,
    identity: &Identity,
) -> Result<Option<SymKey>, Error> {
    match (suite.id, identity) {
        (SuiteId::Symmetric, Identity::Symmetric(k)) if !k.is_zero() => Ok(Some(k.clone())),
        (SuiteId::PubKey, Identity::PubKey { signing, c2_public })
            if !is_all_zero(signing.as_bytes()) && !is_all_zero(c2_public) =>
        {
            let x = suite.x25519()?;
            let secret = zeroize::Zeroizing::new(x.secret_from_ed25519_seed(signing.seed()));
            command::pubkey_command_key(p, suite, &secret, c2_public).map(Some)
        }
        #[cfg(feature = "alloc")]
        (id, Identity::Kem(k)) if id.is_kem_suite() => {
            let p = id.params();
            let ok = k.sig_sk.len() == p.sig_secret_key
                && k.sig_pk.len() == p.sig_public_key
                && k.kem_sk.len() == p.kem_secret_key
                && k.kem_pk.len() == p.kem_public_key
                && k.c2_sig_pk.len() == p.c2_public_key;
            if ok {
                Ok(None)
            } else {
                Err(Error::InvalidArgument)
            }
        }
        _ => Err(Error::InvalidArgument),
    }
}

/// Open under the topic's key; only on an authentication failure, and only
/// while the previous key is within the transition period, retry with it.
// Always inlined: LLVM's AVR backend reads stack-passed arguments one byte
// off on the ATmega2560 (3-byte return addresses), see benches/avr/README.md.
#[inline(always)]
fn open_with_transition(
    siv: &dyn Siv,
    entry: &TopicEntry,
    now: u64,
    ad: &[u8],
    tag: &[u8; SIV_LEN],
    ct: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    match message::open_into(siv, &entry.key, ad, tag, ct, out) {
        Err(Error::NotAuthentic) => match &entry.previous {
            Some(prev) => {
                time::check_transition(prev.set_at, now)?;
                message::open_into(siv, &prev.key, ad, tag, ct, out)
            }
            None => Err(Error::NotAuthentic),
        },
        other => other,
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    //! e4-proto has no crypto: these tests use stand-ins (the vectors
    //! replay the same behaviour with every real provider).
    use super::*;
    use crate::crypto::Sha3;
    use crate::store::MemStore;
    use crate::time::FixedClock;

    /// Not a hash: enough to tell inputs apart in these tests.
    struct FoldHash;
    impl Sha3 for FoldHash {
        fn sha3_256(&self, parts: &[&[u8]]) -> [u8; 32] {
            let mut h = [0u8; 32];
            for (i, b) in parts.iter().flat_map(|p| p.iter()).enumerate() {
                h[i % 32] ^= b.wrapping_add(i as u8);
            }
            h
        }
    }

    /// Not a cipher: the tag is the key's first 16 bytes.
    struct KeyTagSiv;
    impl Siv for KeyTagSiv {
        fn seal(&self, key: &SymKey, _ad: &[u8], _buf: &mut [u8]) -> [u8; SIV_LEN] {
            key.as_bytes()[..SIV_LEN].try_into().expect("16")
        }
        fn open(
            &self,
            key: &SymKey,
            _ad: &[u8],
            siv: &[u8; SIV_LEN],
            _buf: &mut [u8],
        ) -> Result<(), Error> {
            if siv[..] == key.as_bytes()[..SIV_LEN] {
                Ok(())
            } else {
                Err(Error::NotAuthentic)
            }
        }
    }

    struct ConstX25519;
    impl crate::crypto::X25519 for ConstX25519 {
        fn diffie_hellman(&self, _sk: &[u8; 32], _pk: &[u8; 32]) -> [u8; 32] {
            [5; 32]
        }
        fn public_key(&self, _sk: &[u8; 32]) -> [u8; 32] {
            [6; 32]
        }
        fn secret_from_ed25519_seed(&self, _seed: &[u8; 32]) -> [u8; 32] {
            [7; 32]
        }
        fn public_from_ed25519(&self, _pk: &[u8; 32]) -> Option<[u8; 32]> {
            Some([8; 32])
        }
    }

    static SYMMETRIC: Suite = Suite {
        id: SuiteId::Symmetric,
        sig: None,
        x25519: None,
        kem: None,
    };
    static PUBKEY: Suite = Suite {
        id: SuiteId::PubKey,
        sig: None,
        x25519: Some(&ConstX25519),
        kem: None,
    };
    static PROVIDER: CryptoProvider = CryptoProvider {
        name: "stand-in",
        hash: &FoldHash,
        siv: &KeyTagSiv,
        suites: &[&SYMMETRIC, &PUBKEY],
    };
    const NOW: u64 = 1_700_000_000;

    fn client(identity: Identity) -> Client<MemStore, FixedClock, 0> {
        let suite = match identity {
            Identity::Symmetric(_) => SuiteId::Symmetric,
            _ => SuiteId::PubKey,
        };
        let id = Id([1; 16]);
        Client::new(
            &PROVIDER,
            suite,
            id,
            identity,
            MemStore::new(),
            FixedClock::new(NOW),
        )
        .unwrap()
    }

    fn send(c: &mut Client<MemStore, FixedClock, 0>, cmd: &[u8]) -> Result<u8, Error> {
        let key = c.command_key.clone().unwrap();
        let mut msg = alloc::vec![0u8; cmd.len() + SYM_OVERHEAD];
        message::seal_symmetric(&KeyTagSiv, &key, NOW, cmd, &mut msg).unwrap();
        let mut scratch = alloc::vec![0u8; msg.len()];
        c.process_command(&msg, &mut scratch)
    }

    fn set_id_key(len: usize) -> alloc::vec::Vec<u8> {
        let mut cmd = alloc::vec![0x42u8; 1 + len];
        cmd[0] = command::opcode::SET_ID_KEY;
        cmd
    }

    /// e4go lets SetIdKey through its length check with 32 or 64 bytes in
    /// either mode; the other mode's length then fails as an invalid
    /// argument, any other length as an invalid command length.
    #[test]
    fn set_id_key_of_the_other_mode_is_an_invalid_argument() {
        let mut sym = client(Identity::Symmetric(SymKey::new([9; 32])));
        assert_eq!(send(&mut sym, &set_id_key(64)), Err(Error::InvalidArgument));
        assert_eq!(
            send(&mut sym, &set_id_key(33)),
            Err(Error::InvalidCommandLength)
        );
        assert_eq!(sym.identity(), &Identity::Symmetric(SymKey::new([9; 32])));
        assert_eq!(send(&mut sym, &set_id_key(32)), Ok(2));
        assert_eq!(
            sym.identity(),
            &Identity::Symmetric(SymKey::new([0x42; 32]))
        );

        let mut pk = client(Identity::PubKey {
            signing: Ed25519Secret::new([9; 64]),
            c2_public: [3; 32],
        });
        assert_eq!(send(&mut pk, &set_id_key(32)), Err(Error::InvalidArgument));
        assert_eq!(
            send(&mut pk, &set_id_key(63)),
            Err(Error::InvalidCommandLength)
        );
        assert!(
            matches!(pk.identity(), Identity::PubKey { signing, .. } if signing.as_bytes() == &[9; 64])
        );
        assert_eq!(send(&mut pk, &set_id_key(64)), Ok(2));
        assert!(
            matches!(pk.identity(), Identity::PubKey { signing, .. } if signing.as_bytes() == &[0x42; 64])
        );
    }

    /// e4go's symmetric clients take ids of any non-zero length and apply
    /// commands received on `e4/` + the hex of the whole id; public-key
    /// clients need 16 bytes.
    #[test]
    fn a_symmetric_client_with_a_short_id_listens_on_its_own_topic() {
        let id = ClientId::from_slice(&[0x27]).unwrap();
        let key = SymKey::new([9; 32]);
        let mut c: Client<MemStore, FixedClock, 0> = Client::with_client_id(
            &PROVIDER,
            SuiteId::Symmetric,
            id,
            Identity::Symmetric(key.clone()),
            MemStore::new(),
            FixedClock::new(NOW),
        )
        .unwrap();
        assert_eq!(c.control_topic().as_str(), "e4/27");
        assert_eq!(c.client_id(), &id);
        assert_eq!(c.id(), &id.slot_id());

        let cmd = [command::opcode::RESET_TOPICS];
        let mut msg = alloc::vec![0u8; cmd.len() + SYM_OVERHEAD];
        message::seal_symmetric(&KeyTagSiv, &key, NOW, &cmd, &mut msg).unwrap();
        let mut out = alloc::vec![0u8; msg.len()];
        assert_eq!(
            c.unprotect("e4/27", &msg, &mut out),
            Ok(Unprotected::Command(command::opcode::RESET_TOPICS))
        );
        // The 16-byte stand-in's topic is an ordinary topic, without a key.
        let padded = alloc::format!("{}", id.slot_id().control_topic());
        assert_eq!(
            c.unprotect(&padded, &msg, &mut out),
            Err(Error::TopicKeyNotFound)
        );

        let refused = Client::<MemStore, FixedClock, 0>::with_client_id(
            &PROVIDER,
            SuiteId::PubKey,
            id,
            Identity::PubKey {
                signing: Ed25519Secret::new([9; 64]),
                c2_public: [3; 32],
            },
            MemStore::new(),
            FixedClock::new(NOW),
        );
        assert_eq!(refused.err(), Some(Error::InvalidArgument));
    }
}
