//! The task that owns the [`Switchboard`]: connections feed it frames through a bounded
//! channel; it answers on each connection's bounded outbox and runs the switchboard's timers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_signaling::protocol::{CallId, ErrorCode};
use confab_signaling::{
    CallSummary, ConnectionId, EndKind, EndReason, Output, PhoneCommand, Switchboard,
};
use confab_sip::{GatewayRequest, ToGateway};
use tokio::sync::{mpsc, oneshot};

use crate::media::{MediaPlane, MediaReply, MediaRequest};
use crate::metrics::Metrics;

/// The SIP gateway's side of the signaling task: what it asks, and where its commands go.
#[derive(Debug)]
pub(crate) struct PhoneLink {
    pub(crate) requests: mpsc::Receiver<GatewayRequest>,
    pub(crate) commands: mpsc::Sender<ToGateway>,
}

/// What a connection's writer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutFrame {
    /// A JSON text frame.
    Text(String),
    /// Close the connection with a WebSocket close code and reason.
    Close(u16, String),
}

impl OutFrame {
    /// The service is going away (1001).
    pub(crate) fn going_away() -> OutFrame {
        OutFrame::Close(1001, "shutting down".into())
    }

    /// The switchboard ended the connection for `code`: 1009 for an oversized message,
    /// 1011 for an internal error, else 1008 (policy: failed authentication, flooding, too
    /// many sessions); the reason is the error code.
    pub(crate) fn refused(code: ErrorCode) -> OutFrame {
        let close = match code {
            ErrorCode::MessageTooLarge => 1009,
            ErrorCode::Internal => 1011,
            _ => 1008,
        };
        let reason = serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        OutFrame::Close(close, reason)
    }
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
    /// Ring someone (a phone number: dial out) into a call from the service's side.
    Invite(
        CallId,
        confab_signaling::Identity,
        oneshot::Sender<
            Result<confab_signaling::protocol::ParticipantId, confab_signaling::PhoneRefusal>,
        >,
    ),
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
    phones: Option<PhoneLink>,
) {
    let mut outboxes: HashMap<ConnectionId, mpsc::Sender<OutFrame>> = HashMap::new();
    let (mut phone_requests, phone_commands) = match phones {
        Some(link) => (Some(link.requests), Some(link.commands)),
        None => (None, None),
    };
    let mut io = Drain {
        outboxes: &mut outboxes,
        metrics: &metrics,
        media: &media,
        phones: phone_commands.as_ref(),
    };
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
                    MediaReply::Dtmf(call, participant, digit, duration_ms) => {
                        switchboard.phone_dtmf(call, participant, digit, duration_ms);
                    }
                }
                io.drain(&mut switchboard);
                continue;
            }
            Some(request) = next_phone_request(&mut phone_requests) => {
                phone_request(&mut switchboard, &mut io, request);
                continue;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                switchboard.handle_timeout(Instant::now());
                io.drain(&mut switchboard);
                continue;
            }
        };
        let Some(command) = command else { break };
        match command {
            SignalingCommand::Connect { conn, outbox } => {
                io.outboxes.insert(conn, outbox);
                switchboard.handle_connect(conn, Instant::now());
                metrics.connections_total.fetch_add(1, Ordering::Relaxed);
            }
            SignalingCommand::Frame { conn, text } => {
                metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                switchboard.handle_message(conn, &text, Instant::now(), unix_now());
            }
            SignalingCommand::Disconnect { conn } => {
                io.outboxes.remove(&conn);
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
            SignalingCommand::Invite(id, identity, reply) => {
                let _ = reply.send(switchboard.invite_from_service(id, &identity, Instant::now()));
            }
            SignalingCommand::Shutdown(reply) => {
                switchboard.shutdown();
                io.drain(&mut switchboard);
                for outbox in io.outboxes.values() {
                    let _ = outbox.try_send(OutFrame::going_away());
                }
                media.stop();
                let _ = reply.send(());
                return;
            }
        }
        io.drain(&mut switchboard);
    }
    media.stop();
}

/// The gateway's next request, or never when there is no gateway.
async fn next_phone_request(
    requests: &mut Option<mpsc::Receiver<GatewayRequest>>,
) -> Option<GatewayRequest> {
    match requests {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// What the SIP gateway says a phone did.
#[allow(clippy::disallowed_methods)] // the driver of the switchboard: it reads the clocks
fn phone_request(switchboard: &mut Switchboard, io: &mut Drain<'_>, request: GatewayRequest) {
    match request {
        GatewayRequest::CallIn {
            token,
            from,
            display_name,
            route,
        } => {
            let result = switchboard.phone_call_in(&from, display_name, &route, Instant::now());
            // The answer goes first on the gateway's channel: every command about this phone
            // (an answer, a hang-up) follows it. The media plane hears of the participant
            // (the drain below) before the gateway can attach its leg.
            io.to_gateway(ToGateway::CallIn { token, result });
        }
        GatewayRequest::Progress {
            call_id,
            participant,
            early_media,
        } => switchboard.phone_progress(call_id, participant, early_media),
        GatewayRequest::Answered {
            call_id,
            participant,
        } => switchboard.phone_answered(call_id, participant),
        GatewayRequest::Ended {
            call_id,
            participant,
            reason,
        } => switchboard.phone_ended(call_id, participant, reason),
        GatewayRequest::Hold {
            call_id,
            participant,
            on,
        } => switchboard.phone_hold(call_id, participant, on),
        GatewayRequest::Dtmf {
            call_id,
            participant,
            digit,
            duration_ms,
        } => switchboard.phone_dtmf(call_id, participant, digit.as_char(), duration_ms),
        GatewayRequest::AttachMedia {
            call_id,
            participant,
            media,
        } => io
            .media
            .request(MediaRequest::AttachPhone(call_id, participant, media)),
        GatewayRequest::UpdateMedia {
            call_id,
            participant,
            negotiated,
        } => io
            .media
            .request(MediaRequest::UpdatePhone(call_id, participant, negotiated)),
        GatewayRequest::SendDtmf {
            call_id,
            participant,
            digits,
        } => io
            .media
            .request(MediaRequest::PhoneDtmf(call_id, participant, digits)),
        _ => {}
    }
    io.drain(switchboard);
}

/// Where the switchboard's outputs go.
struct Drain<'a> {
    outboxes: &'a mut HashMap<ConnectionId, mpsc::Sender<OutFrame>>,
    metrics: &'a Metrics,
    media: &'a MediaPlane,
    phones: Option<&'a mpsc::Sender<ToGateway>>,
}

impl Drain<'_> {
    fn to_gateway(&self, message: ToGateway) {
        if let Some(phones) = self.phones
            && phones.try_send(message).is_err()
        {
            tracing::error!("SIP gateway busy or gone: message dropped");
        }
    }

    fn drain(&mut self, switchboard: &mut Switchboard) {
        // Phones dialled with no gateway to dial them fail at once (after the loop: the
        // switchboard is being drained).
        let mut undialled = Vec::new();
        while let Some(output) = switchboard.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let Some(outbox) = self.outboxes.get(&to) else {
                        continue;
                    };
                    if outbox.try_send(OutFrame::Text(message.to_json())).is_ok() {
                        self.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // A client that cannot keep up is cut off rather than slowing everyone.
                        self.metrics
                            .messages_dropped
                            .fetch_add(1, Ordering::Relaxed);
                        let _ = outbox.try_send(OutFrame::Close(1008, "too slow".into()));
                    }
                }
                Output::Close { conn, code } => {
                    let counter = match code {
                        ErrorCode::TooManySessions => Some(&self.metrics.sessions_refused),
                        ErrorCode::HelloTimeout => Some(&self.metrics.hello_timeouts),
                        _ => None,
                    };
                    if let Some(counter) = counter {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(outbox) = self.outboxes.remove(&conn) {
                        let _ = outbox.try_send(OutFrame::refused(code));
                    }
                }
                Output::Media(command) => self.media.send(command),
                Output::Phone(command) => match self.phones {
                    Some(_) => self.to_gateway(ToGateway::Command(command)),
                    None => {
                        if let PhoneCommand::Dial {
                            call_id,
                            participant,
                            ..
                        } = command
                        {
                            tracing::warn!(%call_id, "a phone number was dialled but no SIP gateway runs (--sip-udp)");
                            undialled.push((call_id, participant));
                        }
                    }
                },
            }
        }
        for (call_id, participant) in undialled {
            switchboard.phone_ended(
                call_id,
                participant,
                EndReason::from_sip(EndKind::Unavailable, 503),
            );
        }
        if !switchboard_idle(switchboard) {
            self.drain(switchboard);
            return;
        }
        self.metrics
            .calls
            .store(switchboard.call_count() as u64, Ordering::Relaxed);
        self.metrics
            .participants
            .store(switchboard.participant_count() as u64, Ordering::Relaxed);
        self.metrics
            .connections
            .store(switchboard.connection_count() as u64, Ordering::Relaxed);
    }
}

/// Whether the switchboard has nothing left to say.
fn switchboard_idle(switchboard: &Switchboard) -> bool {
    !switchboard.has_output()
}
