//! Why a call or a participation ended: a stable code, a subcode and words for people.

use serde::{Deserialize, Serialize};

/// Every way a call or a participation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndKind {
    /// This participant hung up.
    HangUp,
    /// The other party of a 1:1 call hung up.
    RemoteHangUp,
    /// An organizer removed the participant.
    Removed,
    /// The callee declined.
    Rejected,
    /// Nobody answered in time.
    RingTimeout,
    /// The caller gave up before an answer.
    Cancelled,
    /// The callee answered on another device.
    AnsweredElsewhere,
    /// The callee is not online (or a phone number cannot be reached).
    Unavailable,
    /// The phone called is busy.
    Busy,
    /// Signaling or media was lost and did not come back.
    NetworkLost,
    /// The organizer ended the call for everyone.
    EndedByOrganizer,
    /// An organizer declined to admit the participant from the lobby.
    LobbyRejected,
    /// The service is shutting down.
    ServerShutdown,
}

/// The reason attached to a `Disconnected` state: SIP-like `code`, a confab `subcode` that
/// tells the cases apart, and text for people. Codes are stable across versions.
///
/// When a phone leg ends with a SIP final response or a BYE's reason, `subcode` is that SIP
/// status code instead (100–699, never one of confab's own subcodes, which start at 5000):
/// a declined phone call is `rejected` with subcode 603, a busy one `busy` with 486.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndReason {
    /// Which way it ended.
    pub kind: EndKind,
    /// SIP-style class: 0 normal, 4xx the callee's side, 5xx the service's.
    pub code: u16,
    /// confab's subcode, unique per kind.
    pub subcode: u32,
    /// A sentence for people.
    pub text: String,
}

impl EndReason {
    /// The reason for `kind`, with its fixed code, subcode and text.
    pub fn new(kind: EndKind) -> EndReason {
        let (code, subcode, text) = match kind {
            EndKind::HangUp => (0, 0, "You left the call"),
            EndKind::RemoteHangUp => (0, 5001, "The other party hung up"),
            EndKind::Removed => (0, 5300, "An organizer removed you from the call"),
            EndKind::EndedByOrganizer => (0, 5310, "An organizer ended the call for everyone"),
            EndKind::AnsweredElsewhere => (0, 5320, "Answered on another device"),
            EndKind::LobbyRejected => (403, 5400, "You were not admitted from the lobby"),
            EndKind::Unavailable => (480, 5480, "The person you called is not available"),
            EndKind::Busy => (486, 5486, "The number you called is busy"),
            EndKind::RingTimeout => (408, 5408, "No answer"),
            EndKind::Cancelled => (487, 5487, "The caller hung up before an answer"),
            EndKind::Rejected => (603, 5603, "The call was declined"),
            EndKind::NetworkLost => (410, 5410, "The connection was lost"),
            EndKind::ServerShutdown => (503, 5503, "The service is shutting down"),
        };
        EndReason {
            kind,
            code,
            subcode,
            text: text.to_string(),
        }
    }

    /// The reason for `kind` as a phone leg's SIP status `sip_status` said it.
    pub fn from_sip(kind: EndKind, sip_status: u16) -> EndReason {
        EndReason {
            subcode: u32::from(sip_status),
            ..EndReason::new(kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcodes_are_unique() {
        let kinds = [
            EndKind::HangUp,
            EndKind::RemoteHangUp,
            EndKind::Removed,
            EndKind::Rejected,
            EndKind::RingTimeout,
            EndKind::Cancelled,
            EndKind::AnsweredElsewhere,
            EndKind::Unavailable,
            EndKind::Busy,
            EndKind::NetworkLost,
            EndKind::EndedByOrganizer,
            EndKind::LobbyRejected,
            EndKind::ServerShutdown,
        ];
        let mut subcodes: Vec<u32> = kinds.iter().map(|&k| EndReason::new(k).subcode).collect();
        subcodes.sort_unstable();
        subcodes.dedup();
        assert_eq!(subcodes.len(), kinds.len());
    }
}
