//! Identifiers and records shared by client and server messages.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{EndReason, Identity, ParticipantState, Role};

/// A call, for its whole life (a 1:1 call promoted to a group keeps its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub Uuid);

impl CallId {
    /// A fresh random id.
    pub fn new() -> CallId {
        CallId(Uuid::new_v4())
    }
}

impl Default for CallId {
    fn default() -> Self {
        CallId::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One participation in one call (the same identity joining twice gets two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u32);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// One participant as the roster shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Their id in this call.
    pub participant: ParticipantId,
    /// Who they are.
    pub identity: Identity,
    /// The name to show.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// Their state.
    pub state: ParticipantState,
    /// Whether their microphone is muted.
    pub muted: bool,
    /// Whether they send camera video.
    pub video: bool,
    /// Whether they share their screen.
    pub screen_sharing: bool,
}

/// Someone who left the roster, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    /// Their id in this call.
    pub participant: ParticipantId,
    /// Who they were.
    pub identity: Identity,
    /// Why they left.
    pub reason: EndReason,
}

/// A trickled ICE candidate (RFC 8839 `candidate:` attribute value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The candidate line, e.g. `candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host`.
    pub candidate: String,
    /// The media section it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of that media section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
}

/// What a receive slot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// The mixed audio of the call.
    MixedAudio,
    /// One participant's own audio (bots only).
    UnmixedAudio,
    /// One participant's camera video.
    Video,
    /// The screen share.
    Screen,
}

/// Which participant a receive slot (a media section, by `mid`) carries now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotAssignment {
    /// The media section's `mid`.
    pub mid: String,
    /// What the slot carries.
    pub kind: SlotKind,
    /// Whose media is in it; `None` for an empty slot or the mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<ParticipantId>,
}
