//! Devices' MQTT password hashes (`clients.mqtt_password_hash`) and what
//! the mosquitto files are made of.

use crate::error::{C2Error, C2Result};
use e4_proto::Id;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// Store a device's password hash; false if the device does not exist.
pub async fn set(conn: &mut AnyConnection, id: &Id, hash: &str) -> C2Result<bool> {
    let n = sqlx::query("UPDATE clients SET mqtt_password_hash = $1 WHERE id = $2")
        .bind(hash.to_string())
        .bind(id.0.to_vec())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// A device's password hash (None: no such device, or none issued).
pub async fn get(conn: &mut AnyConnection, id: &Id) -> C2Result<Option<String>> {
    let row = sqlx::query("SELECT mqtt_password_hash FROM clients WHERE id = $1")
        .bind(id.0.to_vec())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

/// A device as the broker's access control sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUser {
    /// Password hash, if one was issued.
    pub hash: Option<String>,
    /// The topics it is a member of.
    pub topics: Vec<String>,
}

fn id_of(bytes: Vec<u8>) -> C2Result<Id> {
    Id::from_slice(&bytes).ok_or_else(|| C2Error::internal("stored client id length"))
}

/// Every device with its hash and topics, by id.
pub async fn all(conn: &mut AnyConnection) -> C2Result<BTreeMap<[u8; 16], BrokerUser>> {
    let mut users = BTreeMap::new();
    for r in sqlx::query("SELECT id, mqtt_password_hash FROM clients")
        .fetch_all(&mut *conn)
        .await?
    {
        let id = id_of(r.try_get(0)?)?;
        let hash: Option<String> = r.try_get(1)?;
        users.insert(
            id.0,
            BrokerUser {
                hash,
                topics: Vec::new(),
            },
        );
    }
    for r in sqlx::query("SELECT client_id, topic FROM topic_members ORDER BY topic")
        .fetch_all(conn)
        .await?
    {
        let id = id_of(r.try_get(0)?)?;
        if let Some(u) = users.get_mut(&id.0) {
            u.topics.push(r.try_get(1)?);
        }
    }
    Ok(users)
}
