//! A switchboard driven without a network, on a virtual clock: connections are numbers,
//! frames are JSON text, and every output is collected per connection.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::needless_pass_by_value,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use confab_signaling::protocol::{
    CallId, ClientEnvelope, ClientMessage, ErrorCode, ParticipantId, RosterEntry, ServerEnvelope,
    ServerMessage,
};
use confab_signaling::{
    CallState, ConnectionId, EndKind, Identity, MediaCommand, Output, ParticipantState,
    PhoneCommand, Scope, Switchboard, SwitchboardConfig, TokenKey,
};

pub const SECRET: [u8; 32] = *b"confab-test-secret-of-32-bytes!!";
pub const EPOCH: u64 = 1_800_000_000;

pub struct Harness {
    pub sb: Switchboard,
    pub key: TokenKey,
    start: Instant,
    pub now: Instant,
    next_conn: u64,
    next_id: u64,
    inbox: HashMap<ConnectionId, Vec<ServerEnvelope>>,
    pub media: Vec<MediaCommand>,
    pub closed: Vec<(ConnectionId, ErrorCode)>,
    /// What the switchboard asked of the SIP gateway.
    pub phones: Vec<PhoneCommand>,
}

impl Harness {
    pub fn new() -> Self {
        Harness::with_config(SwitchboardConfig::default())
    }

    pub fn with_config(config: SwitchboardConfig) -> Self {
        let key = TokenKey::from_secret(&SECRET).unwrap();
        let start = Instant::now();
        Harness {
            sb: Switchboard::new(config, key.clone()),
            key,
            start,
            now: start,
            next_conn: 1,
            next_id: 1,
            inbox: HashMap::new(),
            media: Vec::new(),
            closed: Vec::new(),
            phones: Vec::new(),
        }
    }

    pub fn unix(&self) -> u64 {
        EPOCH + (self.now - self.start).as_secs()
    }

    pub fn token(&self, identity: &Identity, scopes: &[Scope]) -> String {
        self.key.mint(identity, scopes, self.unix(), 3600).unwrap()
    }

    /// Opens a connection without saying hello.
    pub fn open(&mut self) -> ConnectionId {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        self.sb.handle_connect(conn, self.now);
        conn
    }

    /// Opens a connection and authenticates as `identity` with the scope its kind needs.
    pub fn connect(&mut self, identity: &Identity) -> ConnectionId {
        let scope = if identity.is_bot() {
            Scope::Bot
        } else {
            Scope::Voip
        };
        self.connect_with(identity, &[scope], None)
    }

    pub fn connect_with(
        &mut self,
        identity: &Identity,
        scopes: &[Scope],
        endpoint: Option<&str>,
    ) -> ConnectionId {
        let conn = self.open();
        let token = self.token(identity, scopes);
        let reply = self.request(
            conn,
            ClientMessage::Hello {
                identity: identity.clone(),
                token,
                display_name: Some(format!("{identity}")),
                endpoint: endpoint.map(str::to_string),
            },
        );
        assert!(
            matches!(reply, ServerMessage::Ok { .. }),
            "hello refused: {reply:?}"
        );
        // Take the welcome; leave what follows it (resumed calls, ringing) to the test.
        let inbox = self.inbox.entry(conn).or_default();
        let first = inbox.first().map(|e| e.message.clone());
        assert!(
            matches!(first, Some(ServerMessage::Welcome { .. })),
            "{first:?}"
        );
        inbox.remove(0);
        conn
    }

    /// Feeds raw text and collects the outputs.
    pub fn raw(&mut self, conn: ConnectionId, text: &str) {
        self.sb.handle_message(conn, text, self.now, self.unix());
        self.pump();
    }

    /// Sends a request and returns its answer (`ok` or `error`).
    pub fn request(&mut self, conn: ConnectionId, message: ClientMessage) -> ServerMessage {
        let id = self.next_id;
        self.next_id += 1;
        self.raw(conn, &ClientEnvelope::new(Some(id), message).to_json());
        let inbox = self.inbox.entry(conn).or_default();
        let at = inbox
            .iter()
            .position(|e| e.re == Some(id))
            .expect("every request is answered");
        inbox.remove(at).message
    }

    /// Sends a request that must succeed.
    pub fn ok(&mut self, conn: ConnectionId, message: ClientMessage) -> ServerMessage {
        let reply = self.request(conn, message.clone());
        assert!(
            matches!(reply, ServerMessage::Ok { .. }),
            "{message:?} refused: {reply:?}"
        );
        reply
    }

    /// Sends a request that must be refused with `code`.
    pub fn refused(&mut self, conn: ConnectionId, message: ClientMessage, code: ErrorCode) {
        match self.request(conn, message.clone()) {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code, "{message:?}"),
            other => panic!("{message:?} was accepted: {other:?}"),
        }
    }

    pub fn pump(&mut self) {
        while let Some(output) = self.sb.poll_output() {
            match output {
                Output::Send { to, message } => self.inbox.entry(to).or_default().push(message),
                Output::Media(command) => self.media.push(command),
                Output::Close { conn, code } => self.closed.push((conn, code)),
                Output::Phone(command) => self.phones.push(command),
            }
        }
    }

    /// Drains the events (not answers) received on `conn`.
    pub fn events(&mut self, conn: ConnectionId) -> Vec<ServerMessage> {
        let inbox = self.inbox.entry(conn).or_default();
        let (events, answers): (Vec<_>, Vec<_>) = inbox.drain(..).partition(|e| e.re.is_none());
        *inbox = answers;
        events.into_iter().map(|e| e.message).collect()
    }

    /// Moves the virtual clock, firing timers that fall due.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(due) = self.sb.poll_timeout().filter(|d| *d <= target) {
            self.now = due.max(self.now);
            self.sb.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    pub fn disconnect(&mut self, conn: ConnectionId) {
        self.sb.handle_disconnect(conn, self.now);
        self.pump();
    }

    pub fn media_connected(&mut self, call_id: CallId, pid: ParticipantId) {
        self.sb.media_connected(call_id, pid);
        self.pump();
    }
}

/// `(call, participant)` from an `ok` answer.
pub fn joined(reply: &ServerMessage) -> (CallId, ParticipantId) {
    match reply {
        ServerMessage::Ok {
            call_id: Some(c),
            participant: Some(p),
        } => (*c, *p),
        other => panic!("not a join answer: {other:?}"),
    }
}

/// The call states announced in `events`, with the end kind where there is one.
pub fn call_states(events: &[ServerMessage]) -> Vec<(CallState, Option<EndKind>)> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerMessage::CallState { state, reason, .. } => {
                Some((*state, reason.as_ref().map(|r| r.kind)))
            }
            _ => None,
        })
        .collect()
}

/// The call id of the first incoming-call notification in `events`.
pub fn incoming(events: &[ServerMessage]) -> Option<CallId> {
    events.iter().find_map(|e| match e {
        ServerMessage::IncomingCall { call_id, .. } => Some(*call_id),
        _ => None,
    })
}

/// Roster entries announced in `events` (snapshots and updates), latest last.
pub fn roster_entries(events: &[ServerMessage]) -> Vec<RosterEntry> {
    events
        .iter()
        .flat_map(|e| match e {
            ServerMessage::Roster { participants, .. } => participants.clone(),
            ServerMessage::RosterUpdate { updated, .. } => updated.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// Departures announced in `events`: who and why.
pub fn departures(events: &[ServerMessage]) -> Vec<(ParticipantId, EndKind)> {
    events
        .iter()
        .flat_map(|e| match e {
            ServerMessage::RosterUpdate { removed, .. } => removed
                .iter()
                .map(|d| (d.participant, d.reason.kind))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The last state the roster events gave `pid`.
pub fn last_state(events: &[ServerMessage], pid: ParticipantId) -> Option<ParticipantState> {
    roster_entries(events)
        .iter()
        .rev()
        .find(|e| e.participant == pid)
        .map(|e| e.state)
}

pub fn user() -> Identity {
    Identity::new_user()
}
