//! The `links` table: source -> target means target holds source's public key.

use crate::db::clients::{self, ClientRow, COLS};
use crate::error::C2Result;
use crate::model::Page;
use e4_proto::Id;
use sqlx::{AnyConnection, Row};

/// Whether source -> target exists.
pub async fn exists(conn: &mut AnyConnection, source: &Id, target: &Id) -> C2Result<bool> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM links WHERE source_id = $1 AND target_id = $2")
        .bind(source.0.to_vec())
        .bind(target.0.to_vec())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n > 0)
}

/// Add source -> target.
pub async fn add(conn: &mut AnyConnection, source: &Id, target: &Id) -> C2Result<()> {
    sqlx::query("INSERT INTO links (source_id, target_id) VALUES ($1, $2)")
        .bind(source.0.to_vec())
        .bind(target.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Remove source -> target; false if absent.
pub async fn remove(conn: &mut AnyConnection, source: &Id, target: &Id) -> C2Result<bool> {
    let n = sqlx::query("DELETE FROM links WHERE source_id = $1 AND target_id = $2")
        .bind(source.0.to_vec())
        .bind(target.0.to_vec())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Number of clients linked to `source` (its targets).
pub async fn count_targets(conn: &mut AnyConnection, source: &Id) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM links WHERE source_id = $1")
        .bind(source.0.to_vec())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// A page of `source`'s targets by name.
pub async fn list_targets(
    conn: &mut AnyConnection,
    source: &Id,
    page: Page,
) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM links l JOIN clients c ON c.id = l.target_id \
         WHERE l.source_id = $1 ORDER BY c.name LIMIT $2 OFFSET $3"
    )))
    .bind(source.0.to_vec())
    .bind(page.count as i64)
    .bind(page.offset as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(clients::from_row).collect()
}

/// `source`'s targets after `after`, by id (keyset).
pub async fn target_batch(
    conn: &mut AnyConnection,
    source: &Id,
    after: &[u8],
    limit: usize,
) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM links l JOIN clients c ON c.id = l.target_id \
         WHERE l.source_id = $1 AND l.target_id > $2 ORDER BY l.target_id LIMIT $3"
    )))
    .bind(source.0.to_vec())
    .bind(after.to_vec())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(clients::from_row).collect()
}

/// Remove every link of a client (as source or target).
pub async fn remove_all_of(conn: &mut AnyConnection, id: &Id) -> C2Result<()> {
    sqlx::query("DELETE FROM links WHERE source_id = $1 OR target_id = $1")
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}
