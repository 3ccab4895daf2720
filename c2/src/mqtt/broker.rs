//! Broker addresses: `mqtt://[user:pass@]host:port` or `mqtts://…`.

use crate::error::{C2Error, C2Result};

/// Where to publish.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS (`mqtts://`).
    pub tls: bool,
    /// Optional credentials.
    pub username: Option<String>,
    /// Optional password.
    pub password: Option<String>,
}

impl std::fmt::Debug for BrokerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.username {
            Some(u) => write!(f, "{scheme}://{u}:***@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl BrokerAddr {
    /// A plain loopback address.
    pub fn plain(host: &str, port: u16) -> BrokerAddr {
        BrokerAddr {
            host: host.to_string(),
            port,
            tls: false,
            username: None,
            password: None,
        }
    }

    /// Parse `mqtt://` or `mqtts://` URLs.
    pub fn parse(url: &str) -> C2Result<BrokerAddr> {
        let bad = |why: &str| C2Error::invalid(format!("broker URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(bad("must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        let (creds, hostport) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (username, password) = match creds {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(c.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (hostport, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(bad("no host"));
        }
        Ok(BrokerAddr {
            host: host.to_string(),
            port,
            tls,
            username,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let a = BrokerAddr::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.tls), ("127.0.0.1", 1884, false));
        let b = BrokerAddr::parse("mqtts://u:p@broker.example:8884/").unwrap();
        assert_eq!(b.username.as_deref(), Some("u"));
        assert_eq!(b.password.as_deref(), Some("p"));
        assert!(b.tls);
        assert!(!format!("{b}").contains(":p@"));
        assert_eq!(BrokerAddr::parse("mqtt://h").unwrap().port, 1883);
        assert!(BrokerAddr::parse("http://h:1").is_err());
        assert!(BrokerAddr::parse("mqtt://h:x").is_err());
        assert!(BrokerAddr::parse("mqtt://").is_err());
    }
}
