//! The `topics` and `topic_members` tables.

use crate::db::clients::{self, ClientRow, COLS};
use crate::error::{C2Error, C2Result};
use crate::model::{Page, TopicInfo};
use e4_proto::{Id, SuiteId, TopicHash};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A topic row (the key is still encrypted).
#[derive(Debug, Clone)]
pub struct TopicRow {
    /// Name.
    pub name: String,
    /// Hash.
    pub hash: TopicHash,
    /// Key, encrypted at rest.
    pub key_enc: Vec<u8>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub key_updated_at: i64,
    /// Message format.
    pub format: Option<SuiteId>,
    /// Key version.
    pub key_version: i64,
}

impl TopicRow {
    /// The public view.
    pub fn info(&self) -> TopicInfo {
        TopicInfo {
            name: self.name.clone(),
            hash: self.hash,
            created_at: self.created_at,
            key_updated_at: self.key_updated_at,
            format: self.format,
            key_version: self.key_version,
            members_confirmed: None,
        }
    }
}

const TCOLS: &str =
    "t.name, t.hash, t.key_enc, t.created_at, t.key_updated_at, t.format, t.key_version";

fn from_row(r: &AnyRow) -> C2Result<TopicRow> {
    let hash: Vec<u8> = r.try_get(1)?;
    Ok(TopicRow {
        name: r.try_get(0)?,
        hash: TopicHash::from_slice(&hash)
            .ok_or_else(|| C2Error::internal("stored topic hash length"))?,
        key_enc: r.try_get(2)?,
        created_at: r.try_get(3)?,
        key_updated_at: r.try_get(4)?,
        format: r
            .try_get::<Option<String>, _>(5)?
            .as_deref()
            .map(clients::stored_suite)
            .transpose()?,
        key_version: r.try_get(6)?,
    })
}

/// Insert a topic; an existing one is [`C2Error::AlreadyExists`].
pub async fn insert(conn: &mut AnyConnection, t: &TopicRow) -> C2Result<()> {
    if find(conn, &t.name).await?.is_some() {
        return Err(C2Error::exists(format!(
            "topic {:?} already exists",
            t.name
        )));
    }
    sqlx::query(
        "INSERT INTO topics (name, hash, key_enc, created_at, key_updated_at, format) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.name.clone())
    .bind(t.hash.0.to_vec())
    .bind(t.key_enc.clone())
    .bind(t.created_at)
    .bind(t.key_updated_at)
    .bind(t.format.map(|f| f.name()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Find a topic.
pub async fn find(conn: &mut AnyConnection, name: &str) -> C2Result<Option<TopicRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TCOLS} FROM topics t WHERE t.name = $1"
    )))
    .bind(name.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Find a topic or fail with [`C2Error::NotFound`].
pub async fn get(conn: &mut AnyConnection, name: &str) -> C2Result<TopicRow> {
    find(conn, name)
        .await?
        .ok_or_else(|| C2Error::not_found(format!("topic {name:?} not found")))
}

/// Lock a topic's row for the rest of the transaction and read it.
pub async fn lock_get(conn: &mut AnyConnection, name: &str) -> C2Result<TopicRow> {
    sqlx::query("UPDATE topics SET key_updated_at = key_updated_at WHERE name = $1")
        .bind(name.to_string())
        .execute(&mut *conn)
        .await?;
    get(conn, name).await
}

/// Replace a topic's key.
pub async fn update_key(
    conn: &mut AnyConnection,
    name: &str,
    key_enc: Vec<u8>,
    now: i64,
) -> C2Result<()> {
    sqlx::query(
        "UPDATE topics SET key_enc = $1, key_updated_at = $2, key_version = key_version + 1 \
         WHERE name = $3",
    )
    .bind(key_enc)
    .bind(now)
    .bind(name.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete a topic and its memberships.
pub async fn delete(conn: &mut AnyConnection, name: &str) -> C2Result<bool> {
    sqlx::query("DELETE FROM topic_members WHERE topic = $1")
        .bind(name.to_string())
        .execute(&mut *conn)
        .await?;
    let n = sqlx::query("DELETE FROM topics WHERE name = $1")
        .bind(name.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Number of topics.
pub async fn count(conn: &mut AnyConnection) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM topics")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// A page of topics by name.
pub async fn list(conn: &mut AnyConnection, page: Page) -> C2Result<Vec<TopicRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TCOLS} FROM topics t ORDER BY t.name LIMIT $1 OFFSET $2"
    )))
    .bind(page.count as i64)
    .bind(page.offset as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Whether a client is a member.
pub async fn is_member(conn: &mut AnyConnection, topic: &str, client: &Id) -> C2Result<bool> {
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM topic_members WHERE topic = $1 AND client_id = $2")
            .bind(topic.to_string())
            .bind(client.0.to_vec())
            .fetch_one(conn)
            .await?
            .try_get(0)?;
    Ok(n > 0)
}

/// Add a member.
pub async fn add_member(conn: &mut AnyConnection, topic: &str, client: &Id) -> C2Result<()> {
    sqlx::query("INSERT INTO topic_members (topic, client_id) VALUES ($1, $2)")
        .bind(topic.to_string())
        .bind(client.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Remove a member; false if it was not one.
pub async fn remove_member(conn: &mut AnyConnection, topic: &str, client: &Id) -> C2Result<bool> {
    let n = sqlx::query("DELETE FROM topic_members WHERE topic = $1 AND client_id = $2")
        .bind(topic.to_string())
        .bind(client.0.to_vec())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Remove every membership of a client.
pub async fn remove_all_of_client(conn: &mut AnyConnection, client: &Id) -> C2Result<u64> {
    Ok(
        sqlx::query("DELETE FROM topic_members WHERE client_id = $1")
            .bind(client.0.to_vec())
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Number of members of a topic.
pub async fn count_members(conn: &mut AnyConnection, topic: &str) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM topic_members WHERE topic = $1")
        .bind(topic.to_string())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// A page of a topic's members by name.
pub async fn list_members(
    conn: &mut AnyConnection,
    topic: &str,
    page: Page,
) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM topic_members m JOIN clients c ON c.id = m.client_id \
         WHERE m.topic = $1 ORDER BY c.name LIMIT $2 OFFSET $3"
    )))
    .bind(topic.to_string())
    .bind(page.count as i64)
    .bind(page.offset as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(clients::from_row).collect()
}

/// Members with an id after `after`, by id (keyset pagination: a rotation
/// streams the membership in batches).
pub async fn member_batch(
    conn: &mut AnyConnection,
    topic: &str,
    after: &[u8],
    limit: usize,
) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM topic_members m JOIN clients c ON c.id = m.client_id \
         WHERE m.topic = $1 AND m.client_id > $2 ORDER BY m.client_id LIMIT $3"
    )))
    .bind(topic.to_string())
    .bind(after.to_vec())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(clients::from_row).collect()
}

/// Number of topics of a client.
pub async fn count_of_client(conn: &mut AnyConnection, client: &Id) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM topic_members WHERE client_id = $1")
        .bind(client.0.to_vec())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// A page of a client's topics by name.
pub async fn list_of_client(
    conn: &mut AnyConnection,
    client: &Id,
    page: Page,
) -> C2Result<Vec<TopicRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TCOLS} FROM topic_members m JOIN topics t ON t.name = m.topic \
         WHERE m.client_id = $1 ORDER BY t.name LIMIT $2 OFFSET $3"
    )))
    .bind(client.0.to_vec())
    .bind(page.count as i64)
    .bind(page.offset as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Topic names of a client after `after`, by name (keyset).
pub async fn names_of_client_batch(
    conn: &mut AnyConnection,
    client: &Id,
    after: &str,
    limit: usize,
) -> C2Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT topic FROM topic_members WHERE client_id = $1 AND topic > $2 ORDER BY topic LIMIT $3",
    )
    .bind(client.0.to_vec())
    .bind(after.to_string())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(C2Error::from))
        .collect()
}

/// Set a topic's message format.
pub async fn set_format(conn: &mut AnyConnection, name: &str, format: SuiteId) -> C2Result<()> {
    sqlx::query("UPDATE topics SET format = $1 WHERE name = $2")
        .bind(format.name())
        .bind(name.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// The suites of a topic's members, with how many members run each.
pub async fn member_suites(
    conn: &mut AnyConnection,
    topic: &str,
) -> C2Result<Vec<(SuiteId, u64, u64)>> {
    let rows = sqlx::query(
        "SELECT c.suite, COUNT(*), SUM(CASE WHEN c.last_announce_ts IS NULL THEN 0 ELSE 1 END) \
         FROM topic_members m JOIN clients c ON c.id = m.client_id WHERE m.topic = $1 GROUP BY c.suite",
    )
    .bind(topic.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let s: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            let neg: i64 = r.try_get(2)?;
            Ok((clients::stored_suite(&s)?, n as u64, neg as u64))
        })
        .collect()
}

/// A client's topics (name, hash, format), all of them (a device holds few).
pub async fn all_of_client(conn: &mut AnyConnection, client: &Id) -> C2Result<Vec<TopicRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TCOLS} FROM topic_members m JOIN topics t ON t.name = m.topic \
         WHERE m.client_id = $1 ORDER BY t.name"
    )))
    .bind(client.0.to_vec())
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
