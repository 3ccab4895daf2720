//! The `clients` table.

use crate::error::{C2Error, C2Result};
use crate::model::{ClientInfo, ClientRef, Page};
use e4_proto::{Id, SuiteId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A client row (the key is still encrypted).
#[derive(Debug, Clone)]
pub struct ClientRow {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Suite.
    pub suite: SuiteId,
    /// Symmetric key, encrypted at rest.
    pub key_enc: Option<Vec<u8>>,
    /// Signature public key.
    pub sig_pk: Option<Vec<u8>>,
    /// KEM public key.
    pub kem_pk: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub key_updated_at: i64,
}

impl ClientRow {
    /// The public view.
    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            name: self.name.clone(),
            id: self.id,
            suite: self.suite,
            created_at: self.created_at,
            sig_pk: self.sig_pk.clone(),
        }
    }
}

pub(crate) const COLS: &str =
    "c.id, c.name, c.suite, c.key_enc, c.sig_pk, c.kem_pk, c.created_at, c.key_updated_at";

pub(crate) fn from_row(r: &AnyRow) -> C2Result<ClientRow> {
    let id: Vec<u8> = r.try_get(0)?;
    let suite: String = r.try_get(2)?;
    Ok(ClientRow {
        id: Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id length"))?,
        name: r.try_get(1)?,
        suite: SuiteId::from_name(&suite)
            .map_err(|_| C2Error::internal(format!("stored suite {suite:?}")))?,
        key_enc: r.try_get(3)?,
        sig_pk: r.try_get(4)?,
        kem_pk: r.try_get(5)?,
        created_at: r.try_get(6)?,
        key_updated_at: r.try_get(7)?,
    })
}

/// Insert a client; a taken name or id is [`C2Error::AlreadyExists`].
pub async fn insert(conn: &mut AnyConnection, c: &ClientRow) -> C2Result<()> {
    let taken = sqlx::query("SELECT COUNT(*) FROM clients WHERE name = $1 OR id = $2")
        .bind(c.name.clone())
        .bind(c.id.0.to_vec())
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>(0)?;
    if taken > 0 {
        return Err(C2Error::exists(format!(
            "a client named {:?} or with id {} exists",
            c.name, c.id
        )));
    }
    sqlx::query(
        "INSERT INTO clients (id, name, suite, key_enc, sig_pk, kem_pk, created_at, key_updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.id.0.to_vec())
    .bind(c.name.clone())
    .bind(c.suite.name())
    .bind(c.key_enc.clone())
    .bind(c.sig_pk.clone())
    .bind(c.kem_pk.clone())
    .bind(c.created_at)
    .bind(c.key_updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Find a client.
pub async fn find(conn: &mut AnyConnection, r: &ClientRef) -> C2Result<Option<ClientRow>> {
    let row = match r {
        ClientRef::Name(n) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLS} FROM clients c WHERE c.name = $1"
            )))
            .bind(n.clone())
            .fetch_optional(conn)
            .await?
        }
        ClientRef::Id(id) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLS} FROM clients c WHERE c.id = $1"
            )))
            .bind(id.0.to_vec())
            .fetch_optional(conn)
            .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

/// Find a client or fail with [`C2Error::NotFound`].
pub async fn get(conn: &mut AnyConnection, r: &ClientRef) -> C2Result<ClientRow> {
    find(conn, r)
        .await?
        .ok_or_else(|| C2Error::not_found(format!("{r}")))
}

/// Lock a client's row for the rest of the transaction (portable
/// `SELECT … FOR UPDATE`); false if it does not exist.
pub async fn lock(conn: &mut AnyConnection, id: &Id) -> C2Result<bool> {
    let n = sqlx::query("UPDATE clients SET key_updated_at = key_updated_at WHERE id = $1")
        .bind(id.0.to_vec())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Delete a client (memberships and links cascade).
pub async fn delete(conn: &mut AnyConnection, id: &Id) -> C2Result<bool> {
    sqlx::query("DELETE FROM topic_members WHERE client_id = $1")
        .bind(id.0.to_vec())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM links WHERE source_id = $1 OR target_id = $1")
        .bind(id.0.to_vec())
        .execute(&mut *conn)
        .await?;
    let n = sqlx::query("DELETE FROM clients WHERE id = $1")
        .bind(id.0.to_vec())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Replace a client's key material.
pub async fn update_key(
    conn: &mut AnyConnection,
    id: &Id,
    key_enc: Option<Vec<u8>>,
    sig_pk: Option<Vec<u8>>,
    now: i64,
) -> C2Result<()> {
    sqlx::query("UPDATE clients SET key_enc = $1, sig_pk = $2, key_updated_at = $3 WHERE id = $4")
        .bind(key_enc)
        .bind(sig_pk)
        .bind(now)
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Number of clients.
pub async fn count(conn: &mut AnyConnection) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM clients")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// Number of clients of a suite.
pub async fn count_suite(conn: &mut AnyConnection, suite: SuiteId) -> C2Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM clients WHERE suite = $1")
        .bind(suite.name())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// A page of clients by name.
pub async fn list(conn: &mut AnyConnection, page: Page) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM clients c ORDER BY c.name LIMIT $1 OFFSET $2"
    )))
    .bind(page.count as i64)
    .bind(page.offset as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Clients of a suite with an id after `after`, by id (keyset pagination
/// for fleet-wide operations).
pub async fn batch_of_suite(
    conn: &mut AnyConnection,
    suite: SuiteId,
    after: &[u8],
    limit: usize,
) -> C2Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM clients c WHERE c.suite = $1 AND c.id > $2 ORDER BY c.id LIMIT $3"
    )))
    .bind(suite.name())
    .bind(after.to_vec())
    .bind(limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
