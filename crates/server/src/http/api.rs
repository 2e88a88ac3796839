//! Administrative API: identities, tokens, calls; health and metrics.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_signaling::protocol::CallId;
use confab_signaling::{Identity, Scope};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::AppState;
use crate::signaling_service::SignalingCommand;

/// An API error: a status and a JSON body `{"error": code, "message": text}`.
pub(crate) struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1, "message": self.2 });
        (self.0, Json(body)).into_response()
    }
}

fn unavailable() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the service is shutting down".into(),
    )
}

/// Requires `Authorization: Bearer <admin key>`.
fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
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
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin key required".into(),
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
    headers: HeaderMap,
    Json(body): Json<NewIdentity>,
) -> Result<Json<IdentityCreated>, ApiError> {
    admin(&state, &headers)?;
    let identity = match body.kind.as_deref().unwrap_or("user") {
        "user" => Identity::new_user(),
        "bot" => {
            let app = body.app.unwrap_or_default();
            format!("28:{app}")
                .parse()
                .map_err(|e: confab_signaling::IdentityError| {
                    ApiError(StatusCode::BAD_REQUEST, "invalid_identity", e.to_string())
                })?
        }
        other => {
            return Err(ApiError(
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
pub(crate) async fn guest(State(state): State<AppState>) -> Result<Json<GuestPass>, ApiError> {
    if !state.guests {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "guests_disabled",
            "guest access is off on this service".into(),
        ));
    }
    let identity = Identity::new_user();
    let ttl = 12 * 3600;
    let now = unix_now();
    let token = state
        .token_key
        .mint(&identity, &[Scope::Voip], now, ttl)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
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

pub(crate) async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<TokenRequest>,
) -> Result<Json<TokenIssued>, ApiError> {
    admin(&state, &headers)?;
    if body.scopes.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
            "at least one scope".into(),
        ));
    }
    let ttl = body.ttl_secs.unwrap_or(3600).clamp(60, 7 * 24 * 3600);
    let now = unix_now();
    let token = state
        .token_key
        .mint(&body.identity, &body.scopes, now, ttl)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
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
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(ask(&state, SignalingCommand::Calls).await?))
}

fn call_id(raw: &str) -> Result<CallId, ApiError> {
    uuid::Uuid::parse_str(raw).map(CallId).map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "invalid_call_id",
            format!("{raw:?} is not a call id"),
        )
    })
}

fn not_found(id: CallId) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "call_not_found",
        format!("no call {id}"),
    )
}

pub(crate) async fn get_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, &headers)?;
    let id = call_id(&id)?;
    let call = ask(&state, |tx| SignalingCommand::Call(id, tx)).await?;
    call.map(Json).ok_or_else(|| not_found(id))
}

pub(crate) async fn call_media(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&state, &headers)?;
    let id = call_id(&id)?;
    Ok(Json(
        ask(&state, |tx| SignalingCommand::MediaStats(id, tx)).await?,
    ))
}

pub(crate) async fn end_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &headers)?;
    let id = call_id(&id)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<InviteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    admin(&state, &headers)?;
    let id = call_id(&id)?;
    let Json(request) = body.map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.body_text().chars().take(200).collect(),
        )
    })?;
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
            Err(ApiError(status, code, refusal.message))
        }
    }
}
