//! A minimal HTTPS client (hyper + tokio-rustls) trusting the C2's CA.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

pub struct Rest {
    addr: SocketAddr,
    tls: TlsConnector,
    pub token: Option<String>,
}

pub type Body = hyper::body::Incoming;

impl Rest {
    pub fn new(addr: SocketAddr, ca: Vec<u8>, token: Option<String>) -> Rest {
        let cfg = e4_c2::tls::client_config(Some(&ca)).unwrap();
        Rest {
            addr,
            tls: TlsConnector::from(Arc::new(cfg)),
            token,
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Rest {
        Rest {
            addr: self.addr,
            tls: self.tls.clone(),
            token: token.map(str::to_string),
        }
    }

    /// Send a request; returns the status and the response.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> hyper::Response<Body> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.tls.connect(name, tcp).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        sender.send_request(req).await.unwrap()
    }

    /// JSON request, JSON (or empty) response.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let resp = self
            .raw(
                method,
                path,
                body.map(|b| serde_json::to_vec(&b).unwrap()),
                Some("application/json"),
            )
            .await;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v)
    }

    pub async fn text(&self, path: &str) -> (u16, String) {
        let resp = self.raw("GET", path, None, None).await;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into())
    }
}

/// Read server-sent events until `pred` accepts one; returns its data.
pub async fn next_sse(body: &mut Body, buf: &mut String, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<Value>(d.trim()) {
                        if pred(&v) {
                            return v;
                        }
                    }
                }
            }
        }
        let frame = body.frame().await.expect("stream ended").unwrap();
        if let Ok(d) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&d));
        }
    }
}
