//! A 1:1 call from ring to hang-up: the callee's devices ring, one answers, both reach
//! Connected once media flows, and hanging up ends the call for both with reasons.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{CallState, EndKind, MediaCommand};

#[test]
fn ring_accept_connected_hang_up() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect(&alice);
    let b_phone = h.connect(&bob);
    let b_laptop = h.connect(&bob);

    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob.clone(),
            video: true,
            resumes: None,
        },
    ));
    assert_eq!(
        call_states(&h.events(a)),
        vec![(CallState::Connecting, None), (CallState::Ringing, None)]
    );

    // Both of Bob's devices ring; the phone answers, the laptop stops ringing.
    assert_eq!(incoming(&h.events(b_phone)), Some(call));
    assert_eq!(incoming(&h.events(b_laptop)), Some(call));
    let (_, pb) = joined(&h.ok(
        b_phone,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    ));
    assert!(h.events(b_laptop).iter().any(|e| matches!(e,
        ServerMessage::IncomingCallEnded { reason, .. } if reason.kind == EndKind::AnsweredElsewhere)));
    assert_eq!(
        call_states(&h.events(b_phone)),
        vec![(CallState::Connecting, None)]
    );
    assert!(h.media.contains(&MediaCommand::Join {
        call_id: call,
        participant: pb,
        identity: bob.clone()
    }));

    // Media comes up on both sides: both Connected, the roster says so.
    h.media_connected(call, pa);
    h.media_connected(call, pb);
    assert_eq!(
        call_states(&h.events(a)),
        vec![(CallState::Connected, None)]
    );
    let bob_events = h.events(b_phone);
    assert_eq!(call_states(&bob_events), vec![(CallState::Connected, None)]);
    assert_eq!(
        last_state(&bob_events, pa),
        Some(confab_signaling::ParticipantState::Connected)
    );

    // Alice hangs up: she gets a plain hang-up, Bob hears the other side hung up.
    h.ok(a, ClientMessage::Leave { call_id: call });
    assert_eq!(
        call_states(&h.events(a)),
        vec![
            (CallState::Disconnecting, None),
            (CallState::Disconnected, Some(EndKind::HangUp))
        ]
    );
    assert_eq!(
        call_states(&h.events(b_phone)),
        vec![
            (CallState::Disconnecting, None),
            (CallState::Disconnected, Some(EndKind::RemoteHangUp))
        ]
    );
    assert_eq!(h.sb.call_count(), 0);
    assert!(h.media.contains(&MediaCommand::CallEnded { call_id: call }));
}

#[test]
fn calling_someone_offline_ends_as_unavailable() {
    let mut h = Harness::new();
    let a = h.connect(&user());
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: user(),
            video: false,
            resumes: None,
        },
    ));
    let states = call_states(&h.events(a));
    assert_eq!(
        states.last(),
        Some(&(CallState::Disconnected, Some(EndKind::Unavailable)))
    );
    h.refused(
        a,
        ClientMessage::Leave { call_id: call },
        confab_signaling::protocol::ErrorCode::CallNotFound,
    );
}

#[test]
fn caller_cancels_before_an_answer() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect(&alice);
    let b = h.connect(&bob);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob,
            video: false,
            resumes: None,
        },
    ));
    h.events(a);
    h.ok(a, ClientMessage::CancelCall { call_id: call });
    assert_eq!(
        call_states(&h.events(a)).last(),
        Some(&(CallState::Disconnected, Some(EndKind::HangUp)))
    );
    assert!(h.events(b).iter().any(|e| matches!(e,
        ServerMessage::IncomingCallEnded { reason, .. } if reason.kind == EndKind::Cancelled)));
    h.refused(
        b,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
        confab_signaling::protocol::ErrorCode::CallNotFound,
    );
}

#[test]
fn a_call_resuming_a_lost_one_rings_saying_so() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect(&alice);
    let b = h.connect(&bob);
    let lost = confab_signaling::protocol::CallId::new();
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob.clone(),
            video: false,
            resumes: Some(lost),
        },
    ));
    let rings = |events: Vec<ServerMessage>| {
        events.into_iter().find_map(|e| match e {
            ServerMessage::IncomingCall {
                call_id, resumes, ..
            } => Some((call_id, resumes)),
            _ => None,
        })
    };
    assert_eq!(rings(h.events(b)), Some((call, Some(lost))));
    // A device of Bob's that comes while it rings hears the same.
    let b_later = h.connect(&bob);
    assert_eq!(rings(h.events(b_later)), Some((call, Some(lost))));
    // An ordinary call says nothing of the kind.
    let c = h.connect(&user());
    let (other, _) = joined(&h.ok(
        c,
        ClientMessage::PlaceCall {
            to: alice,
            video: false,
            resumes: None,
        },
    ));
    assert_eq!(rings(h.events(a)), Some((other, None)));
}
