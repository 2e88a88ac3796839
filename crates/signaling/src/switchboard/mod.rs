//! The sans-IO core of the signaling service.
//!
//! A [`Switchboard`] holds every connection's session and every call. The service's
//! WebSocket tasks feed it frames ([`Switchboard::handle_message`]), connection ends and
//! the time; the media plane feeds it media events. Everything it wants done comes out of
//! [`Switchboard::poll_output`]: messages to send, connections to close, and
//! [`MediaCommand`]s for the media plane. It never reads a clock: [`Switchboard::poll_timeout`]
//! says when it next needs [`Switchboard::handle_timeout`].

mod call;
mod calls;
pub(crate) mod lifecycle;
mod phones;
mod requests;

pub use lifecycle::CallSummary;
pub use phones::{MAX_DTMF_DIGITS, PhoneCommand, PhoneRefusal, PhoneRoute};

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use uuid::Uuid;

use self::call::Call;
pub(crate) use self::call::Participant;
use crate::protocol::{
    CallId, ClientMessage, ErrorCode, IceCandidate, ParticipantId, ServerEnvelope, ServerMessage,
    parse_client,
};
use crate::{CallEvent, CallState, Identity, RateLimiter, Scope, TokenKey};

/// A WebSocket connection, numbered by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Tuning of the switchboard.
#[derive(Debug, Clone)]
pub struct SwitchboardConfig {
    /// How long an unanswered call rings.
    pub ring_timeout: Duration,
    /// How long a participant whose connection dropped keeps its place, waiting for it to
    /// reconnect, before it is marked Disconnected with a network-lost reason.
    pub reconnect_grace: Duration,
    /// Sustained messages per second per connection.
    pub rate_per_second: u32,
    /// Burst allowance per connection.
    pub rate_burst: u32,
    /// Refused messages after which a flooding connection is closed.
    pub max_rate_violations: u32,
    /// Participants per call (ringing ones excluded).
    pub max_participants: usize,
    /// Signed-in sessions (devices) of one person at once; bots and phones are not held to
    /// it. The next `hello` is refused with `too_many_sessions`.
    pub max_sessions_per_user: usize,
    /// How long a new connection has to sign in (`hello`); then it is closed with
    /// `hello_timeout`.
    pub hello_timeout: Duration,
    /// In a cluster, someone called with no device signed in here may have devices on other
    /// nodes, which bring them here to ring: wait this long for one before the call is
    /// `unavailable` (then it rings for the full `ring_timeout`). `None`: unavailable at
    /// once.
    pub device_wait: Option<Duration>,
}

impl Default for SwitchboardConfig {
    fn default() -> Self {
        SwitchboardConfig {
            ring_timeout: Duration::from_secs(30),
            reconnect_grace: Duration::from_secs(5),
            rate_per_second: 50,
            rate_burst: 100,
            max_rate_violations: 500,
            max_participants: 350,
            max_sessions_per_user: 10,
            hello_timeout: Duration::from_secs(10),
            device_wait: None,
        }
    }
}

/// What the media plane must do. Participants are named by call and participant id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaCommand {
    /// A participant entered the call proper: it may now negotiate media.
    Join {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
        /// Their identity (bots get unmixed slots).
        identity: Identity,
    },
    /// A participant left: tear its peer connection down.
    Leave {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
    },
    /// The call is over.
    CallEnded {
        /// The call.
        call_id: CallId,
    },
    /// An SDP offer from a participant; answer with [`Switchboard::deliver`].
    Offer {
        /// The call.
        call_id: CallId,
        /// Whose.
        participant: ParticipantId,
        /// The offer.
        sdp: String,
    },
    /// A participant's answer to a server offer.
    Answer {
        /// The call.
        call_id: CallId,
        /// Whose.
        participant: ParticipantId,
        /// The answer.
        sdp: String,
    },
    /// A participant's trickled candidate.
    Candidate {
        /// The call.
        call_id: CallId,
        /// Whose.
        participant: ParticipantId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// A participant wants `target`'s video at most this size.
    Subscribe {
        /// The call.
        call_id: CallId,
        /// Who subscribes.
        participant: ParticipantId,
        /// Whose video.
        target: ParticipantId,
        /// Preferred maximum width.
        max_width: u32,
        /// Preferred maximum height.
        max_height: u32,
    },
    /// A participant no longer wants `target`'s video.
    Unsubscribe {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
        /// Whose video.
        target: ParticipantId,
    },
    /// A participant's media flags changed: muted audio is not mixed, held participants
    /// send and receive nothing.
    Flags {
        /// The call.
        call_id: CallId,
        /// Whose.
        participant: ParticipantId,
        /// Microphone muted.
        muted: bool,
        /// On hold.
        on_hold: bool,
        /// Sending camera video.
        video: bool,
        /// Sharing the screen.
        screen_sharing: bool,
    },
}

/// Everything the switchboard wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message on a connection.
    Send {
        /// Where.
        to: ConnectionId,
        /// What.
        message: ServerEnvelope,
    },
    /// Close a connection (after sending what came before).
    Close {
        /// Which.
        conn: ConnectionId,
        /// Why.
        code: ErrorCode,
    },
    /// Tell the media plane.
    Media(MediaCommand),
    /// Tell the SIP gateway (phone participants).
    Phone(PhoneCommand),
}

/// A refused request: its code and words.
type Refusal = (ErrorCode, String);

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err((code, message.into()))
}

#[derive(Debug)]
struct Session {
    identity: Option<Identity>,
    scopes: Vec<Scope>,
    display_name: String,
    endpoint: Option<String>,
    limiter: RateLimiter,
    violations: u32,
}

/// The signaling core: sessions, calls, rosters, ringing, lobby. See the module docs.
#[derive(Debug)]
pub struct Switchboard {
    config: SwitchboardConfig,
    key: TokenKey,
    sessions: HashMap<ConnectionId, Session>,
    /// Authenticated connections per identity: where to ring.
    online: HashMap<Identity, BTreeSet<ConnectionId>>,
    calls: HashMap<CallId, Call>,
    groups: HashMap<Uuid, CallId>,
    outputs: VecDeque<Output>,
    /// Each new connection's sign-in deadline, in the order they came (so the earliest is
    /// first): one not signed in by then is closed.
    hello_deadlines: VecDeque<(Instant, ConnectionId)>,
}

impl Switchboard {
    /// A switchboard verifying tokens with `key`.
    pub fn new(config: SwitchboardConfig, key: TokenKey) -> Self {
        Switchboard {
            config,
            key,
            sessions: HashMap::new(),
            online: HashMap::new(),
            calls: HashMap::new(),
            groups: HashMap::new(),
            outputs: VecDeque::new(),
            hello_deadlines: VecDeque::new(),
        }
    }

    /// The next thing to do, if any. Drain it after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether outputs are waiting to be drained.
    pub fn has_output(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// When [`handle_timeout`](Switchboard::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // The first connection still waiting to sign in (the others' entries go when
        // their deadline passes).
        let hello = self
            .hello_deadlines
            .iter()
            .find(|(_, conn)| {
                self.sessions
                    .get(conn)
                    .is_some_and(|s| s.identity.is_none())
            })
            .map(|&(at, _)| at);
        self.calls
            .values()
            .flat_map(|c| c.participants.values())
            .flat_map(|p| [p.ring_deadline, p.lost_deadline])
            .chain([hello])
            .flatten()
            .min()
    }

    /// Number of calls running.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Number of participants (ringing ones excluded) across all calls.
    pub fn participant_count(&self) -> usize {
        self.calls.values().map(Call::live_count).sum()
    }

    /// A new connection was accepted at `now`; it has until `now` plus
    /// [`hello_timeout`](SwitchboardConfig::hello_timeout) to sign in.
    pub fn handle_connect(&mut self, conn: ConnectionId, now: Instant) {
        self.hello_deadlines
            .push_back((now + self.config.hello_timeout, conn));
        self.sessions.insert(
            conn,
            Session {
                identity: None,
                scopes: Vec::new(),
                display_name: String::new(),
                endpoint: None,
                limiter: RateLimiter::new(self.config.rate_per_second, self.config.rate_burst),
                violations: 0,
            },
        );
    }

    /// A text frame arrived on `conn`. `unix_secs` is wall-clock time for token expiry.
    pub fn handle_message(&mut self, conn: ConnectionId, text: &str, now: Instant, unix_secs: u64) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !session.limiter.allow(now) {
            session.violations += 1;
            let violations = session.violations;
            // Tell the client once per burst of refusals, not once per message.
            if violations == 1 || violations.is_multiple_of(100) {
                self.send_error(
                    conn,
                    None,
                    ErrorCode::RateLimited,
                    "too many messages; slow down",
                );
            }
            if violations >= self.config.max_rate_violations {
                tracing::warn!(?conn, violations, "closing flooding connection");
                self.close(conn, ErrorCode::RateLimited, now);
            }
            return;
        }
        let envelope = match parse_client(text) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::debug!(?conn, code = ?e.code, "refused frame: {}", e.message);
                self.send_error(conn, e.re, e.code, &e.message);
                return;
            }
        };
        let re = envelope.id;
        let is_hello = matches!(envelope.message, ClientMessage::Hello { .. });
        let result = match envelope.message {
            ClientMessage::Hello {
                identity,
                token,
                display_name,
                endpoint,
            } => self.hello(
                conn,
                &identity,
                &token,
                display_name,
                endpoint.as_deref(),
                unix_secs,
                now,
            ),
            ClientMessage::Ping => Ok(ServerMessage::Pong),
            message => match self.authenticated(conn) {
                Ok(()) => self.request(conn, message, now),
                Err(refusal) => Err(refusal),
            },
        };
        match result {
            Ok(message) => self.send(conn, ServerEnvelope::reply(re, message)),
            Err((code, message)) => {
                self.send_error(conn, re, code, &message);
                // A failed authentication ends the connection, after the error is sent.
                if is_hello && code != ErrorCode::AlreadyAuthenticated {
                    self.close(conn, code, now);
                }
            }
        }
    }

    fn authenticated(&self, conn: ConnectionId) -> Result<(), Refusal> {
        match self.sessions.get(&conn) {
            Some(s) if s.identity.is_some() => Ok(()),
            _ => refuse(ErrorCode::NotAuthenticated, "send hello first"),
        }
    }

    fn send(&mut self, to: ConnectionId, message: ServerEnvelope) {
        self.outputs.push_back(Output::Send { to, message });
    }

    fn event(&mut self, to: ConnectionId, message: ServerMessage) {
        self.send(to, ServerEnvelope::event(message));
    }

    fn send_error(&mut self, to: ConnectionId, re: Option<u64>, code: ErrorCode, message: &str) {
        let error = ServerMessage::Error {
            code,
            message: crate::protocol::bounded_message(message.to_string()),
        };
        self.send(to, ServerEnvelope::reply(re, error));
    }

    /// Asks the service to close `conn` and forgets it at once: anything still arriving on
    /// it is ignored, and its participations wait out the reconnect grace.
    fn close(&mut self, conn: ConnectionId, code: ErrorCode, now: Instant) {
        self.outputs.push_back(Output::Close { conn, code });
        self.handle_disconnect(conn, now);
    }

    fn media(&mut self, command: MediaCommand) {
        self.outputs.push_back(Output::Media(command));
    }

    /// Moves a participant's call state and tells them, if they have a connection.
    /// Invalid moves are logged and skipped: a state machine never panics the service.
    fn move_call_state(&mut self, call_id: CallId, pid: ParticipantId, event: CallEvent) {
        let Some(p) = self.participant_mut(call_id, pid) else {
            return;
        };
        match p.call_state.on(event) {
            Ok(next) if next != p.call_state => {
                p.call_state = next;
                if let Some(conn) = p.conn {
                    self.event(
                        conn,
                        ServerMessage::CallState {
                            call_id,
                            state: next,
                            reason: None,
                        },
                    );
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%call_id, %pid, "skipped: {e}"),
        }
    }

    fn participant_mut(&mut self, call_id: CallId, pid: ParticipantId) -> Option<&mut Participant> {
        self.calls.get_mut(&call_id)?.participants.get_mut(&pid)
    }

    /// The caller's participation in `call_id`, and the call.
    fn own(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<(&mut Call, ParticipantId), Refusal> {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return refuse(ErrorCode::CallNotFound, format!("no call {call_id}"));
        };
        match call.on_connection(conn) {
            Some(pid) => Ok((call, pid)),
            None => refuse(
                ErrorCode::NotInCall,
                format!("you are not in call {call_id}"),
            ),
        }
    }

    /// Sends a roster change to every active participant of the call.
    fn broadcast(&mut self, call_id: CallId, message: &ServerMessage) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let conns: Vec<ConnectionId> = call
            .participants
            .values()
            .filter(|p| p.is_active())
            .filter_map(|p| p.conn)
            .collect();
        for conn in conns {
            self.event(conn, message.clone());
        }
    }

    /// Sends the updated roster entries of `pids` (lobby entries included, so organizers
    /// can admit) to everyone active in the call.
    fn announce(&mut self, call_id: CallId, pids: &[ParticipantId]) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let updated: Vec<_> = pids
            .iter()
            .filter_map(|pid| call.participants.get(pid))
            .map(Participant::entry)
            .collect();
        if updated.is_empty() {
            return;
        }
        self.broadcast(
            call_id,
            &ServerMessage::RosterUpdate {
                call_id,
                updated,
                removed: Vec::new(),
            },
        );
    }

    /// Sends the full roster to one participant.
    fn send_roster(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let Some(conn) = call.participants.get(&pid).and_then(|p| p.conn) else {
            return;
        };
        let participants = call.roster();
        self.event(
            conn,
            ServerMessage::Roster {
                call_id,
                you: pid,
                participants,
            },
        );
    }

    /// Sends the current call state to a participant (on joining or reconnecting).
    fn send_call_state(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(p) = self
            .calls
            .get(&call_id)
            .and_then(|c| c.participants.get(&pid))
        else {
            return;
        };
        if let Some(conn) = p.conn {
            let state = p.call_state;
            self.event(
                conn,
                ServerMessage::CallState {
                    call_id,
                    state,
                    reason: None,
                },
            );
        }
    }

    fn flags(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(p) = self
            .calls
            .get(&call_id)
            .and_then(|c| c.participants.get(&pid))
        else {
            return;
        };
        let command = MediaCommand::Flags {
            call_id,
            participant: pid,
            muted: p.muted,
            on_hold: p.call_state == CallState::LocalHold,
            video: p.video,
            screen_sharing: p.screen_sharing,
        };
        self.media(command);
    }
}
