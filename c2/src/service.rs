//! Every C2 operation, once, for both APIs. Each write runs in one
//! transaction together with the commands it implies (the outbox); events
//! are published and the outbox worker woken only after the commit.

use crate::automation::{self, EventTrigger};
use crate::bootstrap;
use crate::crypto_at_rest::{aad, MasterKey};
use crate::db::clients::{self, ClientRow};
use crate::db::topics::{self, TopicRow};
use crate::db::{c2keys, delivery, links, mqtt_credentials, now_ms, outbox as otable, Db, WriteTx};
use crate::error::{C2Error, C2Result};
use crate::events::EventBus;
use crate::key_integrity::{check_c2_key, check_client};
use crate::metrics::Metrics;
use crate::model::*;
use crate::mqtt::status::{Delivery, PublisherStatus};
use crate::mqtt::{credentials, password_hash};
use crate::negotiation::{can_serve, push_topic_format};
use crate::outbox::{c2_secret_aad, client_key_aad, Enqueuer};
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use e4_proto::keys::is_all_zero;
use e4_proto::message::{seal_symmetric, SignedMessage, SymMessage, SYM_OVERHEAD};
use e4_proto::renegotiate::{Renegotiate, RENEGOTIATE_OPCODE};
use e4_proto::{Command, CryptoProvider, Family, Id, SuiteId, SymKey, TopicHash};
use std::sync::Arc;
use tokio::sync::Notify;
use zeroize::Zeroizing;

/// Rows read per batch by fleet-wide operations.
pub const FLEET_BATCH: usize = 500;

/// Associated data of a topic's encrypted key.
pub fn topic_key_aad(topic: &str) -> Vec<u8> {
    aad("topic-key", topic.as_bytes())
}

/// Health report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Database answers.
    pub database: bool,
    /// Connected to the broker.
    pub broker: bool,
    /// Commands waiting.
    pub outbox_pending: u64,
    /// Age of the oldest command waiting, in seconds.
    pub oldest_pending_s: Option<u64>,
    /// How delivery is going.
    pub delivery: Delivery,
    /// Unacknowledged publishes at most (the publisher may have lowered it).
    pub publish_window: u64,
    /// Failed broker connection attempts since the last healthy connection.
    pub broker_failures: u64,
    /// Devices whose last state report shows a missing or old key.
    pub devices_out_of_date: u64,
    /// Devices that never sent a state report.
    pub devices_never_reported: u64,
}

impl Health {
    /// "ok", or "degraded" when the database does not answer or delivery is
    /// stalled or disconnected with commands waiting.
    pub fn status(&self) -> &'static str {
        if self.problems().is_empty() {
            "ok"
        } else {
            "degraded"
        }
    }

    /// What makes it degraded, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.database {
            p.push("the database does not answer".to_string());
        }
        let age = self.oldest_pending_s.unwrap_or(0);
        match self.delivery {
            Delivery::Stalled => p.push(format!(
                "connected to the broker, but no command was acknowledged lately; {} waiting, the oldest for {age} s",
                self.outbox_pending
            )),
            Delivery::Disconnected => p.push(format!(
                "not connected to the broker ({} failed attempts); {} commands waiting, the oldest for {age} s",
                self.broker_failures, self.outbox_pending
            )),
            Delivery::Idle | Delivery::Delivering => {}
        }
        p
    }
}

/// C2's key for one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteInfo {
    /// Suite.
    pub suite: SuiteId,
    /// C2's public key (none for symmetric).
    pub c2_public_key: Vec<u8>,
    /// Its version.
    pub c2_key_version: u64,
    /// Clients of this suite.
    pub clients: u64,
}

/// The operations.
pub struct Service {
    /// Database.
    pub db: Db,
    /// At-rest key.
    pub master: Arc<MasterKey>,
    /// Crypto backends.
    pub provider: &'static CryptoProvider,
    /// Event fan-out.
    pub events: EventBus,
    /// Wakes the outbox worker.
    pub notify: Arc<Notify>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The outbox publisher's connection and delivery state (for health).
    pub publisher: Arc<PublisherStatus>,
    /// Wakes the automation engine (a rule changed).
    pub automation: Arc<Notify>,
    /// Commands per second a rule's schedule may queue at most.
    pub rule_max_rate: u64,
    /// Keep (do not rotate) the topic keys of a device that leaves the
    /// public-key suite for a post-quantum one (they were delivered under
    /// static X25519).
    pub keep_pubkey_topic_keys: bool,
}

fn random_key() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    loop {
        OsRng.fill(&mut k[..]);
        if !is_all_zero(&k[..]) {
            return k;
        }
    }
}

impl Service {
    pub(crate) async fn commit_commands(&self, w: WriteTx, q: Queued) -> C2Result<Queued> {
        w.commit().await?;
        if q.count > 0 {
            self.metrics.commands_queued.inc_by(q.count);
            self.notify.notify_one();
        }
        Ok(q)
    }

    /// Begin a transaction that queues commands.
    pub(crate) async fn begin_commands(&self) -> C2Result<(WriteTx, Enqueuer<'_>)> {
        let mut w = self.db.begin_write().await?;
        let e = Enqueuer::begin(w.conn(), &self.master, &self.metrics).await?;
        Ok((w, e))
    }

    // ---- clients -------------------------------------------------------

    /// Register a client. Returns the key when C2 generated it.
    pub async fn new_client(
        &self,
        req: NewClient,
    ) -> C2Result<(ClientInfo, Option<Zeroizing<[u8; 32]>>)> {
        self.register_client(req).await.map(|c| (c.info, c.key))
    }

    /// Register a client; the reply carries its generated key, if any, and
    /// its MQTT credentials (shown once: C2 keeps only the password's hash).
    pub async fn register_client(&self, req: NewClient) -> C2Result<Registered> {
        check_client_name(&req.name)?;
        let suite = parse_suite(self.provider, req.suite.as_deref())?;
        let id = match &req.id {
            Some(b) if !b.is_empty() => {
                Id::from_slice(b).ok_or_else(|| C2Error::invalid("a client id is 16 bytes"))?
            }
            _ => Id::from_alias(self.provider.hash, req.name.as_bytes()),
        };
        let s = self.provider.suite(suite)?;
        let now = now_ms();
        let mut row = ClientRow::new(id, req.name.clone(), suite, now);
        let present = |v: &Option<Vec<u8>>| v.as_ref().is_some_and(|b| !b.is_empty());
        let given_key = req.key.as_ref().filter(|k| !k.is_empty());
        let mut generated = None;
        match suite.family() {
            Family::E4Symmetric => {
                if present(&req.sig_pk) || present(&req.kem_pk) {
                    return Err(C2Error::invalid(
                        "a symmetric client takes a key, not public keys",
                    ));
                }
                let key = match given_key {
                    Some(k) => {
                        if k.len() != 32 {
                            return Err(C2Error::invalid("a symmetric client key is 32 bytes"));
                        }
                        if is_all_zero(k) {
                            return Err(C2Error::invalid("the client key is all zeros"));
                        }
                        let mut a = Zeroizing::new([0u8; 32]);
                        a.copy_from_slice(k);
                        a
                    }
                    None => {
                        let k = random_key();
                        generated = Some(k.clone());
                        k
                    }
                };
                row.key_enc = Some(self.master.seal(&client_key_aad(&id), &key[..]));
            }
            Family::E4PublicKey => {
                if given_key.is_some() || present(&req.kem_pk) {
                    return Err(C2Error::invalid(
                        "a pubkey client takes its Ed25519 public key (sig_public_key) only",
                    ));
                }
                let pk = req
                    .sig_pk
                    .as_ref()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        C2Error::invalid("sig_public_key (Ed25519, 32 bytes) is required")
                    })?;
                let pk32: [u8; 32] = pk
                    .as_slice()
                    .try_into()
                    .map_err(|_| C2Error::invalid("an Ed25519 public key is 32 bytes"))?;
                if is_all_zero(&pk32) || s.x25519()?.public_from_ed25519(&pk32).is_none() {
                    return Err(C2Error::invalid("not a valid Ed25519 public key"));
                }
                row.sig_pk = Some(pk.clone());
            }
            Family::Kem => {
                if given_key.is_some() {
                    return Err(C2Error::invalid(format!(
                        "a {suite} client takes sig_public_key and kem_public_key, not a key"
                    )));
                }
                let sig_len = suite.params().sig_public_key;
                let kem_len = suite.params().kem_public_key;
                let sig = req.sig_pk.clone().unwrap_or_default();
                let kem = req.kem_pk.clone().unwrap_or_default();
                if sig.len() != sig_len {
                    return Err(C2Error::invalid(format!(
                        "sig_public_key for {suite} is {sig_len} bytes, got {}",
                        sig.len()
                    )));
                }
                if kem.len() != kem_len {
                    return Err(C2Error::invalid(format!(
                        "kem_public_key for {suite} is {kem_len} bytes, got {}",
                        kem.len()
                    )));
                }
                if is_all_zero(&sig) || is_all_zero(&kem) {
                    return Err(C2Error::invalid("a public key is all zeros"));
                }
                row.sig_pk = Some(sig);
                row.kem_pk = Some(kem);
            }
        }
        let mqtt_password = credentials::generate_password();
        let mut w = self.db.begin_write().await?;
        clients::insert(w.conn(), &self.master, &row).await?;
        mqtt_credentials::set(w.conn(), &id, &password_hash::hash(&mqtt_password)).await?;
        w.commit().await?;
        self.events
            .emit(EventKind::ClientAdded, Some((&row.name, id)), None);
        tracing::info!(client = %row.name, id = %id, suite = %suite, "client added");
        Ok(Registered {
            info: row.info(),
            key: generated,
            mqtt: MqttCredentials::of(&id, mqtt_password),
        })
    }

    /// Replace a device's MQTT password (the old one stops working at the
    /// device's next CONNECT); returns the new credentials, shown once.
    pub async fn reissue_mqtt_password(&self, r: &ClientRef) -> C2Result<MqttCredentials> {
        let password = credentials::generate_password();
        let mut w = self.db.begin_write().await?;
        let row = clients::get(w.conn(), r).await?;
        mqtt_credentials::set(w.conn(), &row.id, &password_hash::hash(&password)).await?;
        w.commit().await?;
        self.events.emit(
            EventKind::MqttPasswordIssued,
            Some((&row.name, row.id)),
            None,
        );
        tracing::info!(client = %row.name, "MQTT password reissued");
        Ok(MqttCredentials::of(&row.id, password))
    }

    /// A client.
    pub async fn get_client(&self, r: &ClientRef) -> C2Result<ClientInfo> {
        let info = {
            let mut c = self.db.read().await?;
            clients::get(&mut c, r).await?.info()
        };
        let mut v = self.with_states(vec![info]).await?;
        Ok(v.remove(0))
    }

    /// Remove a client (its memberships and links go too; no command).
    pub async fn remove_client(&self, r: &ClientRef) -> C2Result<()> {
        let mut w = self.db.begin_write().await?;
        let row = clients::get(w.conn(), r).await?;
        let topics: Vec<String> = topics::all_of_client(w.conn(), &row.id)
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        clients::delete(w.conn(), &row.id).await?;
        automation::record(w.conn(), EventTrigger::ClientRemoved, Some(&row), &topics).await?;
        w.commit().await?;
        self.events
            .emit(EventKind::ClientRemoved, Some((&row.name, row.id)), None);
        tracing::info!(client = %row.name, "client removed");
        Ok(())
    }

    /// New identity key for a client, sent with SetIdKey (sealed under the
    /// old key); a pubkey client's new public key goes to its linked clients.
    /// A KEM device makes its own keys: it is asked to rekey (Renegotiate
    /// with the rekey flag; `docs/negotiation.md`).
    pub async fn new_client_key(&self, r: &ClientRef) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let row = clients::get(w.conn(), r).await?;
        self.queue_new_client_key(&mut w, &mut q, &row).await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        tracing::info!(client = %row.name, commands = queued.count, "client key replaced");
        Ok(queued)
    }

    /// Within `w`: a new identity key for `row` (see [`Service::new_client_key`]).
    pub(crate) async fn queue_new_client_key(
        &self,
        w: &mut WriteTx,
        q: &mut Enqueuer<'_>,
        row: &ClientRow,
    ) -> C2Result<()> {
        let s = self.provider.suite(row.suite)?;
        let now = now_ms();
        match row.suite.family() {
            Family::E4Symmetric => {
                let key = random_key();
                q.push(w.conn(), row, &Command::SetIdKey(&key[..])).await?;
                let enc = self.master.seal(&client_key_aad(&row.id), &key[..]);
                clients::update_key(w.conn(), &self.master, row, Some(enc), None, now).await?;
            }
            Family::E4PublicKey => {
                let p = row.suite.params();
                let mut sk = Zeroizing::new(vec![0u8; p.sig_secret_key]);
                let mut pk = vec![0u8; p.sig_public_key];
                s.sig()?.generate(&mut OsRng, &mut sk, &mut pk)?;
                q.push(w.conn(), row, &Command::SetIdKey(&sk)).await?;
                clients::update_key(w.conn(), &self.master, row, None, Some(pk.clone()), now)
                    .await?;
                let cmd = Command::SetPubKey {
                    key: &pk,
                    id: row.id,
                };
                crate::negotiation::push_to_linked(w.conn(), q, &row.id, &cmd).await?;
            }
            Family::Kem => {
                // A KEM device generates its own keys: it is asked to offer
                // fresh ones (Renegotiate with the rekey flag); they replace
                // the old ones when its Confirm commits.
                if row.last_announce_ts.is_none() {
                    return Err(C2Error::invalid(format!(
                        "{} runs suite {} and has never announced itself: a KEM device \
                         replaces its keys by negotiation, which it does not run",
                        row.name, row.suite
                    )));
                }
                q.push_bytes(
                    w.conn(),
                    row,
                    RENEGOTIATE_OPCODE,
                    None,
                    Zeroizing::new(Renegotiate::REKEY.encode().to_vec()),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// ResetTopics to a client; its memberships are dropped.
    pub async fn reset_client(&self, r: &ClientRef) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let row = clients::get(w.conn(), r).await?;
        q.push(w.conn(), &row, &Command::ResetTopics).await?;
        let mut left = Vec::new();
        let mut after = String::new();
        loop {
            let names =
                topics::names_of_client_batch(w.conn(), &row.id, &after, FLEET_BATCH).await?;
            let Some(last) = names.last() else { break };
            after = last.clone();
            left.extend(names);
        }
        topics::remove_all_of_client(w.conn(), &row.id).await?;
        if !left.is_empty() {
            automation::record(w.conn(), EventTrigger::ClientLeft, Some(&row), &left).await?;
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        for t in &left {
            self.events
                .emit(EventKind::ClientLeft, Some((&row.name, row.id)), Some(t));
        }
        tracing::info!(client = %row.name, topics = left.len(), commands = queued.count, "client topics reset");
        Ok(queued)
    }

    /// Number of clients.
    pub async fn count_clients(&self) -> C2Result<u64> {
        let mut c = self.db.read().await?;
        clients::count(&mut c).await
    }

    /// A page of clients.
    pub async fn list_clients(&self, page: Page) -> C2Result<Vec<ClientInfo>> {
        let infos = {
            let mut c = self.db.read().await?;
            clients::list(&mut c, page)
                .await?
                .iter()
                .map(ClientRow::info)
                .collect()
        };
        self.with_states(infos).await
    }

    // ---- topics --------------------------------------------------------

    /// Create a topic with a random key.
    pub async fn new_topic(&self, topic: &str) -> C2Result<TopicInfo> {
        self.create_topic(topic, None).await
    }

    pub(crate) async fn create_topic(
        &self,
        topic: &str,
        format: Option<SuiteId>,
    ) -> C2Result<TopicInfo> {
        check_topic(topic)?;
        let key = random_key();
        let now = now_ms();
        let row = TopicRow {
            name: topic.to_string(),
            hash: TopicHash::of(self.provider.hash, topic.as_bytes()),
            key_enc: self.master.seal(&topic_key_aad(topic), &key[..]),
            created_at: now,
            key_updated_at: now,
            format,
            key_version: 1,
        };
        let mut w = self.db.begin_write().await?;
        crate::negotiation::check_minimum(w.conn(), None, format).await?;
        topics::insert(w.conn(), &row).await?;
        w.commit().await?;
        self.events.emit(EventKind::TopicAdded, None, Some(topic));
        tracing::info!(
            topic,
            format = row.format.map_or("first member's suite", |f| f.name()),
            "topic added"
        );
        Ok(row.info())
    }

    /// A topic.
    pub async fn get_topic(&self, topic: &str) -> C2Result<TopicInfo> {
        check_topic(topic)?;
        let mut c = self.db.read().await?;
        let mut info = topics::get(&mut c, topic).await?.info();
        info.members_confirmed = Some(delivery::confirmed_members(&mut c, topic).await?);
        Ok(info)
    }

    /// RemoveTopic to every member, then delete the topic.
    pub async fn remove_topic(&self, topic: &str) -> C2Result<Queued> {
        check_topic(topic)?;
        let (mut w, mut q) = self.begin_commands().await?;
        let t = topics::lock_get(w.conn(), topic).await?;
        let mut after = Vec::new();
        loop {
            let members = topics::member_batch(w.conn(), topic, &after, FLEET_BATCH).await?;
            let Some(last) = members.last() else { break };
            after = last.id.0.to_vec();
            for m in &members {
                q.push(w.conn(), m, &Command::RemoveTopic(t.hash)).await?;
            }
        }
        topics::delete(w.conn(), topic).await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events.emit(EventKind::TopicRemoved, None, Some(topic));
        tracing::info!(topic, commands = queued.count, "topic removed");
        Ok(queued)
    }

    /// Number of topics.
    pub async fn count_topics(&self) -> C2Result<u64> {
        let mut c = self.db.read().await?;
        topics::count(&mut c).await
    }

    /// A page of topics.
    pub async fn list_topics(&self, page: Page) -> C2Result<Vec<TopicInfo>> {
        let mut c = self.db.read().await?;
        Ok(topics::list(&mut c, page)
            .await?
            .iter()
            .map(TopicRow::info)
            .collect())
    }

    /// New random topic key, SetTopicKey to every member, streamed from
    /// the database in batches within the one transaction.
    pub async fn rotate_topic_key(&self, topic: &str) -> C2Result<Queued> {
        check_topic(topic)?;
        let (mut w, mut q) = self.begin_commands().await?;
        let t = topics::lock_get(w.conn(), topic).await?;
        self.queue_new_topic_key(&mut w, &mut q, topic, t.hash)
            .await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events
            .emit(EventKind::TopicKeyRotated, None, Some(topic));
        tracing::info!(topic, commands = queued.count, "topic key rotated");
        Ok(queued)
    }

    /// Within `w`: a new random key for `topic` (locked by the caller),
    /// and SetTopicKey to every member, streamed in batches.
    pub(crate) async fn queue_new_topic_key(
        &self,
        w: &mut WriteTx,
        q: &mut Enqueuer<'_>,
        topic: &str,
        hash: TopicHash,
    ) -> C2Result<()> {
        let key = random_key();
        topics::update_key(
            w.conn(),
            topic,
            self.master.seal(&topic_key_aad(topic), &key[..]),
            now_ms(),
        )
        .await?;
        let cmd = Command::SetTopicKey {
            key: &key,
            topic: hash,
        };
        let mut after = Vec::new();
        let mut below = 0u64;
        loop {
            let members = topics::member_batch(w.conn(), topic, &after, FLEET_BATCH).await?;
            let Some(last) = members.last() else { break };
            after = last.id.0.to_vec();
            for m in &members {
                // The policy's minimum: a device running below it gets no
                // topic key until it is upgraded.
                if m.below_minimum {
                    below += 1;
                    continue;
                }
                q.push(w.conn(), m, &cmd).await?;
            }
        }
        if below > 0 {
            tracing::warn!(
                topic,
                members = below,
                "members below the policy minimum were not given the new key"
            );
        }
        Ok(())
    }

    // ---- membership ----------------------------------------------------

    /// Add a client to a topic: SetTopicKey. For a member already, the key
    /// (and format) is sent again.
    pub async fn add_client_to_topic(&self, r: &ClientRef, topic: &str) -> C2Result<Queued> {
        check_topic(topic)?;
        let (mut w, mut q) = self.begin_commands().await?;
        let c = clients::get(w.conn(), r).await?;
        let t = topics::lock_get(w.conn(), topic).await?;
        crate::negotiation::check_minimum(
            w.conn(),
            Some((&c.name, c.suite)),
            Some(t.format.unwrap_or(c.suite)),
        )
        .await?;
        let rejoin = topics::is_member(w.conn(), topic, &c.id).await?;
        let format = match t.format {
            Some(f) => f,
            None => {
                topics::set_format(w.conn(), topic, c.suite).await?;
                c.suite
            }
        };
        if !can_serve(c.suite, c.last_announce_ts.is_some(), format) {
            let why = if format == SuiteId::Symmetric {
                "it has not announced itself, so it is not known to read the symmetric format"
            } else {
                "only the symmetric format is readable across suites"
            };
            return Err(C2Error::FailedPrecondition(format!(
                "device suite {} cannot read topic format {format} ({:?} cannot join {topic:?}: {why})",
                c.suite, c.name
            )));
        }
        if !rejoin {
            topics::add_member(w.conn(), topic, &c.id).await?;
            automation::record(
                w.conn(),
                EventTrigger::ClientJoined,
                Some(&c),
                &[topic.to_string()],
            )
            .await?;
        }
        let key = self.master.open_key32(&topic_key_aad(topic), &t.key_enc)?;
        q.push(
            w.conn(),
            &c,
            &Command::SetTopicKey {
                key: &key,
                topic: t.hash,
            },
        )
        .await?;
        if format != c.suite {
            push_topic_format(&mut q, w.conn(), &c, &t, format).await?;
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        if rejoin {
            tracing::info!(client = %c.name, topic, "already a member: topic key sent again");
        } else {
            self.events
                .emit(EventKind::ClientJoined, Some((&c.name, c.id)), Some(topic));
            tracing::info!(client = %c.name, topic, commands = queued.count, "client joined topic");
        }
        Ok(queued)
    }

    /// Remove a client from a topic: RemoveTopic to it and, with
    /// `rotate` (the default of every API), a new topic key to the members
    /// left, in the same transaction: the removed device still holds the
    /// old key and would read what follows. Without `rotate` the topic
    /// stays readable by the removed device until the next rotation.
    pub async fn remove_client_from_topic(
        &self,
        r: &ClientRef,
        topic: &str,
        rotate: bool,
    ) -> C2Result<Queued> {
        check_topic(topic)?;
        let (mut w, mut q) = self.begin_commands().await?;
        let c = clients::get(w.conn(), r).await?;
        let t = topics::lock_get(w.conn(), topic).await?;
        if !self.queue_leave(&mut w, &mut q, &c, &t).await? {
            return Err(C2Error::not_found(format!(
                "client {:?} is not a member of {topic:?}",
                c.name
            )));
        }
        if rotate {
            self.queue_new_topic_key(&mut w, &mut q, topic, t.hash)
                .await?;
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events
            .emit(EventKind::ClientLeft, Some((&c.name, c.id)), Some(topic));
        if rotate {
            self.events
                .emit(EventKind::TopicKeyRotated, None, Some(topic));
            tracing::info!(client = %c.name, topic, commands = queued.count, "removed from topic; topic key rotated");
        } else {
            tracing::warn!(client = %c.name, topic, "removed from topic without a key rotation: it can read the topic until the next rotation");
        }
        Ok(queued)
    }

    /// Within `w`: take `c` out of `t` (locked by the caller), RemoveTopic
    /// to it, and the event for automation rules. False if it was not a
    /// member (nothing done).
    pub(crate) async fn queue_leave(
        &self,
        w: &mut WriteTx,
        q: &mut Enqueuer<'_>,
        c: &ClientRow,
        t: &TopicRow,
    ) -> C2Result<bool> {
        if !topics::remove_member(w.conn(), &t.name, &c.id).await? {
            return Ok(false);
        }
        q.push(w.conn(), c, &Command::RemoveTopic(t.hash)).await?;
        automation::record(
            w.conn(),
            EventTrigger::ClientLeft,
            Some(c),
            &[t.name.clone()],
        )
        .await?;
        Ok(true)
    }

    /// Number of topics of a client.
    pub async fn count_topics_for_client(&self, r: &ClientRef) -> C2Result<u64> {
        let mut conn = self.db.read().await?;
        let c = clients::get(&mut conn, r).await?;
        topics::count_of_client(&mut conn, &c.id).await
    }

    /// A page of a client's topics.
    pub async fn list_topics_for_client(
        &self,
        r: &ClientRef,
        page: Page,
    ) -> C2Result<Vec<TopicInfo>> {
        let mut conn = self.db.read().await?;
        let c = clients::get(&mut conn, r).await?;
        Ok(topics::list_of_client(&mut conn, &c.id, page)
            .await?
            .iter()
            .map(TopicRow::info)
            .collect())
    }

    /// Number of members of a topic.
    pub async fn count_clients_for_topic(&self, topic: &str) -> C2Result<u64> {
        check_topic(topic)?;
        let mut conn = self.db.read().await?;
        topics::get(&mut conn, topic).await?;
        topics::count_members(&mut conn, topic).await
    }

    /// A page of a topic's members.
    pub async fn list_clients_for_topic(
        &self,
        topic: &str,
        page: Page,
    ) -> C2Result<Vec<ClientInfo>> {
        check_topic(topic)?;
        let infos = {
            let mut conn = self.db.read().await?;
            topics::get(&mut conn, topic).await?;
            topics::list_members(&mut conn, topic, page)
                .await?
                .iter()
                .map(ClientRow::info)
                .collect()
        };
        self.with_states(infos).await
    }

    // ---- public keys ---------------------------------------------------

    async fn pair(
        &self,
        conn: &mut sqlx::AnyConnection,
        source: &ClientRef,
        target: &ClientRef,
    ) -> C2Result<(ClientRow, ClientRow)> {
        let s = clients::get(conn, source).await?;
        let t = clients::get(conn, target).await?;
        if s.id == t.id {
            return Err(C2Error::invalid("source and target are the same client"));
        }
        if !s.suite.signs_messages() || !t.suite.signs_messages() {
            return Err(C2Error::invalid(
                "public keys are for public-key and post-quantum clients, not symmetric ones",
            ));
        }
        if s.suite != t.suite {
            return Err(C2Error::invalid(format!(
                "source is a {} client and target a {} client",
                s.suite, t.suite
            )));
        }
        Ok((s, t))
    }

    /// Record that target should hold source's public key.
    pub async fn link_client(&self, source: &ClientRef, target: &ClientRef) -> C2Result<()> {
        let mut w = self.db.begin_write().await?;
        let (s, t) = self.pair(w.conn(), source, target).await?;
        if links::exists(w.conn(), &s.id, &t.id).await? {
            return Err(C2Error::exists(format!(
                "{:?} is already linked to {:?}",
                s.name, t.name
            )));
        }
        links::add(w.conn(), &s.id, &t.id).await?;
        w.commit().await?;
        tracing::info!(source = %s.name, target = %t.name, "clients linked");
        Ok(())
    }

    /// Remove a link.
    pub async fn unlink_client(&self, source: &ClientRef, target: &ClientRef) -> C2Result<()> {
        let mut w = self.db.begin_write().await?;
        let (s, t) = self.pair(w.conn(), source, target).await?;
        if !links::remove(w.conn(), &s.id, &t.id).await? {
            return Err(C2Error::not_found(format!(
                "{:?} is not linked to {:?}",
                s.name, t.name
            )));
        }
        w.commit().await?;
        tracing::info!(source = %s.name, target = %t.name, "clients unlinked");
        Ok(())
    }

    /// Number of clients linked to a client.
    pub async fn count_linked_clients(&self, r: &ClientRef) -> C2Result<u64> {
        let mut conn = self.db.read().await?;
        let c = clients::get(&mut conn, r).await?;
        links::count_targets(&mut conn, &c.id).await
    }

    /// A page of clients linked to a client.
    pub async fn list_linked_clients(
        &self,
        r: &ClientRef,
        page: Page,
    ) -> C2Result<Vec<ClientInfo>> {
        let mut conn = self.db.read().await?;
        let c = clients::get(&mut conn, r).await?;
        Ok(links::list_targets(&mut conn, &c.id, page)
            .await?
            .iter()
            .map(ClientRow::info)
            .collect())
    }

    /// SetPubKey(source) to target.
    pub async fn send_client_pubkey(
        &self,
        source: &ClientRef,
        target: &ClientRef,
    ) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let (s, t) = self.pair(w.conn(), source, target).await?;
        check_client(&self.master, &self.metrics, &s)?;
        let pk = s
            .sig_pk
            .clone()
            .ok_or_else(|| C2Error::internal("client without public key"))?;
        q.push(w.conn(), &t, &Command::SetPubKey { key: &pk, id: s.id })
            .await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        tracing::info!(source = %s.name, target = %t.name, "public key sent");
        Ok(queued)
    }

    /// RemovePubKey(source) to target.
    pub async fn remove_client_pubkey(
        &self,
        source: &ClientRef,
        target: &ClientRef,
    ) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let (s, t) = self.pair(w.conn(), source, target).await?;
        q.push(w.conn(), &t, &Command::RemovePubKey(s.id)).await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        tracing::info!(source = %s.name, target = %t.name, "public key removed");
        Ok(queued)
    }

    /// ResetPubKeys to a client.
    pub async fn reset_client_pubkeys(&self, r: &ClientRef) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let t = clients::get(w.conn(), r).await?;
        if t.suite == SuiteId::Symmetric {
            return Err(C2Error::invalid("symmetric clients hold no public keys"));
        }
        q.push(w.conn(), &t, &Command::ResetPubKeys).await?;
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        tracing::info!(client = %t.name, "public keys reset");
        Ok(queued)
    }

    /// New C2 key pair for `suite` (or every keyed suite): SetC2Key to
    /// each of its clients, sealed with the previous key.
    pub async fn new_c2_key(&self, suite: Option<&str>) -> C2Result<Queued> {
        let suites: Vec<SuiteId> = match suite.filter(|s| !s.is_empty()) {
            Some(name) => {
                let s = parse_suite(self.provider, Some(name))?;
                if s.family() == Family::E4Symmetric {
                    return Err(C2Error::invalid("the symmetric suite has no C2 key"));
                }
                vec![s]
            }
            None => bootstrap::keyed_suites(self.provider).collect(),
        };
        let (mut w, mut q) = self.begin_commands().await?;
        for suite in &suites {
            self.queue_new_c2_key(&mut w, &mut q, *suite).await?;
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events.emit(EventKind::C2KeyRotated, None, None);
        tracing::info!(commands = queued.count, "C2 key rotated");
        Ok(queued)
    }

    /// Within `w`: a new C2 key pair for `suite`, SetC2Key to its clients
    /// sealed with the previous key (see [`Service::new_c2_key`]).
    pub(crate) async fn queue_new_c2_key(
        &self,
        w: &mut WriteTx,
        q: &mut Enqueuer<'_>,
        suite: SuiteId,
    ) -> C2Result<()> {
        let old = c2keys::require_current(w.conn(), suite).await?;
        check_c2_key(&self.master, &self.metrics, suite, &old)?;
        let (pk, sk) = bootstrap::generate_c2_keypair(self.provider, suite)?;
        let mut after = Vec::new();
        loop {
            let batch = clients::batch_of_suite(w.conn(), suite, &after, FLEET_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.0.to_vec();
            for c in &batch {
                q.push(w.conn(), c, &Command::SetC2Key(&pk)).await?;
            }
        }
        q.flush(w.conn()).await?;
        let version = old.version + 1;
        let secret_enc = self.master.seal(&c2_secret_aad(suite, version), &sk);
        let row = c2keys::C2KeyRow::new(&self.master, suite, version, pk, secret_enc);
        c2keys::insert(w.conn(), suite, &row, now_ms()).await?;
        Ok(())
    }

    // ---- messages --------------------------------------------------------

    /// A topic's key and format (in-process callers only: no API exposes it).
    pub(crate) async fn topic_key(&self, topic: &str) -> C2Result<(SymKey, Option<SuiteId>)> {
        check_topic(topic)?;
        let mut conn = self.db.read().await?;
        let t = topics::get(&mut conn, topic).await?;
        let k = self.master.open_key32(&topic_key_aad(topic), &t.key_enc)?;
        Ok((SymKey::new(*k), t.format))
    }

    /// Protect a payload with the topic key (E4 symmetric format).
    pub async fn protect_message(&self, topic: &str, payload: &[u8]) -> C2Result<Vec<u8>> {
        if payload.len() > MAX_PAYLOAD {
            return Err(C2Error::invalid(format!(
                "payload larger than {MAX_PAYLOAD} bytes"
            )));
        }
        let (key, format) = self.topic_key(topic).await?;
        if let Some(f) = format.filter(|f| *f != SuiteId::Symmetric) {
            // Its members expect messages signed by their sender: a
            // symmetric one would be unreadable (and unauthenticated).
            return Err(C2Error::FailedPrecondition(format!(
                "topic {topic:?} uses the {f} format: its messages are signed by devices; \
                 C2 protects messages of symmetric-format topics only"
            )));
        }
        let mut out = vec![0u8; payload.len() + SYM_OVERHEAD];
        let ts = (now_ms() / 1000) as u64;
        let n = seal_symmetric(self.provider.siv, &key, ts, payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Unprotect a message of any suite's format under the topic key; for
    /// signed formats the sender must be a registered client.
    pub async fn unprotect_message(
        &self,
        topic: &str,
        msg: &[u8],
    ) -> C2Result<(Vec<u8>, Option<Id>)> {
        if msg.len() > MAX_PAYLOAD + 8192 {
            return Err(C2Error::invalid("message too large"));
        }
        let (key, format) = self.topic_key(topic).await?;
        let now = (now_ms() / 1000) as u64;
        let mut out = vec![0u8; msg.len()];
        // A topic's format is the only one accepted on it (a symmetric
        // message on a signed topic would be authentic to any key holder,
        // not to its sender). A topic whose format is not fixed yet (no
        // member) can only hold E4's formats, told apart by trying.
        let formats: &[SuiteId] = match &format {
            Some(f) => std::slice::from_ref(f),
            None => &[SuiteId::Symmetric, SuiteId::PubKey],
        };
        let mut refused = e4_proto::Error::NotAuthentic;
        let mut signed = None;
        for &f in formats {
            match f.family() {
                Family::E4Symmetric => {
                    match SymMessage::parse(msg).and_then(|m| {
                        e4_proto::time::check_message(m.ts, now)?;
                        m.open(self.provider.siv, &key, &mut out)
                    }) {
                        Ok(n) => {
                            out.truncate(n);
                            return Ok((out, None));
                        }
                        Err(
                            e @ (e4_proto::Error::NotAuthentic
                            | e4_proto::Error::TooShortCiphertext),
                        ) => refused = e,
                        Err(e) => return Err(e.into()),
                    }
                }
                Family::E4PublicKey => match SignedMessage::parse_pubkey(msg) {
                    Ok(m) => signed = Some((f, m)),
                    Err(e) => refused = e,
                },
                Family::Kem => match SignedMessage::parse_kem(msg, f) {
                    Ok(m) => signed = Some((f, m)),
                    Err(e) => refused = e,
                },
            }
        }
        let Some((suite, parsed)) = signed else {
            return Err(match (refused, format) {
                (e, Some(f)) if f.signs_messages() => {
                    C2Error::NotAuthentic(format!("not a message in the topic's {f} format ({e})"))
                }
                (e4_proto::Error::NotAuthentic, _) => C2Error::NotAuthentic(
                    "the message does not authenticate under the topic key".into(),
                ),
                (e, _) => e.into(),
            });
        };
        e4_proto::time::check_message(parsed.ts, now)?;
        let mut conn = self.db.read().await?;
        let sender = clients::find(&mut conn, &ClientRef::Id(parsed.sender))
            .await?
            .filter(|c| c.suite == suite)
            .ok_or_else(|| C2Error::NotAuthentic("unknown sender".into()))?;
        check_client(&self.master, &self.metrics, &sender)?;
        let pk = sender
            .sig_pk
            .as_ref()
            .ok_or_else(|| C2Error::NotAuthentic("sender has no public key".into()))?;
        self.provider
            .suite(suite)?
            .sig()?
            .verify(pk, parsed.signed, parsed.sig)?;
        let (tag, ct) = parsed.siv_part()?;
        out.truncate(ct.len());
        out.copy_from_slice(ct);
        self.provider.siv.open(&key, parsed.ad, tag, &mut out)?;
        Ok((out, Some(sender.id)))
    }

    // ---- service -------------------------------------------------------

    /// Delivery progress of ids first..=last.
    pub async fn command_progress(&self, first: i64, last: i64) -> C2Result<Progress> {
        if first < 1 || last < first {
            return Err(C2Error::invalid("need 1 <= first_id <= last_id"));
        }
        if last - first >= 100_000_000 {
            return Err(C2Error::invalid("range too large"));
        }
        let mut conn = self.db.read().await?;
        let (pending, failed) = otable::progress(&mut conn, first, last).await?;
        let total = (last - first + 1) as u64;
        let (devices, devices_confirmed) = match delivery::queued_at(&mut conn, first, last).await?
        {
            Some(since) => delivery::confirmed_in_range(&mut conn, first, last, since).await?,
            None => (0, 0),
        };
        Ok(Progress {
            total,
            sent: total.saturating_sub(pending + failed),
            pending,
            failed,
            devices,
            devices_confirmed,
        })
    }

    /// Health.
    pub async fn health(&self) -> Health {
        let database = self.db.ping().await;
        let (outbox_pending, oldest) = match self.db.read().await {
            Ok(mut c) => (
                otable::count_pending(&mut c).await.unwrap_or(0),
                otable::oldest_pending(&mut c).await.unwrap_or(None),
            ),
            Err(_) => (0, None),
        };
        let now = now_ms();
        let oldest_pending_s = oldest.map(|t| ((now - t).max(0) / 1000) as u64);
        self.metrics.outbox_pending.set(outbox_pending as i64);
        self.metrics
            .outbox_oldest_pending_seconds
            .set(oldest_pending_s.unwrap_or(0) as i64);
        let (devices_out_of_date, devices_never_reported) =
            self.fleet_delivery().await.unwrap_or((0, 0));
        Health {
            devices_out_of_date,
            devices_never_reported,
            database,
            broker: self.publisher.connected(),
            outbox_pending,
            oldest_pending_s,
            delivery: self.publisher.delivery(oldest, now),
            publish_window: self.publisher.window(),
            broker_failures: self.publisher.failures(),
        }
    }

    /// The suites C2 serves, with C2's public key for each.
    pub async fn crypto_mode(&self) -> C2Result<Vec<SuiteInfo>> {
        let mut conn = self.db.read().await?;
        let mut out = Vec::new();
        let served = SuiteId::ALL
            .into_iter()
            .filter(|s| self.provider.supports(*s));
        for suite in served {
            // Operators provision devices with this key: refused if it
            // fails its check.
            let (pk, v) = match c2keys::current(&mut conn, suite).await? {
                Some(k) => {
                    check_c2_key(&self.master, &self.metrics, suite, &k)?;
                    (k.public_key, k.version as u64)
                }
                None => (Vec::new(), 0),
            };
            out.push(SuiteInfo {
                suite,
                c2_public_key: pk,
                c2_key_version: v,
                clients: clients::count_suite(&mut conn, suite).await?,
            });
        }
        Ok(out)
    }
}
