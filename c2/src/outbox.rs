//! The transactional outbox: commands are written in the transaction of the
//! state change that implies them, with a snapshot of the key material to
//! seal them with, and sealed (with a fresh timestamp) only when published.
//! The device's public keys are checked (`key_integrity`) when a command is
//! queued, and the row's device key when it is sealed.

use crate::crypto_at_rest::{aad, MasterKey};
use crate::db::clients::ClientRow;
use crate::db::outbox::{self as table, NewRow, OutboxRow};
use crate::db::{c2keys, now_ms};
use crate::error::{C2Error, C2Result};
use crate::key_integrity::{check_c2_key, check_client, Record};
use crate::metrics::Metrics;
use crate::model::Queued;
use e4_proto::c2::{seal_command_vec, C2Secret, DeviceKey};
use e4_proto::crypto::Rng;
use e4_proto::{Command, CryptoProvider, Family, Id, SuiteId, SymKey};
use sqlx::AnyConnection;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// Rows per INSERT statement.
pub const INSERT_BATCH: usize = 400;

/// Associated data of a client's encrypted key.
pub fn client_key_aad(id: &Id) -> Vec<u8> {
    aad("client-key", &id.0)
}

fn command_aad(outbox_id: i64) -> Vec<u8> {
    aad("outbox-command", &outbox_id.to_be_bytes())
}

fn device_key_aad(outbox_id: i64) -> Vec<u8> {
    aad("outbox-device-key", &outbox_id.to_be_bytes())
}

/// Associated data of a C2 secret key.
pub fn c2_secret_aad(suite: SuiteId, version: i64) -> Vec<u8> {
    let mut id = suite.name().as_bytes().to_vec();
    id.push(b'/');
    id.extend_from_slice(version.to_string().as_bytes());
    aad("c2-secret", &id)
}

struct Pending {
    client_id: Id,
    suite: SuiteId,
    opcode: u8,
    subject: Option<Vec<u8>>,
    command: Zeroizing<Vec<u8>>,
    device_key: Zeroizing<Vec<u8>>,
    c2_version: Option<i64>,
}

/// What a command is about (the outbox's `subject` column): the topic of
/// topic commands, the device of public-key commands.
pub fn subject_of(cmd: &Command<'_>) -> Option<Vec<u8>> {
    match cmd {
        Command::SetTopicKey { topic, .. } | Command::RemoveTopic(topic) => Some(topic.0.to_vec()),
        Command::SetPubKey { id, .. } | Command::RemovePubKey(id) => Some(id.0.to_vec()),
        Command::ResetTopics
        | Command::ResetPubKeys
        | Command::SetIdKey(_)
        | Command::SetC2Key(_) => None,
    }
}

/// Writes commands into the outbox within one transaction.
pub struct Enqueuer<'a> {
    master: &'a MasterKey,
    metrics: &'a Metrics,
    buf: Vec<Pending>,
    c2_versions: HashMap<SuiteId, i64>,
    c2_pins: HashMap<Id, i64>,
    queued: Queued,
    created_at: i64,
}

impl<'a> Enqueuer<'a> {
    /// Start; takes the outbox counter lock, so command-producing
    /// transactions are serialized and commit in id order.
    pub async fn begin(
        conn: &mut AnyConnection,
        master: &'a MasterKey,
        metrics: &'a Metrics,
    ) -> C2Result<Self> {
        table::lock_counter(conn).await?;
        Ok(Enqueuer {
            master,
            metrics,
            buf: Vec::new(),
            c2_versions: HashMap::new(),
            c2_pins: HashMap::new(),
            queued: Queued::default(),
            created_at: now_ms(),
        })
    }

    async fn c2_version(&mut self, conn: &mut AnyConnection, suite: SuiteId) -> C2Result<i64> {
        if let Some(v) = self.c2_versions.get(&suite) {
            return Ok(*v);
        }
        // Refused while C2's current public key of the suite fails its
        // check: the devices would be sent, or hold, a key that is not C2's.
        let current = c2keys::require_current(conn, suite).await?;
        check_c2_key(self.master, self.metrics, suite, &current)?;
        let v = current.version;
        self.c2_versions.insert(suite, v);
        Ok(v)
    }

    /// Seal the commands queued next for `client` (until
    /// [`Enqueuer::unpin_c2_key`]) under version `version` of C2's key of
    /// its suite instead of the current one: after an upgrade, the device
    /// holds the key its SetSuite carried, which a rotation may have
    /// replaced since.
    pub fn pin_c2_key(&mut self, client: Id, version: i64) {
        self.c2_pins.insert(client, version);
    }

    /// Back to the current C2 key for `client`.
    pub fn unpin_c2_key(&mut self, client: &Id) {
        self.c2_pins.remove(client);
    }

    async fn c2_version_for(
        &mut self,
        conn: &mut AnyConnection,
        client: &ClientRow,
    ) -> C2Result<i64> {
        match self.c2_pins.get(&client.id) {
            Some(v) => Ok(*v),
            None => self.c2_version(conn, client.suite).await,
        }
    }

    /// Queue `cmd` for `client`, sealed later with the key material the
    /// client row holds now.
    pub async fn push(
        &mut self,
        conn: &mut AnyConnection,
        client: &ClientRow,
        cmd: &Command<'_>,
    ) -> C2Result<()> {
        self.push_bytes(
            conn,
            client,
            cmd.opcode(),
            subject_of(cmd),
            Zeroizing::new(cmd.to_vec()),
        )
        .await
    }

    /// Queue `cmd` for `client`, sealed later with C2's key of version
    /// `c2_version` (an older one the device still holds: the SetC2Key that
    /// brings a device up to date).
    pub async fn push_under_c2_key(
        &mut self,
        conn: &mut AnyConnection,
        client: &ClientRow,
        cmd: &Command<'_>,
        c2_version: i64,
    ) -> C2Result<()> {
        self.push_bytes(
            conn,
            client,
            cmd.opcode(),
            subject_of(cmd),
            Zeroizing::new(cmd.to_vec()),
        )
        .await?;
        if let Some(p) = self.buf.last_mut() {
            if p.c2_version.is_some() {
                p.c2_version = Some(c2_version);
            }
        }
        Ok(())
    }

    /// Queue command bytes that are not a [`Command`] (the e4-rs extension
    /// commands of suite negotiation: SetSuite, SetTopicFormat), with what
    /// they are about. Refused if the client's public keys fail their
    /// integrity check.
    pub async fn push_bytes(
        &mut self,
        conn: &mut AnyConnection,
        client: &ClientRow,
        opcode: u8,
        subject: Option<Vec<u8>>,
        command: Zeroizing<Vec<u8>>,
    ) -> C2Result<()> {
        check_client(self.master, self.metrics, client)?;
        let (device_key, c2_version) = match client.suite.family() {
            Family::E4Symmetric => {
                let enc = client
                    .key_enc
                    .as_ref()
                    .ok_or_else(|| C2Error::internal("symmetric client without key"))?;
                let k = self.master.open_key32(&client_key_aad(&client.id), enc)?;
                (Zeroizing::new(k.to_vec()), None)
            }
            Family::E4PublicKey => {
                let pk = client
                    .sig_pk
                    .clone()
                    .ok_or_else(|| C2Error::internal("pubkey client without key"))?;
                (
                    Zeroizing::new(pk),
                    Some(self.c2_version_for(conn, client).await?),
                )
            }
            Family::Kem => {
                let pk = client
                    .kem_pk
                    .clone()
                    .ok_or_else(|| C2Error::internal("kem client without KEM key"))?;
                (
                    Zeroizing::new(pk),
                    Some(self.c2_version_for(conn, client).await?),
                )
            }
        };
        self.buf.push(Pending {
            client_id: client.id,
            suite: client.suite,
            opcode,
            subject,
            command,
            device_key,
            c2_version,
        });
        if self.buf.len() >= INSERT_BATCH {
            self.flush(conn).await?;
        }
        Ok(())
    }

    /// Write the buffered rows.
    pub async fn flush(&mut self, conn: &mut AnyConnection) -> C2Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let first = table::allocate(conn, self.buf.len()).await?;
        let mut rows = Vec::with_capacity(self.buf.len());
        for (i, p) in self.buf.drain(..).enumerate() {
            let id = first + i as i64;
            let device_key = if p.suite == SuiteId::Symmetric {
                self.master.seal(&device_key_aad(id), &p.device_key)
            } else {
                p.device_key.to_vec()
            };
            let pk_mac = Record::outbox(id, p.client_id, p.suite, &device_key).mac(self.master);
            rows.push(NewRow {
                id,
                client_id: p.client_id,
                control_topic: p.client_id.control_topic().as_str().to_string(),
                suite: p.suite,
                opcode: p.opcode,
                subject: p.subject,
                command_enc: self.master.seal(&command_aad(id), &p.command),
                device_key,
                c2_key_version: p.c2_version,
                created_at: self.created_at,
                pk_mac,
            });
        }
        table::insert(conn, &rows).await?;
        let last = first + rows.len() as i64 - 1;
        if self.queued.count == 0 {
            self.queued.first_id = first;
        }
        self.queued.last_id = last;
        self.queued.count += rows.len() as u64;
        Ok(())
    }

    /// Flush and report what was queued (commit the transaction next).
    pub async fn finish(mut self, conn: &mut AnyConnection) -> C2Result<Queued> {
        self.flush(conn).await?;
        Ok(self.queued)
    }
}

/// Move the commands still pending for `client` behind the ones queued
/// next, re-sealed for its current row (after a suite upgrade: they were
/// captured with the old suite's material). Pending SetSuite commands
/// (opcode `skip`) are dropped: they answer an exchange that is over.
pub async fn requeue_pending(
    conn: &mut AnyConnection,
    master: &MasterKey,
    q: &mut Enqueuer<'_>,
    client: &ClientRow,
    skip: u8,
) -> C2Result<u64> {
    let rows = table::pending_of_client(conn, &client.id).await?;
    let mut n = 0;
    for r in &rows {
        if r.opcode != skip {
            let cmd = master.open(&command_aad(r.id), &r.command_enc)?;
            q.push_bytes(conn, client, r.opcode, r.subject.clone(), cmd)
                .await?;
            n += 1;
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    table::delete(conn, &ids).await?;
    Ok(n)
}

/// C2 secret keys by (suite, version), decrypted once.
#[derive(Default)]
pub struct C2SecretCache {
    keys: HashMap<(SuiteId, i64), Zeroizing<Vec<u8>>>,
}

impl C2SecretCache {
    /// Load a version if not cached.
    pub async fn ensure(
        &mut self,
        conn: &mut AnyConnection,
        master: &MasterKey,
        suite: SuiteId,
        version: i64,
    ) -> C2Result<()> {
        if self.keys.contains_key(&(suite, version)) {
            return Ok(());
        }
        let row = c2keys::get(conn, suite, version)
            .await?
            .ok_or_else(|| C2Error::internal(format!("C2 key {suite} v{version} missing")))?;
        let sk = master.open(&c2_secret_aad(suite, version), &row.secret_enc)?;
        self.keys.insert((suite, version), sk);
        Ok(())
    }

    fn get(&self, suite: SuiteId, version: i64) -> C2Result<&[u8]> {
        self.keys
            .get(&(suite, version))
            .map(|k| &k[..])
            .ok_or_else(|| C2Error::internal("C2 key not loaded"))
    }
}

/// Seal a stored command for publication at time `now` (unix seconds);
/// refused if the row's device key fails its integrity check.
pub fn seal(
    master: &MasterKey,
    metrics: &Metrics,
    provider: &CryptoProvider,
    c2: &C2SecretCache,
    row: &OutboxRow,
    now: u64,
    rng: &mut dyn Rng,
) -> C2Result<Vec<u8>> {
    Record::of_outbox(row).check(master, metrics, row.pk_mac.as_deref())?;
    let cmd = master.open(&command_aad(row.id), &row.command_enc)?;
    let out = match row.suite.family() {
        Family::E4Symmetric => {
            let k = master.open_key32(&device_key_aad(row.id), &row.device_key)?;
            let key = SymKey::new(*k);
            seal_command_vec(
                provider,
                row.suite,
                &row.client_id,
                DeviceKey::Symmetric(&key),
                C2Secret::None,
                now,
                &cmd,
                rng,
            )?
        }
        Family::E4PublicKey => {
            let pk: [u8; 32] = row
                .device_key
                .as_slice()
                .try_into()
                .map_err(|_| C2Error::internal("stored Ed25519 key length"))?;
            let v = row
                .c2_key_version
                .ok_or_else(|| C2Error::internal("pubkey command without C2 key version"))?;
            let sk: Zeroizing<[u8; 32]> = Zeroizing::new(
                c2.get(row.suite, v)?
                    .try_into()
                    .map_err(|_| C2Error::internal("C2 X25519 key length"))?,
            );
            seal_command_vec(
                provider,
                row.suite,
                &row.client_id,
                DeviceKey::PubKey(&pk),
                C2Secret::X25519(&sk),
                now,
                &cmd,
                rng,
            )?
        }
        Family::Kem => {
            let v = row
                .c2_key_version
                .ok_or_else(|| C2Error::internal("kem command without C2 key version"))?;
            seal_command_vec(
                provider,
                row.suite,
                &row.client_id,
                DeviceKey::Kem(&row.device_key),
                C2Secret::Signing(c2.get(row.suite, v)?),
                now,
                &cmd,
                rng,
            )?
        }
    };
    Ok(out)
}
