//! Connection settings: broker address, TLS, topic policy, reconnection.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::QoS;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::MqttError;
use crate::policy::TopicPolicy;

/// TLS to the broker (rustls on ring): the CA certificates to trust and,
/// optionally, a client certificate.
#[derive(Clone)]
pub struct TlsConfig {
    ca_pem: Vec<u8>,
    client_auth: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_auth", &self.client_auth.is_some())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

impl TlsConfig {
    /// Trust the PEM certificates in `ca_pem`.
    pub fn new(ca_pem: Vec<u8>) -> TlsConfig {
        TlsConfig {
            ca_pem,
            client_auth: None,
        }
    }

    /// Trust the PEM certificates in the file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsConfig, MqttError> {
        Ok(TlsConfig::new(read(path.as_ref())?))
    }

    /// Authenticate to the broker with a PEM certificate chain and key.
    pub fn with_client_auth(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> TlsConfig {
        self.client_auth = Some((cert_pem, Zeroizing::new(key_pem)));
        self
    }

    pub(crate) fn rustls(&self) -> Result<Arc<rustls::ClientConfig>, MqttError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| MqttError::Tls(format!("{what}: {e}"));
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.ca_pem) {
            let cert = cert.map_err(|e| bad("CA certificate", &e))?;
            roots.add(cert).map_err(|e| bad("CA certificate", &e))?;
        }
        if roots.is_empty() {
            return Err(MqttError::Tls("no CA certificate found".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?
            .with_root_certificates(roots);
        let config = match &self.client_auth {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let certs = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("client certificate", &e))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("client key", &e))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| bad("client certificate", &e))?
            }
        };
        Ok(Arc::new(config))
    }
}

/// How to reach the broker and how to behave there.
#[derive(Clone)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id; default `e4-<hex E4 id>`.
    pub client_id: Option<String>,
    /// TLS, or None for plain TCP.
    pub tls: Option<TlsConfig>,
    /// User name and password for the broker (default: those saved in the
    /// client's state, see [`crate::Client::broker_credentials`]).
    pub credentials: Option<(String, Zeroizing<String>)>,
    /// QoS of application subscriptions and publishes (the control topic is
    /// always subscribed with QoS 2).
    pub qos: QoS,
    /// Cleartext opt-ins (strict by default).
    pub policy: TopicPolicy,
    /// MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// First delay before reconnecting; doubled after each failure.
    pub reconnect_delay: Duration,
    /// Longest delay between reconnection attempts.
    pub max_reconnect_delay: Duration,
    /// Largest MQTT packet sent or accepted (post-quantum signatures are
    /// kilobytes long).
    pub max_packet_size: usize,
    /// Events buffered before the connection task waits for the
    /// application to take them.
    pub event_capacity: usize,
    /// Suite negotiation (when the client has capabilities to offer): how
    /// long to wait for C2's SetSuite before announcing again, or for the
    /// first command under the new suite before re-sending the Confirm.
    /// Doubled after each retry, up to [`MqttConfig::max_negotiation_retry`].
    pub negotiation_retry: Duration,
    /// Longest delay between negotiation retries.
    pub max_negotiation_retry: Duration,
    /// Start a new MQTT session on every connection (default false: the
    /// session is persistent, under a client id derived from the device id,
    /// so the broker keeps the control-topic subscription and queues C2's
    /// commands while the device is away, if it keeps sessions).
    pub clean_session: bool,
    /// Send state reports to C2 (default true): after every connection,
    /// after applying commands, and every [`MqttConfig::report_interval`].
    /// C2 answers with the commands the device missed.
    pub state_reports: bool,
    /// How long to wait after connecting, or after the last command, before
    /// reporting (commands the broker queued arrive first).
    pub report_delay: Duration,
    /// Report at least this often (zero: only on connection and commands).
    pub report_interval: Duration,
}

/// The broker password is never printed.
impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("qos", &self.qos)
            .field("policy", &self.policy)
            .field("keep_alive", &self.keep_alive)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("max_reconnect_delay", &self.max_reconnect_delay)
            .field("max_packet_size", &self.max_packet_size)
            .field("event_capacity", &self.event_capacity)
            .field("negotiation_retry", &self.negotiation_retry)
            .field("max_negotiation_retry", &self.max_negotiation_retry)
            .field("clean_session", &self.clean_session)
            .field("state_reports", &self.state_reports)
            .field("report_delay", &self.report_delay)
            .field("report_interval", &self.report_interval)
            .finish()
    }
}

impl MqttConfig {
    /// Plain TCP to `host:port`, strict policy, QoS 1.
    pub fn new(host: impl Into<String>, port: u16) -> MqttConfig {
        MqttConfig {
            host: host.into(),
            port,
            client_id: None,
            tls: None,
            credentials: None,
            qos: QoS::AtLeastOnce,
            policy: TopicPolicy::strict(),
            keep_alive: Duration::from_secs(30),
            reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_secs(5),
            max_packet_size: 1 << 20,
            event_capacity: 1024,
            negotiation_retry: Duration::from_secs(30),
            max_negotiation_retry: Duration::from_secs(3600),
            clean_session: false,
            state_reports: true,
            report_delay: Duration::from_secs(1),
            report_interval: Duration::from_secs(3600),
        }
    }

    /// Parse `HOST:PORT` (IPv6 addresses in brackets: `[::1]:1883`).
    pub fn from_address(address: &str) -> Result<MqttConfig, MqttError> {
        let bad = || MqttError::InvalidBroker(address.to_owned());
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(MqttConfig::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        let c = MqttConfig::from_address("localhost:1883").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("localhost", 1883));
        let c = MqttConfig::from_address("[::1]:8883").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 8883));
        for bad in ["localhost", ":1883", "host:0", "host:99999", "host:x"] {
            assert!(matches!(
                MqttConfig::from_address(bad),
                Err(MqttError::InvalidBroker(_))
            ));
        }
    }

    #[test]
    fn tls_without_ca_is_refused() {
        let e = TlsConfig::new(b"not a certificate".to_vec()).rustls();
        assert!(matches!(e, Err(MqttError::Tls(_))));
    }
}
