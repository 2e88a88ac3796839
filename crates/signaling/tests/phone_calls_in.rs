//! Phones calling in through the SIP gateway: into a group call (answered at once), or to an
//! identity (a 1:1 call that rings and is answered, declined, or finds nobody online).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{
    EndKind, EndReason, Identity, MediaCommand, ParticipantState, PhoneCommand, PhoneRoute, Scope,
};
use uuid::Uuid;

fn phone() -> Identity {
    "4:+15551230001".parse().unwrap()
}

#[test]
fn a_phone_joins_a_group_call_presses_keys_and_hangs_up() {
    let mut h = Harness::new();
    let group = Uuid::new_v4();
    let a = h.connect(&user());
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: Some(group),
            lobby: false,
            video: false,
        },
    ));
    h.events(a);
    h.media.clear();
    let (in_call, pid) =
        h.sb.phone_call_in(
            &phone(),
            "Front desk".into(),
            &PhoneRoute::Group(group),
            h.now,
        )
        .unwrap();
    h.pump();
    assert_eq!(in_call, call);
    assert!(
        h.media.iter().any(
            |m| matches!(m, MediaCommand::Join { participant, identity, .. }
            if *participant == pid && identity.is_phone())
        ),
        "{:?}",
        h.media
    );
    let events = h.events(a);
    assert_eq!(last_state(&events, pid), Some(ParticipantState::Connecting));
    let entry = roster_entries(&events)
        .into_iter()
        .find(|e| e.participant == pid)
        .unwrap();
    assert_eq!(entry.display_name, "Front desk");
    // The leg's media is up.
    h.media_connected(call, pid);
    assert_eq!(
        last_state(&h.events(a), pid),
        Some(ParticipantState::Connected)
    );
    // A key on the phone reaches everyone.
    h.sb.phone_dtmf(call, pid, '7', 120);
    h.pump();
    assert!(h.events(a).contains(&ServerMessage::Dtmf {
        call_id: call,
        participant: pid,
        digit: '7',
        duration_ms: 120
    }));
    // The phone hangs up (BYE): it leaves, the call goes on, nothing goes back to the
    // gateway.
    h.sb.phone_ended(call, pid, EndReason::new(EndKind::HangUp));
    h.pump();
    assert!(departures(&h.events(a)).contains(&(pid, EndKind::HangUp)));
    assert!(h.phones.is_empty(), "{:?}", h.phones);
    assert_eq!(h.sb.call_count(), 1);
}

#[test]
fn a_phone_starts_the_group_call_it_dials_into() {
    let mut h = Harness::new();
    let group = Uuid::new_v4();
    let (call, pid) =
        h.sb.phone_call_in(&phone(), String::new(), &PhoneRoute::Group(group), h.now)
            .unwrap();
    h.pump();
    // An administrator's browser joins by the group id and finds the phone there.
    let b = h.connect_with(&user(), &[Scope::Voip, Scope::Admin], None);
    let (joined_call, _) = joined(&h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: None,
            group_id: Some(group),
            video: false,
        },
    ));
    assert_eq!(joined_call, call);
    let roster = roster_entries(&h.events(b));
    assert!(
        roster
            .iter()
            .any(|e| e.participant == pid && e.identity == phone())
    );
    // Ending the call for everyone hangs the phone up.
    h.ok(b, ClientMessage::EndCall { call_id: call });
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { participant, reason, .. }]
            if *participant == pid && reason.kind == EndKind::EndedByOrganizer
    ));
}

#[test]
fn a_phone_calls_a_person_who_answers() {
    let mut h = Harness::new();
    let alice = user();
    let a = h.connect(&alice);
    let (call, pid) =
        h.sb.phone_call_in(
            &phone(),
            String::new(),
            &PhoneRoute::Identity(alice.clone()),
            h.now,
        )
        .unwrap();
    h.pump();
    let events = h.events(a);
    assert_eq!(incoming(&events), Some(call));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerMessage::IncomingCall { from, .. } if *from == phone()))
    );
    assert!(h.phones.is_empty(), "nothing to answer yet: {:?}", h.phones);
    h.media_connected(call, pid);
    h.ok(
        a,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    );
    assert_eq!(
        h.phones,
        vec![PhoneCommand::Answer {
            call_id: call,
            participant: pid
        }]
    );
    h.phones.clear();
    // Alice hangs up: the 1:1 call ends and the phone is hung up as a remote hang-up.
    h.ok(a, ClientMessage::Leave { call_id: call });
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { reason, .. }] if reason.kind == EndKind::RemoteHangUp
    ));
    assert_eq!(h.sb.call_count(), 0);
}

#[test]
fn a_phone_call_declined_unanswered_or_to_nobody() {
    let mut h = Harness::new();
    let alice = user();
    let a = h.connect(&alice);
    let (call, pid) =
        h.sb.phone_call_in(
            &phone(),
            String::new(),
            &PhoneRoute::Identity(alice.clone()),
            h.now,
        )
        .unwrap();
    h.pump();
    h.events(a);
    h.ok(a, ClientMessage::RejectCall { call_id: call });
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { participant, reason, .. }]
            if *participant == pid && reason.kind == EndKind::Rejected
    ));
    h.phones.clear();

    h.sb.phone_call_in(&phone(), String::new(), &PhoneRoute::Identity(alice), h.now)
        .unwrap();
    h.pump();
    h.advance(Duration::from_secs(31));
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { reason, .. }] if reason.kind == EndKind::RingTimeout
    ));
    h.phones.clear();

    // Nobody online for that identity: refused at once, no hang-up of an unknown leg.
    let refused =
        h.sb.phone_call_in(
            &phone(),
            String::new(),
            &PhoneRoute::Identity(user()),
            h.now,
        )
        .unwrap_err();
    h.pump();
    assert_eq!(
        refused.code,
        confab_signaling::protocol::ErrorCode::ParticipantNotFound
    );
    assert!(h.phones.is_empty(), "{:?}", h.phones);
    assert_eq!(h.sb.call_count(), 0);
    // Only phone numbers call in.
    assert!(
        h.sb.phone_call_in(
            &user(),
            String::new(),
            &PhoneRoute::Group(Uuid::new_v4()),
            h.now
        )
        .is_err()
    );
}
