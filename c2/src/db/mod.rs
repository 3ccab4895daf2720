//! Storage: one SQL dialect for SQLite and PostgreSQL through sqlx's `Any`
//! driver, one migrations folder, write transactions serialized.

pub mod c2keys;
pub mod clients;
pub mod delivery;
pub mod links;
pub mod meta;
pub mod mqtt_credentials;
pub mod negotiations;
pub mod outbox;
pub mod pk_macs;
pub mod rules;
pub mod topics;

use crate::error::{C2Error, C2Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A transaction on the database.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction: holds this process's write lock until it ends.
pub struct WriteTx {
    /// The transaction.
    pub tx: Tx,
    _guard: OwnedMutexGuard<()>,
}

impl WriteTx {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commit.
    pub async fn commit(self) -> C2Result<()> {
        self.tx.commit().await.map_err(C2Error::from)
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connect (creating a SQLite file if needed) and run the migrations.
    pub async fn connect(url: &str) -> C2Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(C2Error::invalid(
                "the database URL must start with sqlite: or postgres://",
            ));
        };
        let mut opts = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 });
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 60000",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(url)
            .await
            .map_err(|e| C2Error::Unavailable(format!("database {}: {e}", redact(url))))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| C2Error::internal(format!("migrations: {e}")))?;
        Ok(Db {
            pool,
            backend,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection for a series of reads.
    pub async fn read(&self) -> C2Result<sqlx::pool::PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Begin a write transaction. SQLite: `BEGIN IMMEDIATE` (takes the
    /// file's write lock at once, so no read-then-write upgrade can fail).
    pub async fn begin_write(&self) -> C2Result<WriteTx> {
        let guard = self.write_lock.clone().lock_owned().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _guard: guard })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `$first, $first+1, …` placeholders for one row of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let mut s = String::from("(");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(first + i).to_string());
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://e4:secret@127.0.0.1:5/e4"),
            "postgres://e4:***@127.0.0.1:5/e4"
        );
        assert_eq!(redact("sqlite:/x/c2.db"), "sqlite:/x/c2.db");
        assert_eq!(placeholders(3, 2), "($3, $4)");
    }
}
