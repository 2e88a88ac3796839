//! A relay leg: this node's WebSocket to the node hosting a client's call, speaking for the
//! client (its own `hello`, so the host authenticates it as it would the client) and passing
//! frames both ways unchanged. To the host it is one more client.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_signaling::protocol::{
    CallId, ErrorCode, ServerEnvelope, ServerMessage, bounded_message, parse_client, parse_server,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::metrics::Metrics;
use crate::signaling_service::OutFrame;

/// How long the host gets to accept the leg and answer its `hello`.
const LEG_SETUP: Duration = Duration::from_secs(3);

/// Frames from the client queued for a leg still connecting.
const LEG_QUEUE: usize = 64;

/// The header a leg's WebSocket upgrade carries (the name of the node it comes from): the
/// host relays nothing of a leg onward and does not count it among its devices for ringing
/// (the client's own node does both). Claiming it gains a client nothing.
pub(crate) const LEG_HEADER: &str = "x-confab-leg";

/// The calls a connection's legs carry: which node hosts each.
pub(crate) type CallNodes = Arc<Mutex<HashMap<CallId, String>>>;

/// The WebSocket URL of a node's HTTP base URL.
pub(crate) fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_owned());
    format!("{rest}/ws")
}

/// Opens a leg from this node of `cluster` to `node` at `url` for a client that said
/// `hello`; what the host says goes to the client's `outbox`. Frames sent on the returned
/// sender go to the host; dropping it closes the leg.
pub(crate) fn open(
    cluster: &super::Cluster,
    node: String,
    url: String,
    hello: String,
    outbox: mpsc::Sender<OutFrame>,
    calls: CallNodes,
) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel(LEG_QUEUE);
    let open = Leg {
        from: cluster.id.clone(),
        node,
        outbox,
        calls,
        metrics: cluster.metrics.clone(),
        tls: cluster.node_tls.0.clone(),
    };
    tokio::spawn(open.run(url, hello, rx));
    tx
}

/// A leg's fixed parts.
struct Leg {
    /// This node's name.
    from: String,
    node: String,
    outbox: mpsc::Sender<OutFrame>,
    calls: CallNodes,
    metrics: Arc<Metrics>,
    /// How the host's certificate is trusted (`None`: the system's roots).
    tls: Option<Connector>,
}

/// Tells the client its queued requests failed: the hosting node is out of reach.
fn refuse_queued(
    node: &str,
    queued: &mut mpsc::Receiver<String>,
    outbox: &mpsc::Sender<OutFrame>,
    why: &str,
) {
    queued.close();
    while let Ok(text) = queued.try_recv() {
        let id = parse_client(&text).ok().and_then(|e| e.id);
        let error = ServerEnvelope::reply(
            id,
            ServerMessage::Error {
                code: ErrorCode::Internal,
                message: bounded_message(format!(
                    "the node hosting this call ({node}) cannot be reached: {why}"
                )),
            },
        );
        let _ = outbox.try_send(OutFrame::Text(error.to_json()));
    }
}

impl Leg {
    async fn run(self, url: String, hello: String, mut from_client: mpsc::Receiver<String>) {
        let Leg {
            from,
            node,
            outbox,
            calls,
            metrics,
            tls,
        } = self;
        let target = ws_url(&url);
        let setup = async {
            let mut request = target
                .as_str()
                .into_client_request()
                .map_err(|e| e.to_string())?;
            let name = HeaderValue::from_str(&from).map_err(|e| e.to_string())?;
            request.headers_mut().insert(LEG_HEADER, name);
            let (mut socket, _) =
                tokio_tungstenite::connect_async_tls_with_config(request, None, true, tls)
                    .await
                    .map_err(|e| e.to_string())?;
            socket
                .send(Message::Text(hello.into()))
                .await
                .map_err(|e| e.to_string())?;
            while let Some(frame) = socket.next().await {
                let Message::Text(text) = frame.map_err(|e| e.to_string())? else {
                    continue;
                };
                return match parse_server(&text).map(|e| e.message) {
                    Ok(ServerMessage::Welcome { .. }) => Ok(socket),
                    Ok(ServerMessage::Error { code, message }) => {
                        Err(format!("it refused the client: {code:?}: {message}"))
                    }
                    other => Err(format!("unexpected first answer {other:?}")),
                };
            }
            Err("it closed the connection".to_owned())
        };
        let mut socket = match tokio::time::timeout(LEG_SETUP, setup).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(why)) => {
                tracing::warn!(%node, %target, "relay leg failed: {why}");
                metrics.cluster_legs_failed.fetch_add(1, Ordering::Relaxed);
                return refuse_queued(&node, &mut from_client, &outbox, &why);
            }
            Err(_) => {
                tracing::warn!(%node, %target, "relay leg: no welcome within {LEG_SETUP:?}");
                metrics.cluster_legs_failed.fetch_add(1, Ordering::Relaxed);
                return refuse_queued(&node, &mut from_client, &outbox, "no answer");
            }
        };
        tracing::debug!(%node, "relay leg up");
        metrics.cluster_legs_open.fetch_add(1, Ordering::Relaxed);
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(envelope) = parse_server(&text)
                            && let Some(call) = envelope.message.call_id()
                            && let Ok(mut calls) = calls.lock()
                        {
                            calls.entry(call).or_insert_with(|| node.clone());
                        }
                        metrics.cluster_frames_relayed.fetch_add(1, Ordering::Relaxed);
                        if outbox.try_send(OutFrame::Text(text.to_string())).is_err() {
                            // The client cannot keep up (or is gone): as for a direct client.
                            let _ = outbox.try_send(OutFrame::Close(1008, "too slow".into()));
                            break;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        tracing::info!(%node, %reason, "the hosting node closed the relay leg");
                        let _ = outbox.try_send(OutFrame::Close(1012, "node_lost".into()));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        tracing::warn!(%node, "relay leg lost: the hosting node is gone");
                        let _ = outbox.try_send(OutFrame::Close(1012, "node_lost".into()));
                        break;
                    }
                },
                text = from_client.recv() => match text {
                    Some(text) => {
                        metrics.cluster_frames_relayed.fetch_add(1, Ordering::Relaxed);
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            let _ = outbox.try_send(OutFrame::Close(1012, "node_lost".into()));
                            break;
                        }
                    }
                    None => {
                        let close = CloseFrame { code: 1000.into(), reason: "client left".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        break;
                    }
                },
            }
        }
        metrics.cluster_legs_open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_become_websocket_urls() {
        assert_eq!(ws_url("http://10.0.0.2:8080"), "ws://10.0.0.2:8080/ws");
        assert_eq!(ws_url("https://b.example/"), "wss://b.example/ws");
    }
}
