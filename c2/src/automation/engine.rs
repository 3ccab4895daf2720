//! The scheduler inside `e4c2 serve`. Every fire is one transaction that
//! claims it (a `(rule, slot)` row in `rule_firings`, unique), queues its
//! commands in the outbox, and moves the rule on (its next slot, compared
//! and set; or the event consumed). A crash before the commit leaves the
//! slot due, so it fires after the restart; a crash after it leaves the
//! slot claimed, so it never fires again; two C2 processes on one
//! PostgreSQL cannot both commit the same claim.
//!
//! A slot more than [`LATE_AFTER`] past was missed (no C2 ran then): the
//! rule's `missed` choice fires once for all of them or skips them, and the
//! history says which.

use super::act::{act, event_in_target, publish_subject_events, Acted, Scope};
use super::rule::{EventTrigger, Missed, RuleSpec, Trigger};
use crate::db::rules::{self as rdb, EventRow, FiringRow, RuleRow};
use crate::db::{now_ms, WriteTx};
use crate::error::{C2Error, C2Result};
use crate::model::EventKind;
use crate::outbox::Enqueuer;
use crate::service::Service;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest sleep between two looks at the rules.
pub const TICK: Duration = Duration::from_millis(250);
/// A slot this late was missed (no C2 was running at its time).
pub const LATE_AFTER: Duration = Duration::from_secs(5);
/// How often key ages are checked.
pub const AGE_EVERY: Duration = Duration::from_secs(5);
/// Events consumed per pass.
const EVENT_BATCH: i64 = 100;
/// Slots counted at most when catching up.
const MAX_CATCH_UP: u64 = 1_000_000;

/// Run until `shutdown` flips.
pub async fn run(svc: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
    let mut last_age = Instant::now() - AGE_EVERY;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let ages = last_age.elapsed() >= AGE_EVERY;
        if ages {
            last_age = Instant::now();
        }
        if let Err(e) = step(&svc, ages).await {
            tracing::warn!(error = %e, "automation: pass failed; retrying");
        }
        let sleep = match next_due_in(&svc).await {
            Some(d) => d.min(TICK),
            None => TICK,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = svc.automation.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn next_due_in(svc: &Service) -> Option<Duration> {
    let mut c = svc.db.read().await.ok()?;
    let at = rdb::soonest(&mut c).await.ok()??;
    Some(Duration::from_millis((at - now_ms()).max(0) as u64))
}

/// One pass: due schedules, then events, then (with `ages`) key ages.
pub async fn step(svc: &Service, ages: bool) -> C2Result<()> {
    let due = {
        let mut c = svc.db.read().await?;
        rdb::due(&mut c, now_ms()).await?
    };
    for r in due {
        if let Some(slot) = r.next_fire_at {
            fire_schedule(svc, r.id, slot).await?;
        }
    }
    consume_events(svc).await?;
    if ages {
        fire_key_ages(svc).await?;
    }
    Ok(())
}

/// What a fire records and reports.
struct Report {
    rule: String,
    kind: EventKind,
    detail: String,
    lag_ms: i64,
}

fn publish(svc: &Service, reports: Vec<Report>) {
    for r in reports {
        let outcome = match r.kind {
            EventKind::RuleFired => "fired",
            EventKind::RuleSkipped => "skipped",
            _ => "failed",
        };
        svc.metrics.rule_fire(outcome);
        if r.kind == EventKind::RuleFired {
            svc.metrics
                .rule_lag
                .observe(r.lag_ms.max(0) as f64 / 1000.0);
            tracing::info!(rule = %r.rule, detail = %r.detail, "rule fired");
        } else {
            tracing::warn!(rule = %r.rule, outcome, detail = %r.detail, "rule did not fire");
        }
        svc.events.emit_rule(r.kind, &r.rule, r.detail);
    }
}

fn firing(
    rule: &RuleRow,
    slot: String,
    due: i64,
    reason: &str,
    outcome: &str,
    detail: String,
) -> FiringRow {
    FiringRow {
        id: 0,
        rule_id: rule.id,
        slot,
        due_at: due,
        fired_at: now_ms(),
        reason: reason.into(),
        outcome: outcome.into(),
        commands: 0,
        first_command: 0,
        last_command: 0,
        detail,
    }
}

/// The slots of `spec` in `(slot, now]`: the latest, and how many.
fn caught_up(spec: &RuleSpec, slot: i64, now: i64) -> (i64, u64) {
    let (mut latest, mut n) = (slot, 0u64);
    while n < MAX_CATCH_UP {
        match spec.next_slot(latest) {
            Some(s) if s <= now => {
                latest = s;
                n += 1;
            }
            _ => break,
        }
    }
    (latest, n)
}

/// Fire rule `id`'s schedule slot `slot` (if it is still due there).
async fn fire_schedule(svc: &Service, id: i64, slot: i64) -> C2Result<()> {
    let now = now_ms();
    let (mut w, mut q) = svc.begin_commands().await?;
    let Some(row) = rdb::lock_by_id(w.conn(), id).await? else {
        return Ok(());
    };
    if !row.enabled || row.next_fire_at != Some(slot) {
        return Ok(()); // moved on by another process
    }
    let spec = match RuleSpec::from_row(&row) {
        Ok(s) => s,
        Err(e) => {
            drop(w);
            return fail(
                svc,
                &row,
                format!("schedule:{slot}"),
                slot,
                "schedule",
                Some(slot),
                e,
            )
            .await;
        }
    };
    let (latest, passed) = caught_up(&spec, slot, now);
    let next = spec.next_slot(now.max(latest));
    let late = now - slot > LATE_AFTER.as_millis() as i64;
    if late && spec.missed == Missed::Skip {
        let detail = format!(
            "{} slot(s) from {} to {} passed while no C2 ran: skipped (missed = skip)",
            passed + 1,
            fmt_ms(slot),
            fmt_ms(latest)
        );
        let f = firing(
            &row,
            format!("skip:{slot}"),
            slot,
            "schedule",
            "skipped",
            detail.clone(),
        );
        if rdb::insert_firing(w.conn(), &f).await?.is_none()
            || !rdb::advance(w.conn(), id, slot, next, None).await?
        {
            return Ok(());
        }
        w.commit().await?;
        publish(
            svc,
            vec![Report {
                rule: row.name,
                kind: EventKind::RuleSkipped,
                detail,
                lag_ms: 0,
            }],
        );
        return Ok(());
    }
    let f = firing(
        &row,
        format!("schedule:{latest}"),
        latest,
        "schedule",
        "fired",
        String::new(),
    );
    let Some(fid) = rdb::insert_firing(w.conn(), &f).await? else {
        return Ok(());
    };
    let acted = match act(svc, &mut w, &mut q, &spec, Scope::Target).await {
        Ok(a) => a,
        Err(e) => {
            drop(q);
            drop(w);
            return fail(
                svc,
                &row,
                format!("schedule:{latest}"),
                latest,
                "schedule",
                Some(slot),
                e,
            )
            .await;
        }
    };
    let mut detail = acted.describe(&spec.action, false);
    if late {
        detail.push_str(&format!(
            "; {} slot(s) from {} passed while no C2 ran: fired once (missed = fire-once)",
            passed + 1,
            fmt_ms(slot)
        ));
    }
    if !rdb::advance(w.conn(), id, slot, next, Some(now)).await? {
        return Ok(());
    }
    let lag = now - latest;
    commit_fire(svc, w, q, fid, &spec, &acted, row.name, detail, lag).await
}

/// Finish a fire: its commands' range in its history row, the commit,
/// then the events and metrics.
#[allow(clippy::too_many_arguments)]
async fn commit_fire(
    svc: &Service,
    mut w: WriteTx,
    q: Enqueuer<'_>,
    fid: i64,
    spec: &RuleSpec,
    acted: &Acted,
    rule: String,
    detail: String,
    lag_ms: i64,
) -> C2Result<()> {
    let queued = q.finish(w.conn()).await?;
    rdb::complete_firing(
        w.conn(),
        fid,
        "fired",
        (queued.count as i64, queued.first_id, queued.last_id),
        &detail,
    )
    .await?;
    svc.commit_commands(w, queued).await?;
    publish_subject_events(svc, &spec.action, acted);
    publish(
        svc,
        vec![Report {
            rule,
            kind: EventKind::RuleFired,
            detail,
            lag_ms,
        }],
    );
    Ok(())
}

/// Record a failed fire in its own transaction (the failed one rolled back
/// whole): the slot is claimed as `failed`, and a schedule moves on from
/// `advance_from`.
async fn fail(
    svc: &Service,
    row: &RuleRow,
    slot: String,
    due: i64,
    reason: &str,
    advance_from: Option<i64>,
    e: C2Error,
) -> C2Result<()> {
    let mut w = svc.db.begin_write().await?;
    let Some(row) = rdb::lock_by_id(w.conn(), row.id).await? else {
        return Ok(());
    };
    let detail = e.public_message();
    let f = firing(&row, slot, due, reason, "failed", detail.clone());
    if rdb::insert_firing(w.conn(), &f).await?.is_none() {
        return Ok(());
    }
    if let Some(from) = advance_from {
        let next = RuleSpec::from_row(&row)
            .ok()
            .and_then(|s| s.next_slot(now_ms().max(from)));
        if !rdb::advance(w.conn(), row.id, from, next, None).await? {
            return Ok(());
        }
    }
    w.commit().await?;
    publish(
        svc,
        vec![Report {
            rule: row.name,
            kind: EventKind::RuleFailed,
            detail,
            lag_ms: 0,
        }],
    );
    Ok(())
}

/// Consume recorded events: each fires its event rules and counts towards
/// count rules, once.
async fn consume_events(svc: &Service) -> C2Result<()> {
    let events = {
        let mut c = svc.db.read().await?;
        rdb::events(&mut c, EVENT_BATCH).await?
    };
    if events.is_empty() {
        return Ok(());
    }
    // Events no enabled rule reacts to (the common case: a fleet without
    // event or count rules) go in one transaction; the others one by one,
    // each with the fires it causes. The rules are read inside the write
    // transaction, so a rule committed before it is seen.
    let mut w = svc.db.begin_write().await?;
    let rules: Vec<(RuleRow, RuleSpec)> = rdb::list(w.conn())
        .await?
        .into_iter()
        .filter_map(|r| RuleSpec::from_row(&r).ok().map(|s| (r, s)))
        .collect();
    let mut busy = Vec::new();
    for e in &events {
        let wanted = rules.iter().any(|(r, s)| {
            let (fires, count) = triggered(r, s, e);
            fires || count.is_some()
        });
        if wanted {
            busy.push(e);
        } else {
            rdb::take_event(w.conn(), e.id).await?;
        }
    }
    w.commit().await?;
    for e in busy {
        consume_event(svc, e).await?;
    }
    Ok(())
}

/// The triggers of rule `row` (`spec`) that `e` sets off: whether it fires
/// an event trigger, and the count trigger it counts towards. Nothing for
/// a disabled rule or one made after the event.
fn triggered(row: &RuleRow, spec: &RuleSpec, e: &EventRow) -> (bool, Option<u64>) {
    if !row.enabled || row.created_at > e.at || !event_in_target(&spec.target, e) {
        return (false, None);
    }
    let kind = EventTrigger::from_name(&e.kind);
    let mut fires = false;
    let mut count = None;
    for t in &spec.triggers {
        match t {
            Trigger::Event(k) if Some(*k) == kind => fires = true,
            Trigger::Count(n) if kind.is_some_and(EventTrigger::is_membership) => count = Some(*n),
            _ => {}
        }
    }
    (fires, count)
}

async fn consume_event(svc: &Service, e: &EventRow) -> C2Result<()> {
    // A rule whose action failed on this event is recorded as failed on
    // the next attempt (the transaction rolls back whole on a failure).
    let mut failed: HashMap<i64, String> = HashMap::new();
    loop {
        let (mut w, mut q) = svc.begin_commands().await?;
        if !rdb::take_event(w.conn(), e.id).await? {
            return Ok(()); // another process had it
        }
        let rules = rdb::list(w.conn()).await?;
        let mut reports = Vec::new();
        let mut failure = None;
        let mut fids = Vec::new();
        for row in &rules {
            let Ok(spec) = RuleSpec::from_row(row) else {
                continue;
            };
            let (fires, count) = triggered(row, &spec, e);
            let mut fire_as = Vec::new();
            if fires {
                fire_as.push(("event", format!("event:{}", e.id), Scope::Event(e)));
            }
            if let Some(n) = count {
                let progress = row.count_progress + 1;
                if progress as u64 >= n {
                    rdb::set_count(w.conn(), row.id, 0).await?;
                    fire_as.push(("count", format!("count:{}", e.id), Scope::Target));
                } else {
                    rdb::set_count(w.conn(), row.id, progress).await?;
                }
            }
            for (reason, slot, scope) in fire_as {
                if let Some(msg) = failed.get(&row.id) {
                    let f = firing(row, slot, e.at, reason, "failed", msg.clone());
                    if rdb::insert_firing(w.conn(), &f).await?.is_some() {
                        reports.push(Report {
                            rule: row.name.clone(),
                            kind: EventKind::RuleFailed,
                            detail: msg.clone(),
                            lag_ms: 0,
                        });
                    }
                    continue;
                }
                let f = firing(row, slot, e.at, reason, "fired", String::new());
                let Some(fid) = rdb::insert_firing(w.conn(), &f).await? else {
                    continue;
                };
                match act(svc, &mut w, &mut q, &spec, scope).await {
                    Ok(a) => {
                        rdb::fired(w.conn(), row.id, now_ms()).await?;
                        let detail = format!(
                            "{} ({} {})",
                            a.describe(&spec.action, false),
                            e.kind,
                            about(e)
                        );
                        fids.push((fid, detail.clone(), spec.action.clone(), a));
                        reports.push(Report {
                            rule: row.name.clone(),
                            kind: EventKind::RuleFired,
                            detail,
                            lag_ms: now_ms() - e.at,
                        });
                    }
                    Err(err) => {
                        failure = Some((row.id, err.public_message()));
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        if let Some((id, msg)) = failure {
            drop(q);
            drop(w);
            failed.insert(id, msg);
            continue;
        }
        let queued = q.finish(w.conn()).await?;
        // The commands of all of this event's fires are in one range.
        for (fid, detail, _, _) in &fids {
            rdb::complete_firing(
                w.conn(),
                *fid,
                "fired",
                (queued.count as i64, queued.first_id, queued.last_id),
                detail,
            )
            .await?;
        }
        svc.commit_commands(w, queued).await?;
        for (_, _, action, acted) in &fids {
            publish_subject_events(svc, action, acted);
        }
        publish(svc, reports);
        return Ok(());
    }
}

fn about(e: &EventRow) -> String {
    let mut s = e.client_name.clone().unwrap_or_default();
    if !e.topics.is_empty() {
        if !s.is_empty() {
            s.push_str(" on ");
        }
        s.push_str(&e.topics.join(", "));
    }
    s
}

/// Fire key-age rules whose target holds a key older than their age.
async fn fire_key_ages(svc: &Service) -> C2Result<()> {
    let rules = {
        let mut c = svc.db.read().await?;
        rdb::list(&mut c).await?
    };
    for row in rules.iter().filter(|r| r.enabled) {
        let Ok(spec) = RuleSpec::from_row(row) else {
            continue;
        };
        for t in &spec.triggers {
            if let Trigger::KeyAge(age) = t {
                fire_key_age(svc, row.id, *age).await?;
            }
        }
    }
    Ok(())
}

async fn fire_key_age(svc: &Service, id: i64, age: Duration) -> C2Result<()> {
    let now = now_ms();
    let cutoff = now - age.as_millis() as i64;
    let (mut w, mut q) = svc.begin_commands().await?;
    let Some(row) = rdb::lock_by_id(w.conn(), id).await? else {
        return Ok(());
    };
    let Ok(spec) = RuleSpec::from_row(&row) else {
        return Ok(());
    };
    if !row.enabled {
        return Ok(());
    }
    let slot = format!("age:{now}");
    let f = firing(
        &row,
        slot.clone(),
        cutoff,
        "key-age",
        "fired",
        String::new(),
    );
    let Some(fid) = rdb::insert_firing(w.conn(), &f).await? else {
        return Ok(());
    };
    let acted: Acted = match act(svc, &mut w, &mut q, &spec, Scope::KeysBefore(cutoff)).await {
        Ok(a) if a.subjects == 0 => return Ok(()), // nothing old: no fire, nothing recorded
        Ok(a) => a,
        Err(e) => {
            drop(q);
            drop(w);
            return fail(svc, &row, slot, cutoff, "key-age", None, e).await;
        }
    };
    let detail = format!(
        "{} (keys older than {})",
        acted.describe(&spec.action, false),
        humantime::format_duration(age)
    );
    rdb::fired(w.conn(), id, now).await?;
    commit_fire(svc, w, q, fid, &spec, &acted, row.name, detail, 0).await
}

/// Unix ms as RFC 3339 (UTC, seconds).
pub fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
