//! The signaling WebSocket: one reader loop and one writer task per connection, bridged to
//! the signaling task by bounded channels.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use confab_signaling::ConnectionId;
use confab_signaling::protocol::{ErrorCode, MAX_MESSAGE_BYTES, ServerEnvelope, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite;

use super::AppState;
use super::ClientAddr;
use super::api::ApiError;
use crate::signaling_service::{OUTBOX, OutFrame, SignalingCommand};

#[allow(clippy::disallowed_methods)] // the edge reads the clock for its rate limits
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A relay leg of another node: its frames are all for this node.
    let leg = headers.contains_key(crate::cluster::LEG_HEADER);
    // Another node of the cluster opens legs for many clients: no per-address rate.
    let peer = state
        .cluster
        .as_ref()
        .is_some_and(|c| c.is_peer(from.key()));
    if !peer && let Err(wait) = state.limits.ws_connects.take(&from.key(), Instant::now()) {
        state
            .metrics
            .rate_limited
            .ws_connects
            .fetch_add(1, Ordering::Relaxed);
        return ApiError::rate_limited(wait, "too many WebSocket connects from this address")
            .into_response();
    }
    // Frames over the protocol's limit are refused by the WebSocket layer itself (a bit of
    // slack so the switchboard still sees, and answers, slightly oversized JSON).
    ws.max_message_size(MAX_MESSAGE_BYTES * 2)
        .on_upgrade(move |socket| serve(socket, state, leg))
}

/// How long a peer has to answer the service's close frame before the connection is
/// dropped (a peer that reads nothing would otherwise hold it until it is found dead).
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The next request to ring this connection on another node (never without a cluster).
async fn ring_request(
    relay: Option<&mut crate::cluster::Relay>,
) -> Option<crate::cluster::RingRequest> {
    match relay {
        Some(relay) => relay.ring_request().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs one signaling socket: frames in to the switchboard, its frames out, a ping every
/// `ws_ping`, and closes as dead (1001 `ping_timeout`) after `ws_dead` with nothing heard.
async fn serve(socket: WebSocket, state: AppState, leg: bool) {
    let (ping_every, dead_after) = (state.limits.ws_ping, state.limits.ws_dead);
    let conn = ConnectionId(state.next_connection.fetch_add(1, Ordering::Relaxed));
    let (outbox, mut outgoing) = mpsc::channel(OUTBOX);
    // In a cluster, frames about calls hosted on other nodes are relayed there.
    // (Not for a relay leg of another node: relaying and ringing are its own node's.)
    let mut relay = state
        .cluster
        .clone()
        .filter(|_| !leg)
        .map(|cluster| crate::cluster::Relay::new(cluster, outbox.clone()));
    if state
        .signaling
        .send(SignalingCommand::Connect { conn, outbox })
        .await
        .is_err()
    {
        return;
    }
    let (mut sink, mut stream) = socket.split();
    // The reader's own replies (binary frames, an oversized frame) go out through the writer.
    let (own, mut own_frames) = mpsc::channel::<OutFrame>(4);
    // The writer says when it sent a close frame: the peer then has a moment to answer it.
    let we_closed = Arc::new(Notify::new());
    let closed = we_closed.clone();
    let mut writer = tokio::spawn(async move {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        loop {
            let frame = tokio::select! {
                Some(frame) = own_frames.recv() => frame,
                Some(frame) = outgoing.recv() => frame,
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                    continue;
                }
                else => break,
            };
            let message = match frame {
                OutFrame::Text(text) => Message::Text(text.into()),
                OutFrame::Close(code, reason) => {
                    let close = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    closed.notify_one();
                    break;
                }
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut closing = false;
    let mut heard = tokio::time::Instant::now();
    let mut linger_until = None;
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            Some(request) = ring_request(relay.as_mut()) => {
                if let Some(relay) = relay.as_mut() {
                    relay.ring_there(request).await;
                }
                continue;
            }
            () = we_closed.notified(), if linger_until.is_none() => {
                linger_until = Some(tokio::time::Instant::now() + CLOSE_LINGER);
                continue;
            }
            () = sleep_until_some(linger_until) => break,
            () = tokio::time::sleep_until(heard + dead_after) => {
                tracing::debug!(?conn, "signaling socket: nothing heard for {dead_after:?}");
                state.metrics.ping_timeouts.fetch_add(1, Ordering::Relaxed);
                let _ = own.try_send(OutFrame::Close(1001, "ping_timeout".into()));
                closing = true;
                break;
            }
        };
        let Some(message) = message else { break };
        heard = tokio::time::Instant::now();
        match message {
            Ok(Message::Text(text)) => {
                let text = match relay.as_mut() {
                    Some(relay) => match relay.route(text.to_string()).await {
                        Some(local) => local,
                        None => continue,
                    },
                    None => text.to_string(),
                };
                let frame = SignalingCommand::Frame { conn, text };
                if state.signaling.send(frame).await.is_err() {
                    break;
                }
                if let Some(relay) = relay.as_mut() {
                    relay.handed_over().await;
                }
            }
            Ok(Message::Binary(_)) => {
                // Not part of the protocol: say so rather than drop it silently.
                let error = ServerEnvelope::event(ServerMessage::Error {
                    code: ErrorCode::InvalidMessage,
                    message: "binary frames are not part of the protocol: send JSON text".into(),
                });
                let _ = own.try_send(OutFrame::Text(error.to_json()));
            }
            Ok(Message::Close(_)) => break,
            // Pings are answered by the layer.
            Ok(_) => {}
            Err(e) => {
                // Over the size limit (1009), or broken framing (1002).
                let error = e.into_inner();
                tracing::debug!(?conn, "signaling socket: {error}");
                let too_large = error
                    .downcast_ref::<tungstenite::Error>()
                    .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
                let close = if too_large {
                    OutFrame::refused(ErrorCode::MessageTooLarge)
                } else {
                    OutFrame::Close(1002, "protocol error".into())
                };
                let _ = own.try_send(close);
                closing = true;
                break;
            }
        }
    }
    let _ = state
        .signaling
        .send(SignalingCommand::Disconnect { conn })
        .await;
    if closing {
        // Let the close frame out (bounded: a peer that reads nothing cannot hold us).
        let _ = tokio::time::timeout(CLOSE_LINGER, &mut writer).await;
    }
    writer.abort();
}
