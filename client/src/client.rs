//! The E4 client: protect, unprotect, apply commands, persist.

use std::fmt;
use std::path::Path;

use e4_backends::rng::OsRng;
use e4_proto::command::name_of;
use e4_proto::control::{Control, Opened};
use e4_proto::message::SYM_OVERHEAD;
use e4_proto::negotiation::{Negotiator, SET_SUITE_OPCODE};
use e4_proto::replay::ReplayCache;
use e4_proto::store::{MemStore, Store};
use e4_proto::time::SystemClock;
use e4_proto::{
    Clock, ControlTopic, CryptoProvider, FixedClock, Id, Identity, Suite, SuiteId, SymKey,
    TopicHash,
};
use zeroize::{Zeroize, Zeroizing};

use crate::broker_credentials::BrokerCredentials;
use crate::config::Config;
use crate::error::{Error, StateError};
use crate::negotiation::{
    announce_topic, apply_topic_format, NegState, Negotiated, NegotiationStatus, Publish, Ranking,
    SuiteSet, RENEGOTIATE_OPCODE, SET_TOPIC_FORMAT_OPCODE,
};
use crate::replay::{message_tag, CommandLog, SavedMessages, MESSAGE_REPLAY_SLOTS};
use crate::state::StateRef;
use crate::state_file::FileStore;

type Inner<C> = e4_proto::Client<MemStore, C, 0>;
type Scratch = e4_proto::Client<MemStore, FixedClock, 0>;

/// What [`Client::unprotect`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unprotected {
    /// An application message (the plaintext).
    Message(Vec<u8>),
    /// A command from C2, applied to the state (and persisted); this
    /// includes the negotiation commands (see [`CommandInfo::negotiation`]).
    Command(CommandInfo),
}

/// A command that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The E4 opcode (0x00 RemoveTopic .. 0x07 SetC2Key), or an e4-rs
    /// extension: 0x08 SetSuite, 0x09 SetTopicFormat.
    pub opcode: u8,
    /// What it did for suite negotiation, if anything (see
    /// [`crate::negotiation`]).
    pub negotiation: Option<Negotiated>,
}

impl CommandInfo {
    /// An E4 command with no negotiation effect.
    pub const fn applied(opcode: u8) -> CommandInfo {
        CommandInfo {
            opcode,
            negotiation: None,
        }
    }

    /// The E4 name of the command, e.g. `SetTopicKey` (and the e4-rs
    /// extensions `SetSuite`, `SetTopicFormat`, `Renegotiate`).
    pub fn name(&self) -> &'static str {
        match self.opcode {
            SET_SUITE_OPCODE => "SetSuite",
            SET_TOPIC_FORMAT_OPCODE => "SetTopicFormat",
            RENEGOTIATE_OPCODE => "Renegotiate",
            op => name_of(op),
        }
    }
}

/// A topic the client holds a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic hash (`SHA3-256(topic)[..16]`).
    pub hash: TopicHash,
    /// When the key was last replaced, if the previous key is still kept
    /// for the transition period.
    pub replaced_at: Option<u64>,
}

/// An E4 client for any suite compiled into `e4-backends`.
///
/// State changes (commands, [`Client::set_topic_key`],
/// [`Client::set_pubkey`]) are applied to a copy of the state, saved to the
/// state file if there is one, and only then made current: when saving
/// fails, the error is returned and the client is unchanged.
pub struct Client<C: Clock + Clone = SystemClock> {
    inner: Inner<C>,
    suite: &'static Suite,
    commands: CommandLog,
    neg: NegState,
    /// The Confirm of the SetSuite just accepted, until taken.
    confirm: Option<Publish>,
    replay: Option<Box<ReplayCache<MESSAGE_REPLAY_SLOTS>>>,
    file: Option<FileStore>,
    clock: C,
    /// Timestamp of the last state report made (C2 accepts only newer ones).
    last_report: Option<u64>,
    /// Set by [`Client::close`]: dropping saves nothing more.
    closed: bool,
    /// MQTT user name and password, saved with the state.
    broker: Option<BrokerCredentials>,
}

fn build<C: Clock>(
    provider: &'static CryptoProvider,
    suite: SuiteId,
    id: Id,
    identity: Identity,
    store: MemStore,
    clock: C,
) -> Result<Inner<C>, e4_proto::Error> {
    let mut c = e4_proto::Client::new(provider, suite, id, identity, store, clock)?;
    // Replay rejection is done here (see `replay`), across rebuilds.
    c.set_replay_protection(false);
    Ok(c)
}

impl Client<SystemClock> {
    /// An in-memory client on the system clock, with the default crypto
    /// provider ([`crate::provider`]).
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::with_provider(config, crate::provider())
    }

    /// An in-memory client on the system clock whose crypto is `provider`
    /// (one of `e4_backends::providers()`, or any other implementation of
    /// the traits).
    pub fn with_provider(config: Config, provider: &'static CryptoProvider) -> Result<Self, Error> {
        Self::with_clock_and_provider(config, SystemClock, provider)
    }

    /// A new client whose state is saved at `path` (which must not exist).
    pub fn create(path: impl AsRef<Path>, config: Config) -> Result<Self, Error> {
        Self::create_with_provider(path, config, crate::provider())
    }

    /// [`Client::create`] with `provider`.
    pub fn create_with_provider(
        path: impl AsRef<Path>,
        config: Config,
        provider: &'static CryptoProvider,
    ) -> Result<Self, Error> {
        Self::create_with_clock_and_provider(path, config, SystemClock, provider)
    }

    /// The client saved at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with_provider(path, crate::provider())
    }

    /// [`Client::open`] with `provider` (the state file records the suite,
    /// not the provider: any provider of the suite opens it).
    pub fn open_with_provider(
        path: impl AsRef<Path>,
        provider: &'static CryptoProvider,
    ) -> Result<Self, Error> {
        Self::open_with_clock_and_provider(path, SystemClock, provider)
    }
}

impl<C: Clock + Clone> Client<C> {
    /// An in-memory client with the given clock.
    pub fn with_clock(config: Config, clock: C) -> Result<Self, Error> {
        Self::with_clock_and_provider(config, clock, crate::provider())
    }

    /// An in-memory client with the given clock and crypto provider.
    pub fn with_clock_and_provider(
        config: Config,
        clock: C,
        provider: &'static CryptoProvider,
    ) -> Result<Self, Error> {
        let (suite, id, identity) = config.resolve(provider)?;
        let inner = build(
            provider,
            suite,
            id,
            identity,
            MemStore::new(),
            clock.clone(),
        )?;
        Self::from_inner(
            inner,
            CommandLog::default(),
            NegState::default(),
            clock,
            None,
        )
    }

    /// [`Client::create`] with the given clock.
    pub fn create_with_clock(
        path: impl AsRef<Path>,
        config: Config,
        clock: C,
    ) -> Result<Self, Error> {
        Self::create_with_clock_and_provider(path, config, clock, crate::provider())
    }

    /// [`Client::create`] with the given clock and crypto provider.
    pub fn create_with_clock_and_provider(
        path: impl AsRef<Path>,
        config: Config,
        clock: C,
        provider: &'static CryptoProvider,
    ) -> Result<Self, Error> {
        // The configuration first: a bad one creates no file at all.
        let mut client = Self::with_clock_and_provider(config, clock, provider)?;
        let file = FileStore::create(path)?;
        if let Err(e) = client.persist(&client.inner, &client.commands, &client.neg, &file, None) {
            file.abandon();
            return Err(e.0);
        }
        client.file = Some(file);
        Ok(client)
    }

    /// [`Client::open`] with the given clock.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: C) -> Result<Self, Error> {
        Self::open_with_clock_and_provider(path, clock, crate::provider())
    }

    /// [`Client::open`] with the given clock and crypto provider.
    pub fn open_with_clock_and_provider(
        path: impl AsRef<Path>,
        clock: C,
        provider: &'static CryptoProvider,
    ) -> Result<Self, Error> {
        let file = FileStore::open(path)?;
        let s = file.load(provider)?;
        let unusable = |e: e4_proto::Error| StateError::Corrupt {
            path: file.path().to_owned(),
            reason: format!("unusable key material: {e}"),
        };
        let inner =
            build(provider, s.suite, s.id, s.identity, s.store, clock.clone()).map_err(unusable)?;
        let mut client = Self::from_inner(inner, s.commands, s.neg, clock, Some(file))?;
        client.broker = s.broker;
        // The messages the previous process accepted: saved by its clean
        // close, or unknown after a crash (then every message stamped up to
        // now is refused). See `crate::replay`.
        let now = client.clock.now();
        client.replay = Some(Box::new(match &s.messages {
            Some(m) => ReplayCache::restore(m.floor, m.seen.iter().copied(), now),
            None => {
                let mut c = ReplayCache::new();
                c.raise_floor(now);
                c
            }
        }));
        if s.messages.is_some() {
            // The file no longer holds them: a crash from here on is seen
            // as one by the next open.
            if let Some(file) = &client.file {
                client
                    .persist(&client.inner, &client.commands, &client.neg, file, None)
                    .map_err(|(e, _)| e)?;
            }
        }
        Ok(client)
    }

    fn from_inner(
        inner: Inner<C>,
        commands: CommandLog,
        neg: NegState,
        clock: C,
        file: Option<FileStore>,
    ) -> Result<Self, Error> {
        let suite = inner.provider().suite(inner.suite())?;
        Ok(Client {
            inner,
            suite,
            commands,
            neg,
            confirm: None,
            replay: Some(Box::default()),
            file,
            clock,
            last_report: None,
            closed: false,
            broker: None,
        })
    }

    /// Save the message replay cache in the state file and close it, so
    /// that the next process refuses exactly the messages this one
    /// accepted (dropping the client does the same, ignoring errors; a
    /// process that stops without either makes the next open refuse every
    /// message stamped before it, see [`crate::replay`]).
    pub fn close(mut self) -> Result<(), Error> {
        self.closed = true;
        self.save_messages()
    }

    fn save_messages(&self) -> Result<(), Error> {
        let (Some(file), Some(cache)) = (&self.file, &self.replay) else {
            return Ok(());
        };
        let saved = SavedMessages {
            floor: cache.floor(),
            seen: cache.live_entries(self.clock.now()).collect(),
        };
        self.persist(&self.inner, &self.commands, &self.neg, file, Some(&saved))
            .map_err(|(e, _)| e)
    }

    /// The broker credentials saved with the state (C2 issues them with
    /// the device; [`crate::mqtt::E4Mqtt`] uses them by default).
    pub fn broker_credentials(&self) -> Option<&BrokerCredentials> {
        self.broker.as_ref()
    }

    /// Replace the broker credentials, saving the state file (if any).
    pub fn set_broker_credentials(
        &mut self,
        credentials: Option<BrokerCredentials>,
    ) -> Result<(), Error> {
        let old = std::mem::replace(&mut self.broker, credentials);
        if let Some(file) = &self.file {
            if let Err((e, committed)) =
                self.persist(&self.inner, &self.commands, &self.neg, file, None)
            {
                if !committed {
                    self.broker = old;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// The client id.
    pub fn id(&self) -> &Id {
        self.inner.id()
    }
    /// The crypto suite.
    pub fn suite(&self) -> SuiteId {
        self.suite.id
    }
    /// The control topic (`e4/<hex id>`) on which C2 sends commands.
    pub fn control_topic(&self) -> ControlTopic {
        self.inner.control_topic()
    }
    /// Whether `topic` is the control topic.
    pub fn is_control_topic(&self, topic: &str) -> bool {
        self.inner.client_id().is_control_topic(topic.as_bytes())
    }
    /// The hash of a topic name.
    pub fn topic_hash(&self, topic: &str) -> TopicHash {
        self.inner.topic_hash(topic)
    }
    /// Whether a key is held for `topic`.
    pub fn has_topic_key(&self, topic: &str) -> bool {
        self.inner.store().topic(&self.topic_hash(topic)).is_some()
    }
    /// Bytes added to each payload by protection in the client's suite
    /// (see [`Client::overhead_for`] for topics in the symmetric format).
    pub fn overhead(&self) -> usize {
        self.inner.overhead()
    }
    /// Bytes added to each payload protected for `topic` (its format's).
    pub fn overhead_for(&self, topic: &str) -> usize {
        match self.topic_format_hashed(&self.topic_hash(topic)) {
            SuiteId::Symmetric => SYM_OVERHEAD,
            _ => self.inner.overhead(),
        }
    }
    /// The message format of `topic`: the client's suite, unless C2 set the
    /// symmetric format for it (SetTopicFormat).
    pub fn topic_format(&self, topic: &str) -> SuiteId {
        self.topic_format_hashed(&self.topic_hash(topic))
    }
    /// [`Client::topic_format`] by topic hash.
    pub fn topic_format_hashed(&self, topic: &TopicHash) -> SuiteId {
        self.neg
            .formats
            .get(topic)
            .copied()
            .unwrap_or(self.suite.id)
    }
    /// The topics whose format is not the client's suite.
    pub fn topic_formats(&self) -> Vec<(TopicHash, SuiteId)> {
        self.neg.formats.iter().map(|(h, f)| (*h, *f)).collect()
    }
    /// The suites this client may run (default: none, no negotiation).
    pub fn capabilities(&self) -> SuiteSet {
        self.neg.capabilities
    }
    /// The suites an Announce would offer now: the capabilities compiled
    /// into this build and ranked above the current suite, and the current
    /// suite itself while a rekey is pending ([`Client::announce_rekey`]).
    pub fn offered(&self) -> SuiteSet {
        let above = Ranking::DEFAULT.above(
            self.suite.id,
            self.neg
                .capabilities
                .intersection(SuiteSet::compiled_in(self.inner.provider())),
        );
        if self.neg.rekey_pending(self.suite.id) {
            above.with(self.suite.id)
        } else {
            above
        }
    }
    /// Where the client is in a negotiation.
    pub fn negotiation_status(&self) -> NegotiationStatus {
        self.neg.status()
    }
    /// The topic on which this client publishes its Announce and Confirm
    /// (`e4c2/announce/<hex id>`).
    pub fn announce_topic(&self) -> String {
        announce_topic(self.id())
    }
    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
    /// The state file, if the state is persisted.
    pub fn state_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path())
    }
    /// The signature public key to give C2 and other devices (Ed25519 in the
    /// public-key suite, the suite's scheme in kem suites); None for the
    /// symmetric suite.
    pub fn public_key(&self) -> Option<Vec<u8>> {
        match self.inner.identity() {
            Identity::Symmetric(_) => None,
            Identity::PubKey { signing, .. } => Some(signing.public().to_vec()),
            Identity::Kem(k) => Some(k.sig_pk.clone()),
        }
    }
    /// The KEM public key to give C2 (kem suites only).
    pub fn kem_public_key(&self) -> Option<&[u8]> {
        match self.inner.identity() {
            Identity::Kem(k) => Some(&k.kem_pk),
            _ => None,
        }
    }
    /// The topics a key is held for, by hash.
    pub fn topics(&self) -> Vec<TopicInfo> {
        let mut v = Vec::with_capacity(self.inner.store().topic_count());
        self.inner.store().for_each_topic(&mut |h, e| {
            v.push(TopicInfo {
                hash: *h,
                replaced_at: e.previous.as_ref().map(|p| p.set_at),
            })
        });
        v
    }
    /// The devices whose public keys are held.
    pub fn pubkey_ids(&self) -> Vec<Id> {
        let mut v = Vec::with_capacity(self.inner.store().pubkey_count());
        self.inner.store().for_each_pubkey(&mut |id, _| v.push(*id));
        v
    }

    /// Turn replay rejection of topic messages on (the default) or off
    /// (e4go's behaviour). Replayed commands are always refused. See
    /// [`crate::replay`].
    pub fn set_replay_protection(&mut self, on: bool) {
        self.replay = on.then(Box::default);
    }
    /// Whether replay rejection of topic messages is on.
    pub fn replay_protection(&self) -> bool {
        self.replay.is_some()
    }

    /// Protect `payload` for `topic` (e4go `ProtectMessage`). The topic must
    /// pass [`e4_proto::topic_name::check_topic_name`] (else
    /// [`Error::TopicName`]); `e4_proto::Client` protects any topic.
    pub fn protect(&self, payload: &[u8], topic: &str) -> Result<Vec<u8>, Error> {
        if self.is_control_topic(topic) {
            return Err(Error::ControlTopic {
                topic: topic.to_owned(),
            });
        }
        check_topic_name(topic)?;
        let hash = self.topic_hash(topic);
        let format = self.topic_format_hashed(&hash);
        let symmetric_format = format != self.suite.id;
        // `overhead_for(topic)`, without looking the topic up again.
        let overhead = match format {
            SuiteId::Symmetric => SYM_OVERHEAD,
            _ => self.inner.overhead(),
        };
        let mut out = vec![0u8; payload.len() + overhead];
        let n = if symmetric_format {
            self.inner
                .protect_symmetric_hashed(&hash, payload, &mut out)?
        } else {
            self.inner.protect_hashed(&hash, payload, &mut out)?
        };
        out.truncate(n);
        Ok(out)
    }

    /// Unprotect a message received on `topic` (e4go `Unprotect`). On the
    /// control topic it is a command: it is checked, applied and persisted,
    /// and [`Unprotected::Command`] is returned. That includes the e4-rs
    /// negotiation commands SetSuite (0x08: publish [`Client::take_confirm`])
    /// and SetTopicFormat (0x09), and the first command under an accepted
    /// suite, which switches the client to it ([`CommandInfo::negotiation`];
    /// see [`crate::negotiation`]). A topic whose format is symmetric
    /// ([`Client::topic_format`]) is read in E4's symmetric format.
    pub fn unprotect(&mut self, payload: &[u8], topic: &str) -> Result<Unprotected, Error> {
        if self.is_control_topic(topic) {
            return self.on_control(payload);
        }
        let hash = self.topic_hash(topic);
        let mut out = vec![0u8; payload.len()];
        let format = if self.topic_format_hashed(&hash) != self.suite.id {
            let n = self
                .inner
                .unprotect_symmetric_hashed(&hash, payload, &mut out)?;
            out.truncate(n);
            self.inner.provider().suite(SuiteId::Symmetric)?
        } else {
            let n = self.inner.unprotect_hashed(&hash, payload, &mut out)?;
            out.truncate(n);
            self.suite
        };
        if let Some(cache) = &mut self.replay {
            let (ts, siv) = message_tag(format, payload)?;
            if let Err(e) = cache.check(&hash, ts, &siv) {
                out.zeroize();
                return Err(e.into());
            }
            cache.record(&hash, ts, &siv, self.clock.now());
        }
        Ok(Unprotected::Message(out))
    }

    /// A message on the control topic: opened once under the current suite
    /// and dispatched on what it is (an E4 command, SetTopicFormat,
    /// SetSuite); or, if it does not open, possibly the first command under
    /// an accepted suite.
    fn on_control(&mut self, msg: &[u8]) -> Result<Unprotected, Error> {
        let mut plain = Zeroizing::new(vec![0u8; msg.len()]);
        let opened = match self.inner.open_control(msg, &mut plain) {
            Ok(opened) => opened,
            Err(e) => {
                return match self.try_upgrade(msg) {
                    Some(result) => result,
                    None => Err(e.into()),
                }
            }
        };
        match opened.parse(self.suite.id)? {
            Control::SetSuite(_) => self.accept_set_suite(&opened),
            _ => {
                let info =
                    self.transact(|c, log, neg, now| apply_command(c, log, neg, &opened, now))?;
                Ok(Unprotected::Command(info))
            }
        }
    }

    /// An opened SetSuite: handed to the negotiator, which checks it
    /// against the Announce it answers.
    fn accept_set_suite(&mut self, opened: &Opened<'_>) -> Result<Unprotected, Error> {
        let topic = self.announce_topic();
        let (suite, confirm) = self.transact(|c, _, neg, _| {
            let parts = neg.parts.clone().ok_or(e4_proto::Error::from(
                e4_proto::NegotiationError::NoAnnounce,
            ))?;
            let mut n = Negotiator::from_parts(c.provider(), parts)?;
            let accepted = n.accept_opened(c, opened)?;
            // The new client must be buildable before anything is kept.
            carry_over(
                c,
                accepted.suite,
                accepted.identity.clone(),
                c.clock().now(),
            )?;
            neg.parts = Some(n.to_parts());
            Ok((accepted.suite, accepted.confirm))
        })?;
        self.confirm = Some((topic, confirm));
        Ok(Unprotected::Command(CommandInfo {
            opcode: SET_SUITE_OPCODE,
            negotiation: Some(Negotiated::Accepted { suite }),
        }))
    }

    /// The Confirm of the SetSuite [`Client::unprotect`] just accepted
    /// (already persisted: publish it on the returned topic). Given once;
    /// afterwards, or after a restart, [`Client::confirm_retry`] signs a
    /// fresh one.
    pub fn take_confirm(&mut self) -> Option<Publish> {
        self.confirm.take()
    }

    /// With a SetSuite accepted: if `msg` opens under the new suite, C2 has
    /// committed: switch to the new suite and apply the command with it.
    /// None when it does not open (the caller reports its own error).
    fn try_upgrade(&mut self, msg: &[u8]) -> Option<Result<Unprotected, Error>> {
        let parts = self.neg.parts.clone()?;
        let suite = parts.accepted.as_ref()?.suite;
        let provider = self.inner.provider();
        let identity = Negotiator::from_parts(provider, parts)
            .ok()?
            .new_identity()
            .ok()?;
        let now = self.clock.now();
        let candidate = carry_over(&self.scratch(now).ok()?, suite, identity.clone(), now).ok()?;
        let mut plain = Zeroizing::new(vec![0u8; msg.len()]);
        let opened = candidate.open_control(msg, &mut plain).ok()?;
        Some(self.transact(|c, log, neg, now| {
            let from = c.suite();
            let mut next = carry_over(c, suite, identity, now)?;
            // The new suite is the floor: every topic uses its format
            // unless C2 marks it legacy (symmetric) with a SetTopicFormat
            // sealed under the new suite, which C2 sends with the topic
            // keys after the upgrade. A topic is never kept in a weaker
            // format on the device's own authority (issue 12, item 7).
            let mut formats = neg.formats.clone();
            if suite == SuiteId::Symmetric {
                formats.clear();
            }
            let mut next_neg = NegState {
                capabilities: neg.capabilities,
                parts: None,
                formats,
            };
            let applied = apply_command(&mut next, log, &mut next_neg, &opened, now)?;
            *c = next;
            *neg = next_neg;
            Ok(Unprotected::Command(CommandInfo {
                opcode: applied.opcode,
                negotiation: Some(Negotiated::Upgraded { from, to: suite }),
            }))
        }))
    }

    /// Let the client negotiate: `capabilities` are the suites it may run
    /// (those compiled in and ranked above its current suite are offered).
    /// Changing them drops an Announce not yet answered; an accepted
    /// upgrade goes on. Persisted.
    pub fn set_capabilities(&mut self, capabilities: SuiteSet) -> Result<(), Error> {
        if capabilities == self.neg.capabilities {
            return Ok(());
        }
        self.transact(|_, _, neg, _| {
            neg.capabilities = capabilities;
            if neg.parts.as_ref().is_some_and(|p| p.accepted.is_none()) {
                neg.parts = None;
            }
            Ok(())
        })
    }

    /// A new Announce (fresh keys for each offered suite, superseding any
    /// previous one), persisted before it is returned: publish it on the
    /// returned topic. None when the client has no capabilities (it does
    /// not negotiate). With capabilities but nothing ranked above its
    /// current suite, the Announce offers nothing: it tells C2 that the
    /// device negotiates (and so can be told a topic's format), and C2
    /// answers nothing. Refused once a SetSuite was accepted (send
    /// [`Client::confirm_retry`] instead).
    ///
    /// While a rekey is pending (the latest Announce, not answered yet,
    /// offered the current suite again), the new Announce offers it again
    /// with fresh keys.
    pub fn announce(&mut self) -> Result<Option<Publish>, Error> {
        let rekey = self.neg.rekey_pending(self.suite.id);
        if self.neg.capabilities.is_empty() && !rekey {
            return Ok(None);
        }
        self.announce_offering(rekey).map(Some)
    }

    /// A new Announce that also offers the current suite with fresh keys:
    /// C2 answers with a SetSuite for the current suite (or for a stronger
    /// one its policy allows), and once the exchange finishes the device's
    /// old keys are gone, on both sides. Only for a KEM suite (symmetric
    /// and public-key devices get new keys from C2 with SetIdKey):
    /// [`e4_proto::NegotiationError::RekeyUnsupported`] otherwise. Retries
    /// ([`Client::announce`]) keep offering the current suite until C2
    /// answers. C2 asks for one with a Renegotiate carrying the rekey flag
    /// ([`Negotiated::RekeyRequested`]).
    pub fn announce_rekey(&mut self) -> Result<Publish, Error> {
        if !self.suite.id.is_kem_suite() {
            return Err(e4_proto::Error::from(e4_proto::NegotiationError::RekeyUnsupported).into());
        }
        self.announce_offering(true)
    }

    fn announce_offering(&mut self, rekey: bool) -> Result<Publish, Error> {
        if let NegotiationStatus::Accepted(_) = self.negotiation_status() {
            return Err(e4_proto::Error::from(e4_proto::NegotiationError::AlreadyAccepted).into());
        }
        let topic = self.announce_topic();
        // C2 accepts only Announces strictly newer (in seconds) than the
        // last one it accepted: within the second of the latest Announce,
        // publish that one again rather than supersede it with one C2
        // would refuse.
        if let Some(p) = self.neg.parts.as_ref().filter(|p| p.announce.len() >= 8) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&p.announce[..8]);
            if u64::from_le_bytes(ts) >= self.clock.now()
                && self.neg.rekey_pending(self.suite.id) == rekey
            {
                return Ok((topic, p.announce.clone()));
            }
        }
        let bytes = self.transact(|c, _, neg, _| new_announce(c, neg, rekey))?;
        Ok((topic, bytes))
    }

    /// The Confirm of the accepted SetSuite, signed now (to resend while no
    /// command arrives under the new suite).
    pub fn confirm_retry(&self) -> Result<Publish, Error> {
        let parts = self.neg.parts.clone().ok_or(e4_proto::Error::from(
            e4_proto::NegotiationError::NoAnnounce,
        ))?;
        let n = Negotiator::from_parts(self.inner.provider(), parts)?;
        Ok((self.announce_topic(), n.confirm(self.clock.now())?))
    }

    /// A state report (`e4_proto::negotiation::sync`) of what this client
    /// holds now, to publish on [`Client::announce_topic`]: C2 answers
    /// with the commands that bring the device up to date (the keys of
    /// topics it joined or that were rotated while it was away, C2's new
    /// key) and records that it holds its keys. `E4Mqtt` sends one after
    /// every connection, after applying commands and periodically.
    ///
    /// None when no report can be accepted now: within the second of the
    /// previous one (C2 accepts only strictly newer reports: try a second
    /// later), or while an accepted suite upgrade is unfinished (C2 already
    /// expects the new suite).
    ///
    /// `new_session`: the broker had no session for the device on this
    /// connection (C2 then sends again what it sent before).
    pub fn sync_report(&mut self, new_session: bool) -> Result<Option<Publish>, Error> {
        if let NegotiationStatus::Accepted(_) = self.negotiation_status() {
            return Ok(None);
        }
        let now = self.clock.now();
        if self.last_report.is_some_and(|last| last >= now) {
            return Ok(None);
        }
        let bytes = e4_proto::negotiation::sync_report(&self.inner, new_session)?;
        self.last_report = Some(now);
        Ok(Some((self.announce_topic(), bytes)))
    }

    /// A copy of the live client at a fixed time.
    fn scratch(&self, now: u64) -> Result<Scratch, Error> {
        let i = &self.inner;
        let mut scratch: Scratch = e4_proto::Client::new(
            i.provider(),
            i.suite(),
            *i.id(),
            i.identity().clone(),
            i.store().clone(),
            FixedClock::new(now),
        )?;
        scratch.set_replay_protection(false);
        Ok(scratch)
    }

    /// Set a topic key directly (provisioning without C2). Keeps the
    /// previous key for the transition period, like SetTopicKey. The topic
    /// must pass [`e4_proto::topic_name::check_topic_name`].
    pub fn set_topic_key(&mut self, topic: &str, key: &SymKey) -> Result<(), Error> {
        check_topic_name(topic)?;
        let hash = self.topic_hash(topic);
        self.set_topic_key_hashed(&hash, key)
    }

    /// [`Client::set_topic_key`] by topic hash.
    pub fn set_topic_key_hashed(&mut self, topic: &TopicHash, key: &SymKey) -> Result<(), Error> {
        self.transact(|c, _, _, _| Ok(c.set_topic_key(topic, key)?))
    }

    /// Set the signature public key of another device (public-key and kem
    /// suites), as C2's SetPubKey does.
    pub fn set_pubkey(&mut self, id: &Id, key: &[u8]) -> Result<(), Error> {
        self.transact(|c, _, _, _| Ok(c.set_pubkey(id, key)?))
    }

    /// Apply `f` to a copy of the state (at a fixed `now`), save the result,
    /// then make it current. Nothing changes when `f` or the save fails
    /// (unless the new file was already in place: then memory follows disk).
    fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut Scratch, &mut CommandLog, &mut NegState, u64) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let now = self.clock.now();
        let mut scratch = self.scratch(now)?;
        let mut commands = self.commands.clone();
        let mut neg = self.neg.clone();
        let out = f(&mut scratch, &mut commands, &mut neg, now)?;
        let suite = scratch.suite();
        let provider = scratch.provider();
        let suite_ref = provider.suite(suite)?;
        let (id, identity, store) = scratch.into_parts();
        let inner = build(provider, suite, id, identity, store, self.clock.clone())?;
        if let Some(file) = &self.file {
            if let Err((e, committed)) = self.persist(&inner, &commands, &neg, file, None) {
                if committed {
                    self.inner = inner;
                    self.suite = suite_ref;
                    self.commands = commands;
                    self.neg = neg;
                }
                return Err(e);
            }
        }
        self.inner = inner;
        self.suite = suite_ref;
        self.commands = commands;
        self.neg = neg;
        Ok(out)
    }

    fn persist(
        &self,
        inner: &Inner<C>,
        commands: &CommandLog,
        neg: &NegState,
        file: &FileStore,
        messages: Option<&SavedMessages>,
    ) -> Result<(), (Error, bool)> {
        let s = StateRef {
            broker: self.broker.as_ref(),
            suite: inner.suite(),
            id: inner.id(),
            identity: inner.identity(),
            store: inner.store(),
            commands,
            neg,
            messages,
        };
        file.save(inner.provider(), &s)
            .map_err(|e| (Error::State(e.error), e.committed))
    }
}

impl<C: Clock + Clone> Drop for Client<C> {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.save_messages();
        }
    }
}

impl<C: Clock + Clone> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", self.id())
            .field("suite", &self.suite())
            .field("topics", &self.inner.store().topic_count())
            .field("pubkeys", &self.inner.store().pubkey_count())
            .field("replay_protection", &self.replay_protection())
            .field("negotiation", &self.negotiation_status())
            .field("state_path", &self.state_path())
            .finish()
    }
}

/// Apply an opened E4 command or SetTopicFormat to `c` (replayed commands
/// are refused through `log`). A SetSuite is not applied here.
fn apply_command(
    c: &mut Scratch,
    log: &mut CommandLog,
    neg: &mut NegState,
    opened: &Opened<'_>,
    now: u64,
) -> Result<CommandInfo, Error> {
    let suite = c.suite();
    let control = opened.parse(suite)?;
    let tag = (opened.timestamp(), *opened.tag());
    log.check(&tag)?;
    let info = match control {
        Control::Command(_) => CommandInfo::applied(c.apply(opened)?),
        Control::SetTopicFormat(cmd) => {
            apply_topic_format(suite, &mut neg.formats, &cmd)?;
            CommandInfo {
                opcode: SET_TOPIC_FORMAT_OPCODE,
                negotiation: Some(Negotiated::TopicFormat {
                    topic: cmd.topic,
                    format: cmd.format,
                }),
            }
        }
        Control::Renegotiate(r) if r.rekey => {
            // The rekey Announce is made and persisted with the command,
            // so that a restart before it is published still offers the
            // current suite again. An upgrade already accepted replaces
            // the keys anyway: it goes on.
            if !suite.is_kem_suite() {
                return Err(
                    e4_proto::Error::from(e4_proto::NegotiationError::RekeyUnsupported).into(),
                );
            }
            if !matches!(neg.status(), NegotiationStatus::Accepted(_)) {
                new_announce(c, neg, true)?;
            }
            CommandInfo {
                opcode: RENEGOTIATE_OPCODE,
                negotiation: Some(Negotiated::RekeyRequested),
            }
        }
        Control::Renegotiate(_) => CommandInfo {
            opcode: RENEGOTIATE_OPCODE,
            negotiation: Some(Negotiated::AnnounceRequested),
        },
        Control::SetSuite(_) => return Err(e4_proto::Error::InvalidCommand.into()),
    };
    log.record(tag, now);
    Ok(info)
}

/// A new Announce from `c` (offering its current suite again with `rekey`),
/// its negotiator kept in `neg`.
fn new_announce(c: &Scratch, neg: &mut NegState, rekey: bool) -> Result<Vec<u8>, Error> {
    let mut n = Negotiator::for_client(c, neg.capabilities, Ranking::DEFAULT)?;
    let bytes = if rekey {
        n.announce_rekey(c, &mut OsRng)?
    } else {
        n.announce(c, &mut OsRng)?
    };
    neg.parts = Some(n.to_parts());
    Ok(bytes)
}

/// The client of `suite` with `identity`, holding `old`'s topic keys, and
/// its public keys of other devices when the suite stays (a rekey; another
/// suite is another scheme).
fn carry_over(
    old: &Scratch,
    suite: SuiteId,
    identity: Identity,
    now: u64,
) -> Result<Scratch, Error> {
    let mut store = MemStore::new();
    let mut result = Ok(());
    old.store().for_each_topic(&mut |h, e| {
        if result.is_ok() {
            result = store.set_topic(*h, e.clone());
        }
    });
    if suite == old.suite() {
        old.store().for_each_pubkey(&mut |id, key| {
            if result.is_ok() {
                result = store.set_pubkey(*id, key);
            }
        });
    }
    result?;
    let mut c = e4_proto::Client::new(
        old.provider(),
        suite,
        *old.id(),
        identity,
        store,
        FixedClock::new(now),
    )?;
    c.set_replay_protection(false);
    Ok(c)
}

/// [`e4_proto::topic_name::check_topic_name`], as a client error naming the
/// topic.
pub(crate) fn check_topic_name(topic: &str) -> Result<(), Error> {
    e4_proto::topic_name::check_topic_name(topic).map_err(|error| Error::TopicName {
        topic: topic.to_owned(),
        error,
    })
}

/// [`e4_proto::topic_name::check_topic_filter`], as a client error naming
/// the filter.
pub(crate) fn check_topic_filter(filter: &str) -> Result<(), Error> {
    e4_proto::topic_name::check_topic_filter(filter).map_err(|error| Error::TopicName {
        topic: filter.to_owned(),
        error,
    })
}

#[cfg(test)]
mod topic_name_tests {
    use super::*;

    #[test]
    fn application_topics_follow_the_topic_name_rules() {
        let mut c = Client::new(Config::sym_id_and_key(None, SymKey::new([7; 32]))).unwrap();
        let key = SymKey::new([9; 32]);
        for bad in [
            "",
            "a/+",
            "a/#",
            "a\nb",
            "x\u{85}",
            "e4/x",
            "e4c2/announce/x",
        ] {
            assert!(
                matches!(c.set_topic_key(bad, &key), Err(Error::TopicName { .. })),
                "{bad:?}"
            );
            assert!(
                matches!(c.protect(b"x", bad), Err(Error::TopicName { .. })),
                "{bad:?}"
            );
        }
        assert!(c.topics().is_empty());
        let e = c.set_topic_key("a\nb", &key).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid topic \"a\\nb\": the topic contains a control character (U+000A) at byte 1"
        );
        // The own control topic keeps its own error.
        let control = c.control_topic().to_string();
        assert!(matches!(
            c.protect(b"x", &control),
            Err(Error::ControlTopic { .. })
        ));
        // Spaces and any Unicode are fine.
        let topic = "living room/温度 🌡";
        c.set_topic_key(topic, &key).unwrap();
        let wire = c.protect(b"21.5", topic).unwrap();
        assert!(matches!(
            c.unprotect(&wire, topic),
            Ok(Unprotected::Message(m)) if m == b"21.5"
        ));
    }
}
