//! What devices reported holding (state reports): per membership the topic
//! key version the device confirmed, per device when it last reported, the
//! C2 key it holds and the topics it holds without being a member.

use crate::db::placeholders;
use crate::error::{C2Error, C2Result};
use crate::model::DeviceState;
use e4_proto::{Id, TopicHash};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// A membership, as a state report is checked against it.
#[derive(Debug, Clone)]
pub struct Held {
    /// Topic name.
    pub topic: String,
    /// Its hash.
    pub hash: TopicHash,
    /// Its key, encrypted at rest.
    pub key_enc: Vec<u8>,
    /// Its key version.
    pub key_version: i64,
    /// The version the device last confirmed.
    pub confirmed_version: Option<i64>,
}

/// A device's memberships with their keys.
pub async fn memberships(conn: &mut AnyConnection, client: &Id) -> C2Result<Vec<Held>> {
    let rows = sqlx::query(
        "SELECT t.name, t.hash, t.key_enc, t.key_version, m.confirmed_version \
         FROM topic_members m JOIN topics t ON t.name = m.topic WHERE m.client_id = $1",
    )
    .bind(client.0.to_vec())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let hash: Vec<u8> = r.try_get(1)?;
            Ok(Held {
                topic: r.try_get(0)?,
                hash: TopicHash::from_slice(&hash)
                    .ok_or_else(|| C2Error::internal("stored topic hash length"))?,
                key_enc: r.try_get(2)?,
                key_version: r.try_get(3)?,
                confirmed_version: r.try_get(4)?,
            })
        })
        .collect()
}

/// Which of `hashes` name topics C2 manages.
pub async fn known_topics(
    conn: &mut AnyConnection,
    hashes: &[TopicHash],
) -> C2Result<std::collections::HashSet<TopicHash>> {
    let mut out = std::collections::HashSet::new();
    for chunk in hashes.chunks(500) {
        let sql = format!(
            "SELECT hash FROM topics WHERE hash IN {}",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            q = q.bind(h.0.to_vec());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let h: Vec<u8> = r.try_get(0)?;
            out.insert(
                TopicHash::from_slice(&h)
                    .ok_or_else(|| C2Error::internal("stored topic hash length"))?,
            );
        }
    }
    Ok(out)
}

/// Record that the device holds version `version` of `topic`'s key.
pub async fn confirm(
    conn: &mut AnyConnection,
    client: &Id,
    topic: &str,
    version: Option<i64>,
) -> C2Result<()> {
    sqlx::query(
        "UPDATE topic_members SET confirmed_version = $1 WHERE topic = $2 AND client_id = $3",
    )
    .bind(version)
    .bind(topic.to_string())
    .bind(client.0.to_vec())
    .execute(conn)
    .await?;
    Ok(())
}

/// Record an accepted report, if it is newer than the last one (two C2
/// processes may race): false when it is not.
pub async fn record_report(
    conn: &mut AnyConnection,
    client: &Id,
    ts: i64,
    at: i64,
    c2_key_held: Option<i64>,
    stale_topics: u64,
    recheck_at: Option<i64>,
) -> C2Result<bool> {
    let n = sqlx::query(
        "UPDATE clients SET last_sync_ts = $1, synced_at = $2, c2_key_held = $3, stale_topics = $4, \
         recheck_at = $5 WHERE id = $6 AND (last_sync_ts IS NULL OR last_sync_ts < $1)",
    )
    .bind(ts)
    .bind(at)
    .bind(c2_key_held)
    .bind(stale_topics as i64)
    .bind(recheck_at)
    .bind(client.0.to_vec())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Devices whose last report is due to be looked at again (at most `limit`):
/// (id, recheck_at).
pub async fn due_rechecks(
    conn: &mut AnyConnection,
    now: i64,
    limit: usize,
) -> C2Result<Vec<(Id, i64)>> {
    let rows = sqlx::query(
        "SELECT id, recheck_at FROM clients WHERE recheck_at IS NOT NULL AND recheck_at <= $1 \
         ORDER BY recheck_at LIMIT $2",
    )
    .bind(now)
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: Vec<u8> = r.try_get(0)?;
            Ok((
                Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id"))?,
                r.try_get(1)?,
            ))
        })
        .collect()
}

/// Claim a due recheck (false: another process took it, or a new report
/// replaced it) and set the next one.
pub async fn claim_recheck(
    conn: &mut AnyConnection,
    client: &Id,
    due: i64,
    next: Option<i64>,
) -> C2Result<bool> {
    let n = sqlx::query("UPDATE clients SET recheck_at = $1 WHERE id = $2 AND recheck_at = $3")
        .bind(next)
        .bind(client.0.to_vec())
        .bind(due)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The C2 key version a device last reported holding.
pub async fn c2_key_held(conn: &mut AnyConnection, client: &Id) -> C2Result<Option<i64>> {
    let r = sqlx::query("SELECT c2_key_held FROM clients WHERE id = $1")
        .bind(client.0.to_vec())
        .fetch_one(conn)
        .await?;
    Ok(r.try_get(0)?)
}

/// Memberships whose current key the device has not confirmed, counted per
/// device.
const UNCONFIRMED: &str = "SELECT COUNT(*) FROM topic_members m JOIN topics t ON t.name = m.topic \
     WHERE m.client_id = c.id AND (m.confirmed_version IS NULL OR m.confirmed_version <> t.key_version)";
/// The current C2 key version of the device's suite.
const C2_CURRENT: &str = "SELECT MAX(k.version) FROM c2_keys k WHERE k.suite = c.suite";

/// The delivery state of some devices (a page of a listing).
pub async fn states(conn: &mut AnyConnection, ids: &[Id]) -> C2Result<HashMap<Id, DeviceState>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT c.id, c.synced_at, c.stale_topics, c.c2_key_held, ({UNCONFIRMED}), ({C2_CURRENT}) \
             FROM clients c WHERE c.id IN {}",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.0.to_vec());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let id: Vec<u8> = r.try_get(0)?;
            let id = Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id"))?;
            let held: Option<i64> = r.try_get(3)?;
            let current: Option<i64> = r.try_get(5)?;
            let unconfirmed: i64 = r.try_get(4)?;
            let stale: i64 = r.try_get(2)?;
            out.insert(
                id,
                DeviceState {
                    reported_at: r.try_get(1)?,
                    topics_unconfirmed: unconfirmed as u64,
                    stale_topics: stale as u64,
                    c2_key_current: held.map(|h| Some(h) == current),
                },
            );
        }
    }
    Ok(out)
}

/// Devices that reported and are not up to date, and devices that never
/// reported.
pub async fn fleet_counts(conn: &mut AnyConnection) -> C2Result<(u64, u64)> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT \
           COALESCE(SUM(CASE WHEN c.synced_at IS NOT NULL AND (c.stale_topics > 0 \
               OR (c.c2_key_held IS NOT NULL AND c.c2_key_held <> COALESCE(({C2_CURRENT}), -2)) \
               OR ({UNCONFIRMED}) > 0) THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN c.synced_at IS NULL THEN 1 ELSE 0 END), 0) \
         FROM clients c"
    )))
    .fetch_one(conn)
    .await?;
    let a: i64 = r.try_get(0)?;
    let b: i64 = r.try_get(1)?;
    Ok((a as u64, b as u64))
}

/// Of the devices the commands `first..=last` went to: how many, and how
/// many reported, after `since` (unix ms), holding every current key.
pub async fn confirmed_in_range(
    conn: &mut AnyConnection,
    first: i64,
    last: i64,
    since: i64,
) -> C2Result<(u64, u64)> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN c.synced_at >= $3 AND c.stale_topics = 0 \
               AND (c.c2_key_held IS NULL OR c.c2_key_held = ({C2_CURRENT})) \
               AND ({UNCONFIRMED}) = 0 THEN 1 ELSE 0 END), 0) \
         FROM clients c WHERE c.id IN (SELECT DISTINCT o.client_id FROM outbox o WHERE o.id >= $1 AND o.id <= $2)"
    )))
    .bind(first)
    .bind(last)
    .bind(since)
    .fetch_one(conn)
    .await?;
    let n: i64 = r.try_get(0)?;
    let ok: i64 = r.try_get(1)?;
    Ok((n as u64, ok as u64))
}

/// When the first of the commands `first..=last` was queued (unix ms).
pub async fn queued_at(conn: &mut AnyConnection, first: i64, last: i64) -> C2Result<Option<i64>> {
    let r = sqlx::query("SELECT MIN(created_at) FROM outbox WHERE id >= $1 AND id <= $2")
        .bind(first)
        .bind(last)
        .fetch_one(conn)
        .await?;
    Ok(r.try_get(0)?)
}

/// Members of a topic that confirmed its current key.
pub async fn confirmed_members(conn: &mut AnyConnection, topic: &str) -> C2Result<u64> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM topic_members m JOIN topics t ON t.name = m.topic \
         WHERE m.topic = $1 AND m.confirmed_version = t.key_version",
    )
    .bind(topic.to_string())
    .fetch_one(conn)
    .await?
    .try_get(0)?;
    Ok(n as u64)
}
