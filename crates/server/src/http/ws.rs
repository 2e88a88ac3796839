//! The signaling WebSocket: one reader loop and one writer task per connection, bridged to
//! the signaling task by bounded channels.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use confab_signaling::ConnectionId;
use confab_signaling::protocol::{ErrorCode, MAX_MESSAGE_BYTES, ServerEnvelope, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use super::AppState;
use super::ClientAddr;
use super::api::ApiError;
use crate::signaling_service::{OUTBOX, OutFrame, SignalingCommand};

#[allow(clippy::disallowed_methods)] // the edge reads the clock for its rate limits
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<ClientAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(wait) = state.limits.ws_connects.take(&from.key(), Instant::now()) {
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
        .on_upgrade(move |socket| serve(socket, state))
}

async fn serve(socket: WebSocket, state: AppState) {
    let conn = ConnectionId(state.next_connection.fetch_add(1, Ordering::Relaxed));
    let (outbox, mut outgoing) = mpsc::channel(OUTBOX);
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
    let mut writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                Some(frame) = own_frames.recv() => frame,
                Some(frame) = outgoing.recv() => frame,
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
                    break;
                }
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut closing = false;
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) => {
                let frame = SignalingCommand::Frame {
                    conn,
                    text: text.to_string(),
                };
                if state.signaling.send(frame).await.is_err() {
                    break;
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
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer).await;
    }
    writer.abort();
}
