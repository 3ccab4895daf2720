//! What an action does, inside the transaction of its fire: the same
//! in-transaction steps as the manual operations (a topic rotation is
//! [`Service::queue_new_topic_key`], streamed over members in batches), so
//! a rule and an operator produce the same commands.

use super::rule::{Action, RuleSpec, Target};
use crate::bootstrap;
use crate::db::clients::{self, ClientRow};
use crate::db::rules::{self as rdb, EventRow};
use crate::db::{topics, WriteTx};
use crate::error::{C2Error, C2Result};
use crate::model::{ClientRef, EventKind};
use crate::outbox::Enqueuer;
use crate::service::{Service, FLEET_BATCH};
use e4_proto::renegotiate::{Renegotiate, RENEGOTIATE_OPCODE};
use e4_proto::suite::Family;
use e4_proto::{Id, SuiteId};
use zeroize::Zeroizing;

/// What a fire acts on.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything the target names (schedules, counts, fire now).
    Target,
    /// What an event names, within the target.
    Event(&'a EventRow),
    /// The target's keys last changed before this (unix ms): key age.
    KeysBefore(i64),
}

/// What a fire did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Acted {
    /// Topics rotated, clients given a key or removed, suites re-keyed.
    pub subjects: u64,
    /// Subjects left alone (gone, or a suite the action cannot serve).
    pub skipped: u64,
    /// The first few subjects, by name.
    pub names: Vec<String>,
}

/// Subjects kept by name in [`Acted::names`] (each gets its own event on
/// the stream, as a manual operation would; the event buffer's size).
pub const NAMES_KEPT: usize = crate::events::BUFFER;
/// Subjects named in [`Acted::describe`].
pub const NAMES_SHOWN: usize = 20;

impl Acted {
    fn did(&mut self, name: &str) {
        self.subjects += 1;
        if self.names.len() < NAMES_KEPT {
            self.names.push(name.to_string());
        }
    }

    /// One line: "2 topic key(s) rotated: a, b", or for a dry run "would
    /// rotate 2 topic key(s): a, b".
    pub fn describe(&self, action: &Action, dry: bool) -> String {
        let (done, todo) = match action {
            Action::RotateTopicKey => ("topic key(s) rotated", "rotate {} topic key(s)"),
            Action::NewClientKey => ("client key(s) replaced", "replace {} client key(s)"),
            Action::RotateC2Key => ("C2 key(s) rotated", "rotate {} C2 key(s)"),
            Action::RemoveFromTopic(_) => (
                "client(s) removed from the topic",
                "remove {} client(s) from the topic",
            ),
            Action::Renegotiate => (
                "client(s) asked to announce again",
                "ask {} client(s) to announce again",
            ),
        };
        let mut s = if dry {
            format!("would {}", todo.replace("{}", &self.subjects.to_string()))
        } else {
            format!("{} {done}", self.subjects)
        };
        if !self.names.is_empty() {
            let shown = &self.names[..self.names.len().min(NAMES_SHOWN)];
            s.push_str(&format!(": {}", shown.join(", ")));
            if self.subjects as usize > shown.len() {
                s.push_str(", …");
            }
        }
        if self.skipped > 0 {
            s.push_str(&format!("; {} skipped", self.skipped));
        }
        s
    }
}

/// After the commit: the events a manual operation would publish for what
/// a fire did (a topic rotation's `topic_key_rotated`, …).
pub fn publish_subject_events(svc: &Service, action: &Action, acted: &Acted) {
    let kind = match action {
        Action::RotateTopicKey => EventKind::TopicKeyRotated,
        Action::RotateC2Key => EventKind::C2KeyRotated,
        Action::NewClientKey | Action::RemoveFromTopic(_) | Action::Renegotiate => return,
    };
    for name in &acted.names {
        match kind {
            EventKind::TopicKeyRotated => svc.events.emit(kind, None, Some(name)),
            _ => svc.events.emit(kind, None, None),
        }
    }
}

/// Carry out `spec`'s action on `scope`, queueing its commands in `q`.
pub async fn act(
    svc: &Service,
    w: &mut WriteTx,
    q: &mut Enqueuer<'_>,
    spec: &RuleSpec,
    scope: Scope<'_>,
) -> C2Result<Acted> {
    let mut done = Acted::default();
    match &spec.action {
        Action::RotateTopicKey => {
            let cutoff = match scope {
                Scope::KeysBefore(c) => Some(c),
                _ => None,
            };
            for name in topic_subjects(w, &spec.target, scope).await? {
                let Some(t) = topics::find(w.conn(), &name).await? else {
                    done.skipped += 1;
                    continue;
                };
                let t = topics::lock_get(w.conn(), &t.name).await?;
                if cutoff.is_some_and(|c| t.key_updated_at >= c) {
                    continue; // rotated meanwhile (by another process)
                }
                svc.queue_new_topic_key(w, q, &t.name, t.hash).await?;
                done.did(&t.name);
            }
        }
        Action::NewClientKey | Action::RemoveFromTopic(_) | Action::Renegotiate => {
            let topic = match &spec.action {
                Action::RemoveFromTopic(t) => Some(topics::lock_get(w.conn(), t).await?),
                _ => None,
            };
            let mut after = Vec::new();
            loop {
                let batch = client_subjects(w, &spec.target, scope, &after).await?;
                let Some(last) = batch.last() else { break };
                after = last.id.0.to_vec();
                for c in &batch {
                    match &topic {
                        Some(t) => {
                            if svc.queue_leave(w, q, c, t).await? {
                                done.did(&c.name);
                            }
                        }
                        None if spec.action == Action::Renegotiate => {
                            // Only a device that announced runs e4-rs
                            // negotiation (and knows opcode 0x0A).
                            if c.last_announce_ts.is_some() {
                                q.push_bytes(
                                    w.conn(),
                                    c,
                                    RENEGOTIATE_OPCODE,
                                    None,
                                    Zeroizing::new(Renegotiate::ANNOUNCE.encode().to_vec()),
                                )
                                .await?;
                                done.did(&c.name);
                            } else {
                                done.skipped += 1;
                            }
                        }
                        // A KEM device is asked to rekey (Renegotiate with
                        // the rekey flag) if it negotiates; its key age
                        // changes only when its Confirm commits, so a
                        // key-age fire would ask again on every pass
                        // until then: those fires skip it.
                        None if c.suite.family() == Family::Kem
                            && (c.last_announce_ts.is_none()
                                || matches!(scope, Scope::KeysBefore(_))) =>
                        {
                            done.skipped += 1
                        }
                        None => {
                            svc.queue_new_client_key(w, q, c).await?;
                            done.did(&c.name);
                        }
                    }
                }
                if batch.len() < FLEET_BATCH {
                    break;
                }
            }
            if let Some(t) = topic.filter(|_| done.subjects > 0) {
                // The removed devices still hold the key.
                svc.queue_new_topic_key(w, q, &t.name, t.hash).await?;
            }
        }
        Action::RotateC2Key => {
            for suite in c2_suites(svc, w, &spec.target, scope).await? {
                svc.queue_new_c2_key(w, q, suite).await?;
                done.did(suite.name());
            }
        }
    }
    Ok(done)
}

/// Whether an event is about something the target names.
pub fn event_in_target(target: &Target, e: &EventRow) -> bool {
    match target {
        Target::Topic(t) => e.topics.iter().any(|x| x == t),
        Target::Client(c) => e.client_name.as_deref() == Some(c.as_str()),
        Target::Suite(s) => e.suite.as_deref() == Some(s.name()),
        Target::AllTopics | Target::AllClients => true,
    }
}

async fn topic_subjects(
    w: &mut WriteTx,
    target: &Target,
    scope: Scope<'_>,
) -> C2Result<Vec<String>> {
    Ok(match (scope, target) {
        (Scope::Event(e), Target::Topic(t)) => {
            e.topics.iter().filter(|x| *x == t).cloned().collect()
        }
        (Scope::Event(e), _) => e.topics.clone(),
        (_, Target::Topic(t)) => vec![t.clone()],
        (Scope::KeysBefore(c), Target::AllTopics) => all_topics(w, Some(c)).await?,
        (_, Target::AllTopics) => all_topics(w, None).await?,
        (_, Target::Client(name)) => {
            let c = clients::get(w.conn(), &ClientRef::Name(name.clone())).await?;
            topics::all_of_client(w.conn(), &c.id)
                .await?
                .into_iter()
                .map(|t| t.name)
                .collect()
        }
        (_, Target::AllClients) => all_topics(w, None).await?,
        (_, Target::Suite(s)) => {
            return Err(C2Error::invalid(format!(
                "target suite:{} names no topics outside an event",
                s.name()
            )))
        }
    })
}

async fn all_topics(w: &mut WriteTx, older: Option<i64>) -> C2Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    loop {
        let after = out.last().cloned().unwrap_or_default();
        let batch = rdb::topic_batch(w.conn(), older, &after, FLEET_BATCH).await?;
        let n = batch.len();
        out.extend(batch);
        if n < FLEET_BATCH {
            return Ok(out);
        }
    }
}

/// The next batch of clients after id `after`.
async fn client_subjects(
    w: &mut WriteTx,
    target: &Target,
    scope: Scope<'_>,
    after: &[u8],
) -> C2Result<Vec<ClientRow>> {
    let older = match scope {
        Scope::KeysBefore(c) => Some(c),
        _ => None,
    };
    match (scope, target) {
        (Scope::Event(e), _) => {
            if !after.is_empty() {
                return Ok(Vec::new());
            }
            let Some(id) = e.client_id.as_deref().and_then(Id::from_slice) else {
                return Ok(Vec::new());
            };
            Ok(clients::find(w.conn(), &ClientRef::Id(id))
                .await?
                .into_iter()
                .collect())
        }
        (_, Target::Client(name)) => {
            if !after.is_empty() {
                return Ok(Vec::new());
            }
            let c = clients::get(w.conn(), &ClientRef::Name(name.clone())).await?;
            Ok(if older.is_some_and(|o| c.key_updated_at >= o) {
                Vec::new()
            } else {
                vec![c]
            })
        }
        (_, Target::AllClients) => {
            rdb::client_batch(w.conn(), None, older, after, FLEET_BATCH).await
        }
        (_, Target::Suite(s)) => {
            rdb::client_batch(w.conn(), Some(s.name()), older, after, FLEET_BATCH).await
        }
        (_, Target::Topic(_) | Target::AllTopics) => {
            Err(C2Error::invalid("a topic target names no clients"))
        }
    }
}

async fn c2_suites(
    svc: &Service,
    w: &mut WriteTx,
    target: &Target,
    scope: Scope<'_>,
) -> C2Result<Vec<SuiteId>> {
    let keyed: Vec<SuiteId> = bootstrap::keyed_suites(svc.provider).collect();
    let mut suites: Vec<SuiteId> = match (scope, target) {
        (Scope::Event(e), _) => e
            .suite
            .as_deref()
            .and_then(|s| SuiteId::from_name(s).ok())
            .filter(|s| keyed.contains(s))
            .into_iter()
            .collect(),
        (_, Target::Suite(s)) => vec![*s],
        _ => keyed,
    };
    if let Scope::KeysBefore(cutoff) = scope {
        let mut old = Vec::new();
        for s in suites {
            if rdb::c2_key_created(w.conn(), s.name())
                .await?
                .is_some_and(|t| t < cutoff)
            {
                old.push(s);
            }
        }
        suites = old;
    }
    Ok(suites)
}
