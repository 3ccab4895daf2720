//! Integrity of public keys at rest (issue 12, item 8; docs/negotiation.md,
//! "Integrity of public keys at rest"). Devices' public keys are stored in
//! clear (`clients`, `negotiations`), and so is the public key an outbox
//! row is sealed to (`outbox.device_key`): whoever can write the database
//! could swap in a key of theirs and be sent topic keys, or (a signature
//! key) pass for the device. Each such row carries `pk_mac`: HMAC-SHA256,
//! under a subkey of the master key, of a length-prefixed encoding of the
//! table, the device id, the outbox id (outbox rows), the suite and the
//! keys. It is written with the keys, in the same transaction, and checked
//! wherever they are used: before a command is queued or sealed for a
//! device, before a device's public key is sent to another, and before a
//! device's message is verified. A row that fails is refused with
//! [`C2Error::IntegrityFailure`] and counted in
//! `e4c2_integrity_failures_total{table}`.

use crate::crypto_at_rest::MasterKey;
use crate::db::clients::ClientRow;
use crate::db::negotiations::NegotiationRow;
use crate::db::outbox::OutboxRow;
use crate::db::pk_macs::{self, Stored};
use crate::error::{C2Error, C2Result};
use crate::metrics::Metrics;
use e4_proto::{Id, SuiteId};
use sqlx::AnyConnection;

const DOMAIN: &[u8] = b"e4c2/public-key-mac/v1";
/// Rows read at a time by [`backfill`] and [`rekey`].
const BATCH: usize = 500;

/// A table whose rows carry public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// A device's registered keys.
    Clients,
    /// The keys a device offered for a pending upgrade.
    Negotiations,
    /// The key a queued command is sealed to.
    Outbox,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 3] = [Table::Clients, Table::Negotiations, Table::Outbox];

    /// The table's name (also the metric's label).
    pub fn name(self) -> &'static str {
        match self {
            Table::Clients => "clients",
            Table::Negotiations => "negotiations",
            Table::Outbox => "outbox",
        }
    }
}

/// What a row's MAC covers.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    table: Table,
    client: Id,
    name: Option<&'a str>,
    outbox_id: Option<i64>,
    suite: SuiteId,
    keys: [Option<&'a [u8]>; 2],
}

impl<'a> Record<'a> {
    /// A device's keys in `clients` or `negotiations`.
    pub fn device(
        table: Table,
        client: Id,
        suite: SuiteId,
        sig_pk: Option<&'a [u8]>,
        kem_pk: Option<&'a [u8]>,
    ) -> Record<'a> {
        Record {
            table,
            client,
            name: None,
            outbox_id: None,
            suite,
            keys: [sig_pk, kem_pk],
        }
    }

    /// Outbox row `id` for `client`, sealed to `device_key`. A symmetric
    /// row's device key is encrypted and bound to the row by its AEAD (and
    /// re-encrypted by a passphrase change): the MAC covers its suite only.
    pub fn outbox(id: i64, client: Id, suite: SuiteId, device_key: &'a [u8]) -> Record<'a> {
        let key = (suite != SuiteId::Symmetric).then_some(device_key);
        Record {
            table: Table::Outbox,
            client,
            name: None,
            outbox_id: Some(id),
            suite,
            keys: [key, None],
        }
    }

    /// A client row.
    pub fn of_client(row: &'a ClientRow) -> Record<'a> {
        Record {
            name: Some(&row.name),
            ..Record::device(
                Table::Clients,
                row.id,
                row.suite,
                row.sig_pk.as_deref(),
                row.kem_pk.as_deref(),
            )
        }
    }

    /// A pending upgrade.
    pub fn of_negotiation(n: &'a NegotiationRow) -> Record<'a> {
        Record::device(
            Table::Negotiations,
            n.client_id,
            n.suite,
            n.sig_pk.as_deref(),
            n.kem_pk.as_deref(),
        )
    }

    /// An outbox row.
    pub fn of_outbox(row: &'a OutboxRow) -> Record<'a> {
        Record::outbox(row.id, row.client_id, row.suite, &row.device_key)
    }

    /// The MAC input: a domain label, then each field as a 4-byte
    /// big-endian length and its bytes (an absent field: length 2^32 - 1).
    fn encode(&self) -> Vec<u8> {
        let outbox_id = self.outbox_id.map(i64::to_be_bytes);
        let fields: [Option<&[u8]>; 6] = [
            Some(self.table.name().as_bytes()),
            Some(&self.client.0),
            outbox_id.as_ref().map(|b| &b[..]),
            Some(self.suite.name().as_bytes()),
            self.keys[0],
            self.keys[1],
        ];
        let mut v = DOMAIN.to_vec();
        for f in fields {
            match f {
                None => v.extend_from_slice(&u32::MAX.to_be_bytes()),
                Some(b) => {
                    v.extend_from_slice(&(b.len() as u32).to_be_bytes());
                    v.extend_from_slice(b);
                }
            }
        }
        v
    }

    /// The MAC to store with the row.
    pub fn mac(&self, master: &MasterKey) -> Vec<u8> {
        master.public_key_mac(&self.encode()).to_vec()
    }

    /// Whether `stored` is the row's MAC (constant time; none never is).
    pub fn verifies(&self, master: &MasterKey, stored: Option<&[u8]>) -> bool {
        stored.is_some_and(|tag| master.verify_public_key_mac(&self.encode(), tag))
    }

    /// Refuse the row unless `stored` is its MAC: a typed error naming the
    /// device, logged and counted.
    pub fn check(
        &self,
        master: &MasterKey,
        metrics: &Metrics,
        stored: Option<&[u8]>,
    ) -> C2Result<()> {
        if self.verifies(master, stored) {
            return Ok(());
        }
        metrics.integrity_failure(self.table.name());
        let device = match self.name {
            Some(n) => format!("client {n:?} ({})", self.client),
            None => format!("client {}", self.client),
        };
        let what = match self.outbox_id {
            Some(id) => format!("the device key of outbox command {id} for {device}"),
            None => format!(
                "the public key stored for {device} in {}",
                self.table.name()
            ),
        };
        let msg = format!(
            "{what} failed its integrity check (changed outside C2, or damaged): \
             refused, nothing is sealed to it or verified with it"
        );
        tracing::error!(table = self.table.name(), client = %self.client, "{msg}");
        Err(C2Error::IntegrityFailure(msg))
    }
}

/// Refuse a client row whose keys fail their check.
pub fn check_client(master: &MasterKey, metrics: &Metrics, row: &ClientRow) -> C2Result<()> {
    Record::of_client(row).check(master, metrics, row.pk_mac.as_deref())
}

impl Stored {
    fn record(&self) -> Record<'_> {
        match self.outbox_id {
            Some(id) => Record::outbox(
                id,
                self.client,
                self.suite,
                self.keys[0].as_deref().unwrap_or(&[]),
            ),
            None => Record::device(
                self.table,
                self.client,
                self.suite,
                self.keys[0].as_deref(),
                self.keys[1].as_deref(),
            ),
        }
    }
}

/// Give every row without a MAC one under `master`, trusting its keys as
/// they are (trust on first use: the first start after the upgrade that
/// introduced MACs). Returns how many rows.
pub async fn backfill(conn: &mut AnyConnection, master: &MasterKey) -> C2Result<u64> {
    Ok(remac(conn, None, master).await?.0)
}

/// After a passphrase change: rows whose MAC verifies under `old` get one
/// under `new`; the others keep theirs and stay refused. Returns (rows
/// re-authenticated, rows left failing).
pub async fn rekey(
    conn: &mut AnyConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> C2Result<(u64, u64)> {
    remac(conn, Some(old), new).await
}

async fn remac(
    conn: &mut AnyConnection,
    old: Option<&MasterKey>,
    new: &MasterKey,
) -> C2Result<(u64, u64)> {
    let (mut done, mut failing) = (0, 0);
    for table in Table::ALL {
        let mut after: Option<Stored> = None;
        loop {
            let rows = pk_macs::batch(conn, table, after.as_ref(), BATCH).await?;
            for r in &rows {
                let rec = r.record();
                let trusted = match old {
                    None => r.mac.is_none(),
                    Some(old) => rec.verifies(old, r.mac.as_deref()),
                };
                if trusted {
                    pk_macs::set(conn, r, rec.mac(new)).await?;
                    done += 1;
                } else if old.is_some() {
                    tracing::warn!(table = table.name(), client = %r.client,
                        "public key failed its integrity check: its MAC is not renewed, it stays refused");
                    failing += 1;
                }
            }
            match rows.into_iter().last() {
                Some(last) => after = Some(last),
                None => break,
            }
        }
    }
    Ok((done, failing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto_at_rest::KdfParams;

    fn master(pass: &[u8]) -> MasterKey {
        let p = KdfParams {
            m_kib: 256,
            t: 1,
            p: 1,
        };
        MasterKey::derive(pass, &[3; 16], p).unwrap()
    }

    #[test]
    fn a_mac_is_bound_to_its_table_device_suite_row_and_keys() {
        let k = master(b"correct horse battery");
        let (a, b) = (Id([1; 16]), Id([2; 16]));
        let (sig, kem) = (&[7u8; 32][..], &[9u8; 64][..]);
        let rec = Record::device(
            Table::Clients,
            a,
            SuiteId::PostQuantum,
            Some(sig),
            Some(kem),
        );
        let tag = rec.mac(&k);
        assert!(rec.verifies(&k, Some(&tag)));
        let moved = [
            Record::device(
                Table::Clients,
                b,
                SuiteId::PostQuantum,
                Some(sig),
                Some(kem),
            ),
            Record::device(Table::Clients, a, SuiteId::Hybrid, Some(sig), Some(kem)),
            Record::device(
                Table::Negotiations,
                a,
                SuiteId::PostQuantum,
                Some(sig),
                Some(kem),
            ),
            Record::device(
                Table::Clients,
                a,
                SuiteId::PostQuantum,
                Some(kem),
                Some(sig),
            ),
            Record::device(Table::Clients, a, SuiteId::PostQuantum, Some(sig), None),
            Record::device(
                Table::Clients,
                a,
                SuiteId::PostQuantum,
                Some(&[7; 31]),
                Some(kem),
            ),
        ];
        for m in moved {
            assert!(!m.verifies(&k, Some(&tag)), "{m:?}");
        }
        assert!(!rec.verifies(&k, None));
        assert!(!rec.verifies(&master(b"another passphrase!"), Some(&tag)));
        // Lengths are encoded: moving bytes between fields changes the MAC.
        let split = Record::device(
            Table::Clients,
            a,
            SuiteId::PostQuantum,
            Some(&[7; 16]),
            Some(&[7; 16]),
        );
        let joined = Record::device(
            Table::Clients,
            a,
            SuiteId::PostQuantum,
            Some(&[7; 32]),
            Some(&[]),
        );
        assert!(!joined.verifies(&k, Some(&split.mac(&k))));
        // An empty key is not an absent one.
        let none = Record::device(Table::Clients, a, SuiteId::Symmetric, None, None);
        let empty = Record::device(Table::Clients, a, SuiteId::Symmetric, Some(&[]), None);
        assert!(!empty.verifies(&k, Some(&none.mac(&k))));
    }

    #[test]
    fn an_outbox_mac_is_bound_to_its_row_and_device() {
        let k = master(b"correct horse battery");
        let (a, b) = (Id([1; 16]), Id([2; 16]));
        let pk = [5u8; 32];
        let tag = Record::outbox(10, a, SuiteId::PubKey, &pk).mac(&k);
        assert!(Record::outbox(10, a, SuiteId::PubKey, &pk).verifies(&k, Some(&tag)));
        assert!(!Record::outbox(11, a, SuiteId::PubKey, &pk).verifies(&k, Some(&tag)));
        assert!(!Record::outbox(10, b, SuiteId::PubKey, &pk).verifies(&k, Some(&tag)));
        assert!(!Record::outbox(10, a, SuiteId::PubKey, &[6; 32]).verifies(&k, Some(&tag)));
        assert!(!Record::outbox(10, a, SuiteId::Symmetric, &pk).verifies(&k, Some(&tag)));
        let client = Record::device(Table::Clients, a, SuiteId::PubKey, Some(&pk), None);
        assert!(!client.verifies(&k, Some(&tag)));
    }

    #[test]
    fn a_failure_is_typed_named_and_counted() {
        let k = master(b"correct horse battery");
        let m = Metrics::new();
        let mut row = ClientRow::new(Id([4; 16]), "dev".into(), SuiteId::PubKey, 0);
        row.sig_pk = Some(vec![1; 32]);
        row.pk_mac = Some(Record::of_client(&row).mac(&k));
        check_client(&k, &m, &row).unwrap();
        row.sig_pk = Some(vec![2; 32]);
        let e = check_client(&k, &m, &row).unwrap_err();
        assert!(matches!(e, C2Error::IntegrityFailure(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("\"dev\"") && text.contains("integrity check"),
            "{text}"
        );
        assert!(m
            .render()
            .contains("e4c2_integrity_failures_total{table=\"clients\"} 1"));
    }
}
