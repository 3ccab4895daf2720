//! The E4 client: protect, unprotect, apply commands, persist.

use std::fmt;
use std::path::Path;

use e4_proto::command::name_of;
use e4_proto::replay::ReplayCache;
use e4_proto::store::{MemStore, Store};
use e4_proto::time::SystemClock;
use e4_proto::{Clock, FixedClock, Id, Identity, Suite, SuiteId, SymKey, TopicHash};
use zeroize::Zeroize;

use crate::config::Config;
use crate::error::{Error, StateError};
use crate::replay::{command_tag, message_tag, CommandLog, MESSAGE_REPLAY_SLOTS};
use crate::state::StateRef;
use crate::state_file::FileStore;

type Inner<C> = e4_proto::Client<MemStore, C, 0>;
type Scratch = e4_proto::Client<MemStore, FixedClock, 0>;

/// What [`Client::unprotect`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unprotected {
    /// An application message (the plaintext).
    Message(Vec<u8>),
    /// A command from C2, applied to the state (and persisted).
    Command(CommandInfo),
}

/// A command that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The E4 opcode (0x00 RemoveTopic .. 0x07 SetC2Key).
    pub opcode: u8,
}

impl CommandInfo {
    /// The E4 name of the command, e.g. `SetTopicKey`.
    pub fn name(&self) -> &'static str {
        name_of(self.opcode)
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
    replay: Option<Box<ReplayCache<MESSAGE_REPLAY_SLOTS>>>,
    file: Option<FileStore>,
    clock: C,
}

fn build<C: Clock>(
    suite: SuiteId,
    id: Id,
    identity: Identity,
    store: MemStore,
    clock: C,
) -> Result<Inner<C>, e4_proto::Error> {
    let mut c = e4_proto::Client::new(e4_backends::provider(), suite, id, identity, store, clock)?;
    // Replay rejection is done here (see `replay`), across rebuilds.
    c.set_replay_protection(false);
    Ok(c)
}

impl Client<SystemClock> {
    /// An in-memory client on the system clock.
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::with_clock(config, SystemClock)
    }

    /// A new client whose state is saved at `path` (which must not exist).
    pub fn create(path: impl AsRef<Path>, config: Config) -> Result<Self, Error> {
        Self::create_with_clock(path, config, SystemClock)
    }

    /// The client saved at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with_clock(path, SystemClock)
    }
}

impl<C: Clock + Clone> Client<C> {
    /// An in-memory client with the given clock.
    pub fn with_clock(config: Config, clock: C) -> Result<Self, Error> {
        let (suite, id, identity) = config.resolve(e4_backends::provider())?;
        let inner = build(suite, id, identity, MemStore::new(), clock.clone())?;
        Self::from_inner(inner, CommandLog::default(), clock, None)
    }

    /// [`Client::create`] with the given clock.
    pub fn create_with_clock(
        path: impl AsRef<Path>,
        config: Config,
        clock: C,
    ) -> Result<Self, Error> {
        let file = FileStore::create(path)?;
        let client = Self::with_clock(config, clock)?;
        client
            .persist(&client.inner, &client.commands, &file)
            .map_err(|e| e.0)?;
        Ok(Client {
            file: Some(file),
            ..client
        })
    }

    /// [`Client::open`] with the given clock.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: C) -> Result<Self, Error> {
        let file = FileStore::open(path)?;
        let s = file.load(e4_backends::provider())?;
        let unusable = |e: e4_proto::Error| StateError::Corrupt {
            path: file.path().to_owned(),
            reason: format!("unusable key material: {e}"),
        };
        let inner = build(s.suite, s.id, s.identity, s.store, clock.clone()).map_err(unusable)?;
        Self::from_inner(inner, s.commands, clock, Some(file))
    }

    fn from_inner(
        inner: Inner<C>,
        commands: CommandLog,
        clock: C,
        file: Option<FileStore>,
    ) -> Result<Self, Error> {
        let suite = inner.provider().suite(inner.suite())?;
        Ok(Client {
            inner,
            suite,
            commands,
            replay: Some(Box::default()),
            file,
            clock,
        })
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
    pub fn control_topic(&self) -> &str {
        self.inner.control_topic().as_str()
    }
    /// Whether `topic` is the control topic.
    pub fn is_control_topic(&self, topic: &str) -> bool {
        topic == self.control_topic()
    }
    /// The hash of a topic name.
    pub fn topic_hash(&self, topic: &str) -> TopicHash {
        self.inner.topic_hash(topic)
    }
    /// Whether a key is held for `topic`.
    pub fn has_topic_key(&self, topic: &str) -> bool {
        self.inner.store().topic(&self.topic_hash(topic)).is_some()
    }
    /// Bytes added to each payload by protection.
    pub fn overhead(&self) -> usize {
        self.inner.overhead()
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

    /// Protect `payload` for `topic` (e4go `ProtectMessage`).
    pub fn protect(&self, payload: &[u8], topic: &str) -> Result<Vec<u8>, Error> {
        if self.is_control_topic(topic) {
            return Err(Error::ControlTopic {
                topic: topic.to_owned(),
            });
        }
        let mut out = vec![0u8; payload.len() + self.overhead()];
        let n = self.inner.protect(topic, payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Unprotect a message received on `topic` (e4go `Unprotect`). On the
    /// control topic it is a command: it is checked, applied and persisted,
    /// and [`Unprotected::Command`] is returned.
    pub fn unprotect(&mut self, payload: &[u8], topic: &str) -> Result<Unprotected, Error> {
        if self.is_control_topic(topic) {
            return self.process_command(payload).map(Unprotected::Command);
        }
        let hash = self.topic_hash(topic);
        let mut out = vec![0u8; payload.len()];
        let n = self.inner.unprotect_hashed(&hash, payload, &mut out)?;
        out.truncate(n);
        if let Some(cache) = &mut self.replay {
            let (ts, siv) = message_tag(self.suite, payload)?;
            if let Err(e) = cache.check(&hash, ts, &siv) {
                out.zeroize();
                return Err(e.into());
            }
            cache.record(&hash, ts, &siv, self.clock.now());
        }
        Ok(Unprotected::Message(out))
    }

    fn process_command(&mut self, msg: &[u8]) -> Result<CommandInfo, Error> {
        let suite = self.suite;
        self.transact(|c, log, now| {
            let mut scratch = zeroize::Zeroizing::new(vec![0u8; msg.len()]);
            let opcode = c.process_command(msg, &mut scratch)?;
            let tag = command_tag(suite, msg)?;
            log.check(&tag)?;
            log.record(tag, now);
            Ok(CommandInfo { opcode })
        })
    }

    /// Set a topic key directly (provisioning without C2). Keeps the
    /// previous key for the transition period, like SetTopicKey.
    pub fn set_topic_key(&mut self, topic: &str, key: &SymKey) -> Result<(), Error> {
        let hash = self.topic_hash(topic);
        self.set_topic_key_hashed(&hash, key)
    }

    /// [`Client::set_topic_key`] by topic hash.
    pub fn set_topic_key_hashed(&mut self, topic: &TopicHash, key: &SymKey) -> Result<(), Error> {
        self.transact(|c, _, _| Ok(c.set_topic_key(topic, key)?))
    }

    /// Set the signature public key of another device (public-key and kem
    /// suites), as C2's SetPubKey does.
    pub fn set_pubkey(&mut self, id: &Id, key: &[u8]) -> Result<(), Error> {
        self.transact(|c, _, _| Ok(c.set_pubkey(id, key)?))
    }

    /// Apply `f` to a copy of the state (at a fixed `now`), save the result,
    /// then make it current. Nothing changes when `f` or the save fails
    /// (unless the new file was already in place: then memory follows disk).
    fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut Scratch, &mut CommandLog, u64) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let now = self.clock.now();
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
        let mut commands = self.commands.clone();
        let out = f(&mut scratch, &mut commands, now)?;
        let suite = scratch.suite();
        let (id, identity, store) = scratch.into_parts();
        let inner = build(suite, id, identity, store, self.clock.clone())?;
        if let Some(file) = &self.file {
            if let Err((e, committed)) = self.persist(&inner, &commands, file) {
                if committed {
                    self.inner = inner;
                    self.commands = commands;
                }
                return Err(e);
            }
        }
        self.inner = inner;
        self.commands = commands;
        Ok(out)
    }

    fn persist(
        &self,
        inner: &Inner<C>,
        commands: &CommandLog,
        file: &FileStore,
    ) -> Result<(), (Error, bool)> {
        let s = StateRef {
            suite: inner.suite(),
            id: inner.id(),
            identity: inner.identity(),
            store: inner.store(),
            commands,
        };
        file.save(inner.provider(), &s)
            .map_err(|e| (Error::State(e.error), e.committed))
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
            .field("state_path", &self.state_path())
            .finish()
    }
}
