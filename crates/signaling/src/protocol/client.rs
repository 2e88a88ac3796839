//! Messages a client (browser, bot, CLI) sends.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CallId, IceCandidate, ParticipantId};
use crate::Identity;

/// A client-to-server message (the `type` field picks the variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on a connection: who I am, proven by a token.
    Hello {
        /// The identity the client speaks for; must match the token.
        identity: Identity,
        /// An access token from the service.
        token: String,
        /// The name to show others.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        /// A stable id for this device, so a reconnecting client gets its calls back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
    },
    /// Start a group call (or return the running call of `group_id`) and join it.
    CreateCall {
        /// A group to attach the call to; others join by it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Uuid>,
        /// Whether joiners wait in a lobby until admitted.
        #[serde(default)]
        lobby: bool,
        /// Whether I start with camera video.
        #[serde(default)]
        video: bool,
    },
    /// Join a running call by call id or group id.
    JoinCall {
        /// The call to join.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<CallId>,
        /// Or the group whose call to join.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Uuid>,
        /// Whether I start with camera video.
        #[serde(default)]
        video: bool,
    },
    /// Place a 1:1 call: every connection of `to` is notified and rings.
    PlaceCall {
        /// Who to call.
        to: Identity,
        /// Whether I start with camera video.
        #[serde(default)]
        video: bool,
        /// The 1:1 call between the same two that this one takes over, lost with the node
        /// that hosted it: `to`'s device that was in it answers by itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumes: Option<CallId>,
    },
    /// Answer an incoming call.
    AcceptCall {
        /// The ringing call.
        call_id: CallId,
        /// Whether I start with camera video.
        #[serde(default)]
        video: bool,
    },
    /// Decline an incoming call.
    RejectCall {
        /// The ringing call.
        call_id: CallId,
    },
    /// Give up an outgoing call before it is answered.
    CancelCall {
        /// The call placed.
        call_id: CallId,
    },
    /// Ring another identity into a call; in a 1:1 call this makes it a group call in
    /// place (same call, nobody's media interrupted).
    Invite {
        /// The call.
        call_id: CallId,
        /// Who to add.
        identity: Identity,
    },
    /// Leave the call (hang up). A 1:1 call ends for both.
    Leave {
        /// The call.
        call_id: CallId,
    },
    /// End the call for everyone (organizer).
    EndCall {
        /// The call.
        call_id: CallId,
    },
    /// My SDP offer for my one peer connection in the call.
    SdpOffer {
        /// The call.
        call_id: CallId,
        /// The offer.
        sdp: String,
    },
    /// My SDP answer to an offer from the server.
    SdpAnswer {
        /// The call.
        call_id: CallId,
        /// The answer.
        sdp: String,
    },
    /// A trickled ICE candidate of mine.
    IceCandidate {
        /// The call.
        call_id: CallId,
        /// The candidate.
        #[serde(flatten)]
        candidate: IceCandidate,
    },
    /// Receive a participant's video in one of my slots, at most this size.
    SubscribeVideo {
        /// The call.
        call_id: CallId,
        /// Whose video.
        participant: ParticipantId,
        /// Preferred maximum width.
        max_width: u32,
        /// Preferred maximum height.
        max_height: u32,
    },
    /// Stop receiving a participant's video.
    UnsubscribeVideo {
        /// The call.
        call_id: CallId,
        /// Whose video.
        participant: ParticipantId,
    },
    /// Mute or unmute my microphone.
    MuteSelf {
        /// The call.
        call_id: CallId,
        /// Muted or not.
        muted: bool,
    },
    /// Mute someone else (organizer, presenter). Only they can unmute themselves.
    MuteParticipant {
        /// The call.
        call_id: CallId,
        /// Who to mute.
        participant: ParticipantId,
    },
    /// Put the call on hold (no media either way) or resume it.
    Hold {
        /// The call.
        call_id: CallId,
        /// Hold (true) or resume (false).
        on: bool,
    },
    /// Start or stop sending camera video.
    Video {
        /// The call.
        call_id: CallId,
        /// Sending or not.
        on: bool,
    },
    /// Start or stop sharing my screen.
    ScreenShare {
        /// The call.
        call_id: CallId,
        /// Sharing or not.
        active: bool,
    },
    /// Let someone in from the lobby (organizer, presenter).
    Admit {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
    },
    /// Turn someone away from the lobby (organizer, presenter).
    RejectLobby {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
    },
    /// Remove someone from the call (organizer).
    RemoveParticipant {
        /// The call.
        call_id: CallId,
        /// Who.
        participant: ParticipantId,
    },
    /// Send DTMF keys to the phones in the call (RFC 4733 in their audio, or SIP INFO).
    SendDtmf {
        /// The call.
        call_id: CallId,
        /// Keys to press, in order: `0`–`9`, `*`, `#`, `A`–`D` (at most 32).
        digits: String,
        /// One phone participant; all of the call's phones when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<ParticipantId>,
    },
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl ClientMessage {
    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "create_call",
        "join_call",
        "place_call",
        "accept_call",
        "reject_call",
        "cancel_call",
        "invite",
        "leave",
        "end_call",
        "sdp_offer",
        "sdp_answer",
        "ice_candidate",
        "subscribe_video",
        "unsubscribe_video",
        "mute_self",
        "mute_participant",
        "hold",
        "video",
        "screen_share",
        "admit",
        "reject_lobby",
        "remove_participant",
        "send_dtmf",
        "ping",
    ];

    /// The call this message is about, if any.
    pub fn call_id(&self) -> Option<CallId> {
        use ClientMessage::*;
        match self {
            Hello { .. } | CreateCall { .. } | PlaceCall { .. } | Ping => None,
            JoinCall { call_id, .. } => *call_id,
            AcceptCall { call_id, .. }
            | RejectCall { call_id }
            | CancelCall { call_id }
            | Invite { call_id, .. }
            | Leave { call_id }
            | EndCall { call_id }
            | SdpOffer { call_id, .. }
            | SdpAnswer { call_id, .. }
            | IceCandidate { call_id, .. }
            | SubscribeVideo { call_id, .. }
            | UnsubscribeVideo { call_id, .. }
            | MuteSelf { call_id, .. }
            | MuteParticipant { call_id, .. }
            | Hold { call_id, .. }
            | Video { call_id, .. }
            | ScreenShare { call_id, .. }
            | Admit { call_id, .. }
            | RejectLobby { call_id, .. }
            | RemoveParticipant { call_id, .. }
            | SendDtmf { call_id, .. } => Some(*call_id),
        }
    }
}
