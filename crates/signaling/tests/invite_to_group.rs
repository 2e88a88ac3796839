//! Inviting a VoIP participant into an ongoing group call: they ring, show as Idle in the
//! roster, and join on answering; declined or unanswered invitations leave with a reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{EndKind, ParticipantState};

#[test]
fn invitee_rings_then_joins() {
    let mut h = Harness::new();
    let (alice, dave) = (user(), user());
    let a = h.connect(&alice);
    let d = h.connect(&dave);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    h.events(a);

    let ServerMessage::Ok {
        participant: Some(pd),
        ..
    } = h.ok(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: dave.clone(),
        },
    )
    else {
        panic!()
    };
    assert_eq!(last_state(&h.events(a), pd), Some(ParticipantState::Idle));
    assert_eq!(incoming(&h.events(d)), Some(call));
    h.refused(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: dave.clone(),
        },
        ErrorCode::InvalidState,
    );

    let (_, joined_as) = joined(&h.ok(
        d,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    ));
    assert_eq!(joined_as, pd);
    assert_eq!(
        last_state(&h.events(a), pd),
        Some(ParticipantState::Connecting)
    );
}

#[test]
fn declined_and_unanswered_invitations_leave_with_reasons() {
    let mut h = Harness::new();
    let (erin, frank) = (user(), user());
    let a = h.connect(&user());
    let e = h.connect(&erin);
    let _f = h.connect(&frank);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    let ServerMessage::Ok {
        participant: Some(pe),
        ..
    } = h.ok(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: erin,
        },
    )
    else {
        panic!()
    };
    let ServerMessage::Ok {
        participant: Some(pf),
        ..
    } = h.ok(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: frank,
        },
    )
    else {
        panic!()
    };
    h.events(a);

    h.ok(e, ClientMessage::RejectCall { call_id: call });
    h.advance(Duration::from_secs(31));
    let gone = departures(&h.events(a));
    assert_eq!(
        gone,
        vec![(pe, EndKind::Rejected), (pf, EndKind::RingTimeout)]
    );
    assert_eq!(h.sb.call_count(), 1, "the group call goes on");

    // Inviting someone offline: they leave at once as unavailable.
    let ServerMessage::Ok {
        participant: Some(pg),
        ..
    } = h.ok(
        a,
        ClientMessage::Invite {
            call_id: call,
            identity: user(),
        },
    )
    else {
        panic!()
    };
    assert!(departures(&h.events(a)).contains(&(pg, EndKind::Unavailable)));
}
