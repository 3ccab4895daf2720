//! The `outbox` table and the id counter.

use crate::db::placeholders;
use crate::error::{C2Error, C2Result};
use e4_proto::{Id, SuiteId};
use sqlx::{AnyConnection, Row};

/// Pending.
pub const PENDING: i64 = 0;
/// Acknowledged by the broker.
pub const SENT: i64 = 1;
/// Given up.
pub const FAILED: i64 = 2;

/// A row to insert (payloads already encrypted for their id).
#[derive(Debug, Clone)]
pub struct NewRow {
    /// Outbox id.
    pub id: i64,
    /// Device.
    pub client_id: Id,
    /// Its control topic.
    pub control_topic: String,
    /// Its suite.
    pub suite: SuiteId,
    /// Command opcode (for logs and metrics).
    pub opcode: u8,
    /// What the command is about (see `outbox::subject_of`).
    pub subject: Option<Vec<u8>>,
    /// Encrypted command bytes.
    pub command_enc: Vec<u8>,
    /// Device key snapshot (encrypted for symmetric).
    pub device_key: Vec<u8>,
    /// C2 key version to seal with.
    pub c2_key_version: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// MAC of the device key (`key_integrity`).
    pub pk_mac: Vec<u8>,
}

/// A stored row.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Outbox id.
    pub id: i64,
    /// Device.
    pub client_id: Id,
    /// Control topic.
    pub control_topic: String,
    /// Suite.
    pub suite: SuiteId,
    /// Opcode.
    pub opcode: u8,
    /// Encrypted command.
    pub command_enc: Vec<u8>,
    /// Device key snapshot.
    pub device_key: Vec<u8>,
    /// C2 key version.
    pub c2_key_version: Option<i64>,
    /// MAC of the device key.
    pub pk_mac: Option<Vec<u8>>,
}

/// Take the counter's row lock for the rest of the transaction: every
/// command-producing transaction does this first, so they commit in the
/// order of their ids.
pub async fn lock_counter(conn: &mut AnyConnection) -> C2Result<()> {
    sqlx::query("UPDATE counters SET value = value WHERE name = 'outbox'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Reserve `n` consecutive ids; returns the first.
pub async fn allocate(conn: &mut AnyConnection, n: usize) -> C2Result<i64> {
    sqlx::query("UPDATE counters SET value = value + $1 WHERE name = 'outbox'")
        .bind(n as i64)
        .execute(&mut *conn)
        .await?;
    let last: i64 = sqlx::query("SELECT value FROM counters WHERE name = 'outbox'")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(last - n as i64 + 1)
}

const INSERT_COLS: usize = 14;

/// Insert rows (one statement per call; callers batch by a few hundred).
pub async fn insert(conn: &mut AnyConnection, rows: &[NewRow]) -> C2Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO outbox (id, client_id, control_topic, suite, opcode, command_enc, \
         device_key, c2_key_version, status, attempts, created_at, error, subject, pk_mac) VALUES ",
    );
    for i in 0..rows.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&placeholders(1 + i * INSERT_COLS, INSERT_COLS));
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.id)
            .bind(r.client_id.0.to_vec())
            .bind(r.control_topic.clone())
            .bind(r.suite.name())
            .bind(r.opcode as i64)
            .bind(r.command_enc.clone())
            .bind(r.device_key.clone())
            .bind(r.c2_key_version)
            .bind(PENDING)
            .bind(0i64)
            .bind(r.created_at)
            .bind(None::<String>)
            .bind(r.subject.clone())
            .bind(r.pk_mac.clone());
    }
    q.execute(conn).await?;
    Ok(())
}

/// Pending rows with an id above `after`, in id order.
pub async fn pending_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: usize,
) -> C2Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, client_id, control_topic, suite, opcode, command_enc, device_key, c2_key_version, \
         pk_mac FROM outbox WHERE status = 0 AND id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let cid: Vec<u8> = r.try_get(1)?;
            let suite: String = r.try_get(3)?;
            let op: i64 = r.try_get(4)?;
            Ok(OutboxRow {
                id: r.try_get(0)?,
                client_id: Id::from_slice(&cid)
                    .ok_or_else(|| C2Error::internal("stored outbox client id"))?,
                control_topic: r.try_get(2)?,
                suite: SuiteId::from_name(&suite)
                    .map_err(|_| C2Error::internal(format!("stored suite {suite:?}")))?,
                opcode: op as u8,
                command_enc: r.try_get(5)?,
                device_key: r.try_get(6)?,
                c2_key_version: r.try_get(7)?,
                pk_mac: r.try_get(8)?,
            })
        })
        .collect()
}

/// Mark rows acknowledged.
pub async fn mark_sent(conn: &mut AnyConnection, ids: &[i64], now: i64) -> C2Result<()> {
    for chunk in ids.chunks(500) {
        let mut sql = String::from("UPDATE outbox SET status = 1, sent_at = $1 WHERE id IN ");
        sql.push_str(&placeholders(2, chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Count one more attempt for rows that were in flight when a connection failed.
pub async fn bump_attempts(conn: &mut AnyConnection, ids: &[i64]) -> C2Result<()> {
    for chunk in ids.chunks(500) {
        let mut sql = String::from("UPDATE outbox SET attempts = attempts + 1 WHERE id IN ");
        sql.push_str(&placeholders(1, chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Give up on a row that can never be sealed.
pub async fn mark_failed(conn: &mut AnyConnection, id: i64, error: &str) -> C2Result<()> {
    sqlx::query("UPDATE outbox SET status = 2, error = $1 WHERE id = $2")
        .bind(error.to_string())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Number of pending rows.
pub async fn count_pending(conn: &mut AnyConnection) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM outbox WHERE status = 0")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// When the oldest pending command was queued (unix ms).
pub async fn oldest_pending(conn: &mut AnyConnection) -> C2Result<Option<i64>> {
    let r = sqlx::query("SELECT created_at FROM outbox WHERE status = 0 ORDER BY id LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(match r {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

/// (pending, failed) among ids first..=last.
pub async fn progress(conn: &mut AnyConnection, first: i64, last: i64) -> C2Result<(u64, u64)> {
    let r = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN status = 0 THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END), 0) \
         FROM outbox WHERE id >= $1 AND id <= $2",
    )
    .bind(first)
    .bind(last)
    .fetch_one(conn)
    .await?;
    let p: i64 = r.try_get(0)?;
    let f: i64 = r.try_get(1)?;
    Ok((p as u64, f as u64))
}

/// Delete rows acknowledged before `before` (unix ms).
pub async fn prune_sent(conn: &mut AnyConnection, before: i64) -> C2Result<u64> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE status = 1 AND sent_at < $1")
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Symmetric-suite rows' (id, device_key) after `after` (for re-encryption).
pub async fn encrypted_batch(
    conn: &mut AnyConnection,
    after: i64,
    limit: usize,
) -> C2Result<Vec<(i64, String, Vec<u8>, Vec<u8>)>> {
    let rows = sqlx::query(
        "SELECT id, suite, command_enc, device_key FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// Replace a row's encrypted fields (re-encryption).
pub async fn set_encrypted(
    conn: &mut AnyConnection,
    id: i64,
    command_enc: Vec<u8>,
    device_key: Vec<u8>,
) -> C2Result<()> {
    sqlx::query("UPDATE outbox SET command_enc = $1, device_key = $2 WHERE id = $3")
        .bind(command_enc)
        .bind(device_key)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A pending command of a device.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Outbox id.
    pub id: i64,
    /// Opcode.
    pub opcode: u8,
    /// What it is about.
    pub subject: Option<Vec<u8>>,
    /// Encrypted command.
    pub command_enc: Vec<u8>,
}

/// The pending rows of a device, by id.
pub async fn pending_of_client(conn: &mut AnyConnection, client: &Id) -> C2Result<Vec<PendingRow>> {
    let rows = sqlx::query(
        "SELECT id, opcode, subject, command_enc FROM outbox WHERE client_id = $1 AND status = $2 ORDER BY id",
    )
    .bind(client.0.to_vec())
    .bind(PENDING)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let op: i64 = r.try_get(1)?;
            Ok(PendingRow {
                id: r.try_get(0)?,
                opcode: op as u8,
                subject: r.try_get(2)?,
                command_enc: r.try_get(3)?,
            })
        })
        .collect()
}

/// A command on its way to a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OnTheWay {
    /// Opcode.
    pub opcode: u8,
    /// What it is about.
    pub subject: Option<Vec<u8>>,
    /// Still in the outbox (else: acknowledged by the broker lately).
    pub pending: bool,
}

/// A device's commands that are pending, or were acknowledged by the
/// broker after `since` (unix ms).
pub async fn on_the_way(
    conn: &mut AnyConnection,
    client: &Id,
    since: i64,
) -> C2Result<Vec<OnTheWay>> {
    let rows = sqlx::query(
        "SELECT opcode, subject, status FROM outbox WHERE client_id = $1 \
         AND (status = 0 OR (status = 1 AND sent_at > $2))",
    )
    .bind(client.0.to_vec())
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let op: i64 = r.try_get(0)?;
            let status: i64 = r.try_get(2)?;
            Ok(OnTheWay {
                opcode: op as u8,
                subject: r.try_get(1)?,
                pending: status == PENDING,
            })
        })
        .collect()
}

/// Delete rows.
pub async fn delete(conn: &mut AnyConnection, ids: &[i64]) -> C2Result<()> {
    for chunk in ids.chunks(500) {
        let sql = format!(
            "DELETE FROM outbox WHERE id IN {}",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
