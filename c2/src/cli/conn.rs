//! The admin CLI's gRPC connection (TLS, bearer token).

use crate::api::grpc::pb::c2_client::C2Client;
use crate::cli::args::ConnArgs;
use crate::datadir::{read_secret, DataDir};
use anyhow::{anyhow, Context, Result};
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

/// Connect as described by `c`.
pub async fn connect(c: &ConnArgs) -> Result<Api> {
    let dir = DataDir {
        root: c.data_dir.clone(),
    };
    let url = match &c.server {
        Some(s) => s.clone(),
        None => match dir.read_endpoints() {
            Some(e) => format!("https://{}", e.grpc),
            None => "https://127.0.0.1:5555".to_string(),
        },
    };
    let ca_path = c
        .ca_cert
        .clone()
        .unwrap_or_else(|| dir.tls_dir().join("cert.pem"));
    let ca = std::fs::read(&ca_path)
        .with_context(|| format!("CA certificate {} (use --ca-cert)", ca_path.display()))?;
    let token = match (&c.token_file, std::env::var("E4C2_TOKEN").ok()) {
        (Some(f), _) => read_secret(f).map_err(|e| anyhow!("{e}"))?,
        (None, Some(t)) => zeroize::Zeroizing::new(t),
        (None, None) => read_secret(&dir.token_file())
            .map_err(|e| anyhow!("admin token: {e} (use --token-file or E4C2_TOKEN)"))?,
    };
    let value: MetadataValue<_> = format!("Bearer {}", token.trim())
        .parse()
        .context("the admin token is not a valid header value")?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(c.tls_server_name.clone());
    let channel = Channel::from_shared(url.clone())
        .with_context(|| format!("server URL {url}"))?
        .tls_config(tls)?
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))?;
    Ok(C2Client::with_interceptor(channel, Bearer(value)).max_decoding_message_size(4 << 20))
}
