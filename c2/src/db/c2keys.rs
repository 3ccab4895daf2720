//! The `c2_keys` table: C2's key pairs per suite and version. The public
//! key is stored in clear with its MAC (`pk_mac`, see `key_integrity`),
//! which readers check before sending or using it.

use crate::crypto_at_rest::MasterKey;
use crate::error::C2Result;
use crate::key_integrity::Record;
use e4_proto::SuiteId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLS: &str = "version, public_key, secret_enc, pk_mac";

/// One C2 key pair (secret still encrypted).
#[derive(Debug, Clone)]
pub struct C2KeyRow {
    /// Version (1, 2, …).
    pub version: i64,
    /// Public key.
    pub public_key: Vec<u8>,
    /// Secret key, encrypted at rest.
    pub secret_enc: Vec<u8>,
    /// MAC of the public key, bound to the suite and version (none: a row
    /// written before MACs existed, refused once they are backfilled).
    pub pk_mac: Option<Vec<u8>>,
}

impl C2KeyRow {
    /// A new version, its public key MACed under `master`.
    pub fn new(
        master: &MasterKey,
        suite: SuiteId,
        version: i64,
        public_key: Vec<u8>,
        secret_enc: Vec<u8>,
    ) -> C2KeyRow {
        let pk_mac = Some(Record::c2_key(suite, version, &public_key).mac(master));
        C2KeyRow {
            version,
            public_key,
            secret_enc,
            pk_mac,
        }
    }
}

fn from_row(r: &AnyRow, at: usize) -> C2Result<C2KeyRow> {
    Ok(C2KeyRow {
        version: r.try_get(at)?,
        public_key: r.try_get(at + 1)?,
        secret_enc: r.try_get(at + 2)?,
        pk_mac: r.try_get(at + 3)?,
    })
}

/// The current (highest) version of a suite's key.
pub async fn current(conn: &mut AnyConnection, suite: SuiteId) -> C2Result<Option<C2KeyRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM c2_keys WHERE suite = $1 ORDER BY version DESC LIMIT 1"
    )))
    .bind(suite.name())
    .fetch_optional(conn)
    .await?;
    row.map(|r| from_row(&r, 0)).transpose()
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
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM c2_keys WHERE suite = $1 ORDER BY version DESC"
    )))
    .bind(suite.name())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| from_row(r, 0)).collect()
}

/// A given version.
pub async fn get(
    conn: &mut AnyConnection,
    suite: SuiteId,
    version: i64,
) -> C2Result<Option<C2KeyRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM c2_keys WHERE suite = $1 AND version = $2"
    )))
    .bind(suite.name())
    .bind(version)
    .fetch_optional(conn)
    .await?;
    row.map(|r| from_row(&r, 0)).transpose()
}

/// Every stored key (for re-encryption).
pub async fn all(conn: &mut AnyConnection) -> C2Result<Vec<(String, C2KeyRow)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT suite, {COLS} FROM c2_keys"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, from_row(r, 1)?)))
        .collect()
}

/// Insert a version (made with [`C2KeyRow::new`], so with its MAC).
pub async fn insert(
    conn: &mut AnyConnection,
    suite: SuiteId,
    row: &C2KeyRow,
    now: i64,
) -> C2Result<()> {
    sqlx::query(
        "INSERT INTO c2_keys (suite, version, public_key, secret_enc, created_at, pk_mac) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(suite.name())
    .bind(row.version)
    .bind(row.public_key.clone())
    .bind(row.secret_enc.clone())
    .bind(now)
    .bind(row.pk_mac.clone())
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
