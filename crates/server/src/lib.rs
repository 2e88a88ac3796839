//! The confab call service: what a bot author runs, and what browsers and bots connect to.
//!
//! This crate owns the `confab` binary and the service's wiring: configuration
//! ([`ServerConfig`]: defaults, JSON file, environment, flags), the secrets kept in the data
//! directory ([`Secrets`]), the HTTP API (identities, tokens, calls, `/healthz`, Prometheus
//! `/metrics`), the signaling WebSocket (`/ws`) driving a [`Switchboard`] task, the media
//! plane (a dedicated thread with every peer on one UDP port and every room's mixer: each
//! participant receives one mixed audio stream, without themself), and graceful shutdown
//! that ends every call with a reason. SFU video forwarding and the browser client page come
//! next (issue 6).
//!
//! ```no_run
//! # async fn run() -> Result<(), confab_server::ServerError> {
//! let server = confab_server::start(confab_server::ServerConfig::default()).await?;
//! println!("listening on http://{}", server.http_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! [`Switchboard`]: confab_signaling::Switchboard

mod cluster;
mod config;
pub mod demo;
mod echo_service;
mod http;

/// Hooks for the fuzz targets in `fuzz/`; not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, Response};
    use confab_signaling::TokenKey;
    use tower::ServiceExt as _;

    use crate::config::Limits;
    use crate::http::{self, AppState, ClientAddr, EdgeLimits};
    use crate::metrics::Metrics;

    /// The service's HTTP router with default limits, guests allowed and the admin key
    /// `admin`, and no signaling task behind it (requests that need one get 503).
    pub fn router(admin: &str) -> axum::Router {
        let (signaling, _) = tokio::sync::mpsc::channel(1);
        http::router(AppState {
            signaling,
            metrics: Arc::new(Metrics::default()),
            token_key: TokenKey::from_secret(&[7; 32]).unwrap_or_else(|_| unreachable!()),
            admin_key: Arc::from(admin),
            next_connection: Arc::new(AtomicU64::new(1)),
            guests: true,
            limits: Arc::new(EdgeLimits::new(&Limits::default())),
            cluster: None,
        })
    }

    /// One request through `router`, as if from 127.0.0.1.
    pub async fn call(router: axum::Router, mut request: Request<Body>) -> Response<Body> {
        request
            .extensions_mut()
            .insert(ConnectInfo(ClientAddr(([127, 0, 0, 1], 40_000).into())));
        match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}
mod keys;
mod media;
mod metrics;
mod signaling_service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use confab_signaling::{Switchboard, SwitchboardConfig, TokenKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use cluster::ClusterError;
pub use config::{ClusterConfig, ConfigError, Limits, ServerConfig};
pub use http::tls::TlsError;
pub use keys::{Secrets, SecretsError};
pub use media::ParticipantMedia;
pub use metrics::{LatencyHistogram, Metrics, TICK_BUCKETS_MICROS};

/// The service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The secrets could not be loaded or created.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The SIP gateway could not start.
    #[error(transparent)]
    Sip(#[from] confab_sip::GatewayError),
    /// The node could not join its cluster (`--redis`).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A running service.
#[derive(Debug)]
pub struct ServerHandle {
    scheme: &'static str,
    http_addr: SocketAddr,
    media_addr: SocketAddr,
    token_key: TokenKey,
    admin_key: String,
    metrics: Arc<Metrics>,
    signaling: mpsc::Sender<signaling_service::SignalingCommand>,
    stop_http: Option<oneshot::Sender<()>>,
    echo: Option<JoinHandle<()>>,
    sip: Option<confab_sip::SipGateway>,
    http: JoinHandle<()>,
    switchboard: JoinHandle<()>,
    /// Stops the cluster heartbeat (the node then leaves the cluster), when in one.
    leave_cluster: Option<oneshot::Sender<oneshot::Sender<()>>>,
    node_id: Option<String>,
}

impl ServerHandle {
    /// Where HTTP and the WebSocket listen.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The page's address: `http://` or, with a certificate, `https://` and the HTTP address.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.http_addr)
    }

    /// The shared media UDP port's advertised address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// The key tokens are signed with (for in-process bots and tests).
    pub fn token_key(&self) -> &TokenKey {
        &self.token_key
    }

    /// The admin API's bearer key.
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// The service's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where the SIP gateway listens (UDP), when it runs.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip.as_ref().map(confab_sip::SipGateway::local_addr)
    }

    /// This node's name in its cluster (`None` when not in one).
    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    /// Ends every call with the server-shutdown reason, closes connections and stops; a node
    /// in a cluster first leaves it (no new calls are placed here).
    pub async fn shutdown(mut self) {
        if let Some(leave) = self.leave_cluster.take() {
            let (done, left) = oneshot::channel();
            if leave.send(done).is_ok() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), left).await;
            }
        }
        if let Some(echo) = self.echo.take() {
            echo.abort();
        }
        let (tx, rx) = oneshot::channel();
        if self
            .signaling
            .send(signaling_service::SignalingCommand::Shutdown(tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.switchboard).await;
        if let Some(sip) = self.sip.take() {
            // Every call ended: give the phones' BYEs a moment to leave.
            let metrics = sip.metrics();
            for _ in 0..20 {
                if metrics.legs.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            sip.stop().await;
        }
        let _ = (&mut self.http).await;
    }
}

/// Starts the service on the current tokio runtime.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    config.validate()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls::acceptor(cert, key)?),
        _ => None,
    };
    let redis = match &config.cluster.redis {
        Some(url) => Some(cluster::redis_client(url, &config.cluster)?),
        None => None,
    };
    let node_tls = cluster::node_tls(&config.cluster)?;
    let (store, secrets) = match (&redis, &config.cluster.redis) {
        (Some(client), Some(url)) => {
            let (store, secrets) = cluster::join(client.clone(), url, &config.data_dir).await?;
            (Some(store), secrets)
        }
        _ => (None, Secrets::load_or_create(&config.data_dir)?),
    };
    let token_key = secrets.token_key()?;
    let metrics = Arc::new(Metrics::default());
    let (signaling, commands) = mpsc::channel(4096);
    let (media_replies, media_inbox) = mpsc::channel(4096);
    let media = media::MediaPlane::start(
        config.media_udp,
        config.public_ip,
        media_replies,
        metrics.clone(),
        // Browsers pick AES-CM when it is offered at all (decision 0002): GCM only, unless
        // the operator keeps AES-CM for old peers.
        if config.srtp_aes_cm {
            confab_transport::peer::SrtpPolicy::PreferGcm
        } else {
            confab_transport::peer::SrtpPolicy::GcmOnly
        },
    )
    .map_err(|source| ServerError::Bind {
        addr: config.media_udp,
        source,
    })?;
    let media_addr = media.local_addr;
    let (sip, phones) = if config.sip.udp.is_some() {
        let (requests_tx, requests) = mpsc::channel(1024);
        let (commands_tx, phone_commands) = mpsc::channel(1024);
        let gateway = confab_sip::start(config.sip.clone(), requests_tx, phone_commands).await?;
        let _ = metrics.sip.set(gateway.metrics());
        let link = signaling_service::PhoneLink {
            requests,
            commands: commands_tx,
        };
        (Some(gateway), Some(link))
    } else {
        (None, None)
    };
    let switchboard = Switchboard::new(
        SwitchboardConfig {
            ring_timeout: std::time::Duration::from_secs(config.ring_timeout_secs.max(1)),
            max_sessions_per_user: config.limits.sessions_per_user,
            hello_timeout: std::time::Duration::from_secs(config.limits.hello_secs.max(1)),
            // In a cluster, a called person's devices on other nodes are brought here to ring.
            device_wait: config
                .cluster
                .redis
                .as_ref()
                .map(|_| std::time::Duration::from_secs(3)),
            ..SwitchboardConfig::default()
        },
        token_key.clone(),
    );
    let switchboard = tokio::spawn(signaling_service::run(
        switchboard,
        commands,
        media,
        media_inbox,
        metrics.clone(),
        phones,
    ));

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.http,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.http,
        source,
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let cluster = store.map(|store| {
        let id =
            config.cluster.node_id.clone().unwrap_or_else(|| {
                format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            });
        let url = config.cluster.advertise_url.clone().unwrap_or_else(|| {
            let addr = if http_addr.ip().is_unspecified() {
                SocketAddr::new(
                    config
                        .public_ip
                        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
                    http_addr.port(),
                )
            } else {
                http_addr
            };
            format!("{scheme}://{addr}")
        });
        Arc::new(cluster::Cluster::new(
            id,
            url,
            cluster::heartbeat_unix_ms(),
            store,
            metrics.clone(),
            node_tls,
        ))
    });
    let state = http::AppState {
        signaling: signaling.clone(),
        metrics: metrics.clone(),
        token_key: token_key.clone(),
        admin_key: Arc::from(secrets.admin_key.as_str()),
        next_connection: Arc::new(AtomicU64::new(1)),
        guests: config.guests_allowed(),
        limits: Arc::new(http::EdgeLimits::new(&config.limits)),
        cluster: cluster.clone(),
    };
    let (stop_http, stopped) = oneshot::channel::<()>();
    let header_read = std::time::Duration::from_secs(config.limits.header_read_secs.max(1));
    let gate = http::gate::ConnectionGate::new(
        http::gate::connection_budget(config.limits.max_connections),
        config.limits.connections_per_address.max(1),
        cluster.as_ref().map(|c| c.peer_addresses.clone()),
        metrics.clone(),
    );
    let app = http::router(state);
    let internal_app = app.clone();
    let http = match tls {
        Some(acceptor) => {
            let listener =
                http::tls::TlsListener::new(listener, acceptor, gate).map_err(|source| {
                    ServerError::Bind {
                        addr: config.http,
                        source,
                    }
                })?;
            tokio::spawn(http::serve_until(
                listener,
                app,
                header_read,
                metrics.clone(),
                stopped,
            ))
        }
        None => tokio::spawn(http::serve_until(
            http::PlainListener::new(listener, Some(gate)),
            app,
            header_read,
            metrics.clone(),
            stopped,
        )),
    };
    // In-process bots (the echo test) reach signaling over plain WebSocket on loopback:
    // the HTTP port itself, or with TLS on, a loopback-only plain listener of their own.
    let echo = if config.echo_service {
        let internal = if scheme == "https" {
            let internal = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.http,
                    source,
                })?;
            let addr = internal.local_addr().map_err(|source| ServerError::Bind {
                addr: config.http,
                source,
            })?;
            // Never stopped: it ends with the runtime.
            let (keep, never) = oneshot::channel::<()>();
            let serve = http::serve_until(
                http::PlainListener::new(internal, None),
                internal_app,
                header_read,
                metrics.clone(),
                never,
            );
            tokio::spawn(async move {
                let _keep = keep;
                serve.await;
            });
            addr
        } else if http_addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), http_addr.port())
        } else {
            http_addr
        };
        let (ready, signed_in) = oneshot::channel();
        let echo = tokio::spawn(echo_service::host(
            format!("http://{internal}"),
            token_key.clone(),
            ready,
        ));
        // The service is up when its echo test answers (bounded: a broken echo test must
        // not keep the service from starting).
        if tokio::time::timeout(std::time::Duration::from_secs(5), signed_in)
            .await
            .is_err()
        {
            tracing::warn!("the echo test service did not sign in within 5 s");
        }
        Some(echo)
    } else {
        None
    };
    let leave_cluster = match &cluster {
        Some(cluster) => {
            let (leave, stop) = oneshot::channel();
            cluster::spawn_heartbeat(cluster.clone(), signaling.clone(), metrics.clone(), stop)
                .await;
            if let Some(redis) = redis {
                cluster::spawn_ring_listener(cluster.clone(), redis);
            }
            tracing::info!(node = %cluster.id, url = %cluster.url, "joined the cluster");
            Some(leave)
        }
        None => None,
    };
    tracing::info!(url = %format!("{scheme}://{http_addr}/"), %media_addr, data_dir = %config.data_dir.display(), "confab is serving");
    Ok(ServerHandle {
        scheme,
        http_addr,
        media_addr,
        token_key,
        admin_key: secrets.admin_key.clone(),
        metrics,
        signaling,
        stop_http: Some(stop_http),
        echo,
        sip,
        http,
        switchboard,
        leave_cluster,
        node_id: cluster.as_ref().map(|c| c.id.clone()),
    })
}
