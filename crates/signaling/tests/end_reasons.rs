//! Every way a participation ends reaches the other participants, with its own reason:
//! hang-up, removed, rejected, ring timeout, network lost, ended by organizer, lobby
//! rejected, server shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{CallId, ClientMessage};
use confab_signaling::{CallState, ConnectionId, EndKind};

/// A group call with an organizer and one observer; returns (call, organizer, observer).
fn group(h: &mut Harness, lobby: bool) -> (CallId, ConnectionId, ConnectionId) {
    let org = h.connect(&user());
    let (call, _) = joined(&h.ok(
        org,
        ClientMessage::CreateCall {
            group_id: None,
            lobby,
            video: false,
        },
    ));
    let observer = h.connect(&user());
    let (_, po) = joined(&h.ok(
        observer,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    if lobby {
        h.ok(
            org,
            ClientMessage::Admit {
                call_id: call,
                participant: po,
            },
        );
    }
    h.events(org);
    h.events(observer);
    (call, org, observer)
}

fn join(
    h: &mut Harness,
    call: CallId,
) -> (ConnectionId, confab_signaling::protocol::ParticipantId) {
    let c = h.connect(&user());
    let (_, p) = joined(&h.ok(
        c,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    (c, p)
}

#[test]
fn each_departure_reaches_the_others_with_its_reason() {
    let mut h = Harness::new();
    let (call, org, observer) = group(&mut h, false);

    let (c, p) = join(&mut h, call);
    h.ok(c, ClientMessage::Leave { call_id: call });
    assert!(departures(&h.events(observer)).contains(&(p, EndKind::HangUp)));

    let (_, p) = join(&mut h, call);
    h.ok(
        org,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: p,
        },
    );
    assert!(departures(&h.events(observer)).contains(&(p, EndKind::Removed)));

    let invitee = user();
    let i = h.connect(&invitee);
    h.ok(
        org,
        ClientMessage::Invite {
            call_id: call,
            identity: invitee,
        },
    );
    h.ok(i, ClientMessage::RejectCall { call_id: call });
    assert!(
        departures(&h.events(observer))
            .iter()
            .any(|(_, k)| *k == EndKind::Rejected)
    );

    let sleepy = user();
    let _s = h.connect(&sleepy);
    h.ok(
        org,
        ClientMessage::Invite {
            call_id: call,
            identity: sleepy,
        },
    );
    h.advance(Duration::from_secs(31));
    assert!(
        departures(&h.events(observer))
            .iter()
            .any(|(_, k)| *k == EndKind::RingTimeout)
    );

    let (c, p) = join(&mut h, call);
    h.disconnect(c);
    h.advance(Duration::from_secs(6));
    assert!(departures(&h.events(observer)).contains(&(p, EndKind::NetworkLost)));

    let (_, p) = join(&mut h, call);
    h.sb.media_lost(call, p);
    h.pump();
    assert!(departures(&h.events(observer)).contains(&(p, EndKind::NetworkLost)));

    h.ok(org, ClientMessage::EndCall { call_id: call });
    assert_eq!(
        call_states(&h.events(observer)).last(),
        Some(&(CallState::Disconnected, Some(EndKind::EndedByOrganizer)))
    );
    assert_eq!(
        call_states(&h.events(org)).last(),
        Some(&(CallState::Disconnected, Some(EndKind::HangUp)))
    );
}

#[test]
fn lobby_rejection_and_shutdown_reach_everyone() {
    let mut h = Harness::new();
    let (call, org, observer) = group(&mut h, true);
    let (_, p) = join(&mut h, call);
    h.ok(
        org,
        ClientMessage::RejectLobby {
            call_id: call,
            participant: p,
        },
    );
    assert!(departures(&h.events(observer)).contains(&(p, EndKind::LobbyRejected)));

    h.sb.shutdown();
    h.pump();
    for c in [org, observer] {
        let last = call_states(&h.events(c)).last().copied();
        assert_eq!(
            last,
            Some((CallState::Disconnected, Some(EndKind::ServerShutdown)))
        );
    }
    assert_eq!(h.sb.call_count(), 0);
}

#[test]
fn only_the_organizer_ends_the_call_for_everyone() {
    let mut h = Harness::new();
    let (call, _, observer) = group(&mut h, false);
    h.refused(
        observer,
        ClientMessage::EndCall { call_id: call },
        confab_signaling::protocol::ErrorCode::Forbidden,
    );
    assert_eq!(h.sb.call_count(), 1);
}
