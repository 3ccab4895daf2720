//! The `c2_keys` table: C2's key pairs per suite and version.

use crate::error::C2Result;
use e4_proto::SuiteId;
use sqlx::{AnyConnection, Row};

/// One C2 key pair (secret still encrypted).
#[derive(Debug, Clone)]
pub struct C2KeyRow {
    /// Version (1, 2, …).
    pub version: i64,
    /// Public key.
    pub public_key: Vec<u8>,
    /// Secret key, encrypted at rest.
    pub secret_enc: Vec<u8>,
}

/// The current (highest) version of a suite's key.
pub async fn current(conn: &mut AnyConnection, suite: SuiteId) -> C2Result<Option<C2KeyRow>> {
    let row = sqlx::query(
        "SELECT version, public_key, secret_enc FROM c2_keys WHERE suite = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(suite.name())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(r) => Some(C2KeyRow {
            version: r.try_get(0)?,
            public_key: r.try_get(1)?,
            secret_enc: r.try_get(2)?,
        }),
        None => None,
    })
}

/// The current version of a suite's key, which every keyed suite has once
/// C2 is initialized (its absence is an internal error).
pub async fn require_current(conn: &mut AnyConnection, suite: SuiteId) -> C2Result<C2KeyRow> {
    current(conn, suite)
        .await?
        .ok_or_else(|| crate::error::C2Error::internal(format!("no C2 key for {suite}")))
}

/// Every version of a suite's key, newest first.
pub async fn of_suite(conn: &mut AnyConnection, suite: SuiteId) -> C2Result<Vec<C2KeyRow>> {
    let rows = sqlx::query(
        "SELECT version, public_key, secret_enc FROM c2_keys WHERE suite = $1 ORDER BY version DESC",
    )
    .bind(suite.name())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(C2KeyRow {
                version: r.try_get(0)?,
                public_key: r.try_get(1)?,
                secret_enc: r.try_get(2)?,
            })
        })
        .collect()
}

/// A given version.
pub async fn get(
    conn: &mut AnyConnection,
    suite: SuiteId,
    version: i64,
) -> C2Result<Option<C2KeyRow>> {
    let row = sqlx::query(
        "SELECT version, public_key, secret_enc FROM c2_keys WHERE suite = $1 AND version = $2",
    )
    .bind(suite.name())
    .bind(version)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(r) => Some(C2KeyRow {
            version: r.try_get(0)?,
            public_key: r.try_get(1)?,
            secret_enc: r.try_get(2)?,
        }),
        None => None,
    })
}

/// Every stored key (for re-encryption).
pub async fn all(conn: &mut AnyConnection) -> C2Result<Vec<(String, C2KeyRow)>> {
    let rows = sqlx::query("SELECT suite, version, public_key, secret_enc FROM c2_keys")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                C2KeyRow {
                    version: r.try_get(1)?,
                    public_key: r.try_get(2)?,
                    secret_enc: r.try_get(3)?,
                },
            ))
        })
        .collect()
}

/// Insert a version.
pub async fn insert(
    conn: &mut AnyConnection,
    suite: SuiteId,
    row: &C2KeyRow,
    now: i64,
) -> C2Result<()> {
    sqlx::query(
        "INSERT INTO c2_keys (suite, version, public_key, secret_enc, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(suite.name())
    .bind(row.version)
    .bind(row.public_key.clone())
    .bind(row.secret_enc.clone())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replace the encrypted secret of a version (passphrase change).
pub async fn set_secret(
    conn: &mut AnyConnection,
    suite: &str,
    version: i64,
    secret_enc: Vec<u8>,
) -> C2Result<()> {
    sqlx::query("UPDATE c2_keys SET secret_enc = $1 WHERE suite = $2 AND version = $3")
        .bind(secret_enc)
        .bind(suite.to_string())
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}
