//! A WebSocket client of the signaling protocol, for bots, the CLI and tests.
//!
//! One task owns the socket; the [`SignalingClient`] handle sends commands to it over a
//! bounded channel. Requests get ids and are matched with their `ok`/`error` answers;
//! everything else the server says arrives on the events channel. With
//! [`ClientConfig::reconnect`] set, a dropped connection is re-opened by the same task (same
//! [`ClientConfig::endpoint`], so the server hands the device's calls back; its `welcome`
//! lists them) and [`SignalingClient::link`] says so; without it, a drop closes the client.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::Connector;
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
    /// Re-open a dropped connection, trying for this long (needs an `endpoint` to get calls
    /// back); `None`: a drop closes the client.
    pub reconnect: Option<Duration>,
    /// Other nodes of the same cluster: reconnect attempts go round `url` and these (a node
    /// that died is left for a live one).
    pub fallback_urls: Vec<String>,
    /// CA certificates (PEM) trusted for `wss://` besides the system's: a service whose
    /// certificate comes from a private CA. Empty: the system's alone.
    pub ca_certificates: Vec<u8>,
}

/// The state of a client's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Connected and signed in.
    Up,
    /// The connection dropped; re-opening it.
    Reconnecting,
    /// Closed for good (by us, by the server, or reconnecting gave up).
    Closed,
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
            reconnect: None,
            fallback_urls: Vec::new(),
            ca_certificates: Vec::new(),
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
    /// The trust for `wss://` could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
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
    link: watch::Receiver<Link>,
    node_lost: Arc<AtomicBool>,
}

/// Server events (everything that is not an answer to a request), in order.
pub type Events = mpsc::Receiver<ServerMessage>;

impl SignalingClient {
    /// Connects, says hello and waits for the server to accept it.
    pub async fn connect(config: &ClientConfig) -> Result<(SignalingClient, Events), ClientError> {
        // Trust for wss:// (the system's roots, and the CAs given), if any URL needs it.
        let tls = std::iter::once(&config.url)
            .chain(&config.fallback_urls)
            .any(|url| url.starts_with("wss://") || url.starts_with("https://"))
            .then(|| crate::tls::connector(&config.ca_certificates))
            .transpose()?;
        let socket = open(&config.url, tls.as_ref()).await?;
        let (commands, command_rx) = mpsc::channel(256);
        let (event_tx, events) = mpsc::channel(1024);
        let (link_tx, link) = watch::channel(Link::Up);
        let next_id = Arc::new(AtomicU64::new(1));
        let node_lost = Arc::new(AtomicBool::new(false));
        let driver = Driver {
            config: config.clone(),
            commands: command_rx,
            events: event_tx,
            link: link_tx,
            next_id: next_id.clone(),
            pending: Pending::new(),
            backlog: VecDeque::new(),
            url_index: 0,
            node_lost: node_lost.clone(),
            connected_index: 0,
            closed_node_lost: false,
            tls,
        };
        tokio::spawn(driver.run(socket));
        let client = SignalingClient {
            commands,
            next_id,
            timeout: config.request_timeout,
            link,
            node_lost,
        };
        client.request(hello(config)).await?;
        Ok((client, events))
    }

    /// The connection's state, as it changes.
    pub fn link(&self) -> watch::Receiver<Link> {
        self.link.clone()
    }

    /// Set when the connection came back after its node was lost — the server closed it
    /// with 1012 `node_lost` (a cluster node relaying for a node that died), or it came back
    /// only through another of [`ClientConfig::fallback_urls`]. Whoever handles the next
    /// `welcome` reads and clears it: calls not given back then are gone with their node.
    pub fn node_lost_signal(&self) -> Arc<AtomicBool> {
        self.node_lost.clone()
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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str, tls: Option<&Connector>) -> Result<Socket, ClientError> {
    // Nagle off: small request/answer frames would otherwise wait for delayed ACKs
    // (40 ms per round trip).
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, tls.cloned())
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
    Ok(socket)
}

fn hello(config: &ClientConfig) -> ClientMessage {
    ClientMessage::Hello {
        identity: config.identity.clone(),
        token: config.token.clone(),
        display_name: config.display_name.clone(),
        endpoint: config.endpoint.clone(),
    }
}

/// How a connection ended.
enum Ended {
    /// Closed on purpose (or every handle dropped).
    Closed,
    /// Dropped by the network or the server.
    Lost,
}

/// The task that owns the socket (and re-opens it).
struct Driver {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ServerMessage>,
    link: watch::Sender<Link>,
    next_id: Arc<AtomicU64>,
    pending: Pending,
    /// Messages given while reconnecting: sent once the connection is back.
    backlog: VecDeque<ClientEnvelope>,
    /// Which of `url` (0) and the fallbacks the next attempt goes to.
    url_index: usize,
    /// See [`SignalingClient::node_lost_signal`].
    node_lost: Arc<AtomicBool>,
    /// Which URL the connection that dropped was on.
    connected_index: usize,
    /// The connection that dropped was closed with 1012 `node_lost`.
    closed_node_lost: bool,
    /// Trust for `wss://` URLs (`None`: none of them is one).
    tls: Option<Connector>,
}

/// Waits between reconnect attempts: 100 ms, doubling up to 2 s.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

impl Driver {
    async fn run(mut self, socket: Socket) {
        let mut socket = socket;
        loop {
            if let Ended::Closed = self.serve(socket).await {
                break;
            }
            // Requests in flight on the lost connection fail (`Closed`) now.
            self.pending.clear();
            let Some(give_up) = self.config.reconnect else {
                break;
            };
            tracing::info!(url = %self.url(), "signaling connection lost; reconnecting");
            let _ = self.link.send(Link::Reconnecting);
            match self.reopen(give_up).await {
                Some(again) => socket = again,
                None => break,
            }
            if self.url_index != self.connected_index {
                tracing::info!(url = %self.url(), "the server is gone: back through another");
            }
            self.connected_index = self.url_index;
            self.closed_node_lost = false;
            tracing::info!("signaling connection back");
            let _ = self.link.send(Link::Up);
        }
        let _ = self.link.send(Link::Closed);
        // Dropping `pending` fails every waiting request with `Closed`.
    }

    /// Opens and signs in again, for up to `give_up`; `None` when that failed or the
    /// client was closed meanwhile.
    #[allow(clippy::disallowed_methods)] // a driver: it reads the clock
    async fn reopen(&mut self, give_up: Duration) -> Option<Socket> {
        let deadline = tokio::time::Instant::now() + give_up;
        let mut wait = FIRST_RETRY;
        loop {
            match self.attempt().await {
                Ok(socket) => return Some(socket),
                Err(Retry::Refused(e)) => {
                    tracing::warn!("reconnect refused: {e}");
                    return None;
                }
                Err(Retry::Again(e)) => {
                    tracing::debug!(url = %self.url(), "reconnect failed: {e}");
                    // The next attempt tries the next node.
                    self.url_index = (self.url_index + 1) % (1 + self.config.fallback_urls.len());
                }
            }
            let next = tokio::time::Instant::now() + wait;
            if next >= deadline {
                tracing::warn!("could not reconnect within {give_up:?}");
                return None;
            }
            // Keep taking commands while waiting: a close ends the attempts.
            let sleep = tokio::time::sleep_until(next);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        Some(Command::Send { envelope, answer }) => self.hold(envelope, answer),
                        Some(Command::Close) | None => return None,
                    },
                }
            }
            wait = (wait * 2).min(LONGEST_RETRY);
        }
    }

    /// Where the next (re)connect goes.
    fn url(&self) -> &str {
        match self.url_index {
            0 => &self.config.url,
            i => self
                .config
                .fallback_urls
                .get(i - 1)
                .unwrap_or(&self.config.url),
        }
    }

    fn hold(&mut self, envelope: ClientEnvelope, answer: Option<oneshot::Sender<ServerMessage>>) {
        if let (Some(id), Some(answer)) = (envelope.id, answer) {
            self.pending.insert(id, answer);
        }
        self.backlog.push_back(envelope);
    }

    /// One connect and hello; the `welcome` goes to the events like any other.
    async fn attempt(&mut self) -> Result<Socket, Retry> {
        let url = self.url().to_owned();
        let mut socket = open(&url, self.tls.as_ref())
            .await
            .map_err(|e| Retry::Again(e.to_string()))?;
        // Said before the hello: its `welcome` is read as soon as it comes.
        let lost = self.closed_node_lost || self.url_index != self.connected_index;
        self.node_lost.store(lost, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let envelope = ClientEnvelope::new(Some(id), hello(&self.config));
        socket
            .send(Message::text(envelope.to_json()))
            .await
            .map_err(|e| Retry::Again(e.to_string()))?;
        let answer = tokio::time::timeout(self.config.request_timeout, async {
            while let Some(frame) = socket.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                let Ok(envelope) = parse_server(text.as_str()) else {
                    continue;
                };
                if envelope.re == Some(id) {
                    return Some(envelope.message);
                }
                let _ = self.events.send(envelope.message).await;
            }
            None
        })
        .await;
        match answer {
            Ok(Some(ServerMessage::Error { code, message })) => {
                Err(Retry::Refused(format!("{code:?}: {message}")))
            }
            Ok(Some(_)) => Ok(socket),
            Ok(None) => Err(Retry::Again("closed during hello".into())),
            Err(_) => Err(Retry::Again("no answer to hello".into())),
        }
    }

    /// Runs one connection until it ends.
    async fn serve(&mut self, socket: Socket) -> Ended {
        let (mut sink, mut stream) = socket.split();
        while let Some(envelope) = self.backlog.pop_front() {
            if sink.send(Message::text(envelope.to_json())).await.is_err() {
                return Ended::Lost;
            }
        }
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Send { envelope, answer }) => {
                        if let (Some(id), Some(answer)) = (envelope.id, answer) {
                            self.pending.insert(id, answer);
                        }
                        if sink.send(Message::text(envelope.to_json())).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                    Some(Command::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        return Ended::Closed;
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => match parse_server(text.as_str()) {
                        Ok(envelope) => {
                            match envelope.re.and_then(|re| self.pending.remove(&re)) {
                                Some(answer) => {
                                    let _ = answer.send(envelope.message);
                                }
                                None => {
                                    // Nobody listening to events is fine: requests are
                                    // still answered.
                                    let _ = self.events.send(envelope.message).await;
                                }
                            }
                        }
                        Err(e) => tracing::warn!("unreadable server message: {e}"),
                    },
                    // The server closing the socket itself is a loss too: a restarting
                    // service, a proxy timing out.
                    Some(Ok(Message::Close(frame))) => {
                        // 1012: a cluster node relaying this client's call lost the node
                        // hosting it.
                        if frame.is_some_and(|f| u16::from(f.code) == 1012) {
                            self.closed_node_lost = true;
                        }
                        return Ended::Lost;
                    }
                    None | Some(Err(_)) => return Ended::Lost,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// Why a reconnect attempt failed.
enum Retry {
    /// Try again (the service is unreachable for now).
    Again(String),
    /// The service refused the hello (an expired token): no use trying again.
    Refused(String),
}
