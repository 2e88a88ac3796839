//! The task that owns the [`Switchboard`]: connections feed it frames through a bounded
//! channel; it answers on each connection's bounded outbox and runs the switchboard's timers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_signaling::protocol::CallId;
use confab_signaling::{CallSummary, ConnectionId, Output, Switchboard};
use tokio::sync::{mpsc, oneshot};

use crate::media::{MediaPlane, MediaReply};
use crate::metrics::Metrics;

/// What a connection's writer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutFrame {
    /// A JSON text frame.
    Text(String),
    /// Close the connection.
    Close,
}

/// Requests to the signaling task.
#[derive(Debug)]
pub(crate) enum SignalingCommand {
    /// A connection opened; its writer reads `outbox`.
    Connect {
        /// The connection.
        conn: ConnectionId,
        /// Where its messages go.
        outbox: mpsc::Sender<OutFrame>,
    },
    /// A text frame arrived.
    Frame {
        /// The connection.
        conn: ConnectionId,
        /// The frame.
        text: String,
    },
    /// A connection closed.
    Disconnect {
        /// The connection.
        conn: ConnectionId,
    },
    /// The running calls, for the HTTP API.
    Calls(oneshot::Sender<Vec<CallSummary>>),
    /// One call, for the HTTP API.
    Call(CallId, oneshot::Sender<Option<CallSummary>>),
    /// A call's per-participant media statistics, for the HTTP API.
    MediaStats(CallId, oneshot::Sender<Vec<crate::media::ParticipantMedia>>),
    /// End a call from the service's side.
    EndCall(CallId, oneshot::Sender<bool>),
    /// End every call and stop.
    Shutdown(oneshot::Sender<()>),
}

/// Per-connection outbox size: a client this far behind loses messages and is closed.
pub(crate) const OUTBOX: usize = 256;

#[allow(clippy::disallowed_methods)] // the driver of the switchboard: it reads the clocks
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the switchboard until a `Shutdown` command.
#[allow(clippy::disallowed_methods)] // the driver of the switchboard: it reads the clocks
pub(crate) async fn run(
    mut switchboard: Switchboard,
    mut commands: mpsc::Receiver<SignalingCommand>,
    media: MediaPlane,
    mut media_replies: mpsc::Receiver<MediaReply>,
    metrics: Arc<Metrics>,
) {
    let mut outboxes: HashMap<ConnectionId, mpsc::Sender<OutFrame>> = HashMap::new();
    loop {
        let deadline = switchboard
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let command = tokio::select! {
            command = commands.recv() => command,
            Some(reply) = media_replies.recv() => {
                match reply {
                    MediaReply::Deliver(call, participant, message) => switchboard.deliver(call, participant, message),
                    MediaReply::Connected(call, participant) => switchboard.media_connected(call, participant),
                    MediaReply::Lost(call, participant) => switchboard.media_lost(call, participant),
                    MediaReply::DominantSpeakers(call_id, speakers) => {
                        switchboard.deliver_to_call(call_id, &confab_signaling::protocol::ServerMessage::DominantSpeakers { call_id, speakers });
                    }
                }
                drain(&mut switchboard, &mut outboxes, &metrics, &media);
                continue;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                switchboard.handle_timeout(Instant::now());
                drain(&mut switchboard, &mut outboxes, &metrics, &media);
                continue;
            }
        };
        let Some(command) = command else { break };
        match command {
            SignalingCommand::Connect { conn, outbox } => {
                outboxes.insert(conn, outbox);
                switchboard.handle_connect(conn);
                metrics.connections_total.fetch_add(1, Ordering::Relaxed);
            }
            SignalingCommand::Frame { conn, text } => {
                metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                switchboard.handle_message(conn, &text, Instant::now(), unix_now());
            }
            SignalingCommand::Disconnect { conn } => {
                outboxes.remove(&conn);
                switchboard.handle_disconnect(conn, Instant::now());
            }
            SignalingCommand::Calls(reply) => {
                let _ = reply.send(switchboard.calls());
            }
            SignalingCommand::Call(id, reply) => {
                let _ = reply.send(switchboard.call(id));
            }
            SignalingCommand::MediaStats(id, reply) => media.stats(id, reply),
            SignalingCommand::EndCall(id, reply) => {
                let _ = reply.send(switchboard.end_call_from_service(id));
            }
            SignalingCommand::Shutdown(reply) => {
                switchboard.shutdown();
                drain(&mut switchboard, &mut outboxes, &metrics, &media);
                for outbox in outboxes.values() {
                    let _ = outbox.try_send(OutFrame::Close);
                }
                media.stop();
                let _ = reply.send(());
                return;
            }
        }
        drain(&mut switchboard, &mut outboxes, &metrics, &media);
    }
    media.stop();
}

fn drain(
    switchboard: &mut Switchboard,
    outboxes: &mut HashMap<ConnectionId, mpsc::Sender<OutFrame>>,
    metrics: &Metrics,
    media: &MediaPlane,
) {
    while let Some(output) = switchboard.poll_output() {
        match output {
            Output::Send { to, message } => {
                let Some(outbox) = outboxes.get(&to) else {
                    continue;
                };
                if outbox.try_send(OutFrame::Text(message.to_json())).is_ok() {
                    metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                } else {
                    // A client that cannot keep up is cut off rather than slowing everyone.
                    metrics.messages_dropped.fetch_add(1, Ordering::Relaxed);
                    let _ = outbox.try_send(OutFrame::Close);
                }
            }
            Output::Close { conn, .. } => {
                if let Some(outbox) = outboxes.remove(&conn) {
                    let _ = outbox.try_send(OutFrame::Close);
                }
            }
            Output::Media(command) => media.send(command),
        }
    }
    metrics
        .calls
        .store(switchboard.call_count() as u64, Ordering::Relaxed);
    metrics
        .participants
        .store(switchboard.participant_count() as u64, Ordering::Relaxed);
    metrics
        .connections
        .store(switchboard.connection_count() as u64, Ordering::Relaxed);
}
