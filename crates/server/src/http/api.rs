//! Administrative API: identities, tokens, calls; health and metrics.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_signaling::protocol::CallId;
use confab_signaling::{Identity, Scope};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::AppState;
use super::ClientAddr;
use crate::signaling_service::SignalingCommand;

/// An API error: a status and a JSON body `{"error": code, "message": text}`; a 429 also
/// carries `retry_after_secs` and the `Retry-After` header.
pub(crate) struct ApiError(StatusCode, &'static str, String, Option<u64>);

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        // Messages may quote the request: never echo more than a bounded part of it.
        let message = confab_signaling::protocol::bounded_message(message.into());
        ApiError(status, code, message, None)
    }

    /// Over a rate limit: try again after `wait`.
    pub(crate) fn rate_limited(wait: Duration, what: &str) -> Self {
        let secs = wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64;
        ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{what}; retry in {secs} s"),
            Some(secs),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.3 {
            Some(secs) => {
                let body = serde_json::json!({
                    "error": self.1, "message": self.2, "retry_after_secs": secs,
                });
                (
                    self.0,
                    [(header::RETRY_AFTER, secs.to_string())],
                    Json(body),
                )
                    .into_response()
            }
            None => {
                let body = serde_json::json!({ "error": self.1, "message": self.2 });
                (self.0, Json(body)).into_response()
            }
        }
    }
}

/// A JSON body whose rejection is read only after the admin key was checked (a caller
/// without the key learns nothing about the fields).
type Body<T> = Result<Json<T>, JsonRejection>;

fn body<T>(body: Body<T>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        // Echo at most 200 characters of what the parser said.
        ApiError::new(
            status,
            code,
            e.body_text().chars().take(200).collect::<String>(),
        )
    })
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the service is shutting down",
    )
}

/// Requires `Authorization: Bearer <admin key>`. An address that gave wrong keys too often
/// is refused (429) before its key is even compared.
#[allow(clippy::disallowed_methods)] // the edge reads the clock for its rate limits
fn admin(state: &AppState, from: ClientAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    let now = Instant::now();
    if let Err(wait) = state.limits.admin_failures.check(&from.key(), now) {
        state
            .metrics
            .rate_limited
            .admin
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::rate_limited(
            wait,
            "too many wrong admin keys from this address",
        ));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compare in time independent of where the first difference is.
    let expected = state.admin_key.as_bytes();
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        state.metrics.admin_refusals.fetch_add(1, Ordering::Relaxed);
        let _ = state.limits.admin_failures.take(&from.key(), now);
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin key required",
        ))
    }
}

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIdentity {
    /// `user` (default) or `bot`.
    #[serde(default)]
    kind: Option<String>,
    /// The bot's application name, for bots.
    #[serde(default)]
    app: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IdentityCreated {
    identity: Identity,
}

pub(crate) async fn create_identity(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    request: Body<NewIdentity>,
) -> Result<Json<IdentityCreated>, ApiError> {
    admin(&state, from, &headers)?;
    let body = body(request)?;
    let identity = match body.kind.as_deref().unwrap_or("user") {
        "user" => Identity::new_user(),
        "bot" => {
            let app = body.app.unwrap_or_default();
            format!("28:{app}")
                .parse()
                .map_err(|e: confab_signaling::IdentityError| {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_identity", e.to_string())
                })?
        }
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_kind",
                format!("kind {other:?}: user or bot"),
            ));
        }
    };
    Ok(Json(IdentityCreated { identity }))
}

#[derive(Serialize)]
pub(crate) struct GuestPass {
    identity: Identity,
    token: String,
    expires_at: u64,
}

/// A new user identity with a voip token, for the browser client — where guests are
/// allowed (by default only when the service listens on loopback).
#[allow(clippy::disallowed_methods)] // the edge reads the clock for its rate limits
pub(crate) async fn guest(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
) -> Result<Json<GuestPass>, ApiError> {
    if !state.guests {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "guests_disabled",
            "guest access is off on this service",
        ));
    }
    if let Err(wait) = state.limits.guests.take(&from.key(), Instant::now()) {
        state
            .metrics
            .rate_limited
            .guests
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::rate_limited(
            wait,
            "too many guest sign-ins from this address",
        ));
    }
    let identity = Identity::new_user();
    let ttl = 12 * 3600;
    let now = unix_now();
    let token = state
        .token_key
        .mint(&identity, &[Scope::Voip], now, ttl)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(GuestPass {
        identity,
        token,
        expires_at: now + ttl,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    identity: Identity,
    scopes: Vec<Scope>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct TokenIssued {
    token: String,
    expires_at: u64,
}

#[allow(clippy::disallowed_methods)] // a request handler: the edge reads the wall clock
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[allow(clippy::disallowed_methods)] // the edge reads the clock for its rate limits
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    request: Body<TokenRequest>,
) -> Result<Json<TokenIssued>, ApiError> {
    admin(&state, from, &headers)?;
    let body = body(request)?;
    if let Err(wait) = state.limits.tokens.take(&body.identity, Instant::now()) {
        state
            .metrics
            .rate_limited
            .tokens
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::rate_limited(
            wait,
            "too many tokens issued for this identity",
        ));
    }
    if body.scopes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
            "at least one scope",
        ));
    }
    let ttl = body.ttl_secs.unwrap_or(3600).clamp(60, 7 * 24 * 3600);
    let now = unix_now();
    let token = state
        .token_key
        .mint(&body.identity, &body.scopes, now, ttl)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(TokenIssued {
        token,
        expires_at: now + ttl,
    }))
}

async fn ask<T>(
    state: &AppState,
    command: impl FnOnce(oneshot::Sender<T>) -> SignalingCommand,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    state
        .signaling
        .send(command(tx))
        .await
        .map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

pub(crate) async fn list_calls(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, from, &headers)?;
    Ok(Json(ask(&state, SignalingCommand::Calls).await?))
}

/// Where the cluster's live nodes are (`GET /v1/cluster`, public: the page reconnects
/// through another node when its own goes away). Empty without a cluster.
pub(crate) async fn cluster_nodes(State(state): State<AppState>) -> impl IntoResponse {
    let nodes: Vec<String> = match &state.cluster {
        Some(cluster) => cluster
            .nodes()
            .await
            .map(|nodes| nodes.into_iter().map(|n| n.url).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Json(serde_json::json!({ "nodes": nodes }))
}

/// The cluster's live nodes and their load (`GET /v1/nodes`); a node not in a cluster lists
/// itself alone.
pub(crate) async fn list_nodes(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, from, &headers)?;
    let Some(cluster) = &state.cluster else {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        return Ok(Json(serde_json::json!({
            "cluster": false,
            "node": null,
            "nodes": [{
                "id": null,
                "calls": load(&state.metrics.calls),
                "participants": load(&state.metrics.participants),
                "connections": load(&state.metrics.connections),
            }],
        })));
    };
    let nodes = cluster.nodes().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            format!("the cluster's Redis: {e}"),
        )
    })?;
    Ok(Json(serde_json::json!({
        "cluster": true,
        "node": cluster.id,
        "nodes": nodes,
    })))
}

/// The call id of a path, read only after the admin key was checked (a path that does not
/// even decode is a 400 for those with the key, a 401 for everyone else).
fn call_id(path: Result<Path<String>, PathRejection>) -> Result<CallId, ApiError> {
    let Path(raw) = path.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_call_id",
            "the call id in the path does not decode",
        )
    })?;
    parse_call_id(&raw)
}

fn parse_call_id(raw: &str) -> Result<CallId, ApiError> {
    uuid::Uuid::parse_str(raw).map(CallId).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_call_id",
            format!(
                "{:?} is not a call id",
                raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn not_found(id: CallId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "call_not_found",
        format!("no call {id}"),
    )
}

pub(crate) async fn get_call(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, from, &headers)?;
    let id = call_id(id)?;
    let call = ask(&state, |tx| SignalingCommand::Call(id, tx)).await?;
    call.map(Json).ok_or_else(|| not_found(id))
}

pub(crate) async fn call_media(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, from, &headers)?;
    let id = call_id(id)?;
    Ok(Json(
        ask(&state, |tx| SignalingCommand::MediaStats(id, tx)).await?,
    ))
}

pub(crate) async fn end_call(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    admin(&state, from, &headers)?;
    let id = call_id(id)?;
    if ask(&state, |tx| SignalingCommand::EndCall(id, tx)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}

/// `POST /v1/calls/{id}/participants` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteRequest {
    identity: Identity,
}

/// The invited participant.
#[derive(Debug, Serialize)]
pub(crate) struct Invited {
    participant: confab_signaling::protocol::ParticipantId,
}

/// Rings someone into a call: a `4:+E.164` number is dialled out through the SIP trunk.
pub(crate) async fn add_participant(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    request: Body<InviteRequest>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    admin(&state, from, &headers)?;
    let id = call_id(id)?;
    let request = body(request)?;
    match ask(&state, |tx| {
        SignalingCommand::Invite(id, request.identity, tx)
    })
    .await?
    {
        Ok(participant) => Ok((StatusCode::CREATED, Json(Invited { participant }))),
        Err(refusal) => {
            let (status, code) = match refusal.code {
                confab_signaling::protocol::ErrorCode::CallNotFound => {
                    (StatusCode::NOT_FOUND, "call_not_found")
                }
                _ => (StatusCode::CONFLICT, "cannot_invite"),
            };
            Err(ApiError::new(status, code, refusal.message))
        }
    }
}
