//! The HTTP side: the administrative API, health, metrics and the signaling WebSocket.

mod api;
pub(crate) mod tls;
mod web;
mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::routing::{get, post};
use confab_signaling::TokenKey;
use tokio::sync::mpsc;

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
}

/// All routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/app.js", get(web::app))
        .route("/v1/guest", post(api::guest))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/ws", get(ws::upgrade))
        .route("/v1/identities", post(api::create_identity))
        .route("/v1/tokens", post(api::issue_token))
        .route("/v1/calls", get(api::list_calls))
        .route("/v1/calls/{id}", get(api::get_call).delete(api::end_call))
        .route("/v1/calls/{id}/media", get(api::call_media))
        .route("/v1/calls/{id}/participants", post(api::add_participant))
        .with_state(state)
}
