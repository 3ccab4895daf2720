//! The embedded broker's authentication: every CONNECT carries a user name
//! and password that C2 issued (a device's, or C2's own), and a client id
//! bound to that user (see [`super::credentials`]). rumqttd 0.20 has no
//! per-topic ACLs: topic rules need mosquitto (see [`super::mosquitto_files`]).

use super::credentials::{client_id_allowed, device_of_user, C2_USER};
use super::password_hash;
use crate::db::{mqtt_credentials, Db};
use std::sync::Arc;

/// Checks CONNECTs against the database (rumqttd calls it from its own
/// runtime; the lookup runs on C2's).
#[derive(Clone)]
pub struct BrokerAuth(Arc<Inner>);

struct Inner {
    db: Db,
    c2_hash: String,
    rt: tokio::runtime::Handle,
}

impl BrokerAuth {
    /// Devices from `db`; C2's own user with `c2_password`. Call within
    /// C2's runtime.
    pub fn new(db: Db, c2_password: &str) -> BrokerAuth {
        BrokerAuth(Arc::new(Inner {
            db,
            c2_hash: password_hash::hash(c2_password),
            rt: tokio::runtime::Handle::current(),
        }))
    }

    /// Whether this CONNECT may go on.
    pub async fn check(&self, client_id: String, user: String, password: String) -> bool {
        let ok = self.verify(&client_id, &user, password).await;
        if !ok {
            tracing::warn!(client_id = %client_id, user = %user, "MQTT connection refused: unknown user, wrong password or a client id not bound to the user");
        }
        ok
    }

    async fn verify(&self, client_id: &str, user: &str, password: String) -> bool {
        if !client_id_allowed(user, client_id) {
            return false;
        }
        let stored = if user == C2_USER {
            self.0.c2_hash.clone()
        } else {
            let Some(id) = device_of_user(user) else {
                return false;
            };
            let db = self.0.db.clone();
            let lookup = self.0.rt.spawn(async move {
                let mut c = db.read().await?;
                mqtt_credentials::get(&mut c, &id).await
            });
            match lookup.await {
                Ok(Ok(Some(h))) => h,
                Ok(Ok(None)) => return false,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "MQTT password lookup failed");
                    return false;
                }
                Err(_) => return false,
            }
        };
        password_hash::verify(&stored, password.as_bytes()).unwrap_or(false)
    }
}
