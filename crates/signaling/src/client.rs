//! A WebSocket client of the signaling protocol, for bots, the CLI and tests.
//!
//! One task owns the socket; the [`SignalingClient`] handle sends commands to it over a
//! bounded channel. Requests get ids and are matched with their `ok`/`error` answers;
//! everything else the server says arrives on the events channel. To reconnect, connect
//! again with the same [`ClientConfig::endpoint`]: the server hands the device's calls back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::Identity;
use crate::protocol::{ClientEnvelope, ClientMessage, ErrorCode, ServerMessage, parse_server};

/// Who to connect as, and where.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `ws://host:port/ws` (or `wss://`).
    pub url: String,
    /// The identity to speak for.
    pub identity: Identity,
    /// A token for that identity.
    pub token: String,
    /// The name others see.
    pub display_name: Option<String>,
    /// A stable device id; reconnecting with the same one resumes calls.
    pub endpoint: Option<String>,
    /// How long to wait for a request's answer.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A config with a 10 s request timeout and no display name or endpoint.
    pub fn new(url: impl Into<String>, identity: Identity, token: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            identity,
            token: token.into(),
            display_name: None,
            endpoint: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What can go wrong talking to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server refused the request.
    #[error("refused ({code:?}): {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's words.
        message: String,
    },
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

type Pending = HashMap<u64, oneshot::Sender<ServerMessage>>;

enum Command {
    Send {
        envelope: ClientEnvelope,
        answer: Option<oneshot::Sender<ServerMessage>>,
    },
    Close,
}

/// A handle to a connected client. Cheap to clone; the connection closes when every
/// handle is dropped or [`close`](SignalingClient::close) is called.
#[derive(Debug, Clone)]
pub struct SignalingClient {
    commands: mpsc::Sender<Command>,
    next_id: Arc<AtomicU64>,
    timeout: Duration,
}

/// Server events (everything that is not an answer to a request), in order.
pub type Events = mpsc::Receiver<ServerMessage>;

impl SignalingClient {
    /// Connects, says hello and waits for the server to accept it.
    pub async fn connect(config: &ClientConfig) -> Result<(SignalingClient, Events), ClientError> {
        // Nagle off: small request/answer frames would otherwise wait for delayed ACKs
        // (40 ms per round trip).
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(config.url.as_str(), None, true)
                .await
                .map_err(|e| ClientError::Connect(e.to_string()))?;
        let (commands, command_rx) = mpsc::channel(256);
        let (event_tx, events) = mpsc::channel(1024);
        tokio::spawn(drive(socket, command_rx, event_tx));
        let client = SignalingClient {
            commands,
            next_id: Arc::new(AtomicU64::new(1)),
            timeout: config.request_timeout,
        };
        client
            .request(ClientMessage::Hello {
                identity: config.identity.clone(),
                token: config.token.clone(),
                display_name: config.display_name.clone(),
                endpoint: config.endpoint.clone(),
            })
            .await?;
        Ok((client, events))
    }

    /// Sends a request and waits for its answer: the `ok` message, or the server's refusal
    /// as [`ClientError::Refused`].
    pub async fn request(&self, message: ClientMessage) -> Result<ServerMessage, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        let envelope = ClientEnvelope::new(Some(id), message);
        self.commands
            .send(Command::Send {
                envelope,
                answer: Some(answer),
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(self.timeout, answered).await {
            Err(_) => Err(ClientError::Timeout(self.timeout)),
            Ok(Err(_)) => Err(ClientError::Closed),
            Ok(Ok(ServerMessage::Error { code, message })) => {
                Err(ClientError::Refused { code, message })
            }
            Ok(Ok(reply)) => Ok(reply),
        }
    }

    /// Sends a message without waiting for an answer (its errors arrive as events).
    pub async fn send(&self, message: ClientMessage) -> Result<(), ClientError> {
        let envelope = ClientEnvelope::new(None, message);
        self.commands
            .send(Command::Send {
                envelope,
                answer: None,
            })
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Closes the connection (the server treats it as a network loss unless calls were left).
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

async fn drive<S>(
    socket: S,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ServerMessage>,
) where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let mut pending = Pending::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send { envelope, answer }) => {
                    if let (Some(id), Some(answer)) = (envelope.id, answer) {
                        pending.insert(id, answer);
                    }
                    if sink.send(Message::text(envelope.to_json())).await.is_err() {
                        break;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match parse_server(text.as_str()) {
                    Ok(envelope) => {
                        let answer = envelope.re.and_then(|re| pending.remove(&re));
                        match answer {
                            Some(answer) => {
                                let _ = answer.send(envelope.message);
                            }
                            None => {
                                if events.send(envelope.message).await.is_err() {
                                    // Nobody listens to events any more; keep answering requests.
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!("unreadable server message: {e}"),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Dropping `pending` fails every waiting request with `Closed`.
}
