//! `e4c2 client add NAME --out FILE`: register a device and write the
//! provisioning file it starts from (`e4 client --provision FILE`).
//!
//! Symmetric devices get the key C2 generates. For the other suites the
//! device's key pairs are generated here, in the admin tool: C2 receives
//! only the public keys, and the secrets exist only in the file (mode
//! 0600, never written over an existing file). If the file cannot be
//! written, the new client is removed again: nothing changes.

use crate::api::grpc::pb;
use crate::cli::conn::{status, Api};
use crate::datadir::DataDir;
use anyhow::{anyhow, bail, Result};
use e4_backends::rng::OsRng;
use e4_client::config::generate_kem_identity;
use e4_client::{BrokerCredentials, Id, Provisioning, SuiteId};
use e4_proto::crypto::Rng;
use e4_proto::Family;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// What `client add --out` registers.
pub struct NewDevice {
    /// Name.
    pub name: String,
    /// Suite name.
    pub suite: String,
    /// Explicit id (raw bytes), or empty.
    pub id: Vec<u8>,
    /// Symmetric key (raw bytes), or empty for a generated one.
    pub key: Zeroizing<Vec<u8>>,
    /// The broker the device should use, if given.
    pub broker: Option<String>,
}

/// The broker address for the file: `--broker`, else the running server's
/// broker from `server.json` (as `HOST:PORT`).
fn broker_for(dir: &Path, given: Option<String>) -> Option<String> {
    given.or_else(|| {
        let e = DataDir {
            root: dir.to_path_buf(),
        }
        .read_endpoints()?;
        let rest = e.mqtt.split_once("://").map_or(e.mqtt.as_str(), |(_, r)| r);
        Some(rest.rsplit_once('@').map_or(rest, |(_, hp)| hp).to_string())
    })
}

/// C2's public key for devices of `suite` (Curve25519 for pubkey, the
/// signature key for the kem suites).
async fn c2_public_key(api: &mut Api, suite: SuiteId) -> Result<Vec<u8>> {
    let m = api
        .get_crypto_mode(pb::Empty {})
        .await
        .map_err(status)?
        .into_inner();
    m.suites
        .into_iter()
        .find(|s| s.suite == suite.name())
        .map(|s| s.c2_public_key)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow!("the server has no C2 key for the {} suite", suite.name()))
}

/// Register the device and write its provisioning file to `out`.
pub async fn add_with_file(
    api: &mut Api,
    data_dir: &Path,
    d: NewDevice,
    out: &PathBuf,
) -> Result<pb::ClientInfo> {
    if out.exists() {
        bail!(
            "{} already exists: not overwriting a provisioning file",
            out.display()
        );
    }
    let provider = e4_backends::default_provider();
    let suite = SuiteId::from_name(&d.suite).map_err(|e| anyhow!("--suite {:?}: {e}", d.suite))?;
    let mut req = pb::NewClientRequest {
        name: d.name.clone(),
        id: d.id,
        suite: d.suite.clone(),
        key: d.key.to_vec(),
        sig_public_key: Vec::new(),
        kem_public_key: Vec::new(),
    };
    // Key pairs of the asymmetric suites, generated here.
    enum Secrets {
        Symmetric,
        PubKey(Zeroizing<[u8; 64]>, Vec<u8>),
        Kem(e4_proto::client::KemIdentity),
    }
    let secrets = match suite.family() {
        Family::E4Symmetric => Secrets::Symmetric,
        Family::E4PublicKey => {
            if !d.key.is_empty() {
                bail!("--key is the symmetric key: a pubkey device's key pair is generated for its provisioning file");
            }
            let c2 = c2_public_key(api, suite).await?;
            let mut sk = Zeroizing::new([0u8; 64]);
            OsRng.fill(&mut sk[..32]);
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(&sk[..32]);
            let public = e4_backends::ed25519::public_from_seed(&seed);
            sk[32..].copy_from_slice(&public);
            req.sig_public_key = public.to_vec();
            Secrets::PubKey(sk, c2)
        }
        Family::Kem => {
            if !d.key.is_empty() {
                bail!("--key is the symmetric key: a {} device's key pairs are generated for its provisioning file", suite.name());
            }
            let c2 = c2_public_key(api, suite).await?;
            let keys = generate_kem_identity(provider, suite, c2)?;
            req.sig_public_key = keys.sig_pk.clone();
            req.kem_public_key = keys.kem_pk.clone();
            Secrets::Kem(keys)
        }
    };
    let r = api.new_client(req).await.map_err(status)?.into_inner();
    let c = r.client.unwrap_or_default();
    let id = Id::from_slice(&c.id)
        .ok_or_else(|| anyhow!("the server returned a malformed client id"))?;
    let file = match &secrets {
        Secrets::Symmetric => {
            let key = Zeroizing::new(if d.key.is_empty() {
                r.key.clone()
            } else {
                d.key.to_vec()
            });
            Provisioning::symmetric(&c.name, &id, &key)
        }
        Secrets::PubKey(sk, c2) => Provisioning::pubkey(&c.name, &id, &sk[..], c2),
        Secrets::Kem(keys) => Provisioning::kem(&c.name, &id, suite, keys),
    }
    .with_broker(broker_for(data_dir, d.broker))
    .with_mqtt_credentials(
        r.mqtt
            .map(|m| BrokerCredentials::new(m.username, m.password)),
    );
    if let Err(e) = file.write_new(out) {
        // Nothing half-done: the device could never get its keys.
        let undo = api
            .remove_client(pb::ClientRef {
                name: c.name.clone(),
                id: Vec::new(),
            })
            .await;
        return Err(match undo {
            Ok(_) => anyhow!("{e}; client {:?} was not kept", c.name),
            Err(u) => anyhow!(
                "{e}; removing client {:?} again failed too ({}): remove it with `e4c2 client remove {}`",
                c.name,
                status(u),
                c.name
            ),
        });
    }
    Ok(c)
}
