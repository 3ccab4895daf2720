//! Offline commands: they take the data directory's lock, so they refuse to
//! run next to a server using it.

use crate::bootstrap;
use crate::cli::args::OfflineArgs;
use crate::crypto_at_rest::KdfParams;
use crate::datadir::{read_secret, write_private, DataDir};
use crate::db::Db;
use crate::server::resolve_passphrase;
use anyhow::{anyhow, bail, Result};
use zeroize::Zeroizing;

async fn open(a: &OfflineArgs) -> Result<(DataDir, std::fs::File, Db)> {
    let dir = DataDir::open(&a.data_dir).map_err(|e| anyhow!("{e}"))?;
    let lock = dir.lock().map_err(|e| anyhow!("{e}"))?;
    let url = a.db.clone().unwrap_or_else(|| dir.sqlite_url());
    let db = Db::connect(&url).await.map_err(|e| anyhow!("{e}"))?;
    if !bootstrap::is_initialized(&db)
        .await
        .map_err(|e| anyhow!("{e}"))?
    {
        bail!("the database is not initialized (run `e4c2 serve` once)");
    }
    Ok((dir, lock, db))
}

/// `e4c2 passphrase`: re-encrypt every secret under a new passphrase.
pub async fn change_passphrase(a: OfflineArgs) -> Result<()> {
    let (dir, _lock, db) = open(&a).await?;
    let env = std::env::var("E4C2_PASSPHRASE").ok().map(Zeroizing::new);
    let old = resolve_passphrase(a.passphrase_file.as_ref(), env.as_ref(), &dir, true)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let new = match (
        &a.new_passphrase_file,
        std::env::var("E4C2_NEW_PASSPHRASE").ok(),
    ) {
        (Some(f), _) => read_secret(f).map_err(|e| anyhow!("{e}"))?,
        (None, Some(p)) => Zeroizing::new(p),
        (None, None) => {
            bail!("give the new passphrase with --new-passphrase-file or E4C2_NEW_PASSPHRASE")
        }
    };
    let params = KdfParams {
        m_kib: a.kdf_memory_kib,
        ..KdfParams::default()
    };
    // open_master checks the old passphrase against the stored check value.
    let master = bootstrap::open_master(&db, old.as_bytes(), params)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    bootstrap::ensure_public_key_macs(&db, &master)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let n = bootstrap::change_passphrase(&db, &master, new.as_bytes(), params)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let from_default_file = a.passphrase_file.is_none() && env.is_none();
    if from_default_file && dir.passphrase_file().is_file() {
        write_private(&dir.passphrase_file(), format!("{}\n", *new).as_bytes())
            .map_err(|e| anyhow!("{e}"))?;
        println!("updated {}", dir.passphrase_file().display());
    }
    println!("re-encrypted {n} secret(s) under the new passphrase");
    db.close().await;
    Ok(())
}

/// `e4c2 rotate-token`: a new admin token replaces the old one.
pub async fn rotate_token(a: OfflineArgs) -> Result<()> {
    let (dir, _lock, db) = open(&a).await?;
    let t = bootstrap::rotate_admin_token(&db, &dir)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!(
        "new admin token (also saved to {} with mode 0600):\n{}",
        dir.token_file().display(),
        *t
    );
    db.close().await;
    Ok(())
}
