//! The `pk_mac` columns of `clients`, `negotiations`, `outbox` and
//! `c2_keys`, read and
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
    /// The device (none for `c2_keys`).
    pub client: Option<Id>,
    /// The outbox id (outbox rows) or the key's version (`c2_keys`).
    pub row: Option<i64>,
    /// The suite.
    pub suite: SuiteId,
    /// (sig_pk, kem_pk), or (device_key, none) for the outbox, or
    /// (public_key, none) for `c2_keys`.
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
        Table::C2Keys => sqlx::query(
            "SELECT suite, suite, public_key, pk_mac, version FROM c2_keys \
             WHERE suite > $1 OR (suite = $1 AND version > $2) \
             ORDER BY suite, version LIMIT $3",
        ),
    };
    let q = match table {
        Table::Outbox => q.bind(after.and_then(|s| s.row).unwrap_or(i64::MIN)),
        Table::C2Keys => q
            .bind(after.map(|s| s.suite.name()).unwrap_or_default())
            .bind(after.and_then(|s| s.row).unwrap_or(i64::MIN)),
        _ => q.bind(
            after
                .and_then(|s| s.client)
                .map(|c| c.0.to_vec())
                .unwrap_or_default(),
        ),
    };
    let rows = q.bind(limit as i64).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let suite: String = r.try_get(1)?;
            let (keys, mac, row) = match table {
                Table::Outbox | Table::C2Keys => {
                    ([r.try_get(2)?, None], r.try_get(3)?, Some(r.try_get(4)?))
                }
                _ => ([r.try_get(2)?, r.try_get(3)?], r.try_get(4)?, None),
            };
            let client = match table {
                Table::C2Keys => None,
                _ => {
                    let id: Vec<u8> = r.try_get(0)?;
                    Some(
                        Id::from_slice(&id)
                            .ok_or_else(|| C2Error::internal("stored client id length"))?,
                    )
                }
            };
            Ok(Stored {
                table,
                client,
                row,
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
        Table::C2Keys => {
            sqlx::query("UPDATE c2_keys SET pk_mac = $1 WHERE version = $2 AND suite = $3")
        }
    }
    .bind(mac);
    let q = match (row.table, row.client) {
        (Table::C2Keys, _) => q.bind(row.row.unwrap_or_default()).bind(row.suite.name()),
        (Table::Outbox, _) => q.bind(row.row.unwrap_or_default()),
        (_, c) => q.bind(c.map(|c| c.0.to_vec()).unwrap_or_default()),
    };
    q.execute(conn).await?;
    Ok(())
}
