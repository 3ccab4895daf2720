//! Small named values: KDF salt and parameters, passphrase check value,
//! admin credential hash.

use crate::error::C2Result;
use sqlx::{AnyConnection, Row};

/// The value of `name`.
pub async fn get(conn: &mut AnyConnection, name: &str) -> C2Result<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT value FROM meta WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<Vec<u8>, _>(0)?),
        None => None,
    })
}

/// Insert or replace `name`.
pub async fn set(conn: &mut AnyConnection, name: &str, value: &[u8]) -> C2Result<()> {
    let n = sqlx::query("UPDATE meta SET value = $1 WHERE name = $2")
        .bind(value.to_vec())
        .bind(name)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value.to_vec())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
