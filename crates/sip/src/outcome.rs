//! How SIP's final responses map onto confab's end reasons, and back: a dialled phone that
//! is busy ends `busy` with subcode 486; an incoming phone call whose callee declines is
//! refused with 603.

use confab_signaling::protocol::ErrorCode;
use confab_signaling::{EndKind, EndReason, PhoneRefusal};

/// Why a dial-out ended, from the final response it got.
pub fn reason_for_status(status: u16) -> EndReason {
    let kind = match status {
        486 | 600 => EndKind::Busy,
        603 | 403 | 607 | 608 => EndKind::Rejected,
        408 => EndKind::RingTimeout,
        487 => EndKind::Cancelled,
        // 404, 410, 480, 484, 485, 488, 5xx...: the number cannot be reached now.
        _ => EndKind::Unavailable,
    };
    EndReason::from_sip(kind, status)
}

/// The final response that refuses a phone's call that was never answered, for why it ends.
pub fn status_for_reason(reason: &EndReason) -> u16 {
    match reason.kind {
        EndKind::Busy => 486,
        EndKind::Rejected | EndKind::LobbyRejected => 603,
        EndKind::Cancelled => 487,
        EndKind::ServerShutdown => 503,
        EndKind::RingTimeout => 408,
        // Removed, ended by the organizer, nobody reachable, media lost: not available.
        _ => 480,
    }
}

/// The final response for a call the switchboard would not put through.
pub fn status_for_refusal(refusal: &PhoneRefusal) -> u16 {
    match refusal.code {
        ErrorCode::CallNotFound => 404,
        // Nobody online to ring.
        ErrorCode::ParticipantNotFound => 480,
        // The call is full.
        ErrorCode::InvalidState => 486,
        ErrorCode::Forbidden => 403,
        ErrorCode::InvalidMessage => 400,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_reasons() {
        let busy = reason_for_status(486);
        assert_eq!(
            (busy.kind, busy.code, busy.subcode),
            (EndKind::Busy, 486, 486)
        );
        assert_eq!(reason_for_status(603).kind, EndKind::Rejected);
        assert_eq!(reason_for_status(408).kind, EndKind::RingTimeout);
        assert_eq!(reason_for_status(404).kind, EndKind::Unavailable);
        assert_eq!(reason_for_status(503).subcode, 503);
        assert_eq!(status_for_reason(&EndReason::new(EndKind::Rejected)), 603);
        assert_eq!(
            status_for_reason(&EndReason::new(EndKind::Unavailable)),
            480
        );
        assert_eq!(
            status_for_reason(&EndReason::new(EndKind::ServerShutdown)),
            503
        );
        let full = PhoneRefusal {
            code: ErrorCode::InvalidState,
            message: "full".into(),
        };
        assert_eq!(status_for_refusal(&full), 486);
    }
}
