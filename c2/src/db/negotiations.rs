//! The `negotiations` table: the SetSuite C2 sent to a device and the
//! material it will register once the device's Confirm verifies.

use crate::crypto_at_rest::MasterKey;
use crate::db::clients::stored_suite;
use crate::error::{C2Error, C2Result};
use crate::key_integrity::Record;
use e4_proto::{Id, SuiteId};
use sqlx::{AnyConnection, Row};

/// An answer awaiting its Confirm (the symmetric key still encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiationRow {
    /// The device.
    pub client_id: Id,
    /// The suite it is moved to.
    pub suite: SuiteId,
    /// Transcript of the Announce answered.
    pub transcript: Vec<u8>,
    /// Timestamp of that Announce.
    pub announce_ts: i64,
    /// New symmetric key, encrypted at rest.
    pub key_enc: Option<Vec<u8>>,
    /// Offered signature public key.
    pub sig_pk: Option<Vec<u8>>,
    /// Offered KEM public key.
    pub kem_pk: Option<Vec<u8>>,
    /// Version of the C2 key of `suite` the SetSuite carried (None for the
    /// symmetric suite): the first commands after the upgrade are sealed
    /// under it.
    pub c2_key_version: Option<i64>,
    /// MAC of the offered public keys (`key_integrity`; set by [`put`]).
    pub pk_mac: Option<Vec<u8>>,
}

/// The pending answer of a device.
pub async fn get(conn: &mut AnyConnection, id: &Id) -> C2Result<Option<NegotiationRow>> {
    let row = sqlx::query(
        "SELECT suite, transcript, announce_ts, key_enc, sig_pk, kem_pk, c2_key_version, \
         pk_mac FROM negotiations WHERE client_id = $1",
    )
    .bind(id.0.to_vec())
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let suite: String = r.try_get(0)?;
    Ok(Some(NegotiationRow {
        client_id: *id,
        suite: stored_suite(&suite)?,
        transcript: r.try_get(1)?,
        announce_ts: r.try_get(2)?,
        key_enc: r.try_get(3)?,
        sig_pk: r.try_get(4)?,
        kem_pk: r.try_get(5)?,
        c2_key_version: r.try_get(6)?,
        pk_mac: r.try_get(7)?,
    }))
}

/// Replace the pending answer of a device (its offered public keys
/// authenticated under `master`; `n.pk_mac` is not used).
pub async fn put(
    conn: &mut AnyConnection,
    master: &MasterKey,
    n: &NegotiationRow,
    now: i64,
) -> C2Result<()> {
    remove(conn, &n.client_id).await?;
    sqlx::query(
        "INSERT INTO negotiations (client_id, suite, transcript, announce_ts, key_enc, sig_pk, \
         kem_pk, created_at, c2_key_version, pk_mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(n.client_id.0.to_vec())
    .bind(n.suite.name())
    .bind(n.transcript.clone())
    .bind(n.announce_ts)
    .bind(n.key_enc.clone())
    .bind(n.sig_pk.clone())
    .bind(n.kem_pk.clone())
    .bind(now)
    .bind(n.c2_key_version)
    .bind(Record::of_negotiation(n).mac(master))
    .execute(conn)
    .await
    .map_err(C2Error::from)?;
    Ok(())
}

/// Every pending answer: (device, suite it is moved to). At most one per
/// device mid-upgrade.
pub async fn all_targets(conn: &mut AnyConnection) -> C2Result<Vec<(Id, SuiteId)>> {
    let rows = sqlx::query("SELECT client_id, suite FROM negotiations")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: Vec<u8> = r.try_get(0)?;
        let suite: String = r.try_get(1)?;
        let id = Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id length"))?;
        out.push((id, stored_suite(&suite)?));
    }
    Ok(out)
}

/// Forget the pending answer of a device.
pub async fn remove(conn: &mut AnyConnection, id: &Id) -> C2Result<()> {
    sqlx::query("DELETE FROM negotiations WHERE client_id = $1")
        .bind(id.0.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Re-encrypt the pending symmetric keys (passphrase change). The table
/// holds at most one row per device mid-upgrade: it is read at once.
pub async fn reencrypt(
    conn: &mut AnyConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> C2Result<u64> {
    let rows = sqlx::query("SELECT client_id, key_enc FROM negotiations WHERE key_enc IS NOT NULL")
        .fetch_all(&mut *conn)
        .await?;
    let mut n = 0;
    for r in &rows {
        let id: Vec<u8> = r.try_get(0)?;
        let enc: Vec<u8> = r.try_get(1)?;
        let id = Id::from_slice(&id).ok_or_else(|| C2Error::internal("stored client id length"))?;
        let aad = crate::outbox::client_key_aad(&id);
        let k = old.open(&aad, &enc)?;
        sqlx::query("UPDATE negotiations SET key_enc = $1 WHERE client_id = $2")
            .bind(new.seal(&aad, &k))
            .bind(id.0.to_vec())
            .execute(&mut *conn)
            .await?;
        n += 1;
    }
    Ok(n)
}
