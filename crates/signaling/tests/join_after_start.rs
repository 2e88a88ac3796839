//! Joining a group call that is already running, by call id or by group id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{CallState, ParticipantState, Role};
use uuid::Uuid;

#[test]
fn late_joiners_get_the_roster_and_everyone_sees_them() {
    let mut h = Harness::new();
    let group = Uuid::new_v4();
    let (a, b, c) = (h.connect(&user()), h.connect(&user()), h.connect(&user()));
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: Some(group),
            lobby: false,
            video: true,
        },
    ));
    h.media_connected(call, pa);
    assert_eq!(
        call_states(&h.events(a)),
        vec![(CallState::Connecting, None), (CallState::Connected, None)]
    );

    // By call id.
    let (same, pb) = joined(&h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    assert_eq!(same, call);
    let snapshot = h.events(b);
    let roster = snapshot.iter().find_map(|e| match e {
        ServerMessage::Roster {
            you, participants, ..
        } => Some((*you, participants.clone())),
        _ => None,
    });
    let (you, participants) = roster.expect("a roster snapshot on joining");
    assert_eq!(you, pb);
    assert_eq!(participants.len(), 2);
    assert_eq!(participants[0].role, Role::Organizer);
    assert!(participants[0].video);
    assert_eq!(
        last_state(&h.events(a), pb),
        Some(ParticipantState::Connecting)
    );

    // By group id, and creating a call for a group that has one joins it instead.
    let (by_group, pc) = joined(&h.ok(
        c,
        ClientMessage::JoinCall {
            call_id: None,
            group_id: Some(group),
            video: false,
        },
    ));
    assert_eq!(by_group, call);
    let d = h.connect(&user());
    let (created, _) = joined(&h.ok(
        d,
        ClientMessage::CreateCall {
            group_id: Some(group),
            lobby: false,
            video: false,
        },
    ));
    assert_eq!(created, call);
    assert_eq!(h.sb.participant_count(), 4);
    assert_eq!(
        last_state(&h.events(a), pc),
        Some(ParticipantState::Connecting)
    );

    // Wrong ids and missing ids are typed errors.
    let e = h.connect(&user());
    h.refused(
        e,
        ClientMessage::JoinCall {
            call_id: None,
            group_id: Some(Uuid::new_v4()),
            video: false,
        },
        ErrorCode::CallNotFound,
    );
    h.refused(
        e,
        ClientMessage::JoinCall {
            call_id: None,
            group_id: None,
            video: false,
        },
        ErrorCode::InvalidMessage,
    );
    // Joining again (a device asking through another node of a cluster after it got its
    // place back) gives the same place, and the roster anew: nobody twice.
    h.events(b);
    let (again, pb_again) = joined(&h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    assert_eq!((again, pb_again), (call, pb));
    let roster = h.events(b).into_iter().find_map(|e| match e {
        ServerMessage::Roster { participants, .. } => Some(participants),
        _ => None,
    });
    let roster = roster.expect("the roster anew");
    assert_eq!(
        roster.iter().filter(|p| p.participant == pb).count(),
        1,
        "{roster:?}"
    );
}

#[test]
fn a_one_to_one_call_cannot_be_joined_uninvited() {
    let mut h = Harness::new();
    let bob = user();
    let a = h.connect(&user());
    let _b = h.connect(&bob);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob,
            video: false,
            resumes: None,
        },
    ));
    let intruder = h.connect(&user());
    h.refused(
        intruder,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
        ErrorCode::Forbidden,
    );
}
