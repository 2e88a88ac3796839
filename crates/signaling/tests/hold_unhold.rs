//! Hold and resume in a 1:1 call: the holder goes LocalHold, the other side RemoteHold,
//! the holder shows OnHold in the roster and the media plane stops its media.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode};
use confab_signaling::{CallState, MediaCommand, ParticipantState};

#[test]
fn hold_and_resume() {
    let mut h = Harness::new();
    let bob = user();
    let a = h.connect(&user());
    let b = h.connect(&bob);
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob,
            video: false,
            resumes: None,
        },
    ));
    let (_, pb) = joined(&h.ok(
        b,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    ));
    h.media_connected(call, pa);
    h.media_connected(call, pb);
    h.events(a);
    h.events(b);

    h.ok(
        a,
        ClientMessage::Hold {
            call_id: call,
            on: true,
        },
    );
    assert_eq!(
        call_states(&h.events(a)),
        vec![(CallState::LocalHold, None)]
    );
    let bob_sees = h.events(b);
    assert_eq!(call_states(&bob_sees), vec![(CallState::RemoteHold, None)]);
    assert_eq!(last_state(&bob_sees, pa), Some(ParticipantState::OnHold));
    assert!(h.media.iter().any(|m| matches!(m, MediaCommand::Flags { participant, on_hold: true, .. } if *participant == pa)));
    h.refused(
        a,
        ClientMessage::Hold {
            call_id: call,
            on: true,
        },
        ErrorCode::InvalidState,
    );

    h.ok(
        a,
        ClientMessage::Hold {
            call_id: call,
            on: false,
        },
    );
    assert_eq!(
        call_states(&h.events(a)),
        vec![(CallState::Connected, None)]
    );
    let bob_sees = h.events(b);
    assert_eq!(call_states(&bob_sees), vec![(CallState::Connected, None)]);
    assert_eq!(last_state(&bob_sees, pa), Some(ParticipantState::Connected));
    h.refused(
        a,
        ClientMessage::Hold {
            call_id: call,
            on: false,
        },
        ErrorCode::InvalidState,
    );
}
