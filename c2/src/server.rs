//! `e4c2 serve`: wire storage, secrets, broker, outbox worker and both APIs.

use crate::api::{grpc::GrpcApi, rest};
use crate::bootstrap;
use crate::crypto_at_rest::KdfParams;
use crate::datadir::{read_secret, write_private, DataDir, Endpoints};
use crate::db::{redact, Db};
use crate::error::{C2Error, C2Result};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::mqtt::announce;
use crate::mqtt::broker_auth::BrokerAuth;
use crate::mqtt::credentials::{self, C2_USER};
use crate::mqtt::mosquitto_files::MosquittoFiles;
use crate::mqtt::publisher::{self, PublisherConfig, PublisherHandles};
use crate::mqtt::rate_limit::AnnounceLimits;
use crate::mqtt::status::PublisherStatus;
use crate::mqtt::{embedded, BrokerAddr};
use crate::service::Service;
use crate::tls;
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use zeroize::Zeroizing;

/// Everything `serve` needs (no `Debug`: it holds the passphrase).
#[derive(Clone)]
pub struct ServeOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL (default: SQLite in the data directory).
    pub db: Option<String>,
    /// External broker URL (default: embedded broker).
    pub broker: Option<String>,
    /// CA certificate (PEM) for an `mqtts://` broker.
    pub broker_ca: Option<PathBuf>,
    /// Embedded broker address.
    pub mqtt_listen: SocketAddr,
    /// gRPC address.
    pub grpc_listen: SocketAddr,
    /// REST address.
    pub http_listen: SocketAddr,
    /// A separate listener (plain HTTP) serving only `/metrics`, without
    /// a token, for a Prometheus on a private network. Without it
    /// `/metrics` is on the REST listener and needs the admin token.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Passphrase file.
    pub passphrase_file: Option<PathBuf>,
    /// Passphrase given in the environment.
    pub passphrase: Option<Zeroizing<String>>,
    /// Argon2id parameters for a new database.
    pub kdf: KdfParams,
    /// Outbox: unacknowledged publishes at most (None: 20 for an external
    /// broker, mosquitto's default per-client limit; 100 for the embedded one).
    pub window: Option<u16>,
    /// Outbox: longest retry delay.
    pub max_backoff: Duration,
    /// Health says delivery is stalled when commands waited this long and
    /// nothing was acknowledged for as long.
    pub stall_after: Duration,
    /// Crypto provider by name (None: the fastest compiled in).
    pub provider: Option<String>,
    /// Print a newly generated admin token on stdout (it is saved to the
    /// data directory either way).
    pub print_token: bool,
    /// Rate limits of messages on `e4c2/announce/+`.
    pub announce_limits: AnnounceLimits,
    /// Commands per second an automation rule's schedule may queue at most
    /// (checked when a rule is added or enabled).
    pub rule_max_rate: u64,
    /// Keep the topic keys of devices upgraded from the public-key suite
    /// (default: rotate every topic they keep, see docs/negotiation.md).
    pub keep_pubkey_topic_keys: bool,
    /// The embedded broker accepts anyone (default: only the credentials
    /// C2 issued, see docs/negotiation.md, "Broker access control").
    pub allow_anonymous: bool,
    /// Keep a mosquitto password file and ACL file in this directory.
    pub mosquitto: Option<MosquittoFiles>,
}

impl ServeOptions {
    /// A C2 on loopback with ephemeral ports, its embedded broker and
    /// SQLite in `data_dir`, and `passphrase`; every other option at
    /// `serve`'s default. Change fields with struct update syntax.
    pub fn local(data_dir: &std::path::Path, passphrase: &str) -> ServeOptions {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        ServeOptions {
            data_dir: data_dir.to_path_buf(),
            db: None,
            broker: None,
            broker_ca: None,
            mqtt_listen: local,
            grpc_listen: local,
            http_listen: local,
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            passphrase_file: None,
            passphrase: Some(Zeroizing::new(passphrase.to_string())),
            kdf: KdfParams::default(),
            window: None,
            max_backoff: Duration::from_secs(5),
            stall_after: crate::mqtt::status::STALL_AFTER,
            provider: None,
            print_token: false,
            announce_limits: AnnounceLimits::default(),
            rule_max_rate: crate::automation::ops::DEFAULT_MAX_RATE,
            keep_pubkey_topic_keys: false,
            allow_anonymous: false,
            mosquitto: None,
        }
    }
}

/// Resolve the operator passphrase: `--passphrase-file`, `E4C2_PASSPHRASE`,
/// then `<data>/passphrase`; on a new database, generate one there.
pub async fn resolve_passphrase(
    opts_file: Option<&PathBuf>,
    env: Option<&Zeroizing<String>>,
    dir: &DataDir,
    initialized: bool,
) -> C2Result<Zeroizing<String>> {
    if let Some(f) = opts_file {
        return read_secret(f);
    }
    if let Some(p) = env {
        return Ok(p.clone());
    }
    let f = dir.passphrase_file();
    if f.is_file() {
        return read_secret(&f);
    }
    if initialized {
        return Err(C2Error::invalid(
            "this database is encrypted: give its passphrase (--passphrase-file or E4C2_PASSPHRASE)",
        ));
    }
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill(&mut b[..]);
    let p = Zeroizing::new(hex::encode(&b[..]));
    write_private(&f, format!("{}\n", *p).as_bytes())?;
    eprintln!(
        "e4c2: generated the database passphrase in {} (mode 0600); move it to your secret store and pass it with --passphrase-file",
        f.display()
    );
    Ok(p)
}

/// A running server's addresses (for tests and `server.json`) and its
/// service (for in-process callers such as `e4c2 demo`).
#[derive(Clone)]
pub struct Running {
    /// The operations, in process.
    pub service: Arc<Service>,
    /// gRPC.
    pub grpc: SocketAddr,
    /// REST.
    pub http: SocketAddr,
    /// The metrics listener, if any.
    pub metrics: Option<SocketAddr>,
    /// Broker.
    pub broker: BrokerAddr,
}

/// Run until `shutdown` completes.
pub async fn serve(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    started: Option<tokio::sync::oneshot::Sender<Running>>,
) -> C2Result<()> {
    let provider = match &opts.provider {
        None => e4_backends::default_provider(),
        Some(name) => e4_backends::provider_by_name(name)
            .map_err(|e| C2Error::invalid(format!("--provider {name:?}: {e}")))?,
    };
    // The listeners first: a port in use fails the start before anything
    // is created (no half-made data directory, no admin token generated
    // and never shown).
    let grpc_listener = tokio::net::TcpListener::bind(opts.grpc_listen)
        .await
        .map_err(|e| C2Error::Unavailable(format!("gRPC on {}: {e}", opts.grpc_listen)))?;
    let http_listener = std::net::TcpListener::bind(opts.http_listen)
        .map_err(|e| C2Error::Unavailable(format!("HTTP on {}: {e}", opts.http_listen)))?;
    let metrics_listener = match opts.metrics_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| C2Error::Unavailable(format!("metrics on {a}: {e}")))?,
        ),
        None => None,
    };
    if opts.broker.is_none() {
        embedded::check_port(opts.mqtt_listen)?;
    }
    let mut new_dir = NewDirGuard::new(&opts.data_dir);
    let dir = DataDir::open(&opts.data_dir)?;
    let _lock = dir.lock()?;
    if opts.db.is_none() {
        // SQLite creates the database (and its -wal and -shm files, which
        // take the database's mode) readable by everyone: create it 0600.
        dir.create_private(&dir.sqlite_file())?;
    }
    let url = opts.db.clone().unwrap_or_else(|| dir.sqlite_url());
    let db = Db::connect(&url).await?;
    tracing::info!(db = %redact(&url), "database ready");
    let initialized = bootstrap::is_initialized(&db).await?;
    let pass = resolve_passphrase(
        opts.passphrase_file.as_ref(),
        opts.passphrase.as_ref(),
        &dir,
        initialized,
    )
    .await?;
    let master = Arc::new(bootstrap::open_master(&db, pass.as_bytes(), opts.kdf).await?);
    drop(pass);
    tracing::info!(provider = provider.name, suites = ?provider, "crypto provider");
    bootstrap::ensure_public_key_macs(&db, &master).await?;
    bootstrap::ensure_c2_keys(&db, &master, provider).await?;
    let (verifier, new_token) = bootstrap::ensure_admin_token(&db, &dir).await?;
    let tls_files = tls::ensure(
        &dir.tls_dir(),
        opts.tls_cert.as_deref(),
        opts.tls_key.as_deref(),
    )?;
    let (cert_pem, key_pem) = tls::read(&tls_files)?;

    let c2_mqtt_password = credentials::c2_password(&dir)?;
    if let Some(m) = &opts.mosquitto {
        m.write(&db, &c2_mqtt_password).await?;
    }
    let (mut broker, broker_tls) = match &opts.broker {
        Some(url) => {
            let b = BrokerAddr::parse(url)?;
            let tls = if b.tls {
                let ca = match &opts.broker_ca {
                    Some(p) => Some(
                        std::fs::read(p)
                            .map_err(|e| C2Error::invalid(format!("{}: {e}", p.display())))?,
                    ),
                    None => {
                        return Err(C2Error::invalid(
                            "an mqtts:// broker needs --broker-ca (PEM of its CA)",
                        ))
                    }
                };
                Some(Arc::new(tls::client_config(ca.as_deref())?))
            } else {
                None
            };
            (b, tls)
        }
        None => {
            let auth =
                (!opts.allow_anonymous).then(|| BrokerAuth::new(db.clone(), &c2_mqtt_password));
            let a = tokio::task::spawn_blocking({
                let l = opts.mqtt_listen;
                move || embedded::start(l, auth)
            })
            .await
            .map_err(|e| C2Error::internal(e.to_string()))??;
            tracing::info!(addr = %a, "embedded MQTT broker listening");
            (BrokerAddr::plain(&a.ip().to_string(), a.port()), None)
        }
    };
    // C2's own user, unless the broker URL names one.
    if broker.username.is_none() {
        broker.username = Some(C2_USER.to_string());
        broker.password = Some(c2_mqtt_password.to_string());
    }

    let metrics = Arc::new(Metrics::new());
    let notify = Arc::new(Notify::new());
    let status = Arc::new(PublisherStatus::new(opts.stall_after));
    let svc = Arc::new(Service {
        db: db.clone(),
        master: master.clone(),
        provider,
        events: EventBus::new(),
        notify: notify.clone(),
        metrics: metrics.clone(),
        publisher: status.clone(),
        automation: Arc::new(Notify::new()),
        rule_max_rate: opts.rule_max_rate,
        keep_pubkey_topic_keys: opts.keep_pubkey_topic_keys,
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pcfg = PublisherConfig::new(broker.clone());
    pcfg.tls = broker_tls;
    pcfg.window = opts
        .window
        .unwrap_or(if opts.broker.is_some() {
            publisher::DEFAULT_WINDOW
        } else {
            publisher::EMBEDDED_WINDOW
        })
        .max(1);
    pcfg.max_backoff = opts.max_backoff;
    let listener = tokio::spawn(announce::run(
        pcfg.clone(),
        svc.clone(),
        opts.announce_limits,
        stop_rx.clone(),
    ));
    let rechecks = tokio::spawn(crate::delivery::recheck_loop(svc.clone(), stop_rx.clone()));
    let automation = tokio::spawn(crate::automation::engine::run(svc.clone(), stop_rx.clone()));
    let mosquitto = opts.mosquitto.clone().map(|m| {
        tokio::spawn(m.follow(
            db.clone(),
            svc.events.subscribe(),
            c2_mqtt_password.clone(),
            stop_rx.clone(),
        ))
    });
    let worker = tokio::spawn(publisher::run(
        pcfg,
        PublisherHandles {
            db: db.clone(),
            master,
            provider,
            notify,
            metrics,
            status,
        },
        stop_rx.clone(),
    ));

    // gRPC over TLS.
    let grpc_addr = grpc_listener
        .local_addr()
        .map_err(|e| C2Error::internal(e.to_string()))?;
    let identity = tonic::transport::Identity::from_pem(&cert_pem, &key_pem);
    let grpc_server = tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .map_err(|e| C2Error::invalid(format!("TLS for gRPC: {e}")))?
        .add_service(GrpcApi::new(svc.clone(), verifier.clone()).into_server());
    let mut grpc_stop = stop_rx.clone();
    let grpc_task = tokio::spawn(async move {
        // TCP_NODELAY: without it a response's last segment waits for the
        // client's delayed ACK (Nagle), about 40 ms on one call in five.
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            |s| s.and_then(|s| s.set_nodelay(true).map(|_| s)),
        );
        grpc_server
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            })
            .await
    });

    // REST over TLS.
    http_listener
        .set_nonblocking(true)
        .map_err(|e| C2Error::internal(e.to_string()))?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|e| C2Error::internal(e.to_string()))?;
    let rustls_cfg = axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .map_err(|e| C2Error::invalid(format!("TLS for HTTP: {e}")))?;
    let handle = axum_server::Handle::new();
    let app = rest::router(svc.clone(), verifier);
    let http_server = axum_server::from_tcp_rustls(http_listener, rustls_cfg)
        .map_err(|e| C2Error::internal(e.to_string()))?
        .map(|tls| tls.acceptor(axum_server::accept::NoDelayAcceptor::new()))
        .handle(handle.clone());
    let http_task = tokio::spawn(async move { http_server.serve(app.into_make_service()).await });
    let metrics_addr = match metrics_listener {
        Some(l) => {
            let a = l
                .local_addr()
                .map_err(|e| C2Error::internal(e.to_string()))?;
            let app = rest::metrics_router(svc.clone());
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                axum::serve(l, app.into_make_service())
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            });
            tracing::info!(addr = %a, "metrics (no token) listening");
            Some(a)
        }
        None => None,
    };

    dir.write_endpoints(&Endpoints {
        grpc: grpc_addr.to_string(),
        http: http_addr.to_string(),
        // Without credentials: server.json is readable by operator tools.
        mqtt: BrokerAddr {
            username: None,
            password: None,
            ..broker.clone()
        }
        .to_string(),
    })?;
    tracing::info!(grpc = %grpc_addr, http = %http_addr, broker = %broker, "e4c2 serving");
    new_dir.keep();
    // Every listener is up: now the one-time display of a new token.
    if let Some(t) = new_token.filter(|_| opts.print_token) {
        // One write, and no panic if stdout is gone: the token is in the
        // data directory either way.
        let text = Zeroizing::new(format!(
            "e4c2: admin token (shown once; also saved to {} with mode 0600):\n{}\n",
            dir.token_file().display(),
            *t
        ));
        let mut out = std::io::stdout().lock();
        if std::io::Write::write_all(&mut out, text.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut out))
            .is_err()
        {
            tracing::warn!(file = %dir.token_file().display(), "the admin token could not be shown (stdout closed); read it from the file");
        }
    }
    if let Some(tx) = started {
        let _ = tx.send(Running {
            service: svc.clone(),
            grpc: grpc_addr,
            http: http_addr,
            metrics: metrics_addr,
            broker: broker.clone(),
        });
    }

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    handle.graceful_shutdown(Some(Duration::from_secs(5)));
    // Open streams (event subscribers) would hold a graceful gRPC shutdown
    // forever: give in-flight calls 5 s, then close what is left.
    let grpc_abort = grpc_task.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), grpc_task)
        .await
        .is_err()
    {
        tracing::warn!("closing gRPC streams still open after 5 s");
        grpc_abort.abort();
    }
    let _ = http_task.await;
    let _ = worker.await;
    let _ = listener.await;
    let _ = rechecks.await;
    let _ = automation.await;
    if let Some(m) = mosquitto {
        let _ = m.await;
    }
    db.close().await;
    let _ = std::fs::remove_file(dir.endpoints_file());
    Ok(())
}

/// Removes a data directory this start created, unless the start
/// succeeded: a failed first start leaves nothing behind.
struct NewDirGuard(Option<PathBuf>);

impl NewDirGuard {
    fn new(path: &Path) -> NewDirGuard {
        NewDirGuard((!path.exists()).then(|| path.to_path_buf()))
    }
    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for NewDirGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}
