//! A call with a lobby: joiners wait InLobby, hear nothing of the call, and are admitted
//! or turned away by an organizer — attendees cannot decide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{CallState, EndKind, MediaCommand, ParticipantState};

fn lobby_call(
    h: &mut Harness,
) -> (
    confab_signaling::protocol::CallId,
    confab_signaling::ConnectionId,
) {
    let org = h.connect(&user());
    let (call, _) = joined(&h.ok(
        org,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: true,
            video: false,
        },
    ));
    h.events(org);
    (call, org)
}

#[test]
fn waiting_then_admitted() {
    let mut h = Harness::new();
    let (call, org) = lobby_call(&mut h);
    let guest = h.connect(&user());
    let (_, pg) = joined(&h.ok(
        guest,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));

    // The guest waits: no roster, no media, cannot negotiate media yet.
    let waiting = h.events(guest);
    assert_eq!(call_states(&waiting), vec![(CallState::Connecting, None)]);
    assert!(
        !waiting
            .iter()
            .any(|e| matches!(e, ServerMessage::Roster { .. }))
    );
    assert!(
        !h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Join { participant, .. } if *participant == pg))
    );
    h.refused(
        guest,
        ClientMessage::SdpOffer {
            call_id: call,
            sdp: "v=0".into(),
        },
        ErrorCode::InvalidState,
    );
    assert_eq!(
        last_state(&h.events(org), pg),
        Some(ParticipantState::InLobby)
    );

    // An attendee cannot admit; the organizer can.
    let attendee = h.connect(&user());
    let (_, pat) = joined(&h.ok(
        attendee,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    h.ok(
        org,
        ClientMessage::Admit {
            call_id: call,
            participant: pat,
        },
    );
    h.events(attendee);
    h.refused(
        attendee,
        ClientMessage::Admit {
            call_id: call,
            participant: pg,
        },
        ErrorCode::Forbidden,
    );

    h.ok(
        org,
        ClientMessage::Admit {
            call_id: call,
            participant: pg,
        },
    );
    assert!(
        h.events(guest)
            .iter()
            .any(|e| matches!(e, ServerMessage::Roster { you, .. } if *you == pg))
    );
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Join { participant, .. } if *participant == pg))
    );
    assert_eq!(
        last_state(&h.events(org), pg),
        Some(ParticipantState::Connecting)
    );
    h.media_connected(call, pg);
    assert_eq!(
        call_states(&h.events(guest)),
        vec![(CallState::Connected, None)]
    );
    h.refused(
        org,
        ClientMessage::Admit {
            call_id: call,
            participant: pg,
        },
        ErrorCode::InvalidState,
    );
}

#[test]
fn waiting_then_rejected() {
    let mut h = Harness::new();
    let (call, org) = lobby_call(&mut h);
    let guest = h.connect(&user());
    let (_, pg) = joined(&h.ok(
        guest,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    h.events(guest);
    h.ok(
        org,
        ClientMessage::RejectLobby {
            call_id: call,
            participant: pg,
        },
    );
    let states = call_states(&h.events(guest));
    assert_eq!(
        states.last(),
        Some(&(CallState::Disconnected, Some(EndKind::LobbyRejected)))
    );
    assert!(departures(&h.events(org)).contains(&(pg, EndKind::LobbyRejected)));
    assert_eq!(h.sb.call_count(), 1);
}
