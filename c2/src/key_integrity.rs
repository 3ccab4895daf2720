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
//!
//! C2's own public keys (`c2_keys.public_key`, sent to devices in SetC2Key
//! and in the SetSuite of an upgrade, and used to provision them) carry one
//! too, bound to the suite and the key's version: a swapped post-quantum
//! signature key would make devices accept commands signed by someone else.

use crate::crypto_at_rest::MasterKey;
use crate::db::c2keys::C2KeyRow;
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
    /// C2's own key pairs, per suite and version.
    C2Keys,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [
        Table::Clients,
        Table::Negotiations,
        Table::Outbox,
        Table::C2Keys,
    ];

    /// The table's name (also the metric's label).
    pub fn name(self) -> &'static str {
        match self {
            Table::Clients => "clients",
            Table::Negotiations => "negotiations",
            Table::Outbox => "outbox",
            Table::C2Keys => "c2_keys",
        }
    }
}

/// What a row's MAC covers.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    table: Table,
    /// The device (none for C2's own keys).
    client: Option<Id>,
    name: Option<&'a str>,
    /// The outbox id (outbox rows) or the key's version (`c2_keys`).
    row: Option<i64>,
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
            client: Some(client),
            name: None,
            row: None,
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
            client: Some(client),
            name: None,
            row: Some(id),
            suite,
            keys: [key, None],
        }
    }

    /// Version `version` of C2's public key of `suite`.
    pub fn c2_key(suite: SuiteId, version: i64, public_key: &'a [u8]) -> Record<'a> {
        Record {
            table: Table::C2Keys,
            client: None,
            name: None,
            row: Some(version),
            suite,
            keys: [Some(public_key), None],
        }
    }

    /// A `c2_keys` row of `suite`.
    pub fn of_c2_key(suite: SuiteId, row: &'a C2KeyRow) -> Record<'a> {
        Record::c2_key(suite, row.version, &row.public_key)
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
        let row = self.row.map(i64::to_be_bytes);
        let fields: [Option<&[u8]>; 6] = [
            Some(self.table.name().as_bytes()),
            self.client.as_ref().map(|c| &c.0[..]),
            row.as_ref().map(|b| &b[..]),
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
        let device = match (self.name, self.client) {
            (Some(n), Some(c)) => format!("client {n:?} ({c})"),
            (_, Some(c)) => format!("client {c}"),
            (_, None) => "C2".to_string(),
        };
        let (what, refused) = match (self.table, self.row) {
            (Table::C2Keys, v) => (
                format!(
                    "C2's public key for suite {}, version {}, stored in c2_keys,",
                    self.suite,
                    v.unwrap_or_default()
                ),
                "refused, it is not sent to any device and nothing is queued with it",
            ),
            (_, Some(id)) => (
                format!("the device key of outbox command {id} for {device}"),
                "refused, nothing is sealed to it or verified with it",
            ),
            (_, None) => (
                format!(
                    "the public key stored for {device} in {}",
                    self.table.name()
                ),
                "refused, nothing is sealed to it or verified with it",
            ),
        };
        let msg = format!(
            "{what} failed its integrity check (changed outside C2, or damaged): {refused}"
        );
        tracing::error!(table = self.table.name(), client = %device, suite = %self.suite, "{msg}");
        Err(C2Error::IntegrityFailure(msg))
    }
}

/// Refuse a client row whose keys fail their check.
pub fn check_client(master: &MasterKey, metrics: &Metrics, row: &ClientRow) -> C2Result<()> {
    Record::of_client(row).check(master, metrics, row.pk_mac.as_deref())
}

/// Refuse a version of C2's key of `suite` whose public key fails its check.
pub fn check_c2_key(
    master: &MasterKey,
    metrics: &Metrics,
    suite: SuiteId,
    row: &C2KeyRow,
) -> C2Result<()> {
    Record::of_c2_key(suite, row).check(master, metrics, row.pk_mac.as_deref())
}

impl Stored {
    fn record(&self) -> Record<'_> {
        let key = self.keys[0].as_deref().unwrap_or(&[]);
        match (self.table, self.client) {
            (Table::C2Keys, _) | (_, None) => {
                Record::c2_key(self.suite, self.row.unwrap_or_default(), key)
            }
            (Table::Outbox, Some(client)) => {
                Record::outbox(self.row.unwrap_or_default(), client, self.suite, key)
            }
            (_, Some(client)) => Record::device(
                self.table,
                client,
                self.suite,
                self.keys[0].as_deref(),
                self.keys[1].as_deref(),
            ),
        }
    }
}

/// Give every row of `tables` without a MAC one under `master`, trusting
/// its keys as they are (trust on first use: the first start after the
/// upgrade that introduced MACs for these tables). Returns how many rows.
pub async fn backfill(
    conn: &mut AnyConnection,
    master: &MasterKey,
    tables: &[Table],
) -> C2Result<u64> {
    Ok(remac(conn, tables, None, master).await?.0)
}

/// After a passphrase change: rows whose MAC verifies under `old` get one
/// under `new`; the others keep theirs and stay refused. Returns (rows
/// re-authenticated, rows left failing).
pub async fn rekey(
    conn: &mut AnyConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> C2Result<(u64, u64)> {
    remac(conn, &Table::ALL, Some(old), new).await
}

async fn remac(
    conn: &mut AnyConnection,
    tables: &[Table],
    old: Option<&MasterKey>,
    new: &MasterKey,
) -> C2Result<(u64, u64)> {
    let (mut done, mut failing) = (0, 0);
    for &table in tables {
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
                    tracing::warn!(table = table.name(), client = ?r.client, suite = %r.suite, row = ?r.row,
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
    fn a_c2_key_mac_is_bound_to_its_suite_version_and_key() {
        let k = master(b"correct horse battery");
        let pk = [8u8; 64];
        let tag = Record::c2_key(SuiteId::PostQuantum, 2, &pk).mac(&k);
        assert!(Record::c2_key(SuiteId::PostQuantum, 2, &pk).verifies(&k, Some(&tag)));
        let moved = [
            Record::c2_key(SuiteId::Hybrid, 2, &pk),
            Record::c2_key(SuiteId::PubKey, 2, &pk),
            Record::c2_key(SuiteId::PostQuantum, 1, &pk),
            Record::c2_key(SuiteId::PostQuantum, 3, &pk),
            Record::c2_key(SuiteId::PostQuantum, 2, &[9; 64]),
            Record::c2_key(SuiteId::PostQuantum, 2, &pk[..63]),
            // Not a device's row either.
            Record::outbox(2, Id([0; 16]), SuiteId::PostQuantum, &pk),
            Record::device(
                Table::Clients,
                Id([0; 16]),
                SuiteId::PostQuantum,
                Some(&pk),
                None,
            ),
        ];
        for m in moved {
            assert!(!m.verifies(&k, Some(&tag)), "{m:?}");
        }
        assert!(!Record::c2_key(SuiteId::PostQuantum, 2, &pk).verifies(&k, None));
        let other = master(b"another passphrase!");
        assert!(!Record::c2_key(SuiteId::PostQuantum, 2, &pk).verifies(&other, Some(&tag)));

        // A row whose MAC belongs to another version is refused, named and
        // counted.
        let m = Metrics::new();
        let v1 = C2KeyRow::new(&k, SuiteId::PostQuantum, 1, pk.to_vec(), Vec::new());
        check_c2_key(&k, &m, SuiteId::PostQuantum, &v1).unwrap();
        let mut v2 = C2KeyRow::new(&k, SuiteId::PostQuantum, 2, vec![7; 64], Vec::new());
        v2.pk_mac = v1.pk_mac.clone();
        let e = check_c2_key(&k, &m, SuiteId::PostQuantum, &v2).unwrap_err();
        assert!(matches!(e, C2Error::IntegrityFailure(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("suite pq, version 2") && text.contains("integrity check"),
            "{text}"
        );
        assert!(check_c2_key(&k, &m, SuiteId::Hybrid, &v1).is_err());
        assert!(m
            .render()
            .contains("e4c2_integrity_failures_total{table=\"c2_keys\"} 2"));
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
