//! Removing someone: an organizer may, an attendee may not; the removed participant and
//! everyone else learn why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode};
use confab_signaling::{CallState, EndKind, MediaCommand};

#[test]
fn organizer_removes_attendee_refused() {
    let mut h = Harness::new();
    let org = h.connect(&user());
    let (call, po) = joined(&h.ok(
        org,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    let x = h.connect(&user());
    let (_, px) = joined(&h.ok(
        x,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    let y = h.connect(&user());
    let (_, py) = joined(&h.ok(
        y,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    for c in [org, x, y] {
        h.events(c);
    }

    h.refused(
        x,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: py,
        },
        ErrorCode::Forbidden,
    );
    h.refused(
        x,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: po,
        },
        ErrorCode::Forbidden,
    );
    assert!(h.events(y).is_empty(), "a refused removal changes nothing");

    h.ok(
        org,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: py,
        },
    );
    assert_eq!(
        call_states(&h.events(y)).last(),
        Some(&(CallState::Disconnected, Some(EndKind::Removed)))
    );
    assert_eq!(departures(&h.events(x)), vec![(py, EndKind::Removed)]);
    assert!(h.media.contains(&MediaCommand::Leave {
        call_id: call,
        participant: py
    }));
    h.refused(
        org,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: py,
        },
        ErrorCode::ParticipantNotFound,
    );
    h.refused(
        org,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: po,
        },
        ErrorCode::InvalidState,
    );
    let _ = px;
}

#[test]
fn an_admin_token_carries_organizer_rights() {
    let mut h = Harness::new();
    let org = h.connect(&user());
    let (call, _) = joined(&h.ok(
        org,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    let guest = h.connect(&user());
    let (_, pg) = joined(&h.ok(
        guest,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    let bot: confab_signaling::Identity = "28:moderator".parse().unwrap();
    let moderator = h.connect_with(
        &bot,
        &[confab_signaling::Scope::Bot, confab_signaling::Scope::Admin],
        None,
    );
    h.ok(
        moderator,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    );
    h.ok(
        moderator,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: pg,
        },
    );
    assert_eq!(
        call_states(&h.events(guest)).last(),
        Some(&(CallState::Disconnected, Some(EndKind::Removed)))
    );
}
