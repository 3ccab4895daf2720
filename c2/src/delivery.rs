//! Commands reach the device, not just the broker (`docs/delivery.md`).
//!
//! Devices report what they hold (state reports on
//! `e4c2/announce/<hex id>`, `e4_proto::negotiation::sync`): on every
//! connection, after applying commands and periodically. C2 verifies a
//! report outside any write transaction, then, in one transaction, records
//! it (which memberships hold the current key, the C2 key held, topics held
//! without membership) and queues exactly the commands that bring the
//! device up to date: SetC2Key (sealed under the C2 key the device still
//! holds) first, then SetTopicKey for every topic whose current key it
//! lacks and RemoveTopic for every topic it holds without being a member,
//! skipping those already on their way (pending in the outbox, or
//! acknowledged by the broker moments ago). When something was skipped as
//! acknowledged moments ago, the device's record is looked at again a
//! little later ([`recheck_loop`]): if the device still lacks it and did
//! not report since, it is sent again.
//!
//! The same records give each client's delivery state
//! ([`crate::model::DeviceState`]), the fleet counts of `/metrics` and
//! health, and the "confirmed by devices" part of command progress.

use crate::db::clients::{self, ClientRow};
use crate::db::delivery::{self, Held};
use crate::db::{c2keys, now_ms, outbox as otable, topics};
use crate::error::C2Result;
use crate::key_integrity::check_c2_key;
use crate::model::{ClientInfo, ClientRef, EventKind, Queued};
use crate::negotiation::{can_serve, now_secs, push_topic_format, refused};
use crate::outbox::Enqueuer;
use crate::service::{topic_key_aad, Service};
use e4_proto::command::opcode;
use e4_proto::negotiation::{c2_key_fingerprint, topic_key_fingerprint, verify_sync, SyncReport};
use e4_proto::{Command, Id, SuiteId, SymKey, TopicHash};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::watch;

/// A command acknowledged by the broker this recently (ms) is taken to be
/// on its way to the device; an older one that the device's report does
/// not show was lost, and is sent again.
pub const ON_THE_WAY_MS: i64 = 3_000;
/// How often the recheck sweep runs.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// What the device holds, as far as a plan is concerned.
enum Holds<'a> {
    /// Its report, just received.
    Report(&'a SyncReport),
    /// What its last report left in the database.
    Recorded,
}

/// What a state report led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Commands queued to bring the device up to date.
    pub queued: u64,
    /// The device holds every current key and nothing it should not.
    pub up_to_date: bool,
}

impl Service {
    /// A state report from device `id`.
    pub(crate) async fn on_sync(&self, id: &Id, msg: &[u8]) -> C2Result<Synced> {
        // Verify on a read connection: a forged, stale or replayed report
        // never takes the write path.
        let report = {
            let mut conn = self.db.read().await?;
            let row = clients::find(&mut conn, &ClientRef::Id(*id))
                .await?
                .ok_or_else(|| refused(format!("unknown device {id}")))?;
            let material = self.material_of(&row)?;
            verify_sync(
                self.provider,
                msg,
                id,
                row.suite,
                &material,
                row.last_sync_ts.map(|t| t as u64),
                now_secs(),
            )
            .map_err(refused)?
        };
        let (mut w, mut q) = self.begin_commands().await?;
        // Decide under the write lock: a rotation committed meanwhile is
        // seen, so no older key is queued after a newer one.
        let row = clients::find(w.conn(), &ClientRef::Id(*id))
            .await?
            .ok_or_else(|| refused(format!("unknown device {id}")))?;
        if row.suite != report.suite() {
            return Err(refused("the device's suite changed meanwhile"));
        }
        let plan = self.plan(w.conn(), &row, Holds::Report(&report)).await?;
        if !delivery::record_report(
            w.conn(),
            id,
            report.ts() as i64,
            now_ms(),
            plan.c2_key_held,
            plan.stale.len() as u64,
            plan.recheck_at(),
        )
        .await?
        {
            return Err(refused("report not newer than the last one accepted"));
        }
        for (topic, version) in &plan.confirmations {
            delivery::confirm(w.conn(), id, topic, *version).await?;
        }
        self.push_plan(&mut q, w.conn(), &row, &plan).await?;
        let queued = q.finish(w.conn()).await?;
        self.commit_commands(w, queued).await?;
        self.metrics.sync_reports.inc();
        self.metrics.sync_commands.inc_by(queued.count);
        let up_to_date = plan.missing.is_empty()
            && plan.stale.is_empty()
            && plan.c2_key_held.is_none_or(|v| Some(v) == plan.c2_current);
        if queued.count > 0 {
            tracing::info!(client = %row.name, commands = queued.count, "device out of date: commands queued");
        }
        Ok(Synced {
            queued: queued.count,
            up_to_date,
        })
    }

    /// Compare what the device holds with what C2 holds.
    async fn plan(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: &ClientRow,
        holds: Holds<'_>,
    ) -> C2Result<Plan> {
        // After a new session, what the broker acknowledged before is lost:
        // only pending commands are on their way.
        let since = match holds {
            Holds::Report(r) if r.new_session() => i64::MAX,
            _ => now_ms() - ON_THE_WAY_MS,
        };
        let on_the_way: HashMap<(u8, Option<Vec<u8>>), bool> =
            otable::on_the_way(conn, &row.id, since)
                .await?
                .into_iter()
                .map(|c| ((c.opcode, c.subject), c.pending))
                .collect();
        let mut plan = Plan::default();
        // Whether a command is on its way; one the broker acknowledged
        // moments ago calls for a second look later.
        let mut coming = |op: u8, subject: Option<&[u8]>| match on_the_way
            .get(&(op, subject.map(<[u8]>::to_vec)))
        {
            None => false,
            Some(pending) => {
                plan_recheck(&mut plan.recheck, *pending);
                true
            }
        };
        let reported: HashMap<TopicHash, [u8; 16]> = match holds {
            Holds::Report(r) => r.topics().iter().copied().collect(),
            Holds::Recorded => HashMap::new(),
        };
        let mut members = HashSet::new();
        let mut missing = Vec::new();
        let mut confirmations = Vec::new();
        for m in delivery::memberships(conn, &row.id).await? {
            members.insert(m.hash);
            let has_current = match holds {
                Holds::Report(_) => {
                    let key = self
                        .master
                        .open_key32(&topic_key_aad(&m.topic), &m.key_enc)?;
                    let current = topic_key_fingerprint(self.provider, &m.hash, &SymKey::new(*key));
                    reported.get(&m.hash) == Some(&current)
                }
                Holds::Recorded => m.confirmed_version == Some(m.key_version),
            };
            let confirmed = has_current.then_some(m.key_version);
            if matches!(holds, Holds::Report(_)) && confirmed != m.confirmed_version {
                confirmations.push((m.topic.clone(), confirmed));
            }
            // Below the policy's minimum: no topic key is sent.
            if !has_current && !row.below_minimum && !coming(opcode::SET_TOPIC_KEY, Some(&m.hash.0))
            {
                missing.push(m);
            }
        }
        // Topics held without membership: only those C2 manages (a device
        // may hold keys its application set for topics C2 does not know).
        let others: Vec<TopicHash> = reported
            .keys()
            .copied()
            .filter(|h| !members.contains(h))
            .collect();
        let mut stale = Vec::new();
        let mut stale_to_remove = Vec::new();
        for hash in delivery::known_topics(conn, &others).await? {
            stale.push(hash);
            if !coming(opcode::REMOVE_TOPIC, Some(&hash.0)) {
                stale_to_remove.push(hash);
            }
        }
        if row.suite != SuiteId::Symmetric {
            let current = c2keys::require_current(conn, row.suite).await?;
            let versions = c2keys::of_suite(conn, row.suite).await?;
            // The current key may be sent (SetC2Key), and every version's
            // fingerprint decides which one the device holds.
            for k in &versions {
                check_c2_key(&self.master, &self.metrics, row.suite, k)?;
            }
            let held = match holds {
                Holds::Report(r) => versions
                    .iter()
                    .find(|k| *r.c2_key() == c2_key_fingerprint(self.provider, &k.public_key))
                    .map_or(-1, |k| k.version),
                Holds::Recorded => delivery::c2_key_held(conn, &row.id).await?.unwrap_or(-1),
            };
            if held == -1 && matches!(holds, Holds::Report(_)) {
                tracing::warn!(client = %row.name, "device holds a C2 key this C2 never had: it cannot be brought up to date by commands (provision it again)");
            } else if held != current.version && !coming(opcode::SET_C2_KEY, None) {
                plan.c2_key = Some((current.public_key.clone(), held));
            }
            plan.c2_key_held = Some(held);
            plan.c2_current = Some(current.version);
        }
        plan.confirmations = confirmations;
        plan.missing = missing;
        plan.stale = stale;
        plan.stale_to_remove = stale_to_remove;
        Ok(plan)
    }

    /// Queue what a plan calls for: SetC2Key first (sealed under the key
    /// the device holds), then topic keys, then removals.
    async fn push_plan(
        &self,
        q: &mut Enqueuer<'_>,
        conn: &mut sqlx::AnyConnection,
        row: &ClientRow,
        plan: &Plan,
    ) -> C2Result<()> {
        if let Some((pk, under)) = &plan.c2_key {
            q.push_under_c2_key(conn, row, &Command::SetC2Key(pk), *under)
                .await?;
        }
        for held in &plan.missing {
            self.push_topic_key(q, conn, row, held).await?;
        }
        for hash in &plan.stale_to_remove {
            q.push(conn, row, &Command::RemoveTopic(*hash)).await?;
        }
        Ok(())
    }

    /// Look again at a device whose report lacked keys that were taken to
    /// be on their way: send what it still lacks. Returns the commands
    /// queued.
    async fn recheck(&self, id: &Id, due: i64) -> C2Result<u64> {
        let (mut w, mut q) = self.begin_commands().await?;
        let Some(row) = clients::find(w.conn(), &ClientRef::Id(*id)).await? else {
            return Ok(0);
        };
        let plan = self.plan(w.conn(), &row, Holds::Recorded).await?;
        if !delivery::claim_recheck(w.conn(), id, due, plan.recheck_at()).await? {
            return Ok(0);
        }
        self.push_plan(&mut q, w.conn(), &row, &plan).await?;
        let queued = q.finish(w.conn()).await?;
        self.commit_commands(w, queued).await?;
        if queued.count > 0 {
            self.metrics.sync_commands.inc_by(queued.count);
            tracing::info!(client = %row.name, commands = queued.count, "device still out of date after its commands were acknowledged: sent again");
        }
        Ok(queued.count)
    }

    /// Queue a topic's current key (and its format where it differs from
    /// the device's suite) for a member.
    async fn push_topic_key(
        &self,
        q: &mut Enqueuer<'_>,
        conn: &mut sqlx::AnyConnection,
        row: &ClientRow,
        held: &Held,
    ) -> C2Result<()> {
        let key = self
            .master
            .open_key32(&topic_key_aad(&held.topic), &held.key_enc)?;
        q.push(
            conn,
            row,
            &Command::SetTopicKey {
                key: &key,
                topic: held.hash,
            },
        )
        .await?;
        let t = topics::get(conn, &held.topic).await?;
        let format = t.format.unwrap_or(row.suite);
        if format != row.suite && can_serve(row.suite, true, format) {
            push_topic_format(q, conn, row, &t, format).await?;
        }
        Ok(())
    }

    /// Send a device everything it should hold, whatever it reported: the
    /// key (and format) of each of its topics.
    pub async fn resync_client(&self, r: &ClientRef) -> C2Result<Queued> {
        let (mut w, mut q) = self.begin_commands().await?;
        let row = clients::get(w.conn(), r).await?;
        crate::negotiation::check_minimum(w.conn(), Some((&row.name, row.suite)), None).await?;
        for held in delivery::memberships(w.conn(), &row.id).await? {
            self.push_topic_key(&mut q, w.conn(), &row, &held).await?;
        }
        let queued = q.finish(w.conn()).await?;
        let queued = self.commit_commands(w, queued).await?;
        self.events
            .emit(EventKind::ClientResynced, Some((&row.name, row.id)), None);
        tracing::info!(client = %row.name, commands = queued.count, "client state sent again");
        Ok(queued)
    }

    /// Fill in the delivery state of client records.
    pub(crate) async fn with_states(
        &self,
        mut infos: Vec<ClientInfo>,
    ) -> C2Result<Vec<ClientInfo>> {
        let ids: Vec<Id> = infos.iter().map(|c| c.id).collect();
        let mut conn = self.db.read().await?;
        let states = delivery::states(&mut conn, &ids).await?;
        for c in &mut infos {
            if let Some(s) = states.get(&c.id) {
                c.state = *s;
            }
        }
        Ok(infos)
    }

    /// Devices out of date (they reported, and lack a current key or hold
    /// what they should not) and devices that never reported.
    pub async fn fleet_delivery(&self) -> C2Result<(u64, u64)> {
        let mut conn = self.db.read().await?;
        let (late, never) = delivery::fleet_counts(&mut conn).await?;
        self.metrics.devices_out_of_date.set(late as i64);
        self.metrics.devices_never_reported.set(never as i64);
        Ok((late, never))
    }
}

/// Run the recheck sweep until `shutdown` turns true.
pub async fn recheck_loop(svc: std::sync::Arc<Service>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RECHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let due = match svc.db.read().await {
            Ok(mut conn) => delivery::due_rechecks(&mut conn, now_ms(), 200).await,
            Err(e) => Err(e),
        };
        match due {
            Ok(due) => {
                for (id, at) in due {
                    if let Err(e) = svc.recheck(&id, at).await {
                        tracing::warn!(device = %id, error = %e, "recheck failed; retried");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "recheck sweep: database unavailable"),
        }
    }
}

/// Record what a skipped command calls for: a skip because the broker
/// acknowledged it moments ago asks for a second look.
fn plan_recheck(recheck: &mut bool, pending: bool) {
    *recheck |= !pending;
}

/// What a report calls for.
#[derive(Default)]
struct Plan {
    /// Memberships whose confirmed version changes: (topic, version).
    confirmations: Vec<(String, Option<i64>)>,
    /// Memberships whose current key the device lacks, not on their way.
    missing: Vec<Held>,
    /// Topics C2 manages that the device holds without membership.
    stale: Vec<TopicHash>,
    /// Of those, the ones no RemoveTopic is on its way for.
    stale_to_remove: Vec<TopicHash>,
    /// The C2 key version the device holds (-1: unknown to C2).
    c2_key_held: Option<i64>,
    /// The current C2 key version of its suite.
    c2_current: Option<i64>,
    /// SetC2Key to queue: (current public key, version to seal it under).
    c2_key: Option<(Vec<u8>, i64)>,
    /// Something was skipped as acknowledged moments ago: look again.
    recheck: bool,
}

impl Plan {
    /// When to look again, if at all.
    fn recheck_at(&self) -> Option<i64> {
        self.recheck.then(|| now_ms() + ON_THE_WAY_MS + 500)
    }
}
