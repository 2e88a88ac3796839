//! A call's records: who is in it, in which state, with which flags.

use std::collections::BTreeMap;
use std::time::Instant;

use uuid::Uuid;

use super::ConnectionId;
use crate::protocol::{CallId, ParticipantId, RosterEntry};
use crate::{CallState, Identity, ParticipantState, Role};

/// 1:1 calls end when one side leaves; group calls go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    OneToOne,
    Group,
}

#[derive(Debug)]
pub(crate) struct Participant {
    pub(crate) id: ParticipantId,
    pub(crate) identity: Identity,
    pub(crate) display_name: String,
    pub(crate) role: Role,
    pub(crate) state: ParticipantState,
    /// The call as this participant sees it.
    pub(crate) call_state: CallState,
    pub(crate) muted: bool,
    pub(crate) video: bool,
    pub(crate) screen_sharing: bool,
    /// The connection this participation lives on (`None` while ringing, or after the
    /// connection dropped and before the grace period ends).
    pub(crate) conn: Option<ConnectionId>,
    pub(crate) endpoint: Option<String>,
    /// Answered (callee) or answered-by-the-other-side (1:1 caller); always for group joins.
    pub(crate) established: bool,
    pub(crate) media_connected: bool,
    /// While ringing: when to give up.
    pub(crate) ring_deadline: Option<Instant>,
    /// Ringing with no device to ring yet (waiting for one from another node of a cluster):
    /// giving up then is `unavailable`, not a ring timeout.
    pub(crate) awaiting_device: bool,
    /// Who rang this participant in, while ringing.
    pub(crate) invited_by: Option<Identity>,
    /// After the connection dropped: when to declare the network lost.
    pub(crate) lost_deadline: Option<Instant>,
    /// A phone reached through the SIP gateway: its leg lives there, not on a connection.
    pub(crate) phone: bool,
}

impl Participant {
    pub(crate) fn entry(&self) -> RosterEntry {
        RosterEntry {
            participant: self.id,
            identity: self.identity.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            state: self.state,
            muted: self.muted,
            video: self.video,
            screen_sharing: self.screen_sharing,
        }
    }

    /// In the call proper: receives the roster and may negotiate media.
    pub(crate) fn is_active(&self) -> bool {
        !matches!(
            self.state,
            ParticipantState::Idle | ParticipantState::InLobby | ParticipantState::Disconnected
        )
    }
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) kind: CallKind,
    pub(crate) group_id: Option<Uuid>,
    pub(crate) lobby: bool,
    pub(crate) participants: BTreeMap<ParticipantId, Participant>,
    /// A 1:1 call: the lost call between the same two that it takes over.
    pub(crate) resumes: Option<CallId>,
    next_participant: u32,
}

impl Call {
    pub(crate) fn new(kind: CallKind, group_id: Option<Uuid>, lobby: bool) -> Call {
        Call {
            id: CallId::new(),
            kind,
            group_id,
            lobby,
            participants: BTreeMap::new(),
            resumes: None,
            next_participant: 1,
        }
    }

    /// Adds a participant in state `Idle` and returns its id.
    pub(crate) fn add(
        &mut self,
        identity: Identity,
        display_name: String,
        role: Role,
        call_state: CallState,
    ) -> ParticipantId {
        let id = ParticipantId(self.next_participant);
        self.next_participant += 1;
        self.participants.insert(
            id,
            Participant {
                id,
                identity,
                display_name,
                role,
                state: ParticipantState::Idle,
                call_state,
                muted: false,
                video: false,
                screen_sharing: false,
                conn: None,
                endpoint: None,
                established: false,
                media_connected: false,
                ring_deadline: None,
                awaiting_device: false,
                invited_by: None,
                lost_deadline: None,
                phone: false,
            },
        );
        id
    }

    pub(crate) fn roster(&self) -> Vec<RosterEntry> {
        self.participants.values().map(Participant::entry).collect()
    }

    /// The participant living on `conn`.
    pub(crate) fn on_connection(&self, conn: ConnectionId) -> Option<ParticipantId> {
        self.participants
            .values()
            .find(|p| p.conn == Some(conn))
            .map(|p| p.id)
    }

    /// The participant of `identity` still ringing.
    pub(crate) fn ringing_for(&self, identity: &Identity) -> Option<ParticipantId> {
        self.participants
            .values()
            .find(|p| p.state == ParticipantState::Idle && &p.identity == identity)
            .map(|p| p.id)
    }

    /// Participants in the call proper or waiting to be.
    pub(crate) fn live_count(&self) -> usize {
        self.participants
            .values()
            .filter(|p| p.state != ParticipantState::Idle)
            .count()
    }

    /// Identities with a participation that has not ended (ringing included).
    pub(crate) fn has_identity(&self, identity: &Identity) -> bool {
        self.participants.values().any(|p| &p.identity == identity)
    }
}
