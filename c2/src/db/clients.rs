//! The `clients` table.

use crate::crypto_at_rest::MasterKey;
use crate::error::{C2Error, C2Result};
use crate::key_integrity::{Record, Table};
use crate::model::{ClientInfo, ClientRef, DeviceState, Page};
use e4_proto::SuiteSet;
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
    /// Per-device override of the suites it may be moved to.
    pub allowed_suites: Option<SuiteSet>,
    /// Timestamp of the last Announce accepted (the device negotiates).
    pub last_announce_ts: Option<i64>,
    /// Transcript of the last committed upgrade.
    pub last_transcript: Option<Vec<u8>>,
    /// Timestamp of the last Confirm accepted.
    pub last_confirm_ts: Option<i64>,
    /// Runs a suite below the policy's minimum.
    pub below_minimum: bool,
    /// Suite of the SetSuite awaiting its Confirm.
    pub pending_suite: Option<SuiteId>,
    /// Timestamp of the last state report accepted.
    pub last_sync_ts: Option<i64>,
    /// MAC of the public keys (`key_integrity`).
    pub pk_mac: Option<Vec<u8>>,
}

impl ClientRow {
    /// A new row with no negotiation history.
    pub fn new(id: Id, name: String, suite: SuiteId, now: i64) -> ClientRow {
        ClientRow {
            id,
            name,
            suite,
            key_enc: None,
            sig_pk: None,
            kem_pk: None,
            created_at: now,
            key_updated_at: now,
            allowed_suites: None,
            last_announce_ts: None,
            last_transcript: None,
            last_confirm_ts: None,
            below_minimum: false,
            pending_suite: None,
            last_sync_ts: None,
            pk_mac: None,
        }
    }

    /// The public view.
    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            name: self.name.clone(),
            id: self.id,
            suite: self.suite,
            created_at: self.created_at,
            sig_pk: self.sig_pk.clone(),
            allowed_suites: self.allowed_suites,
            negotiates: self.last_announce_ts.is_some(),
            below_minimum: self.below_minimum,
            pending_suite: self.pending_suite,
            state: DeviceState::default(),
        }
    }
}

pub(crate) const COLS: &str = "c.id, c.name, c.suite, c.key_enc, c.sig_pk, c.kem_pk, \
     c.created_at, c.key_updated_at, c.allowed_suites, c.last_announce_ts, c.last_transcript, \
     c.below_minimum, (SELECT n.suite FROM negotiations n WHERE n.client_id = c.id), \
     c.last_confirm_ts, c.last_sync_ts, c.pk_mac";

/// Parse a stored suite name.
pub(crate) fn stored_suite(name: &str) -> C2Result<SuiteId> {
    SuiteId::from_name(name).map_err(|_| C2Error::internal(format!("stored suite {name:?}")))
}

/// Encode a suite set for storage ("pq,hybrid").
pub fn suites_to_text(set: SuiteSet) -> String {
    set.iter().map(|s| s.name()).collect::<Vec<_>>().join(",")
}

/// Decode a stored suite set.
pub fn suites_from_text(text: &str) -> C2Result<SuiteSet> {
    let mut set = SuiteSet::EMPTY;
    for name in text.split(',').filter(|n| !n.is_empty()) {
        set = set.with(stored_suite(name)?);
    }
    Ok(set)
}

pub(crate) fn from_row(r: &AnyRow) -> C2Result<ClientRow> {
    let id: Vec<u8> = r.try_get(0)?;
    let suite: String = r.try_get(2)?;
    let allowed: Option<String> = r.try_get(8)?;
    let pending: Option<String> = r.try_get(12)?;
    Ok(ClientRow {
        id: Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id length"))?,
        name: r.try_get(1)?,
        suite: stored_suite(&suite)?,
        key_enc: r.try_get(3)?,
        sig_pk: r.try_get(4)?,
        kem_pk: r.try_get(5)?,
        created_at: r.try_get(6)?,
        key_updated_at: r.try_get(7)?,
        allowed_suites: allowed.as_deref().map(suites_from_text).transpose()?,
        last_announce_ts: r.try_get(9)?,
        last_transcript: r.try_get(10)?,
        below_minimum: r.try_get::<i64, _>(11)? != 0,
        pending_suite: pending.as_deref().map(stored_suite).transpose()?,
        last_confirm_ts: r.try_get(13)?,
        last_sync_ts: r.try_get(14)?,
        pk_mac: r.try_get(15)?,
    })
}

/// Insert a client (its public keys authenticated under `master`); a taken
/// name or id is [`C2Error::AlreadyExists`].
pub async fn insert(conn: &mut AnyConnection, master: &MasterKey, c: &ClientRow) -> C2Result<()> {
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
        "INSERT INTO clients (id, name, suite, key_enc, sig_pk, kem_pk, created_at, key_updated_at, \
         pk_mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.id.0.to_vec())
    .bind(c.name.clone())
    .bind(c.suite.name())
    .bind(c.key_enc.clone())
    .bind(c.sig_pk.clone())
    .bind(c.kem_pk.clone())
    .bind(c.created_at)
    .bind(c.key_updated_at)
    .bind(Record::of_client(c).mac(master))
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
        .ok_or_else(|| C2Error::not_found(format!("{r} not found")))
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

/// Replace a client's key material (its KEM key, if any, stays).
pub async fn update_key(
    conn: &mut AnyConnection,
    master: &MasterKey,
    row: &ClientRow,
    key_enc: Option<Vec<u8>>,
    sig_pk: Option<Vec<u8>>,
    now: i64,
) -> C2Result<()> {
    let mac = Record::device(
        Table::Clients,
        row.id,
        row.suite,
        sig_pk.as_deref(),
        row.kem_pk.as_deref(),
    )
    .mac(master);
    sqlx::query(
        "UPDATE clients SET key_enc = $1, sig_pk = $2, key_updated_at = $3, pk_mac = $5 \
         WHERE id = $4",
    )
    .bind(key_enc)
    .bind(sig_pk)
    .bind(now)
    .bind(row.id.0.to_vec())
    .bind(mac)
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

/// Set or clear a device's policy override.
pub async fn set_allowed(
    conn: &mut AnyConnection,
    id: &Id,
    allowed: Option<SuiteSet>,
) -> C2Result<()> {
    sqlx::query("UPDATE clients SET allowed_suites = $1 WHERE id = $2")
        .bind(allowed.map(suites_to_text))
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Record an accepted Announce and whether the device is below the minimum.
pub async fn set_announced(
    conn: &mut AnyConnection,
    id: &Id,
    ts: i64,
    below_minimum: bool,
) -> C2Result<()> {
    sqlx::query("UPDATE clients SET last_announce_ts = $1, below_minimum = $2 WHERE id = $3")
        .bind(ts)
        .bind(below_minimum as i64)
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Commit an upgrade: the device runs `suite` with this material now (its
/// public keys authenticated under `master`).
#[allow(clippy::too_many_arguments)]
pub async fn set_suite(
    conn: &mut AnyConnection,
    master: &MasterKey,
    id: &Id,
    suite: SuiteId,
    key_enc: Option<Vec<u8>>,
    sig_pk: Option<Vec<u8>>,
    kem_pk: Option<Vec<u8>>,
    transcript: &[u8],
    confirm_ts: i64,
    upgrade_c2_key_version: Option<i64>,
    now: i64,
) -> C2Result<()> {
    let mac = Record::device(
        Table::Clients,
        *id,
        suite,
        sig_pk.as_deref(),
        kem_pk.as_deref(),
    )
    .mac(master);
    sqlx::query(
        "UPDATE clients SET suite = $1, key_enc = $2, sig_pk = $3, kem_pk = $4, \
         last_transcript = $5, below_minimum = 0, key_updated_at = $6, last_confirm_ts = $8, \
         upgrade_c2_key_version = $9, pk_mac = $10 WHERE id = $7",
    )
    .bind(suite.name())
    .bind(key_enc)
    .bind(sig_pk)
    .bind(kem_pk)
    .bind(transcript.to_vec())
    .bind(now)
    .bind(id.0.to_vec())
    .bind(confirm_ts)
    .bind(upgrade_c2_key_version)
    .bind(mac)
    .execute(conn)
    .await?;
    Ok(())
}

/// The version of C2's key the device was given in the SetSuite of its
/// last committed upgrade (None: no such upgrade, one to the symmetric
/// suite, or one committed before this was recorded).
pub async fn upgrade_c2_key_version(conn: &mut AnyConnection, id: &Id) -> C2Result<Option<i64>> {
    let row = sqlx::query("SELECT upgrade_c2_key_version FROM clients WHERE id = $1")
        .bind(id.0.to_vec())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get(0)?),
        None => Ok(None),
    }
}

/// Record the timestamp of a repeated Confirm that was answered.
pub async fn set_confirm_ts(conn: &mut AnyConnection, id: &Id, ts: i64) -> C2Result<()> {
    sqlx::query("UPDATE clients SET last_confirm_ts = $1 WHERE id = $2")
        .bind(ts)
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}
