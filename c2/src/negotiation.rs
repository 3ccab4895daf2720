//! C2's side of suite negotiation (`docs/negotiation.md`): the fleet policy
//! and per-device overrides, Announce and Confirm messages arriving on
//! `e4c2/announce/<hex id>`, and topic formats (which suite's message
//! format a topic uses, so that every member can read it).
//!
//! Each message is first parsed and verified on a read connection, without
//! the write lock (anyone who can publish on the announce topics can send
//! forged messages as fast as the broker forwards them: they must not stall
//! the admin API or the outbox). An authentic, newer message then takes one
//! write transaction, which checks that what it was verified against still
//! holds: the decision, the pending answer and the commands it implies
//! (SetSuite under the device's current suite; after a Confirm, commands
//! under the new suite) commit together or not at all. A refused message
//! changes nothing.

use crate::db::clients::{self, ClientRow};
use crate::db::negotiations::{self, NegotiationRow};
use crate::db::topics::{self, TopicRow};
use crate::db::{c2keys, links, meta, now_ms, WriteTx};
use crate::delivery::Synced;
use crate::error::{C2Error, C2Result};
use crate::key_integrity::{check_c2_key, check_client, Record};
use crate::model::{ClientInfo, ClientRef, EventKind, Queued, TopicInfo};
use crate::mqtt::credentials::{device_of_user, device_user};
use crate::outbox::{client_key_aad, requeue_pending, Enqueuer};
use crate::service::{topic_key_aad, Service, FLEET_BATCH};
use e4_backends::rng::OsRng;
use e4_proto::negotiation::{
    answer, choose, verify_announce, verify_confirm, Decision, DeviceMaterial, Pending, Policy,
    Ranking, SET_SUITE_OPCODE, SYNC_KIND,
};
use e4_proto::topic_format::{SetTopicFormat, SET_TOPIC_FORMAT_OPCODE};
use e4_proto::SuiteSet;
use e4_proto::{Command, Family, Id, SuiteId, SymKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Prefix of the topics devices announce on.
pub const ANNOUNCE_PREFIX: &str = "e4c2/announce/";
/// The filter C2 subscribes to.
pub const ANNOUNCE_FILTER: &str = "e4c2/announce/+";
/// Largest negotiation message accepted (a hybrid Announce offering every
/// suite is about 13 KB).
pub const MAX_NEGOTIATION_MESSAGE: usize = 32 * 1024;

const POLICY_KEY: &str = "negotiation_policy";
const KIND_ANNOUNCE: u8 = 0x01;
const KIND_CONFIRM: u8 = 0x02;

/// The announce topic of a device (it ends with the device's MQTT user
/// name, its id in lowercase hex).
pub fn announce_topic(id: &Id) -> String {
    format!("{ANNOUNCE_PREFIX}{}", device_user(id))
}

/// The device an announce topic belongs to.
pub fn device_of_topic(topic: &str) -> Option<Id> {
    device_of_user(topic.strip_prefix(ANNOUNCE_PREFIX)?)
}

/// The suites this C2 can move devices to.
pub fn c2_suites(provider: &e4_proto::CryptoProvider) -> SuiteSet {
    SuiteSet::compiled_in(provider)
}

/// Whether a device running `suite` (`negotiates`: it announced itself, so
/// it runs e4-rs and can be told a topic's format) can read and write a
/// topic whose format is `format`. Only the symmetric format is readable
/// across suites (it needs the topic key alone); a signed format needs the
/// signature scheme and keys of that suite.
pub fn can_serve(suite: SuiteId, negotiates: bool, format: SuiteId) -> bool {
    suite == format || (format == SuiteId::Symmetric && negotiates)
}

/// What happened to a negotiation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Announce accepted; a SetSuite moving the device to this suite is queued.
    Offered(SuiteId),
    /// Announce accepted; nothing better is offered and allowed.
    Stay,
    /// Announce accepted; the device runs below the minimum and offered
    /// nothing acceptable (flagged).
    BelowMinimum,
    /// Confirm accepted: the device runs this suite now.
    Upgraded {
        /// Before.
        from: SuiteId,
        /// After.
        to: SuiteId,
    },
    /// Confirm of a rekey: the device runs this suite with the keys it
    /// offered.
    Rekeyed(SuiteId),
    /// Confirm of an upgrade already committed: a command in the new suite
    /// was sent again.
    AlreadyUpgraded(SuiteId),
    /// A state report was accepted.
    Synced(Synced),
}

/// The fleet policy as stored and shown by the APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// Suites C2 may move devices to.
    pub allowed: Vec<String>,
    /// The weakest suite acceptable as a device's running suite.
    pub minimum: String,
    /// Every suite, weakest first.
    pub ranking: Vec<String>,
}

impl PolicyView {
    /// The view of a policy.
    pub fn of(p: &Policy) -> PolicyView {
        PolicyView {
            allowed: p.allowed.iter().map(|s| s.name().to_string()).collect(),
            minimum: p.minimum.name().to_string(),
            ranking: p
                .ranking
                .order()
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
        }
    }

    /// Parse and validate.
    pub fn to_policy(&self) -> C2Result<Policy> {
        Ok(Policy {
            allowed: parse_suite_set(&self.allowed)?,
            minimum: parse_suite_name(&self.minimum)?,
            ranking: {
                let order: Vec<SuiteId> = self
                    .ranking
                    .iter()
                    .map(|n| parse_suite_name(n))
                    .collect::<C2Result<_>>()?;
                Ranking::new(&order).map_err(|_| {
                    C2Error::invalid("a ranking lists every suite exactly once, weakest first")
                })?
            },
        })
    }
}

/// A suite name.
pub fn parse_suite_name(name: &str) -> C2Result<SuiteId> {
    SuiteId::from_name(name).map_err(|_| {
        let known: Vec<&str> = SuiteId::ALL.iter().map(|s| s.name()).collect();
        C2Error::invalid(format!("unknown suite {name:?} ({})", known.join(", ")))
    })
}

/// A set of suite names.
pub fn parse_suite_set(names: &[String]) -> C2Result<SuiteSet> {
    names.iter().try_fold(SuiteSet::EMPTY, |acc, n| {
        Ok(acc.with(parse_suite_name(n.trim())?))
    })
}

/// Whether `policy` still lets a device running `from` be moved to
/// `suite`: allowed (a rekey, `suite == from`, moves nothing), and not
/// below the minimum.
fn permits(policy: &Policy, from: SuiteId, suite: SuiteId) -> bool {
    (suite == from || policy.allowed.contains(suite))
        && policy.ranking.rank(suite) >= policy.ranking.rank(policy.minimum)
}

/// Drop the pending answers the policy no longer permits (the device's
/// Confirm will then be refused and it stays where it is): `only` one
/// device, or all.
async fn drop_unpermitted(
    conn: &mut sqlx::AnyConnection,
    only: Option<&Id>,
) -> C2Result<Vec<(Id, SuiteId)>> {
    let fleet = read_policy(conn).await?;
    let mut dropped = Vec::new();
    for (id, suite) in negotiations::all_targets(conn).await? {
        if only.is_some_and(|o| *o != id) {
            continue;
        }
        let row = clients::find(conn, &ClientRef::Id(id)).await?;
        let policy = match row.as_ref().and_then(|r| r.allowed_suites) {
            Some(allowed) => fleet.with_allowed(allowed),
            None => fleet,
        };
        let from = row.map_or(suite, |r| r.suite);
        if !permits(&policy, from, suite) {
            negotiations::remove(conn, &id).await?;
            dropped.push((id, suite));
        }
    }
    Ok(dropped)
}

/// The suites below the policy's minimum.
pub(crate) fn suites_below(p: &Policy) -> Vec<SuiteId> {
    SuiteId::ALL
        .iter()
        .copied()
        .filter(|s| p.ranking.rank(*s) < p.ranking.rank(p.minimum))
        .collect()
}

/// After a policy change: flag the devices whose suite is now below the
/// minimum (an automation event `below_minimum` for each newly flagged
/// one) and clear the flag of those at or above it. A flagged device gets
/// no topic keys. Returns how many were newly flagged.
async fn reflag_below_minimum(conn: &mut sqlx::AnyConnection, p: &Policy) -> C2Result<u64> {
    let below = suites_below(p);
    let mut flagged = 0;
    for suite in SuiteId::ALL.iter().copied() {
        let is_below = below.contains(&suite);
        if !is_below {
            sqlx::query(
                "UPDATE clients SET below_minimum = 0 WHERE suite = $1 AND below_minimum = 1",
            )
            .bind(suite.name())
            .execute(&mut *conn)
            .await?;
            continue;
        }
        let mut after = Vec::new();
        loop {
            let batch = crate::db::rules::client_batch(
                conn,
                Some(suite.name()),
                None,
                &after,
                crate::service::FLEET_BATCH,
            )
            .await?;
            let Some(last) = batch.last() else { break };
            after = last.id.0.to_vec();
            for c in batch.iter().filter(|c| !c.below_minimum) {
                crate::automation::record(
                    conn,
                    crate::automation::EventTrigger::BelowMinimum,
                    Some(c),
                    &[],
                )
                .await?;
                flagged += 1;
            }
        }
        sqlx::query("UPDATE clients SET below_minimum = 1 WHERE suite = $1")
            .bind(suite.name())
            .execute(&mut *conn)
            .await?;
    }
    Ok(flagged)
}

/// Refuse what the fleet's minimum forbids: a `device` (name, suite)
/// running below it gets no topic keys, and no topic uses a `format` below
/// it. The refusal names the rule.
pub(crate) async fn check_minimum(
    conn: &mut sqlx::AnyConnection,
    device: Option<(&str, SuiteId)>,
    format: Option<SuiteId>,
) -> C2Result<()> {
    let p = read_policy(conn).await?;
    let below = |s: SuiteId| p.ranking.rank(s) < p.ranking.rank(p.minimum);
    if let Some((name, suite)) = device.filter(|(_, s)| below(*s)) {
        return Err(C2Error::FailedPrecondition(format!(
            "policy minimum {}: {name:?} runs {suite}, below it, and gets no topic keys until it is upgraded",
            p.minimum
        )));
    }
    if let Some(f) = format.filter(|f| below(*f)) {
        return Err(C2Error::FailedPrecondition(format!(
            "policy minimum {}: topic format {f} is below it",
            p.minimum
        )));
    }
    Ok(())
}

pub(crate) fn refused(e: impl std::fmt::Display) -> C2Error {
    C2Error::NegotiationRefused(e.to_string())
}

pub(crate) fn now_secs() -> u64 {
    (now_ms() / 1000) as u64
}

fn names(rows: &[ClientRow]) -> String {
    let mut s: Vec<String> = rows
        .iter()
        .take(5)
        .map(|c| format!("{:?} ({})", c.name, c.suite))
        .collect();
    if rows.len() > 5 {
        s.push(format!("and {} more", rows.len() - 5));
    }
    s.join(", ")
}

impl Service {
    /// The fleet policy (default: every suite allowed, default ranking,
    /// minimum symmetric).
    pub async fn policy(&self) -> C2Result<Policy> {
        let mut c = self.db.read().await?;
        read_policy(&mut c).await
    }

    /// Replace the fleet policy. Devices are not moved by this call: the
    /// policy applies to their next Announce.
    pub async fn set_policy(&self, view: &PolicyView) -> C2Result<Policy> {
        let p = view.to_policy()?;
        let mut w = self.db.begin_write().await?;
        let bytes = serde_json::to_vec(&PolicyView::of(&p))
            .map_err(|e| C2Error::internal(e.to_string()))?;
        meta::set(w.conn(), POLICY_KEY, &bytes).await?;
        let dropped = drop_unpermitted(w.conn(), None).await?;
        let flagged = reflag_below_minimum(w.conn(), &p).await?;
        w.commit().await?;
        self.automation.notify_one();
        tracing::info!(allowed = ?p.allowed, minimum = %p.minimum, "negotiation policy set");
        if flagged > 0 {
            tracing::warn!(devices = flagged, minimum = %p.minimum,
                "devices now run below the policy minimum: flagged, they get no topic keys until upgraded");
        }
        for (id, suite) in dropped {
            tracing::info!(client = %id, suite = %suite, "pending upgrade dropped: the policy no longer allows it");
        }
        Ok(p)
    }

    /// Set (`Some`) or clear (`None`) the suites one device may be moved to.
    pub async fn set_client_policy(
        &self,
        r: &ClientRef,
        allowed: Option<SuiteSet>,
    ) -> C2Result<ClientInfo> {
        let mut w = self.db.begin_write().await?;
        let row = clients::get(w.conn(), r).await?;
        clients::set_allowed(w.conn(), &row.id, allowed).await?;
        let row = clients::get(w.conn(), &ClientRef::Id(row.id)).await?;
        let dropped = drop_unpermitted(w.conn(), Some(&row.id)).await?;
        w.commit().await?;
        for (_, suite) in dropped {
            tracing::info!(client = %row.name, suite = %suite, "pending upgrade dropped: the policy no longer allows it");
        }
        tracing::info!(client = %row.name, allowed = ?allowed, "device policy set");
        Ok(row.info())
    }

    /// Create a topic with a given format (`None`: the first member's suite).
    pub async fn new_topic_with_format(
        &self,
        topic: &str,
        format: Option<SuiteId>,
    ) -> C2Result<TopicInfo> {
        if let Some(f) = format {
            crate::model::parse_suite(self.provider, Some(f.name()))?;
        }
        self.create_topic(topic, format).await
    }

    /// Change a topic's message format. Refused (nothing changes) unless
    /// every member can serve the new format; members whose suite differs
    /// from it are sent a SetTopicFormat, members back to their own suite's
    /// format are sent one removing the override.
    pub async fn set_topic_format(&self, topic: &str, format: SuiteId) -> C2Result<Queued> {
        crate::model::check_topic(topic)?;
        crate::model::parse_suite(self.provider, Some(format.name()))?;
        let (mut w, mut q) = self.begin_commands().await?;
        check_minimum(w.conn(), None, Some(format)).await?;
        let t = topics::lock_get(w.conn(), topic).await?;
        let mut members = Vec::new();
        let mut after = Vec::new();
        loop {
            let batch = topics::member_batch(w.conn(), topic, &after, FLEET_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.0.to_vec();
            members.extend(batch);
        }
        let refused: Vec<ClientRow> = members
            .iter()
            .filter(|m| !can_serve(m.suite, m.last_announce_ts.is_some(), format))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(C2Error::FailedPrecondition(format!(
                "{} member(s) of {topic:?} cannot read format {format}: {}",
                refused.len(),
                names(&refused)
            )));
        }
        topics::set_format(w.conn(), topic, format).await?;
        for m in &members {
            let old = t.format.unwrap_or(m.suite);
            // Only e4-rs members can be in this case (can_serve above).
            if old != format {
                push_topic_format(&mut q, w.conn(), m, &t, format).await?;
            }
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events
            .emit(EventKind::TopicFormatChanged, None, Some(topic));
        tracing::info!(topic, format = %format, "topic format changed");
        Ok(queued)
    }

    /// Handle a message published on a device's announce topic.
    pub async fn handle_announce_topic(&self, topic: &str, msg: &[u8]) -> C2Result<Outcome> {
        let id = device_of_topic(topic)
            .ok_or_else(|| refused(format!("{topic:?} is not an announce topic")))?;
        if msg.len() > MAX_NEGOTIATION_MESSAGE {
            return Err(refused("message too long"));
        }
        let result = match msg.get(8) {
            Some(&KIND_ANNOUNCE) => self.on_announce(&id, msg).await,
            Some(&KIND_CONFIRM) => self.on_confirm(&id, msg).await,
            Some(&SYNC_KIND) => self.on_sync(&id, msg).await.map(Outcome::Synced),
            _ => Err(refused("not an Announce, a Confirm or a state report")),
        };
        match &result {
            Ok(Outcome::Synced(s)) => {
                tracing::debug!(device = %id, queued = s.queued, up_to_date = s.up_to_date, "state report accepted")
            }
            Ok(o) => tracing::info!(device = %id, outcome = ?o, "negotiation message accepted"),
            // Refusals are logged sampled by the listener (a flood of
            // forged messages must not flood the log).
            Err(e) => tracing::debug!(device = %id, error = %e, "negotiation message refused"),
        }
        result
    }

    async fn on_announce(&self, id: &Id, msg: &[u8]) -> C2Result<Outcome> {
        // Verified on a read connection: a forged, stale or replayed
        // Announce never takes the write lock.
        let (seen, a) = {
            let mut conn = self.db.read().await?;
            let row = clients::find(&mut conn, &ClientRef::Id(*id))
                .await?
                .ok_or_else(|| refused(format!("unknown device {id}")))?;
            let material = self.material_of(&row)?;
            let a = verify_announce(
                self.provider,
                msg,
                id,
                row.suite,
                &material,
                row.last_announce_ts.map(|t| t as u64),
                now_secs(),
            )
            .map_err(refused)?;
            (row, a)
        };
        let (mut w, mut q) = self.begin_commands().await?;
        let row = clients::find(w.conn(), &ClientRef::Id(*id))
            .await?
            .ok_or_else(|| refused(format!("unknown device {id}")))?;
        // What it was verified against still holds (an upgrade, a key
        // change or another Announce may have committed meanwhile).
        if !same_material(&seen, &row) {
            return Err(refused("the device's keys changed meanwhile"));
        }
        if row.last_announce_ts.is_some_and(|t| a.ts() as i64 <= t) {
            return Err(refused("Announce not newer than the last one accepted"));
        }
        let mut policy = read_policy(w.conn()).await?;
        if let Some(allowed) = row.allowed_suites {
            policy = policy.with_allowed(allowed);
        }
        let decision = choose(&policy, &a.offer(), c2_suites(self.provider));
        // Flagged while its running suite is below the minimum, even when
        // an upgrade is on its way (until the Confirm commits it).
        clients::set_announced(
            w.conn(),
            id,
            a.ts() as i64,
            decision == Decision::BelowMinimum || suites_below(&policy).contains(&row.suite),
        )
        .await?;
        // A newer Announce supersedes any pending answer (the device erased
        // the keys it offered then).
        negotiations::remove(w.conn(), id).await?;
        let outcome = match decision {
            Decision::Upgrade(suite) | Decision::Rekey(suite) => {
                // The version is pinned with the answer: a rotation before
                // the device's first command under `suite` must not leave
                // it with a key C2 no longer seals under.
                let (c2_public, c2_version) = match suite.family() {
                    Family::E4Symmetric => (Vec::new(), None),
                    Family::E4PublicKey | Family::Kem => {
                        let k = c2keys::require_current(w.conn(), suite).await?;
                        check_c2_key(&self.master, &self.metrics, suite, &k)?;
                        (k.public_key, Some(k.version))
                    }
                };
                let (set_suite, pending) =
                    answer(self.provider, &a, suite, &c2_public, &mut OsRng).map_err(refused)?;
                let mut n = self.negotiation_row(&pending)?;
                n.c2_key_version = c2_version;
                negotiations::put(w.conn(), &self.master, &n, now_ms()).await?;
                q.push_bytes(
                    w.conn(),
                    &row,
                    SET_SUITE_OPCODE,
                    None,
                    Zeroizing::new(set_suite.encode().as_bytes().to_vec()),
                )
                .await?;
                Outcome::Offered(suite)
            }
            Decision::Stay => Outcome::Stay,
            Decision::BelowMinimum => {
                if !row.below_minimum {
                    crate::automation::record(
                        w.conn(),
                        crate::automation::EventTrigger::BelowMinimum,
                        Some(&row),
                        &[],
                    )
                    .await?;
                }
                Outcome::BelowMinimum
            }
        };
        let queued = q.finish(w.conn()).await?;
        self.commit_commands(w, queued).await?;
        let kind = match outcome {
            Outcome::Offered(_) => Some(EventKind::SuiteOffered),
            Outcome::BelowMinimum => Some(EventKind::SuiteBelowMinimum),
            _ => None,
        };
        if let Some(k) = kind {
            self.events.emit(k, Some((&row.name, row.id)), None);
        }
        Ok(outcome)
    }

    async fn on_confirm(&self, id: &Id, msg: &[u8]) -> C2Result<Outcome> {
        // Verified on a read connection: a forged, stale or replayed
        // Confirm never takes the write lock.
        let verified = {
            let mut conn = self.db.read().await?;
            let row = clients::find(&mut conn, &ClientRef::Id(*id))
                .await?
                .ok_or_else(|| refused(format!("unknown device {id}")))?;
            match negotiations::get(&mut conn, id).await? {
                Some(n) => {
                    let pending = self.pending_of(&n)?;
                    let confirm = verify_confirm(self.provider, msg, &pending, now_secs())
                        .map_err(refused)?;
                    VerifiedConfirm::Pending {
                        n,
                        pending,
                        ts: confirm.ts,
                    }
                }
                None => {
                    let ts = self.verify_repeated_confirm(&row, msg)?;
                    VerifiedConfirm::Repeated { seen: row, ts }
                }
            }
        };
        let (mut w, mut q) = self.begin_commands().await?;
        let row = clients::find(w.conn(), &ClientRef::Id(*id))
            .await?
            .ok_or_else(|| refused(format!("unknown device {id}")))?;
        let (n, pending, confirm_ts) = match verified {
            VerifiedConfirm::Pending { n, pending, ts } => (n, pending, ts),
            VerifiedConfirm::Repeated { seen, ts } => {
                // Still the upgrade it was verified against, and still newer.
                if !same_material(&seen, &row) || seen.last_transcript != row.last_transcript {
                    return Err(refused("the device's suite changed meanwhile"));
                }
                if row.last_confirm_ts.is_some_and(|last| ts as i64 <= last) {
                    return Err(refused("Confirm not newer than the last one accepted"));
                }
                return self.on_repeated_confirm(w, q, row, ts).await;
            }
        };
        // Still the answer it was verified against (a newer Announce, or a
        // policy change, may have replaced or dropped it meanwhile).
        match negotiations::get(w.conn(), id).await? {
            Some(now) if now == n => {}
            _ => return Err(refused("the pending upgrade changed meanwhile")),
        }
        // The choice is checked again: the policy may have changed since
        // the answer (its change drops such rows; this covers a race).
        let mut policy = read_policy(w.conn()).await?;
        if let Some(allowed) = row.allowed_suites {
            policy = policy.with_allowed(allowed);
        }
        if !permits(&policy, row.suite, pending.suite) {
            negotiations::remove(w.conn(), id).await?;
            w.commit().await?;
            return Err(refused(format!(
                "the policy no longer allows moving {} to {}",
                row.name, pending.suite
            )));
        }
        let from = row.suite;
        // The same suite: a rekey (the device offered its suite again with
        // fresh keys); its old keys are retired with this commit.
        let rekey = from == pending.suite;
        // The pending row stores the material in the clients columns' shape.
        clients::set_suite(
            w.conn(),
            &self.master,
            id,
            pending.suite,
            n.key_enc,
            n.sig_pk,
            n.kem_pk,
            &pending.transcript,
            confirm_ts as i64,
            n.c2_key_version,
            now_ms(),
        )
        .await?;
        negotiations::remove(w.conn(), id).await?;
        let row = clients::get(w.conn(), &ClientRef::Id(*id)).await?;
        // The device holds the C2 key its SetSuite carried: the first
        // commands under the new suite are sealed under it (then a SetC2Key
        // brings it to the newest, see resend_topics).
        if let Some(v) = n.c2_key_version {
            q.pin_c2_key(*id, v);
        }
        if rekey {
            // Devices that hold this one's signature key get the new one.
            if let Some(pk) = row.sig_pk.as_deref() {
                let cmd = Command::SetPubKey { key: pk, id: *id };
                push_to_linked(w.conn(), &mut q, id, &cmd).await?;
            }
        } else {
            // Public keys of the old scheme are meaningless now: devices
            // that held this one's are told to forget it, and the links go.
            push_to_linked(w.conn(), &mut q, id, &Command::RemovePubKey(*id)).await?;
            links::remove_all_of(w.conn(), id).await?;
        }
        requeue_pending(w.conn(), &self.master, &mut q, &row, SET_SUITE_OPCODE).await?;
        // Topic keys delivered under static X25519 (the public-key suite)
        // may be recorded now and decrypted later by a quantum attacker:
        // the topics the device keeps get new keys, sent under the new
        // suite (issue 12, item 5), unless the operator chose otherwise.
        let rotate = from.family() == Family::E4PublicKey
            && row.suite.family() != Family::E4PublicKey
            && !self.keep_pubkey_topic_keys;
        let (dropped, rotated) = self
            .resend_topics(&mut w, &mut q, &row, n.c2_key_version, rotate)
            .await?;
        if !dropped.is_empty() {
            crate::automation::record(
                w.conn(),
                crate::automation::EventTrigger::ClientLeft,
                Some(&row),
                &dropped,
            )
            .await?;
        }
        if !rekey {
            crate::automation::record(
                w.conn(),
                crate::automation::EventTrigger::SuiteUpgraded,
                Some(&row),
                &[],
            )
            .await?;
        }
        q.unpin_c2_key(id);
        let queued = q.finish(w.conn()).await?;
        self.commit_commands(w, queued).await?;
        for t in &dropped {
            self.events
                .emit(EventKind::ClientLeft, Some((&row.name, row.id)), Some(t));
        }
        for t in &rotated {
            self.events.emit(EventKind::TopicKeyRotated, None, Some(t));
        }
        if !rotated.is_empty() {
            tracing::info!(client = %row.name, topics = rotated.len(),
                "topic keys once delivered under X25519 rotated after the upgrade");
        }
        if rekey {
            self.events
                .emit(EventKind::ClientRekeyed, Some((&row.name, row.id)), None);
            tracing::info!(client = %row.name, suite = %row.suite, "device keys replaced (rekey)");
            return Ok(Outcome::Rekeyed(row.suite));
        }
        self.events
            .emit(EventKind::SuiteUpgraded, Some((&row.name, row.id)), None);
        tracing::info!(client = %row.name, from = %from, to = %row.suite, "device upgraded");
        Ok(Outcome::Upgraded {
            from,
            to: row.suite,
        })
    }

    /// Verify a Confirm with no pending answer: valid only for the upgrade
    /// already committed (the device did not get a command in the new suite
    /// yet), and only if newer than the last Confirm accepted. Its
    /// timestamp.
    fn verify_repeated_confirm(&self, row: &ClientRow, msg: &[u8]) -> C2Result<u64> {
        let transcript: [u8; 32] = row
            .last_transcript
            .as_deref()
            .and_then(|t| t.try_into().ok())
            .ok_or_else(|| refused("no upgrade pending for this device"))?;
        let pending = Pending {
            device: row.id,
            suite: row.suite,
            transcript,
            announce_ts: row.last_announce_ts.unwrap_or(0) as u64,
            material: self.material_of(row)?,
        };
        let confirm = verify_confirm(self.provider, msg, &pending, now_secs()).map_err(refused)?;
        // The device re-signs its Confirm for every retry: an old one is a
        // replay, and answering it would let an attacker make C2 send
        // commands at will.
        if row
            .last_confirm_ts
            .is_some_and(|last| confirm.ts as i64 <= last)
        {
            return Err(refused("Confirm not newer than the last one accepted"));
        }
        Ok(confirm.ts)
    }

    /// Answer a verified repeated Confirm (timestamp `ts`): the device's
    /// topic keys again, under its new suite.
    async fn on_repeated_confirm(
        &self,
        mut w: WriteTx,
        mut q: Enqueuer<'_>,
        row: ClientRow,
        ts: u64,
    ) -> C2Result<Outcome> {
        clients::set_confirm_ts(w.conn(), &row.id, ts as i64).await?;
        // The device has opened no command under its new suite yet: it
        // still holds the C2 key its SetSuite carried.
        let pin = clients::upgrade_c2_key_version(w.conn(), &row.id).await?;
        if let Some(v) = pin {
            q.pin_c2_key(row.id, v);
        }
        self.resend_topics(&mut w, &mut q, &row, pin, false).await?;
        q.unpin_c2_key(&row.id);
        let queued = q.finish(w.conn()).await?;
        self.commit_commands(w, queued).await?;
        Ok(Outcome::AlreadyUpgraded(row.suite))
    }

    /// Commands under the device's (new) suite: its topic keys, and the
    /// formats of topics whose format is not its suite's; memberships of
    /// topics it can no longer serve are dropped (returned). With no topic,
    /// one command that finishes the device's side of the exchange. `pin`:
    /// the C2 key version the device holds (its SetSuite's, which the
    /// caller pinned in `q`); when C2's key was rotated since, a SetC2Key
    /// for the newest follows, sealed under the pinned one. With `rotate`,
    /// each topic kept gets a new key (to every member) instead of the one
    /// the device held; returns (dropped, rotated).
    async fn resend_topics(
        &self,
        w: &mut WriteTx,
        q: &mut Enqueuer<'_>,
        row: &ClientRow,
        pin: Option<i64>,
        rotate: bool,
    ) -> C2Result<(Vec<String>, Vec<String>)> {
        let mut dropped = Vec::new();
        let mut rotated = Vec::new();
        let mut sent = 0;
        for t in topics::all_of_client(w.conn(), &row.id).await? {
            let format = t.format.unwrap_or(row.suite);
            if !can_serve(row.suite, true, format) {
                topics::remove_member(w.conn(), &t.name, &row.id).await?;
                q.push(w.conn(), row, &Command::RemoveTopic(t.hash)).await?;
                tracing::warn!(client = %row.name, topic = %t.name, format = %format, suite = %row.suite,
                    "membership dropped: the device's new suite cannot read the topic's format");
                dropped.push(t.name.clone());
                sent += 1;
                continue;
            }
            if t.format.is_none() {
                topics::set_format(w.conn(), &t.name, format).await?;
            }
            if rotate {
                let t = topics::lock_get(w.conn(), &t.name).await?;
                self.queue_new_topic_key(w, q, &t.name, t.hash).await?;
                rotated.push(t.name.clone());
            } else {
                let key = self
                    .master
                    .open_key32(&topic_key_aad(&t.name), &t.key_enc)?;
                q.push(
                    w.conn(),
                    row,
                    &Command::SetTopicKey {
                        key: &key,
                        topic: t.hash,
                    },
                )
                .await?;
            }
            sent += 1;
            if format != row.suite {
                push_topic_format(q, w.conn(), row, &t, format).await?;
            }
        }
        match row.suite.family() {
            Family::E4Symmetric => {
                if sent == 0 {
                    if let DeviceMaterial::Symmetric(k) = self.material_of(row)? {
                        q.push(w.conn(), row, &Command::SetIdKey(k.as_bytes()))
                            .await?;
                    }
                }
            }
            Family::E4PublicKey | Family::Kem => {
                let current = c2keys::require_current(w.conn(), row.suite).await?;
                check_c2_key(&self.master, &self.metrics, row.suite, &current)?;
                let rotated = pin.is_some_and(|v| v != current.version);
                if sent == 0 || rotated {
                    q.push(w.conn(), row, &Command::SetC2Key(&current.public_key))
                        .await?;
                }
                if rotated {
                    tracing::info!(client = %row.name, from = ?pin, to = current.version,
                        "C2 key rotated during the upgrade: the device is sent the newest after its first commands");
                }
            }
        }
        Ok((dropped, rotated))
    }

    /// What C2 holds of a device in its current suite; refused if its
    /// public keys fail their integrity check (its messages are verified
    /// against them).
    pub(crate) fn material_of(&self, row: &ClientRow) -> C2Result<DeviceMaterial> {
        check_client(&self.master, &self.metrics, row)?;
        self.material(
            &row.id,
            row.suite,
            row.key_enc.as_deref(),
            row.sig_pk.as_deref(),
            row.kem_pk.as_deref(),
        )
    }

    /// Decode stored material of `suite` (the symmetric key decrypted).
    fn material(
        &self,
        id: &Id,
        suite: SuiteId,
        key_enc: Option<&[u8]>,
        sig_pk: Option<&[u8]>,
        kem_pk: Option<&[u8]>,
    ) -> C2Result<DeviceMaterial> {
        let missing = |what: &str| C2Error::internal(format!("{suite} device {id} without {what}"));
        Ok(match suite.family() {
            Family::E4Symmetric => {
                let enc = key_enc.ok_or_else(|| missing("key"))?;
                let k = self.master.open_key32(&client_key_aad(id), enc)?;
                DeviceMaterial::Symmetric(SymKey::new(*k))
            }
            Family::E4PublicKey => DeviceMaterial::PubKey(
                sig_pk
                    .and_then(|p| p.try_into().ok())
                    .ok_or_else(|| missing("Ed25519 key"))?,
            ),
            Family::Kem => DeviceMaterial::Kem {
                sig_pk: sig_pk.ok_or_else(|| missing("signature key"))?.to_vec(),
                kem_pk: kem_pk.ok_or_else(|| missing("KEM key"))?.to_vec(),
            },
        })
    }

    fn negotiation_row(&self, p: &Pending) -> C2Result<NegotiationRow> {
        let mut n = NegotiationRow {
            client_id: p.device,
            suite: p.suite,
            transcript: p.transcript.to_vec(),
            announce_ts: p.announce_ts as i64,
            key_enc: None,
            sig_pk: None,
            kem_pk: None,
            c2_key_version: None,
            pk_mac: None,
        };
        match &p.material {
            DeviceMaterial::Symmetric(k) => {
                n.key_enc = Some(self.master.seal(&client_key_aad(&p.device), k.as_bytes()))
            }
            DeviceMaterial::PubKey(pk) => n.sig_pk = Some(pk.to_vec()),
            DeviceMaterial::Kem { sig_pk, kem_pk } => {
                n.sig_pk = Some(sig_pk.clone());
                n.kem_pk = Some(kem_pk.clone());
            }
        }
        Ok(n)
    }

    fn pending_of(&self, n: &NegotiationRow) -> C2Result<Pending> {
        Record::of_negotiation(n).check(&self.master, &self.metrics, n.pk_mac.as_deref())?;
        let material = self.material(
            &n.client_id,
            n.suite,
            n.key_enc.as_deref(),
            n.sig_pk.as_deref(),
            n.kem_pk.as_deref(),
        )?;
        Ok(Pending {
            device: n.client_id,
            suite: n.suite,
            transcript: n
                .transcript
                .as_slice()
                .try_into()
                .map_err(|_| C2Error::internal("stored transcript length"))?,
            announce_ts: n.announce_ts as u64,
            material,
        })
    }
}

/// A Confirm verified on a read connection.
enum VerifiedConfirm {
    /// Against the pending answer `n`.
    Pending {
        n: NegotiationRow,
        pending: Pending,
        ts: u64,
    },
    /// Against the upgrade already committed in `seen`.
    Repeated { seen: ClientRow, ts: u64 },
}

/// Whether a device's registered material (what its messages are verified
/// against) is the same in two reads of its row.
fn same_material(a: &ClientRow, b: &ClientRow) -> bool {
    a.suite == b.suite && a.key_enc == b.key_enc && a.sig_pk == b.sig_pk && a.kem_pk == b.kem_pk
}

/// Queue a SetTopicFormat for a member.
pub(crate) async fn push_topic_format(
    q: &mut Enqueuer<'_>,
    conn: &mut sqlx::AnyConnection,
    member: &ClientRow,
    t: &TopicRow,
    format: SuiteId,
) -> C2Result<()> {
    let cmd = SetTopicFormat {
        topic: t.hash,
        format,
    };
    q.push_bytes(
        conn,
        member,
        SET_TOPIC_FORMAT_OPCODE,
        Some(t.hash.0.to_vec()),
        Zeroizing::new(cmd.encode().to_vec()),
    )
    .await
}

/// Queue `cmd` to every device linked to `id` (those holding its
/// signature public key).
pub(crate) async fn push_to_linked(
    conn: &mut sqlx::AnyConnection,
    q: &mut Enqueuer<'_>,
    id: &Id,
    cmd: &Command<'_>,
) -> C2Result<()> {
    let mut after = Vec::new();
    loop {
        let targets = links::target_batch(conn, id, &after, FLEET_BATCH).await?;
        let Some(last) = targets.last() else { break };
        after = last.id.0.to_vec();
        for t in &targets {
            q.push(conn, t, cmd).await?;
        }
    }
    Ok(())
}

async fn read_policy(conn: &mut sqlx::AnyConnection) -> C2Result<Policy> {
    match meta::get(conn, POLICY_KEY).await? {
        None => Ok(Policy::default()),
        Some(b) => serde_json::from_slice::<PolicyView>(&b)
            .map_err(|e| C2Error::internal(format!("stored policy: {e}")))?
            .to_policy(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_topics() {
        let id = Id([0xab; 16]);
        let t = announce_topic(&id);
        assert_eq!(t, format!("e4c2/announce/{}", "ab".repeat(16)));
        assert_eq!(device_of_topic(&t), Some(id));
        for bad in [
            "e4c2/announce/",
            "e4c2/announce/abab",
            "e4c2/other/abababababababababababababababab",
            "e4c2/announce/ABABABABABABABABABABABABABABABAB",
            "e4c2/announce/zzababababababababababababababab",
        ] {
            assert_eq!(device_of_topic(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_symmetric_format_crosses_suites() {
        use SuiteId::*;
        assert!(can_serve(PostQuantum, false, PostQuantum));
        assert!(can_serve(PostQuantum, true, Symmetric));
        assert!(!can_serve(PostQuantum, false, Symmetric));
        assert!(!can_serve(Symmetric, true, PostQuantum));
        assert!(!can_serve(PubKey, true, Hybrid));
        assert!(can_serve(Symmetric, false, Symmetric));
    }

    #[test]
    fn policy_views_round_trip_and_validate() {
        let p = Policy::default().with_minimum(SuiteId::PubKey);
        assert_eq!(PolicyView::of(&p).to_policy().unwrap(), p);
        let mut v = PolicyView::of(&p);
        v.ranking.pop();
        assert!(v.to_policy().is_err());
        let mut v = PolicyView::of(&p);
        v.allowed.push("rot13".into());
        assert!(v.to_policy().is_err());
    }
}
