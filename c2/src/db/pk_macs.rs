//! The `pk_mac` columns of `clients`, `negotiations` and `outbox`, read and
//! written table by table (backfill, passphrase change; see
//! `key_integrity`).

use crate::db::clients::stored_suite;
use crate::error::{C2Error, C2Result};
use crate::key_integrity::Table;
use e4_proto::{Id, SuiteId};
use sqlx::{AnyConnection, Row};

/// A row's keys and MAC as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its table.
    pub table: Table,
    /// The device.
    pub client: Id,
    /// The outbox id (outbox rows).
    pub outbox_id: Option<i64>,
    /// The suite.
    pub suite: SuiteId,
    /// (sig_pk, kem_pk), or (device_key, none) for the outbox.
    pub keys: [Option<Vec<u8>>; 2],
    /// The stored MAC.
    pub mac: Option<Vec<u8>>,
}

/// Rows of `table` after `after` (by key), at most `limit`.
pub async fn batch(
    conn: &mut AnyConnection,
    table: Table,
    after: Option<&Stored>,
    limit: usize,
) -> C2Result<Vec<Stored>> {
    let q = match table {
        Table::Clients => sqlx::query(
            "SELECT id, suite, sig_pk, kem_pk, pk_mac FROM clients \
             WHERE id > $1 ORDER BY id LIMIT $2",
        ),
        Table::Negotiations => sqlx::query(
            "SELECT client_id, suite, sig_pk, kem_pk, pk_mac FROM negotiations \
             WHERE client_id > $1 ORDER BY client_id LIMIT $2",
        ),
        Table::Outbox => sqlx::query(
            "SELECT client_id, suite, device_key, pk_mac, id FROM outbox \
             WHERE id > $1 ORDER BY id LIMIT $2",
        ),
    };
    let q = match table {
        Table::Outbox => q.bind(after.and_then(|s| s.outbox_id).unwrap_or(i64::MIN)),
        _ => q.bind(after.map(|s| s.client.0.to_vec()).unwrap_or_default()),
    };
    let rows = q.bind(limit as i64).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let id: Vec<u8> = r.try_get(0)?;
            let suite: String = r.try_get(1)?;
            let (keys, mac, outbox_id) = match table {
                Table::Outbox => ([r.try_get(2)?, None], r.try_get(3)?, Some(r.try_get(4)?)),
                _ => ([r.try_get(2)?, r.try_get(3)?], r.try_get(4)?, None),
            };
            Ok(Stored {
                table,
                client: Id::from_slice(&id)
                    .ok_or_else(|| C2Error::internal("stored client id length"))?,
                outbox_id,
                suite: stored_suite(&suite)?,
                keys,
                mac,
            })
        })
        .collect()
}

/// Store a row's MAC.
pub async fn set(conn: &mut AnyConnection, row: &Stored, mac: Vec<u8>) -> C2Result<()> {
    let q = match row.table {
        Table::Clients => sqlx::query("UPDATE clients SET pk_mac = $1 WHERE id = $2"),
        Table::Negotiations => {
            sqlx::query("UPDATE negotiations SET pk_mac = $1 WHERE client_id = $2")
        }
        Table::Outbox => sqlx::query("UPDATE outbox SET pk_mac = $1 WHERE id = $2"),
    }
    .bind(mac);
    let q = match row.outbox_id {
        Some(id) => q.bind(id),
        None => q.bind(row.client.0.to_vec()),
    };
    q.execute(conn).await?;
    Ok(())
}
