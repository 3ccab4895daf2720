//! The `e4c2` command line.

pub mod admin;
pub mod args;
pub mod conn;
pub mod logging;
pub mod offline;
pub mod provision;
pub mod rules;
pub mod table;

use crate::crypto_at_rest::KdfParams;
use crate::mqtt::mosquitto_files::MosquittoFiles;
use crate::mqtt::rate_limit::AnnounceLimits;
use crate::server::{serve, ServeOptions};
use anyhow::{anyhow, Result};
use args::{Cli, Cmd};
pub use logging::init_logging;
use std::time::Duration;
use zeroize::Zeroizing;

/// SIGINT or SIGTERM. The handlers are installed now, not when the future
/// is first polled: a signal that arrives while the server is starting
/// still shuts it down cleanly instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let int = async {
            match int.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let g = &cli.conn;
    match cli.cmd {
        Cmd::Serve(a) => {
            let opts = ServeOptions {
                data_dir: g.data_dir.clone(),
                db: a.db,
                broker: a.broker,
                broker_ca: a.broker_ca,
                mqtt_listen: a.mqtt_listen,
                grpc_listen: a.grpc_listen,
                http_listen: a.http_listen,
                metrics_listen: a.metrics_listen,
                tls_cert: a.tls_cert,
                tls_key: a.tls_key,
                passphrase_file: a.passphrase_file,
                passphrase: std::env::var("E4C2_PASSPHRASE").ok().map(Zeroizing::new),
                kdf: KdfParams {
                    m_kib: a.kdf_memory_kib,
                    ..KdfParams::default()
                },
                window: a.publish_window,
                max_backoff: Duration::from_millis(a.max_backoff_ms.max(100)),
                stall_after: Duration::from_secs(a.stall_after.max(1)),
                provider: a.provider,
                print_token: true,
                announce_limits: AnnounceLimits {
                    device_rate: a.announce_rate,
                    device_burst: a.announce_burst,
                    global_rate: a.announce_global_rate,
                },
                rule_max_rate: a.rule_max_rate,
                keep_pubkey_topic_keys: a.keep_pubkey_topic_keys,
                allow_anonymous: a.allow_anonymous,
                mosquitto: a.mosquitto_dir.map(|dir| MosquittoFiles {
                    dir,
                    pid_file: a.mosquitto_pid_file,
                }),
            };
            serve(opts, shutdown_signal(), None)
                .await
                .map_err(|e| anyhow!("{e}"))
        }
        Cmd::Demo => crate::demo::run().await,
        Cmd::Passphrase(mut a) => {
            a.data_dir = g.data_dir.clone();
            offline::change_passphrase(a).await
        }
        Cmd::RotateToken(mut a) => {
            a.data_dir = g.data_dir.clone();
            offline::rotate_token(a).await
        }
        Cmd::Client(c) => admin::client(g, c).await,
        Cmd::Topic(c) => admin::topic(g, c).await,
        Cmd::C2(c) => admin::c2(g, c).await,
        Cmd::Rule(c) => rules::rule(g, c).await,
        Cmd::Protect {
            conn,
            topic,
            payload,
        } => admin::protect(g, conn, topic, payload).await,
        Cmd::Unprotect {
            conn,
            topic,
            protected,
        } => admin::unprotect(g, conn, topic, protected).await,
        Cmd::Events { conn } => admin::events(g, conn).await,
        Cmd::Health { conn, wait } => admin::health(g, conn, wait).await,
        Cmd::Policy(a) => admin::policy(g, a).await,
        Cmd::ClientPolicy {
            conn,
            client,
            allowed,
            clear,
        } => admin::client_policy(g, conn, client, allowed, clear).await,
    }
}
