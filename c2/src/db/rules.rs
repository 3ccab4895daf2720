//! The `rules`, `rule_firings` and `rule_events` tables (automation).

use crate::error::{C2Error, C2Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Firings kept per rule (older ones are deleted as new ones come).
pub const HISTORY_KEPT: i64 = 200;

/// A stored rule (text forms; `automation::Rule` parses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Target.
    pub target: String,
    /// Triggers, one per line.
    pub triggers: String,
    /// Action.
    pub action: String,
    /// `fire-once` or `skip`.
    pub missed: String,
    /// Enabled.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Next scheduled slot (unix ms), if a schedule trigger.
    pub next_fire_at: Option<i64>,
    /// Last fire (unix ms).
    pub last_fired_at: Option<i64>,
    /// Membership changes counted so far (count triggers).
    pub count_progress: i64,
}

/// One firing: history, and the claim of its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringRow {
    /// Id (increasing).
    pub id: i64,
    /// Rule.
    pub rule_id: i64,
    /// The slot it claimed.
    pub slot: String,
    /// When it was due (unix ms).
    pub due_at: i64,
    /// When it ran (unix ms).
    pub fired_at: i64,
    /// schedule, event, key-age, count, manual.
    pub reason: String,
    /// fired, skipped, failed.
    pub outcome: String,
    /// Commands queued.
    pub commands: i64,
    /// First outbox id (0: none).
    pub first_command: i64,
    /// Last outbox id (0: none).
    pub last_command: i64,
    /// What it did, or why not.
    pub detail: String,
}

/// An event for event and count triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Id (increasing).
    pub id: i64,
    /// Kind (`EventTrigger::name`).
    pub kind: String,
    /// The client, if any.
    pub client_id: Option<Vec<u8>>,
    /// Its name.
    pub client_name: Option<String>,
    /// Its suite.
    pub suite: Option<String>,
    /// Topics concerned.
    pub topics: Vec<String>,
    /// Unix ms.
    pub at: i64,
}

/// The next id of a `counters` row (takes the row's lock).
pub async fn next_id(conn: &mut AnyConnection, counter: &str) -> C2Result<i64> {
    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1")
        .bind(counter.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query("SELECT value FROM counters WHERE name = $1")
        .bind(counter.to_string())
        .fetch_one(conn)
        .await?
        .try_get(0)?)
}

const RCOLS: &str = "id, name, target, triggers, action, missed, enabled, created_at, \
                     next_fire_at, last_fired_at, count_progress";

fn rule_from(r: &AnyRow) -> C2Result<RuleRow> {
    Ok(RuleRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        target: r.try_get(2)?,
        triggers: r.try_get(3)?,
        action: r.try_get(4)?,
        missed: r.try_get(5)?,
        enabled: r.try_get::<i64, _>(6)? != 0,
        created_at: r.try_get(7)?,
        next_fire_at: r.try_get(8)?,
        last_fired_at: r.try_get(9)?,
        count_progress: r.try_get(10)?,
    })
}

/// Insert a rule (its id from the counter); a taken name is
/// [`C2Error::AlreadyExists`].
pub async fn insert(conn: &mut AnyConnection, r: &RuleRow) -> C2Result<i64> {
    if find(conn, &r.name).await?.is_some() {
        return Err(C2Error::exists(format!(
            "a rule named {:?} already exists",
            r.name
        )));
    }
    let id = next_id(conn, "rules").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO rules ({RCOLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(id)
    .bind(r.name.clone())
    .bind(r.target.clone())
    .bind(r.triggers.clone())
    .bind(r.action.clone())
    .bind(r.missed.clone())
    .bind(r.enabled as i64)
    .bind(r.created_at)
    .bind(r.next_fire_at)
    .bind(r.last_fired_at)
    .bind(r.count_progress)
    .execute(conn)
    .await?;
    Ok(id)
}

/// A rule by name.
pub async fn find(conn: &mut AnyConnection, name: &str) -> C2Result<Option<RuleRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RCOLS} FROM rules WHERE name = $1"
    )))
    .bind(name.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(rule_from).transpose()
}

/// A rule by name, or [`C2Error::NotFound`].
pub async fn get(conn: &mut AnyConnection, name: &str) -> C2Result<RuleRow> {
    find(conn, name)
        .await?
        .ok_or_else(|| C2Error::not_found(format!("rule {name:?} not found")))
}

/// Lock a rule's row for the rest of the transaction and read it (None:
/// removed meanwhile).
pub async fn lock_by_id(conn: &mut AnyConnection, id: i64) -> C2Result<Option<RuleRow>> {
    sqlx::query("UPDATE rules SET enabled = enabled WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RCOLS} FROM rules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(rule_from).transpose()
}

/// Every rule, by name.
pub async fn list(conn: &mut AnyConnection) -> C2Result<Vec<RuleRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RCOLS} FROM rules ORDER BY name"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(rule_from).collect()
}

/// Enabled rules whose next slot is due at `now`, soonest first.
pub async fn due(conn: &mut AnyConnection, now: i64) -> C2Result<Vec<RuleRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RCOLS} FROM rules WHERE enabled = 1 AND next_fire_at <= $1 \
         ORDER BY next_fire_at LIMIT 100"
    )))
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(rule_from).collect()
}

/// The soonest next slot of an enabled rule.
pub async fn soonest(conn: &mut AnyConnection) -> C2Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT MIN(next_fire_at) FROM rules WHERE enabled = 1")
            .fetch_one(conn)
            .await?
            .try_get(0)?,
    )
}

/// Delete a rule (and its history); false if there was none.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> C2Result<bool> {
    sqlx::query("DELETE FROM rule_firings WHERE rule_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query("DELETE FROM rules WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Enable or disable, with the next slot to use.
pub async fn set_enabled(
    conn: &mut AnyConnection,
    id: i64,
    enabled: bool,
    next_fire_at: Option<i64>,
) -> C2Result<()> {
    sqlx::query("UPDATE rules SET enabled = $1, next_fire_at = $2 WHERE id = $3")
        .bind(enabled as i64)
        .bind(next_fire_at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Move a rule's schedule from slot `from` to `to`, recording a fire at
/// `fired_at` if any; false if another process moved it first.
pub async fn advance(
    conn: &mut AnyConnection,
    id: i64,
    from: i64,
    to: Option<i64>,
    fired_at: Option<i64>,
) -> C2Result<bool> {
    let r = sqlx::query(
        "UPDATE rules SET next_fire_at = $1, last_fired_at = COALESCE($2, last_fired_at) \
         WHERE id = $3 AND next_fire_at = $4",
    )
    .bind(to)
    .bind(fired_at)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Record a fire outside the schedule (event, count, key age, manual).
pub async fn fired(conn: &mut AnyConnection, id: i64, at: i64) -> C2Result<()> {
    sqlx::query("UPDATE rules SET last_fired_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Set a rule's count progress.
pub async fn set_count(conn: &mut AnyConnection, id: i64, n: i64) -> C2Result<()> {
    sqlx::query("UPDATE rules SET count_progress = $1 WHERE id = $2")
        .bind(n)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claim `(rule, slot)` by inserting its firing; false if that slot was
/// claimed already (by this or another process). Prunes old history.
pub async fn insert_firing(conn: &mut AnyConnection, f: &FiringRow) -> C2Result<Option<i64>> {
    let id = next_id(conn, "rule_firings").await?;
    let r = sqlx::query(
        "INSERT INTO rule_firings (id, rule_id, slot, due_at, fired_at, reason, outcome, \
         commands, first_command, last_command, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(f.rule_id)
    .bind(f.slot.clone())
    .bind(f.due_at)
    .bind(f.fired_at)
    .bind(f.reason.clone())
    .bind(f.outcome.clone())
    .bind(f.commands)
    .bind(f.first_command)
    .bind(f.last_command)
    .bind(f.detail.clone())
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query(
        "DELETE FROM rule_firings WHERE rule_id = $1 \
         AND id NOT IN (SELECT id FROM rule_firings WHERE rule_id = $1 ORDER BY id DESC LIMIT $2)",
    )
    .bind(f.rule_id)
    .bind(HISTORY_KEPT)
    .execute(conn)
    .await?;
    Ok(Some(id))
}

/// Fill in what a claimed firing queued.
pub async fn complete_firing(
    conn: &mut AnyConnection,
    id: i64,
    outcome: &str,
    commands: (i64, i64, i64),
    detail: &str,
) -> C2Result<()> {
    sqlx::query(
        "UPDATE rule_firings SET outcome = $1, commands = $2, first_command = $3, \
         last_command = $4, detail = $5 WHERE id = $6",
    )
    .bind(outcome.to_string())
    .bind(commands.0)
    .bind(commands.1)
    .bind(commands.2)
    .bind(detail.to_string())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

fn firing_from(r: &AnyRow) -> C2Result<FiringRow> {
    Ok(FiringRow {
        id: r.try_get(0)?,
        rule_id: r.try_get(1)?,
        slot: r.try_get(2)?,
        due_at: r.try_get(3)?,
        fired_at: r.try_get(4)?,
        reason: r.try_get(5)?,
        outcome: r.try_get(6)?,
        commands: r.try_get(7)?,
        first_command: r.try_get(8)?,
        last_command: r.try_get(9)?,
        detail: r.try_get(10)?,
    })
}

/// A rule's firings, newest first, before id `before` (0: from the newest).
pub async fn history(
    conn: &mut AnyConnection,
    rule_id: i64,
    before: i64,
    limit: i64,
) -> C2Result<Vec<FiringRow>> {
    let rows = sqlx::query(
        "SELECT id, rule_id, slot, due_at, fired_at, reason, outcome, commands, first_command, \
         last_command, detail FROM rule_firings WHERE rule_id = $1 AND ($2 = 0 OR id < $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(rule_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(firing_from).collect()
}

/// Record an event (in the transaction of the change).
pub async fn insert_event(
    conn: &mut AnyConnection,
    kind: &str,
    client: Option<(&[u8], &str, &str)>,
    topics: &[String],
    at: i64,
) -> C2Result<()> {
    let id = next_id(conn, "rule_events").await?;
    sqlx::query(
        "INSERT INTO rule_events (id, kind, client_id, client_name, suite, topics, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(kind.to_string())
    .bind(client.map(|c| c.0.to_vec()))
    .bind(client.map(|c| c.1.to_string()))
    .bind(client.map(|c| c.2.to_string()))
    .bind(topics.join("\n"))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The oldest events (up to `limit`).
pub async fn events(conn: &mut AnyConnection, limit: i64) -> C2Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, kind, client_id, client_name, suite, topics, at FROM rule_events \
         ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let topics: String = r.try_get(5)?;
            Ok(EventRow {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                client_id: r.try_get(2)?,
                client_name: r.try_get(3)?,
                suite: r.try_get(4)?,
                topics: topics
                    .split('\n')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
                at: r.try_get(6)?,
            })
        })
        .collect()
}

/// Consume an event; false if another process consumed it first.
pub async fn take_event(conn: &mut AnyConnection, id: i64) -> C2Result<bool> {
    let r = sqlx::query("DELETE FROM rule_events WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ---- what targets name (keyset pagination, for fleet-wide fires) --------

/// Clients with an id after `after` (optionally of one suite; optionally
/// only those whose key is older than `older_than` ms), by id.
pub async fn client_batch(
    conn: &mut AnyConnection,
    suite: Option<&str>,
    older_than: Option<i64>,
    after: &[u8],
    limit: usize,
) -> C2Result<Vec<crate::db::clients::ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM clients c WHERE ($1 = '' OR c.suite = $1) \
         AND ($2 < 0 OR c.key_updated_at < $2) AND c.id > $3 ORDER BY c.id LIMIT $4",
        crate::db::clients::COLS
    )))
    .bind(suite.unwrap_or("").to_string())
    .bind(older_than.unwrap_or(-1))
    .bind(after.to_vec())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(crate::db::clients::from_row).collect()
}

/// Topic names after `after` (optionally only those whose key is older
/// than `older_than` ms), by name.
pub async fn topic_batch(
    conn: &mut AnyConnection,
    older_than: Option<i64>,
    after: &str,
    limit: usize,
) -> C2Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT name FROM topics WHERE ($1 < 0 OR key_updated_at < $1) AND name > $2 \
         ORDER BY name LIMIT $3",
    )
    .bind(older_than.unwrap_or(-1))
    .bind(after.to_string())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(C2Error::from))
        .collect()
}

/// Commands one fire of a rule on this target may queue, for the
/// fleet-rate check: members of the topics, or clients.
pub async fn target_size(
    conn: &mut AnyConnection,
    topics: Option<&str>,
    suite: Option<&str>,
) -> C2Result<u64> {
    let n: i64 = match (topics, suite) {
        (Some(""), _) => sqlx::query("SELECT COUNT(*) FROM topic_members")
            .fetch_one(conn)
            .await?
            .try_get(0)?,
        (Some(t), _) => sqlx::query("SELECT COUNT(*) FROM topic_members WHERE topic = $1")
            .bind(t.to_string())
            .fetch_one(conn)
            .await?
            .try_get(0)?,
        (None, s) => sqlx::query("SELECT COUNT(*) FROM clients WHERE ($1 = '' OR suite = $1)")
            .bind(s.unwrap_or("").to_string())
            .fetch_one(conn)
            .await?
            .try_get(0)?,
    };
    Ok(n as u64)
}

/// When a suite's current C2 key was made (unix ms); None: no key.
pub async fn c2_key_created(conn: &mut AnyConnection, suite: &str) -> C2Result<Option<i64>> {
    Ok(
        sqlx::query(
            "SELECT created_at FROM c2_keys WHERE suite = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(suite.to_string())
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?,
    )
}
