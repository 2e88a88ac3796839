//! The callee declines: the caller's call ends with a "declined" reason, every device of
//! the callee stops ringing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{CallState, EndKind};

#[test]
fn callee_rejects() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect(&alice);
    let b1 = h.connect(&bob);
    let b2 = h.connect(&bob);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob,
            video: false,
            resumes: None,
        },
    ));
    h.events(a);
    h.events(b1);

    // Someone else cannot reject Bob's call.
    let carol = h.connect(&user());
    h.refused(
        carol,
        ClientMessage::RejectCall { call_id: call },
        ErrorCode::InvalidState,
    );

    h.ok(b1, ClientMessage::RejectCall { call_id: call });
    let states = call_states(&h.events(a));
    assert_eq!(
        states.last(),
        Some(&(CallState::Disconnected, Some(EndKind::Rejected)))
    );
    let reason = h.events(a);
    assert!(reason.is_empty(), "nothing after the end: {reason:?}");
    for device in [b1, b2] {
        assert!(h.events(device).iter().any(|e| matches!(e,
            ServerMessage::IncomingCallEnded { call_id, reason } if *call_id == call && reason.kind == EndKind::Rejected && reason.code == 603)));
    }
    assert_eq!(h.sb.call_count(), 0);
}
