//! Adding a third person to a 1:1 call makes it a group call in place: same call id, and
//! the first two never leave Connected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{CallState, MediaCommand, ParticipantState};

#[test]
fn third_participant_promotes_without_interruption() {
    let mut h = Harness::new();
    let (alice, bob, carol) = (user(), user(), user());
    let a = h.connect(&alice);
    let b = h.connect(&bob);
    let c = h.connect(&carol);
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob.clone(),
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
    let media_before = h.media.len();

    let invited = h.ok(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: carol.clone(),
        },
    );
    let ServerMessage::Ok {
        participant: Some(pc),
        ..
    } = invited
    else {
        panic!("{invited:?}")
    };
    let ringing = h.events(c);
    assert!(ringing.iter().any(|e| matches!(e,
        ServerMessage::IncomingCall { call_id, group: true, from, .. } if *call_id == call && *from == alice)));

    let (same_call, joined_as) = joined(&h.ok(
        c,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    ));
    assert_eq!(
        (same_call, joined_as),
        (call, pc),
        "the same call, not a new one"
    );
    h.media_connected(call, pc);

    // Alice and Bob: no call-state change at all, Carol appears in their rosters.
    for (conn, me) in [(a, pa), (b, pb)] {
        let events = h.events(conn);
        assert!(
            call_states(&events).is_empty(),
            "{me}'s call state moved: {events:?}"
        );
        assert_eq!(last_state(&events, pc), Some(ParticipantState::Connected));
    }
    // Nobody's media was touched: the only media commands are Carol's join.
    assert_eq!(
        h.media[media_before..].to_vec(),
        vec![MediaCommand::Join {
            call_id: call,
            participant: pc,
            identity: carol
        }]
    );
    assert_eq!(
        call_states(&h.events(c)),
        vec![(CallState::Connecting, None), (CallState::Connected, None)]
    );

    // Now a group call: Alice leaving does not end it for Bob and Carol.
    h.ok(a, ClientMessage::Leave { call_id: call });
    assert!(call_states(&h.events(b)).is_empty());
    assert_eq!(h.sb.call_count(), 1);
}
