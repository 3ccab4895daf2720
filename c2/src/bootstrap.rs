//! First start and every start: the master key (salt, parameters and a
//! check value in `meta`), the admin credential, C2's key pairs; and the
//! offline passphrase change; the one-time authentication of public keys
//! stored before they carried a MAC.

use crate::auth;
use crate::crypto_at_rest::{
    check_passphrase, random_salt, KdfParams, MasterKey, CHECK_AAD, CHECK_PLAINTEXT,
    CHECK_PLAINTEXT_MACS, CHECK_PLAINTEXT_MACS_V2,
};
use crate::datadir::{write_private, DataDir};
use crate::db::clients::ClientRow;
use crate::db::{c2keys, meta, now_ms, outbox as otable, Db};
use crate::error::{C2Error, C2Result};
use crate::key_integrity::Table;
use crate::outbox::{c2_secret_aad, client_key_aad};
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use e4_proto::{CryptoProvider, Family, SuiteId};
use sqlx::{AnyConnection, Row};
use zeroize::Zeroizing;

const SALT: &str = "kdf_salt";
const PARAMS: &str = "kdf_params";
const CHECK: &str = "passphrase_check";
const TOKEN: &str = "admin_token_sha3";

/// Whether the database has been initialized (has a salt).
pub async fn is_initialized(db: &Db) -> C2Result<bool> {
    let mut c = db.read().await?;
    Ok(meta::get(&mut c, SALT).await?.is_some())
}

/// Derive the master key; on a new database, initialize salt, parameters
/// and check value with `params`. A wrong passphrase is refused.
pub async fn open_master(db: &Db, passphrase: &[u8], params: KdfParams) -> C2Result<MasterKey> {
    check_passphrase(passphrase)?;
    let mut w = db.begin_write().await?;
    let salt = meta::get(w.conn(), SALT).await?;
    let master = match salt {
        Some(salt) => {
            let p = meta::get(w.conn(), PARAMS)
                .await?
                .ok_or_else(|| C2Error::internal("kdf parameters missing"))?;
            let p = KdfParams::decode(&String::from_utf8_lossy(&p))?;
            let check = meta::get(w.conn(), CHECK)
                .await?
                .ok_or_else(|| C2Error::internal("passphrase check value missing"))?;
            let master = MasterKey::derive(passphrase, &salt, p)?;
            match master.open(CHECK_AAD, &check) {
                Ok(v)
                    if [
                        CHECK_PLAINTEXT,
                        CHECK_PLAINTEXT_MACS,
                        CHECK_PLAINTEXT_MACS_V2,
                    ]
                    .contains(&v.as_slice()) => {}
                _ => {
                    return Err(C2Error::invalid(
                        "wrong passphrase: it does not decrypt this database",
                    ))
                }
            }
            master
        }
        None => {
            let salt = random_salt();
            let master = MasterKey::derive(passphrase, &salt, params)?;
            meta::set(w.conn(), SALT, &salt).await?;
            meta::set(w.conn(), PARAMS, params.encode().as_bytes()).await?;
            // A new database: every row will be written with its MAC.
            meta::set(
                w.conn(),
                CHECK,
                &master.seal(CHECK_AAD, CHECK_PLAINTEXT_MACS_V2),
            )
            .await?;
            master
        }
    };
    w.commit().await?;
    Ok(master)
}

/// Once per database, at the first start after the upgrade that introduced
/// public-key MACs (its check value is still the old one): give every row
/// without a MAC one (trust on first use), then switch the check value, in
/// one transaction. Afterwards a row without a MAC is refused; a database
/// writer without the passphrase cannot switch the check value back. A
/// database whose devices' keys are authenticated already (check value v1)
/// has only C2's own keys (`c2_keys`, MACed since v2) authenticated so.
/// Returns how many rows were authenticated.
pub async fn ensure_public_key_macs(db: &Db, master: &MasterKey) -> C2Result<u64> {
    let mut w = db.begin_write().await?;
    let check = meta::get(w.conn(), CHECK)
        .await?
        .ok_or_else(|| C2Error::internal("passphrase check value missing"))?;
    let check = master.open(CHECK_AAD, &check)?;
    let tables: &[Table] = if check.as_slice() == CHECK_PLAINTEXT {
        &Table::ALL
    } else if check.as_slice() == CHECK_PLAINTEXT_MACS {
        &[Table::C2Keys]
    } else {
        return Ok(0);
    };
    let n = crate::key_integrity::backfill(w.conn(), master, tables).await?;
    meta::set(
        w.conn(),
        CHECK,
        &master.seal(CHECK_AAD, CHECK_PLAINTEXT_MACS_V2),
    )
    .await?;
    w.commit().await?;
    tracing::info!(
        rows = n,
        "public keys stored before this version authenticated as they are (trust on first use); \
         from now on a public key without a valid MAC is refused"
    );
    Ok(n)
}

/// The admin verifier; at first start a token is generated, written to
/// `admin.token` (0600) and returned so the caller prints it once.
pub async fn ensure_admin_token(
    db: &Db,
    dir: &DataDir,
) -> C2Result<(auth::Verifier, Option<Zeroizing<String>>)> {
    let mut w = db.begin_write().await?;
    if let Some(d) = meta::get(w.conn(), TOKEN).await? {
        let d: [u8; 32] = d
            .as_slice()
            .try_into()
            .map_err(|_| C2Error::internal("stored token digest length"))?;
        return Ok((auth::Verifier::new(d), None));
    }
    let token = auth::generate_token();
    let d = auth::digest(&token);
    meta::set(w.conn(), TOKEN, &d).await?;
    write_private(&dir.token_file(), format!("{}\n", *token).as_bytes())?;
    w.commit().await?;
    Ok((auth::Verifier::new(d), Some(token)))
}

/// Replace the admin token (offline command); returns the new one.
pub async fn rotate_admin_token(db: &Db, dir: &DataDir) -> C2Result<Zeroizing<String>> {
    let token = auth::generate_token();
    let mut w = db.begin_write().await?;
    meta::set(w.conn(), TOKEN, &auth::digest(&token)).await?;
    write_private(&dir.token_file(), format!("{}\n", *token).as_bytes())?;
    w.commit().await?;
    Ok(token)
}

/// A new C2 key pair for a suite: (public, secret).
pub fn generate_c2_keypair(
    provider: &CryptoProvider,
    suite: SuiteId,
) -> C2Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let s = provider.suite(suite)?;
    match suite.family() {
        Family::E4PublicKey => {
            let x = s.x25519()?;
            let mut sk = Zeroizing::new([0u8; 32]);
            OsRng.fill(&mut sk[..]);
            let pk = x.public_key(&sk);
            Ok((pk.to_vec(), Zeroizing::new(sk.to_vec())))
        }
        Family::Kem => {
            let p = suite.params();
            let mut sk = Zeroizing::new(vec![0u8; p.sig_secret_key]);
            let mut pk = vec![0u8; p.sig_public_key];
            s.sig()?.generate(&mut OsRng, &mut sk, &mut pk)?;
            Ok((pk, sk))
        }
        Family::E4Symmetric => Err(C2Error::invalid(format!("suite {suite} has no C2 key"))),
    }
}

/// The suites of `provider` with a C2 key pair.
pub fn keyed_suites(provider: &CryptoProvider) -> impl Iterator<Item = SuiteId> + '_ {
    provider
        .suites
        .iter()
        .map(|s| s.id)
        .filter(|s| s.family() != Family::E4Symmetric)
}

/// Generate version 1 of every suite's C2 key that is missing.
pub async fn ensure_c2_keys(
    db: &Db,
    master: &MasterKey,
    provider: &CryptoProvider,
) -> C2Result<()> {
    let mut w = db.begin_write().await?;
    for suite in keyed_suites(provider) {
        if c2keys::current(w.conn(), suite).await?.is_none() {
            let (pk, sk) = generate_c2_keypair(provider, suite)?;
            let secret_enc = master.seal(&c2_secret_aad(suite, 1), &sk);
            let row = c2keys::C2KeyRow::new(master, suite, 1, pk, secret_enc);
            c2keys::insert(w.conn(), suite, &row, now_ms()).await?;
            tracing::info!(suite = %suite, "generated the C2 key pair");
        }
    }
    w.commit().await
}

/// Re-encrypt every secret under a new passphrase (new salt), and renew the
/// MACs of public keys that verify under the old one, in one transaction,
/// streaming each table in batches. [`ensure_public_key_macs`] must have
/// run first.
pub async fn change_passphrase(
    db: &Db,
    old: &MasterKey,
    new_passphrase: &[u8],
    params: KdfParams,
) -> C2Result<u64> {
    check_passphrase(new_passphrase)?;
    let salt = random_salt();
    let new = MasterKey::derive(new_passphrase, &salt, params)?;
    let mut w = db.begin_write().await?;
    let mut n = 0u64;
    n += reencrypt_clients(w.conn(), old, &new).await?;
    n += reencrypt_topics(w.conn(), old, &new).await?;
    n += crate::db::negotiations::reencrypt(w.conn(), old, &new).await?;
    let (_, failing) = crate::key_integrity::rekey(w.conn(), old, &new).await?;
    if failing > 0 {
        tracing::warn!(
            rows = failing,
            "public keys that failed their integrity check keep failing under the new passphrase"
        );
    }
    for (suite, row) in c2keys::all(w.conn()).await? {
        let s = SuiteId::from_name(&suite)
            .map_err(|_| C2Error::internal(format!("stored suite {suite:?}")))?;
        let aad = c2_secret_aad(s, row.version);
        let sk = old.open(&aad, &row.secret_enc)?;
        c2keys::set_secret(w.conn(), &suite, row.version, new.seal(&aad, &sk)).await?;
        n += 1;
    }
    let mut after = 0i64;
    loop {
        let rows = otable::encrypted_batch(w.conn(), after, 500).await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (id, suite, cmd, dk) in rows {
            let caad = crate::crypto_at_rest::aad("outbox-command", &id.to_be_bytes());
            let c = new.seal(&caad, &old.open(&caad, &cmd)?);
            let d = if suite == SuiteId::Symmetric.name() {
                let daad = crate::crypto_at_rest::aad("outbox-device-key", &id.to_be_bytes());
                new.seal(&daad, &old.open(&daad, &dk)?)
            } else {
                dk
            };
            otable::set_encrypted(w.conn(), id, c, d).await?;
            n += 1;
        }
    }
    meta::set(w.conn(), SALT, &salt).await?;
    meta::set(w.conn(), PARAMS, params.encode().as_bytes()).await?;
    meta::set(
        w.conn(),
        CHECK,
        &new.seal(CHECK_AAD, CHECK_PLAINTEXT_MACS_V2),
    )
    .await?;
    w.commit().await?;
    Ok(n)
}

async fn reencrypt_clients(
    conn: &mut AnyConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> C2Result<u64> {
    let mut after: Vec<u8> = Vec::new();
    let mut n = 0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM clients c WHERE c.id > $1 AND c.key_enc IS NOT NULL ORDER BY c.id LIMIT 500",
            crate::db::clients::COLS
        )))
        .bind(after.clone())
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(n);
        }
        let rows: Vec<ClientRow> = rows
            .iter()
            .map(crate::db::clients::from_row)
            .collect::<C2Result<_>>()?;
        for c in &rows {
            let aad = client_key_aad(&c.id);
            let enc = c.key_enc.as_ref().expect("selected non-null");
            let k = old.open(&aad, enc)?;
            sqlx::query("UPDATE clients SET key_enc = $1 WHERE id = $2")
                .bind(new.seal(&aad, &k))
                .bind(c.id.0.to_vec())
                .execute(&mut *conn)
                .await?;
            n += 1;
        }
        after = rows.last().expect("non-empty").id.0.to_vec();
    }
}

async fn reencrypt_topics(
    conn: &mut AnyConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> C2Result<u64> {
    let mut after = String::new();
    let mut n = 0;
    loop {
        let rows =
            sqlx::query("SELECT name, key_enc FROM topics WHERE name > $1 ORDER BY name LIMIT 500")
                .bind(after.clone())
                .fetch_all(&mut *conn)
                .await?;
        if rows.is_empty() {
            return Ok(n);
        }
        for r in &rows {
            let name: String = r.try_get(0)?;
            let enc: Vec<u8> = r.try_get(1)?;
            let aad = crate::service::topic_key_aad(&name);
            let k = old.open(&aad, &enc)?;
            sqlx::query("UPDATE topics SET key_enc = $1 WHERE name = $2")
                .bind(new.seal(&aad, &k))
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
            after = name;
            n += 1;
        }
    }
}
