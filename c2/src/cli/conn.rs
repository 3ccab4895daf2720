//! The admin CLI's gRPC connection (TLS, bearer token). Errors name where
//! each setting came from, so a wrong data directory or token is obvious.

use crate::api::grpc::pb::c2_client::C2Client;
use crate::cli::args::ConnArgs;
use crate::datadir::{read_secret, DataDir};
use anyhow::{anyhow, Context, Result};
use std::sync::OnceLock;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Request, Status};

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// An authenticated client.
pub type Api = C2Client<InterceptedService<Channel, Bearer>>;

/// Where the admin token of the last connection came from (for the
/// message when the server refuses it).
static TOKEN_SOURCE: OnceLock<String> = OnceLock::new();

/// Where the token used by this process came from, if it connected.
pub fn token_source() -> Option<&'static str> {
    TOKEN_SOURCE.get().map(String::as_str)
}

/// A gRPC error as the admin CLI shows it: the server's message once, and
/// for a refused token, which token was used.
pub fn status(e: Status) -> anyhow::Error {
    match e.code() {
        tonic::Code::Unauthenticated => anyhow!(
            "the server refused the admin token from {} (give the right one with --token-file, E4C2_TOKEN or --data-dir)",
            token_source().unwrap_or("this command")
        ),
        tonic::Code::Unavailable | tonic::Code::Unknown if e.message().is_empty() => {
            anyhow!("the server is unavailable ({:?})", e.code())
        }
        _ if e.message().is_empty() => anyhow!("{:?}", e.code()),
        _ => anyhow!("{}", e.message()),
    }
}

/// The messages of an error and its causes, each once: transport errors
/// repeat their cause ("tcp connect error: tcp connect error: …").
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let m = err.to_string();
        let m = m.trim();
        if !m.is_empty() && !parts.iter().any(|p| p.contains(m)) {
            parts.push(m.to_string());
        }
        cur = err.source();
    }
    // Keep the most specific messages: drop one that a later one contains.
    let mut out: Vec<&String> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if !parts[i + 1..].iter().any(|q| q.contains(p.as_str())) {
            out.push(p);
        }
    }
    out.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Connect as described by `c`.
pub async fn connect(c: &ConnArgs) -> Result<Api> {
    let dir = DataDir {
        root: c.data_dir.clone(),
    };
    let (url, from) = match &c.server {
        Some(s) => (s.clone(), "--server or E4C2_SERVER".to_string()),
        None => match dir.read_endpoints() {
            Some(e) => (
                format!("https://{}", e.grpc),
                dir.root.join("server.json").display().to_string(),
            ),
            None => (
                "https://127.0.0.1:5555".to_string(),
                format!(
                    "the default: no server.json in the data directory {}",
                    dir.root.display()
                ),
            ),
        },
    };
    let ca_path = c
        .ca_cert
        .clone()
        .unwrap_or_else(|| dir.tls_dir().join("cert.pem"));
    let ca = std::fs::read(&ca_path).map_err(|e| {
        anyhow!(
            "cannot read the server's CA certificate {}: {e} (is {} the server's data directory? use --data-dir, or --ca-cert)",
            ca_path.display(),
            dir.root.display()
        )
    })?;
    let (token, source) = match (&c.token_file, std::env::var("E4C2_TOKEN").ok()) {
        (Some(f), _) => (
            read_secret(f).map_err(|e| anyhow!("admin token: {e}"))?,
            format!("--token-file {}", f.display()),
        ),
        (None, Some(t)) => (zeroize::Zeroizing::new(t), "E4C2_TOKEN".to_string()),
        (None, None) => {
            let f = dir.token_file();
            (
                read_secret(&f).map_err(|e| {
                    anyhow!("admin token: {e} (use --data-dir, --token-file or E4C2_TOKEN)")
                })?,
                f.display().to_string(),
            )
        }
    };
    let _ = TOKEN_SOURCE.set(source);
    let value: MetadataValue<_> = format!("Bearer {}", token.trim())
        .parse()
        .context("the admin token is not a valid header value")?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(c.tls_server_name.clone());
    let channel = Channel::from_shared(url.clone())
        .map_err(|e| anyhow!("server URL {url} (from {from}): {e}"))?
        .tls_config(tls)
        .map_err(|e| anyhow!("TLS configuration: {}", causes(&e)))?
        .connect()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot reach the C2 server at {url} (address from {from}): {}; is `e4c2 serve` running with data directory {}? (--data-dir, --server)",
                causes(&e),
                dir.root.display()
            )
        })?;
    Ok(C2Client::with_interceptor(channel, Bearer(value)).max_decoding_message_size(4 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn causes_are_shown_once() {
        let e = E(
            "transport error",
            Some(Box::new(E(
                "tcp connect error",
                Some(Box::new(E(
                    "tcp connect error",
                    Some(Box::new(E("Connection refused (os error 111)", None))),
                ))),
            ))),
        );
        assert_eq!(
            causes(&e),
            "transport error: tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn refused_token_names_no_code() {
        let m = status(Status::not_found("client \"x\" not found")).to_string();
        assert_eq!(m, "client \"x\" not found");
        let m = status(Status::unauthenticated("missing or wrong admin token")).to_string();
        assert!(
            m.starts_with("the server refused the admin token from "),
            "{m}"
        );
    }
}
