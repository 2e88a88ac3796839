//! Muting: anyone mutes themself; organizers and presenters may mute others, attendees and
//! plain bots may not; the muted participant is told who did it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::MediaCommand;
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};

#[test]
fn mute_others_by_role() {
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
    let att = h.connect(&user());
    let (_, pa) = joined(&h.ok(
        att,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    let bot = h.connect(&"28:notes".parse().unwrap());
    let (_, _) = joined(&h.ok(
        bot,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    for c in [org, att, bot] {
        h.events(c);
    }

    // Muting yourself: everyone sees it, the media plane stops mixing you.
    h.ok(
        att,
        ClientMessage::MuteSelf {
            call_id: call,
            muted: true,
        },
    );
    assert!(
        roster_entries(&h.events(org))
            .iter()
            .any(|e| e.participant == pa && e.muted)
    );
    assert!(h.media.iter().any(
        |m| matches!(m, MediaCommand::Flags { participant, muted: true, .. } if *participant == pa)
    ));
    h.ok(
        att,
        ClientMessage::MuteSelf {
            call_id: call,
            muted: false,
        },
    );

    // Attendees and bots may not mute others.
    h.refused(
        att,
        ClientMessage::MuteParticipant {
            call_id: call,
            participant: po,
        },
        ErrorCode::Forbidden,
    );
    h.refused(
        bot,
        ClientMessage::MuteParticipant {
            call_id: call,
            participant: pa,
        },
        ErrorCode::Forbidden,
    );

    // The organizer may; the attendee learns who muted them.
    h.events(att);
    h.ok(
        org,
        ClientMessage::MuteParticipant {
            call_id: call,
            participant: pa,
        },
    );
    let events = h.events(att);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerMessage::MutedBy { by, .. } if *by == po))
    );
    assert!(
        roster_entries(&events)
            .iter()
            .any(|e| e.participant == pa && e.muted)
    );
    h.refused(
        org,
        ClientMessage::MuteParticipant {
            call_id: call,
            participant: confab_signaling::protocol::ParticipantId(99),
        },
        ErrorCode::ParticipantNotFound,
    );
}
