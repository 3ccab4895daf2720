//! The embedded broker (rumqttd) for zero-setup deployments: MQTT 3.1.1 on a
//! loopback port, in memory. rumqttd has no shutdown: it lives as long as
//! the process.

use super::broker_auth::BrokerAuth;
use crate::error::{C2Error, C2Result};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Fail when the embedded broker's port is taken (port 0: any free port).
pub fn check_port(listen: SocketAddr) -> C2Result<()> {
    TcpListener::bind(listen)
        .map(drop)
        .map_err(|e| C2Error::Unavailable(format!("embedded broker on {listen}: {e}")))
}

/// Start rumqttd on `listen` (port 0 picks a free port) and wait until it
/// accepts connections; returns the bound address. With `auth`, every
/// CONNECT must carry credentials it accepts; without it (`serve
/// --allow-anonymous`), anyone may connect: rumqttd cannot tell an
/// anonymous CONNECT to an auth handler, so anonymous access turns
/// authentication off altogether.
pub fn start(listen: SocketAddr, auth: Option<BrokerAuth>) -> C2Result<SocketAddr> {
    let listen = if listen.port() == 0 {
        let l = TcpListener::bind(listen)
            .map_err(|e| C2Error::Unavailable(format!("embedded broker port: {e}")))?;
        let a = l
            .local_addr()
            .map_err(|e| C2Error::internal(e.to_string()))?;
        drop(l);
        a
    } else {
        listen
    };
    // Fail early and clearly when the port is taken (rumqttd would only log).
    check_port(listen)?;
    let mut server = rumqttd::ServerSettings {
        name: "e4c2-embedded".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    if let Some(auth) = auth {
        server.set_auth_handler(move |client_id, user, password| {
            let auth = auth.clone();
            async move { auth.check(client_id, user, password).await }
        });
    }
    let mut v4 = HashMap::new();
    v4.insert("c2".to_string(), server);
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 100_000,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| C2Error::internal(format!("embedded broker thread: {e}")))?;
    for _ in 0..500 {
        if TcpStream::connect_timeout(&listen, Duration::from_millis(100)).is_ok() {
            return Ok(listen);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(C2Error::Unavailable(format!(
        "embedded broker did not start listening on {listen}"
    )))
}
