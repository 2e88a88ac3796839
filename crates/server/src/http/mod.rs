//! The HTTP side: the administrative API, health, metrics and the signaling WebSocket.

mod api;
pub(crate) mod gate;
mod limits;
mod listener;
mod serve;
pub(crate) mod tls;
mod web;
mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use std::net::IpAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use confab_signaling::{Identity, TokenKey};
use tokio::sync::mpsc;

use self::limits::KeyedLimiter;
pub(crate) use self::listener::{ClientAddr, PlainListener};
pub(crate) use self::serve::serve_until;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::signaling_service::SignalingCommand;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) signaling: mpsc::Sender<SignalingCommand>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token_key: TokenKey,
    pub(crate) admin_key: Arc<str>,
    pub(crate) next_connection: Arc<AtomicU64>,
    pub(crate) guests: bool,
    pub(crate) limits: Arc<EdgeLimits>,
    /// The node's cluster, when it is in one.
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// The HTTP edge's abuse limits (see [`Limits`]).
#[derive(Debug)]
pub(crate) struct EdgeLimits {
    guests: KeyedLimiter<IpAddr>,
    ws_connects: KeyedLimiter<IpAddr>,
    admin_failures: KeyedLimiter<IpAddr>,
    tokens: KeyedLimiter<Identity>,
    max_body_bytes: usize,
    /// How often signaling sockets are pinged, and how long one may stay silent.
    ws_ping: Duration,
    ws_dead: Duration,
}

impl EdgeLimits {
    pub(crate) fn new(limits: &Limits) -> Self {
        EdgeLimits {
            guests: KeyedLimiter::per_minute(limits.guest_burst, limits.guests_per_minute),
            ws_connects: KeyedLimiter::per_second(
                limits.ws_connect_burst,
                limits.ws_connects_per_second,
            ),
            admin_failures: KeyedLimiter::per_minute(
                limits.admin_failure_burst,
                limits.admin_failures_per_minute,
            ),
            tokens: KeyedLimiter::per_minute(limits.token_burst, limits.tokens_per_minute),
            max_body_bytes: limits.max_body_bytes,
            ws_ping: Duration::from_secs(limits.ws_ping_secs.max(1)),
            ws_dead: Duration::from_secs(limits.ws_dead_secs.max(2)),
        }
    }
}

/// All routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/app.js", get(web::app))
        .route("/favicon.svg", get(web::icon))
        .route("/favicon.ico", get(web::icon))
        .route("/v1/guest", post(api::guest))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/ws", get(ws::upgrade))
        .route("/v1/identities", post(api::create_identity))
        .route("/v1/tokens", post(api::issue_token))
        .route("/v1/calls", get(api::list_calls))
        .route("/v1/nodes", get(api::list_nodes))
        .route("/v1/cluster", get(api::cluster_nodes))
        .route("/v1/calls/{id}", get(api::get_call).delete(api::end_call))
        .route("/v1/calls/{id}/media", get(api::call_media))
        .route("/v1/calls/{id}/participants", post(api::add_participant))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}
