//! Messages the server sends: answers to requests, and events.

use serde::{Deserialize, Serialize};

use super::{
    CallId, Departure, ErrorCode, IceCandidate, ParticipantId, RosterEntry, SlotAssignment,
};
use crate::{CallState, EndReason, Identity};

/// A server-to-client message (the `type` field picks the variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// `hello` accepted.
    Welcome {
        /// The authenticated identity.
        identity: Identity,
        /// The protocol version in use.
        protocol: u32,
        /// Calls this device was in and is back in: a reconnect with the same `endpoint`
        /// within the grace period. Each is followed by its `call_state` and `roster`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resumed: Vec<CallId>,
    },
    /// A request succeeded (carries the request's `id` as `re`).
    Ok {
        /// The call the request created or joined.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<CallId>,
        /// My participant id in that call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<ParticipantId>,
    },
    /// A request failed, or the connection misbehaved.
    Error {
        /// A stable code.
        code: ErrorCode,
        /// Details for people and logs.
        message: String,
    },
    /// Someone is calling me (sent to every connection of mine).
    IncomingCall {
        /// The call; answer with `accept_call` or `reject_call`.
        call_id: CallId,
        /// Who is calling (or inviting).
        from: Identity,
        /// Their display name.
        from_name: String,
        /// Whether the call is a group call.
        group: bool,
        /// Whether the caller sends video.
        video: bool,
        /// The lost 1:1 call (between the same two) this one takes over: a device that was
        /// in it answers without asking its user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumes: Option<CallId>,
    },
    /// An incoming call stopped ringing here (answered elsewhere, cancelled, timed out).
    IncomingCallEnded {
        /// The call.
        call_id: CallId,
        /// Why.
        reason: EndReason,
    },
    /// My call changed state; `reason` is set when it reaches `disconnected`.
    CallState {
        /// The call.
        call_id: CallId,
        /// The new state.
        state: CallState,
        /// Why it ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<EndReason>,
    },
    /// The whole roster (sent on joining, then `roster_update` deltas).
    Roster {
        /// The call.
        call_id: CallId,
        /// My own participant id.
        you: ParticipantId,
        /// Everyone, me included.
        participants: Vec<RosterEntry>,
    },
    /// Roster changes: entries added or changed, and departures with reasons.
    RosterUpdate {
        /// The call.
        call_id: CallId,
        /// New or changed entries.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updated: Vec<RosterEntry>,
        /// Who left, and why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<Departure>,
    },
    /// Which participant is in which of my receive slots.
    MediaSlots {
        /// The call.
        call_id: CallId,
        /// One entry per slot.
        slots: Vec<SlotAssignment>,
    },
    /// The dominant speakers now, most dominant first.
    DominantSpeakers {
        /// The call.
        call_id: CallId,
        /// Speakers in order.
        speakers: Vec<ParticipantId>,
    },
    /// Someone muted me.
    MutedBy {
        /// The call.
        call_id: CallId,
        /// Who did.
        by: ParticipantId,
    },
    /// An SDP offer from the server (renegotiation).
    SdpOffer {
        /// The call.
        call_id: CallId,
        /// The offer.
        sdp: String,
    },
    /// The server's answer to my offer.
    SdpAnswer {
        /// The call.
        call_id: CallId,
        /// The answer.
        sdp: String,
    },
    /// A server ICE candidate.
    IceCandidate {
        /// The call.
        call_id: CallId,
        /// The candidate.
        #[serde(flatten)]
        candidate: IceCandidate,
    },
    /// A phone participant pressed a key (RFC 4733 or SIP INFO).
    Dtmf {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How long it was held, in milliseconds.
        duration_ms: u32,
    },
    /// Answer to `ping`.
    Pong,
}

impl ServerMessage {
    /// Every `type` the server sends.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "ok",
        "error",
        "incoming_call",
        "incoming_call_ended",
        "call_state",
        "roster",
        "roster_update",
        "media_slots",
        "dominant_speakers",
        "muted_by",
        "sdp_offer",
        "sdp_answer",
        "ice_candidate",
        "dtmf",
        "pong",
    ];

    /// The call this message is about, if any.
    pub fn call_id(&self) -> Option<CallId> {
        use ServerMessage::*;
        match self {
            Welcome { .. } | Error { .. } | Pong => None,
            Ok { call_id, .. } => *call_id,
            IncomingCall { call_id, .. }
            | IncomingCallEnded { call_id, .. }
            | CallState { call_id, .. }
            | Roster { call_id, .. }
            | RosterUpdate { call_id, .. }
            | MediaSlots { call_id, .. }
            | DominantSpeakers { call_id, .. }
            | MutedBy { call_id, .. }
            | SdpOffer { call_id, .. }
            | SdpAnswer { call_id, .. }
            | IceCandidate { call_id, .. }
            | Dtmf { call_id, .. } => Some(*call_id),
        }
    }
}
