//! The rule operations behind the REST and gRPC APIs and the admin CLI.
//! Each write is one transaction; a refused request changes nothing.

use super::act::{act, publish_subject_events, Acted, Scope, NAMES_SHOWN};
use super::engine::fmt_ms;
use super::rule::{Action, RuleSpec, Target, Trigger};
use crate::db::rules::{self as rdb, FiringRow, RuleRow};
use crate::db::{clients, now_ms, topics};
use crate::error::{C2Error, C2Result};
use crate::model::{ClientRef, EventKind};
use crate::service::Service;
use std::time::Duration;

/// Default of `--rule-max-rate`: commands per second a rule may queue on
/// its schedule.
pub const DEFAULT_MAX_RATE: u64 = 1_000;
/// History rows returned at most per call.
pub const MAX_HISTORY_PAGE: i64 = 200;

/// A rule as written by an operator (text forms, see [`RuleSpec::parse`]).
#[derive(Debug, Clone, Default)]
pub struct NewRule {
    /// Unique name.
    pub name: String,
    /// Target.
    pub target: String,
    /// Triggers.
    pub triggers: Vec<String>,
    /// Action.
    pub action: String,
    /// `fire-once` (default) or `skip`.
    pub missed: Option<String>,
    /// Start disabled.
    pub disabled: bool,
}

/// What a fire now or a dry run did (or would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireResult {
    /// Commands queued (dry run: that would be queued).
    pub commands: u64,
    /// First and last outbox ids (0 for a dry run).
    pub first_command: i64,
    /// Last outbox id.
    pub last_command: i64,
    /// Subjects acted on.
    pub subjects: u64,
    /// Subjects skipped.
    pub skipped: u64,
    /// The first subjects by name.
    pub names: Vec<String>,
    /// One line.
    pub detail: String,
}

impl Service {
    /// Add a rule.
    pub async fn add_rule(&self, r: NewRule) -> C2Result<RuleRow> {
        let spec = RuleSpec::parse(
            &r.name,
            &r.target,
            &r.triggers,
            &r.action,
            r.missed.as_deref(),
        )?;
        let mut w = self.db.begin_write().await?;
        self.check_rule_fits(w.conn(), &spec).await?;
        let now = now_ms();
        let mut row = RuleRow {
            id: 0,
            name: spec.name.clone(),
            target: spec.target.to_string(),
            triggers: spec.triggers_text(),
            action: spec.action.to_string(),
            missed: spec.missed.name().into(),
            enabled: !r.disabled,
            created_at: now,
            next_fire_at: if r.disabled {
                None
            } else {
                spec.next_slot(now)
            },
            last_fired_at: None,
            count_progress: 0,
        };
        row.id = rdb::insert(w.conn(), &row).await?;
        w.commit().await?;
        self.automation.notify_one();
        tracing::info!(rule = %row.name, target = %row.target, action = %row.action, "rule added");
        Ok(row)
    }

    /// Every rule.
    pub async fn list_rules(&self) -> C2Result<Vec<RuleRow>> {
        let mut c = self.db.read().await?;
        rdb::list(&mut c).await
    }

    /// A rule.
    pub async fn get_rule(&self, name: &str) -> C2Result<RuleRow> {
        let mut c = self.db.read().await?;
        rdb::get(&mut c, name).await
    }

    /// Enable (from the next slot after now: slots while disabled are not
    /// missed ones) or disable a rule.
    pub async fn set_rule_enabled(&self, name: &str, enabled: bool) -> C2Result<RuleRow> {
        let mut w = self.db.begin_write().await?;
        let row = rdb::get(w.conn(), name).await?;
        let spec = RuleSpec::from_row(&row)?;
        if enabled {
            self.check_rule_fits(w.conn(), &spec).await?;
        }
        let next = if enabled {
            spec.next_slot(now_ms())
        } else {
            None
        };
        rdb::set_enabled(w.conn(), row.id, enabled, next).await?;
        let row = rdb::get(w.conn(), name).await?;
        w.commit().await?;
        self.automation.notify_one();
        tracing::info!(rule = %name, enabled, "rule {}", if enabled { "enabled" } else { "disabled" });
        Ok(row)
    }

    /// Remove a rule and its history.
    pub async fn remove_rule(&self, name: &str) -> C2Result<()> {
        let mut w = self.db.begin_write().await?;
        let row = rdb::get(w.conn(), name).await?;
        rdb::delete(w.conn(), row.id).await?;
        w.commit().await?;
        tracing::info!(rule = %name, "rule removed");
        Ok(())
    }

    /// A rule's firings, newest first.
    pub async fn rule_history(
        &self,
        name: &str,
        before: i64,
        limit: u32,
    ) -> C2Result<Vec<FiringRow>> {
        let limit = match limit {
            0 => 50,
            n if n as i64 > MAX_HISTORY_PAGE => {
                return Err(C2Error::invalid(format!(
                    "limit must be at most {MAX_HISTORY_PAGE}"
                )))
            }
            n => n as i64,
        };
        let mut c = self.db.read().await?;
        let row = rdb::get(&mut c, name).await?;
        rdb::history(&mut c, row.id, before.max(0), limit).await
    }

    /// Fire a rule now, on its whole target (recorded as `manual`). A
    /// disabled rule fires too: the operator asked for it.
    pub async fn fire_rule(&self, name: &str) -> C2Result<FireResult> {
        self.fire_or_dry_run(name, false).await
    }

    /// What firing a rule now would queue; nothing is queued or changed.
    pub async fn dry_run_rule(&self, name: &str) -> C2Result<FireResult> {
        self.fire_or_dry_run(name, true).await
    }

    async fn fire_or_dry_run(&self, name: &str, dry: bool) -> C2Result<FireResult> {
        let (mut w, mut q) = self.begin_commands().await?;
        let row = rdb::get(w.conn(), name).await?;
        let row = rdb::lock_by_id(w.conn(), row.id)
            .await?
            .ok_or_else(|| C2Error::not_found(format!("rule {name:?} not found")))?;
        let spec = RuleSpec::from_row(&row)?;
        let acted: Acted = act(self, &mut w, &mut q, &spec, Scope::Target).await?;
        let queued = q.finish(w.conn()).await?;
        let detail = acted.describe(&spec.action, dry);
        let mut res = FireResult {
            commands: queued.count,
            first_command: queued.first_id,
            last_command: queued.last_id,
            subjects: acted.subjects,
            skipped: acted.skipped,
            names: acted.names[..acted.names.len().min(NAMES_SHOWN)].to_vec(),
            detail: detail.clone(),
        };
        if dry {
            // Dropping the transaction rolls back keys, commands and ids.
            drop(w);
            res.first_command = 0;
            res.last_command = 0;
            res.detail = format!("dry run: would queue {} command(s); {detail}", queued.count);
            return Ok(res);
        }
        let now = now_ms();
        let f = FiringRow {
            id: 0,
            rule_id: row.id,
            slot: format!("manual:{now}:{}", queued.first_id),
            due_at: now,
            fired_at: now,
            reason: "manual".into(),
            outcome: "fired".into(),
            commands: queued.count as i64,
            first_command: queued.first_id,
            last_command: queued.last_id,
            detail: detail.clone(),
        };
        rdb::insert_firing(w.conn(), &f).await?.ok_or_else(|| {
            C2Error::FailedPrecondition("this rule was fired at the same instant; try again".into())
        })?;
        rdb::fired(w.conn(), row.id, now).await?;
        self.commit_commands(w, queued).await?;
        publish_subject_events(self, &spec.action, &acted);
        self.metrics.rule_fire("fired");
        self.events.emit_rule(
            EventKind::RuleFired,
            &row.name,
            format!("{detail} (fired by hand)"),
        );
        tracing::info!(rule = %row.name, detail = %detail, "rule fired by hand");
        Ok(res)
    }

    /// The target exists and the rule's schedule stays under the
    /// fleet-rate limit.
    async fn check_rule_fits(
        &self,
        conn: &mut sqlx::AnyConnection,
        spec: &RuleSpec,
    ) -> C2Result<()> {
        match &spec.target {
            Target::Topic(t) => {
                topics::get(conn, t).await?;
            }
            Target::Client(c) => {
                clients::get(conn, &ClientRef::Name(c.clone())).await?;
            }
            _ => {}
        }
        if let Action::RemoveFromTopic(t) = &spec.action {
            topics::get(conn, t).await?;
        }
        let gap = spec
            .triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::Schedule(s) => Some(s.shortest_gap(now_ms())),
                _ => None,
            })
            .min();
        let Some(gap) = gap else { return Ok(()) };
        let per_fire = match (&spec.action, &spec.target) {
            (Action::RotateTopicKey, Target::Topic(t)) => {
                rdb::target_size(conn, Some(t), None).await?
            }
            (Action::RotateTopicKey, _) => rdb::target_size(conn, Some(""), None).await?,
            (_, Target::Client(_)) => 1,
            (_, Target::Suite(s)) => rdb::target_size(conn, None, Some(s.name())).await?,
            _ => rdb::target_size(conn, None, None).await?,
        };
        let rate = per_fire as f64 / gap.as_secs_f64().max(0.001);
        if rate > self.rule_max_rate as f64 {
            return Err(C2Error::invalid(format!(
                "rule {:?} would queue about {per_fire} commands every {} ({rate:.0}/s), above the fleet-rate limit of {} commands/s (e4c2 serve --rule-max-rate); use a longer interval",
                spec.name,
                humantime::format_duration(Duration::from_millis(gap.as_millis() as u64)),
                self.rule_max_rate
            )));
        }
        Ok(())
    }
}

/// Unix ms for people (RFC 3339, UTC); "-" for none.
pub fn when(ms: Option<i64>) -> String {
    ms.map(fmt_ms).unwrap_or_else(|| "-".into())
}
