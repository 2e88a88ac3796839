//! The signaling WebSocket: one reader loop and one writer task per connection, bridged to
//! the signaling task by bounded channels.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use confab_signaling::ConnectionId;
use confab_signaling::protocol::MAX_MESSAGE_BYTES;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::AppState;
use crate::signaling_service::{OUTBOX, OutFrame, SignalingCommand};

pub(crate) async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
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
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            let message = match frame {
                OutFrame::Text(text) => Message::Text(text.into()),
                OutFrame::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => {
                let frame = SignalingCommand::Frame {
                    conn,
                    text: text.to_string(),
                };
                if state.signaling.send(frame).await.is_err() {
                    break;
                }
            }
            Message::Close(_) => break,
            // Binary frames are not part of the protocol; pings are answered by the layer.
            _ => {}
        }
    }
    let _ = state
        .signaling
        .send(SignalingCommand::Disconnect { conn })
        .await;
    writer.abort();
}
