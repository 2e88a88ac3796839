//! Dialling phones out: from a group call (ringing, early media, answer, busy with its SIP
//! status, no answer), a 1:1 call to a phone (the caller hears ringing and early media),
//! cancelling a ringing phone, sending keys, and who may dial at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{
    CallState, EndKind, EndReason, Identity, MediaCommand, ParticipantState, PhoneCommand,
};

fn number(n: u32) -> Identity {
    format!("4:+4930555{n:04}").parse().unwrap()
}

fn group_call(
    h: &mut Harness,
) -> (
    confab_signaling::ConnectionId,
    confab_signaling::protocol::CallId,
) {
    let a = h.connect(&user());
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    h.events(a);
    (a, call)
}

fn invite(
    h: &mut Harness,
    conn: confab_signaling::ConnectionId,
    call: confab_signaling::protocol::CallId,
    who: &Identity,
) -> confab_signaling::protocol::ParticipantId {
    match h.ok(
        conn,
        ClientMessage::Invite {
            call_id: call,
            identity: who.clone(),
        },
    ) {
        ServerMessage::Ok {
            participant: Some(p),
            ..
        } => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dialled_phone_plays_early_media_then_answers() {
    let mut h = Harness::new();
    let (a, call) = group_call(&mut h);
    let pid = invite(&mut h, a, call, &number(1));
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::Dial { participant, number, .. }]
            if *participant == pid && number == "49305550001"
    ));
    assert_eq!(last_state(&h.events(a), pid), Some(ParticipantState::Idle));
    // 183 with SDP: the phone is heard before it answers.
    h.media.clear();
    h.sb.phone_progress(call, pid, true);
    h.pump();
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Join { participant, .. } if *participant == pid))
    );
    assert_eq!(
        last_state(&h.events(a), pid),
        Some(ParticipantState::EarlyMedia)
    );
    h.media_connected(call, pid);
    // 200 OK.
    h.media.clear();
    h.sb.phone_answered(call, pid);
    h.pump();
    assert!(h.media.is_empty(), "media already joined: {:?}", h.media);
    assert_eq!(
        last_state(&h.events(a), pid),
        Some(ParticipantState::Connected)
    );
    // Keys toward the phone, and nonsense refused.
    h.ok(
        a,
        ClientMessage::SendDtmf {
            call_id: call,
            digits: "12#a".into(),
            participant: None,
        },
    );
    assert!(h.phones.contains(&PhoneCommand::SendDtmf {
        call_id: call,
        participant: pid,
        digits: "12#A".into()
    }));
    for bad in ["", "12x", &"1".repeat(33)] {
        h.refused(
            a,
            ClientMessage::SendDtmf {
                call_id: call,
                digits: bad.to_string(),
                participant: None,
            },
            ErrorCode::InvalidMessage,
        );
    }
    // Removing the phone hangs it up.
    h.phones.clear();
    h.ok(
        a,
        ClientMessage::RemoveParticipant {
            call_id: call,
            participant: pid,
        },
    );
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { reason, .. }] if reason.kind == EndKind::Removed
    ));
    h.refused(
        a,
        ClientMessage::SendDtmf {
            call_id: call,
            digits: "1".into(),
            participant: None,
        },
        ErrorCode::ParticipantNotFound,
    );
}

#[test]
fn a_busy_phone_and_one_that_never_answers() {
    let mut h = Harness::new();
    let (a, call) = group_call(&mut h);
    let busy = invite(&mut h, a, call, &number(2));
    h.sb.phone_ended(call, busy, EndReason::from_sip(EndKind::Busy, 486));
    h.pump();
    let events = h.events(a);
    let departure = events
        .iter()
        .find_map(|e| match e {
            ServerMessage::RosterUpdate { removed, .. } => removed.first().cloned(),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (departure.participant, departure.reason.kind),
        (busy, EndKind::Busy)
    );
    assert_eq!(
        (departure.reason.code, departure.reason.subcode),
        (486, 486)
    );
    // The group call goes on; a phone that rings out is cancelled by the ring timeout.
    h.phones.clear();
    let silent = invite(&mut h, a, call, &number(3));
    h.sb.phone_progress(call, silent, false);
    h.advance(Duration::from_secs(31));
    assert!(h.phones.iter().any(|c| matches!(c,
        PhoneCommand::HangUp { participant, reason, .. }
            if *participant == silent && reason.kind == EndKind::RingTimeout)));
    assert_eq!(h.sb.call_count(), 1);
}

#[test]
fn a_one_to_one_call_to_a_phone() {
    let mut h = Harness::new();
    let a = h.connect(&user());
    let (call, me) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: number(4),
            video: false,
            resumes: None,
        },
    ));
    let pid = match &h.phones[..] {
        [PhoneCommand::Dial { participant, .. }] => *participant,
        other => panic!("{other:?}"),
    };
    h.media_connected(call, me);
    h.sb.phone_progress(call, pid, false);
    h.pump();
    assert!(call_states(&h.events(a)).contains(&(CallState::Ringing, None)));
    h.sb.phone_progress(call, pid, true);
    h.pump();
    assert!(call_states(&h.events(a)).contains(&(CallState::EarlyMedia, None)));
    h.sb.phone_answered(call, pid);
    h.media_connected(call, pid);
    assert!(call_states(&h.events(a)).contains(&(CallState::Connected, None)));
    // The phone hangs up: the 1:1 call is over for the caller too.
    h.sb.phone_ended(call, pid, EndReason::new(EndKind::HangUp));
    h.pump();
    assert!(
        call_states(&h.events(a)).contains(&(CallState::Disconnected, Some(EndKind::RemoteHangUp)))
    );
    assert_eq!(h.sb.call_count(), 0);
}

#[test]
fn cancelling_a_ringing_phone_and_declined_calls() {
    let mut h = Harness::new();
    let a = h.connect(&user());
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: number(5),
            video: false,
            resumes: None,
        },
    ));
    h.phones.clear();
    h.ok(a, ClientMessage::CancelCall { call_id: call });
    assert!(matches!(
        &h.phones[..],
        [PhoneCommand::HangUp { reason, .. }] if reason.kind == EndKind::Cancelled
    ));
    // A declined 1:1 call tells the caller why, SIP status included.
    h.phones.clear();
    h.events(a);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: number(6),
            video: false,
            resumes: None,
        },
    ));
    let pid = match &h.phones[..] {
        [PhoneCommand::Dial { participant, .. }] => *participant,
        other => panic!("{other:?}"),
    };
    h.sb.phone_ended(call, pid, EndReason::from_sip(EndKind::Rejected, 603));
    h.pump();
    let reason = h
        .events(a)
        .into_iter()
        .find_map(|e| match e {
            ServerMessage::CallState {
                reason: Some(r), ..
            } => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!((reason.kind, reason.subcode), (EndKind::Rejected, 603));
}

#[test]
fn only_organizers_and_presenters_dial_out() {
    let mut h = Harness::new();
    let (a, call) = group_call(&mut h);
    let attendee = h.connect(&user());
    h.ok(
        attendee,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    );
    h.refused(
        attendee,
        ClientMessage::Invite {
            call_id: call,
            identity: number(7),
        },
        ErrorCode::Forbidden,
    );
    assert!(h.phones.is_empty());
    let _ = a;
}
