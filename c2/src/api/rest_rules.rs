//! REST/JSON for automation rules (`/v1/rules…`), part of the OpenAPI
//! document of [`crate::api::rest`]. A rule is named by its unique name in
//! paths.

use super::rest::{ApiResult, ErrorBody, JsonBody, P, Q};
use crate::automation::ops::{FireResult, NewRule};
use crate::db::rules::{FiringRow, RuleRow};
use crate::service::Service;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type Svc = State<Arc<Service>>;

/// A rule.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct RuleJson {
    /// Unique name.
    pub name: String,
    /// `topic:NAME`, `client:NAME`, `all-topics`, `all-clients` or
    /// `suite:NAME`.
    pub target: String,
    /// `every:DURATION`, `cron:EXPR` (6 or 7 fields, seconds first, UTC),
    /// `event:KIND` (client_joined, client_left, client_removed,
    /// suite_upgraded, below_minimum), `key-age:DURATION`, `count:N`
    /// (membership changes).
    pub triggers: Vec<String>,
    /// `rotate-topic-key`, `new-client-key`, `rotate-c2-key`,
    /// `remove-from-topic:TOPIC` or `renegotiate`.
    pub action: String,
    /// Slots missed while no C2 ran: `fire-once` or `skip`.
    pub missed: String,
    /// Enabled.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Next scheduled slot (unix ms); null without a schedule or disabled.
    pub next_fire_at: Option<i64>,
    /// Last fire (unix ms); null: never.
    pub last_fired_at: Option<i64>,
    /// Membership changes counted towards a count trigger.
    pub count_progress: i64,
}

/// A request to add a rule.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewRuleBody {
    /// Unique name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Target (see RuleJson).
    pub target: String,
    /// Triggers (at least one).
    pub triggers: Vec<String>,
    /// Action.
    pub action: String,
    /// `fire-once` (default) or `skip`.
    #[serde(default)]
    pub missed: Option<String>,
    /// Start disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// All rules.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RulesJson {
    /// By name.
    pub rules: Vec<RuleJson>,
}

/// One firing of a rule (or a skip, or a failure).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct FiringJson {
    /// Id (increasing; page with `before`).
    pub id: i64,
    /// The slot claimed (`schedule:<ms>`, `event:<id>`, `count:<id>`,
    /// `age:<ms>`, `manual:…`, `skip:<ms>`).
    pub slot: String,
    /// When it was due (unix ms).
    pub due_at: i64,
    /// When it ran (unix ms).
    pub fired_at: i64,
    /// schedule, event, count, key-age or manual.
    pub reason: String,
    /// fired, skipped or failed.
    pub outcome: String,
    /// Commands queued.
    pub commands: i64,
    /// First outbox id (0: none); follow with /v1/commands/progress.
    pub first_command: i64,
    /// Last outbox id.
    pub last_command: i64,
    /// What it did, or why not.
    pub detail: String,
}

/// A rule's history, newest first.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct HistoryJson {
    /// Firings.
    pub firings: Vec<FiringJson>,
}

/// What a fire did, or a dry run would do.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct FireJson {
    /// Commands queued (dry run: that would be).
    pub commands: u64,
    /// First outbox id (0 for a dry run).
    pub first_command: i64,
    /// Last outbox id (0 for a dry run).
    pub last_command: i64,
    /// Topics, clients or suites acted on.
    pub subjects: u64,
    /// Left alone (gone, or a suite the action cannot serve).
    pub skipped: u64,
    /// The first subjects by name.
    pub names: Vec<String>,
    /// One line.
    pub detail: String,
}

/// History paging.
#[derive(Deserialize, IntoParams, Debug)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Firings with an id below this (0 or absent: from the newest).
    #[serde(default)]
    pub before: i64,
    /// At most this many (default 50, at most 200).
    #[serde(default)]
    pub limit: u32,
}

/// `?dry_run=true` on fire.
#[derive(Deserialize, IntoParams, Debug)]
#[serde(deny_unknown_fields)]
pub struct FireQuery {
    /// Say what it would queue; queue and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The JSON form of a stored rule.
pub fn rule_json(r: RuleRow) -> RuleJson {
    RuleJson {
        name: r.name,
        target: r.target,
        triggers: r.triggers.lines().map(str::to_string).collect(),
        action: r.action,
        missed: r.missed,
        enabled: r.enabled,
        created_at: r.created_at,
        next_fire_at: r.next_fire_at,
        last_fired_at: r.last_fired_at,
        count_progress: r.count_progress,
    }
}

fn firing_json(f: FiringRow) -> FiringJson {
    FiringJson {
        id: f.id,
        slot: f.slot,
        due_at: f.due_at,
        fired_at: f.fired_at,
        reason: f.reason,
        outcome: f.outcome,
        commands: f.commands,
        first_command: f.first_command,
        last_command: f.last_command,
        detail: f.detail,
    }
}

fn fire_json(f: FireResult) -> FireJson {
    FireJson {
        commands: f.commands,
        first_command: f.first_command,
        last_command: f.last_command,
        subjects: f.subjects,
        skipped: f.skipped,
        names: f.names,
        detail: f.detail,
    }
}

/// Add a rule. Refused, changing nothing: a malformed target, trigger or
/// action (an invalid cron expression's message quotes the field), an
/// unknown topic or client, an action the target cannot take, a schedule
/// above the fleet-rate limit.
#[utoipa::path(post, path = "/v1/rules", request_body = NewRuleBody, tag = "rules",
    responses((status = 201, body = RuleJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_rule(
    State(s): Svc,
    JsonBody(b): JsonBody<NewRuleBody>,
) -> ApiResult<(StatusCode, Json<RuleJson>)> {
    let row = s
        .add_rule(NewRule {
            name: b.name,
            target: b.target,
            triggers: b.triggers,
            action: b.action,
            missed: b.missed,
            disabled: b.disabled,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(rule_json(row))))
}

/// Every rule.
#[utoipa::path(get, path = "/v1/rules", tag = "rules",
    responses((status = 200, body = RulesJson)), security(("bearer" = [])))]
pub async fn list_rules(State(s): Svc) -> ApiResult<Json<RulesJson>> {
    Ok(Json(RulesJson {
        rules: s.list_rules().await?.into_iter().map(rule_json).collect(),
    }))
}

/// A rule.
#[utoipa::path(get, path = "/v1/rules/{name}", tag = "rules",
    responses((status = 200, body = RuleJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_rule(State(s): Svc, P(name): P<String>) -> ApiResult<Json<RuleJson>> {
    Ok(Json(rule_json(s.get_rule(&name).await?)))
}

/// Remove a rule and its history.
#[utoipa::path(delete, path = "/v1/rules/{name}", tag = "rules",
    responses((status = 200, body = RuleJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_rule(State(s): Svc, P(name): P<String>) -> ApiResult<Json<RuleJson>> {
    let row = s.get_rule(&name).await?;
    s.remove_rule(&name).await?;
    Ok(Json(rule_json(row)))
}

/// Enable a rule (its schedule resumes at the next slot after now).
#[utoipa::path(post, path = "/v1/rules/{name}/enable", tag = "rules",
    responses((status = 200, body = RuleJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn enable_rule(State(s): Svc, P(name): P<String>) -> ApiResult<Json<RuleJson>> {
    Ok(Json(rule_json(s.set_rule_enabled(&name, true).await?)))
}

/// Disable a rule.
#[utoipa::path(post, path = "/v1/rules/{name}/disable", tag = "rules",
    responses((status = 200, body = RuleJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn disable_rule(State(s): Svc, P(name): P<String>) -> ApiResult<Json<RuleJson>> {
    Ok(Json(rule_json(s.set_rule_enabled(&name, false).await?)))
}

/// Fire a rule now on its whole target, or (`dry_run=true`) say what it
/// would queue without queueing or changing anything.
#[utoipa::path(post, path = "/v1/rules/{name}/fire", params(FireQuery), tag = "rules",
    responses((status = 200, body = FireJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn fire_rule(
    State(s): Svc,
    P(name): P<String>,
    Q(q): Q<FireQuery>,
) -> ApiResult<Json<FireJson>> {
    let r = if q.dry_run {
        s.dry_run_rule(&name).await?
    } else {
        s.fire_rule(&name).await?
    };
    Ok(Json(fire_json(r)))
}

/// A rule's firings, newest first (kept: the last 200).
#[utoipa::path(get, path = "/v1/rules/{name}/history", params(HistoryQuery), tag = "rules",
    responses((status = 200, body = HistoryJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rule_history(
    State(s): Svc,
    P(name): P<String>,
    Q(q): Q<HistoryQuery>,
) -> ApiResult<Json<HistoryJson>> {
    Ok(Json(HistoryJson {
        firings: s
            .rule_history(&name, q.before, q.limit)
            .await?
            .into_iter()
            .map(firing_json)
            .collect(),
    }))
}

/// The rule routes (authenticated by the caller's layer).
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/v1/rules", post(add_rule).get(list_rules))
        .route("/v1/rules/{name}", get(get_rule).delete(remove_rule))
        .route("/v1/rules/{name}/enable", post(enable_rule))
        .route("/v1/rules/{name}/disable", post(disable_rule))
        .route("/v1/rules/{name}/fire", post(fire_rule))
        .route("/v1/rules/{name}/history", get(rule_history))
}
