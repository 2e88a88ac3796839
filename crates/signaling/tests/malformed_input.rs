//! Bad input from a connection gets typed errors and rate limiting; other connections and
//! calls carry on untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ErrorCode, MAX_MESSAGE_BYTES, ServerMessage};
use confab_signaling::{CallState, SwitchboardConfig};

fn errors(events: &[ServerMessage]) -> Vec<ErrorCode> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

#[test]
fn each_malformation_gets_its_code_and_the_connection_survives() {
    let mut h = Harness::new();
    let alice = user();
    let a = h.connect(&alice);
    let cases: [(&str, ErrorCode); 6] = [
        ("{\"v\":1,\"type\":\"create_call\"", ErrorCode::InvalidJson),
        ("\u{0}\u{1}binary", ErrorCode::InvalidJson),
        (r#"{"v":1,"type":"warp_drive"}"#, ErrorCode::UnknownType),
        (r#"{"v":1,"type":"accept_call"}"#, ErrorCode::InvalidMessage),
        (
            r#"{"v":1,"type":"place_call","to":"not-an-identity"}"#,
            ErrorCode::InvalidMessage,
        ),
        (r#"{"v":9,"type":"ping"}"#, ErrorCode::UnsupportedVersion),
    ];
    for (text, code) in cases {
        h.raw(a, text);
        assert_eq!(errors(&h.events(a)), vec![code], "{text:?}");
    }
    let huge = format!(
        r#"{{"v":1,"type":"sdp_offer","call_id":"{}","sdp":"{}"}}"#,
        uuid::Uuid::new_v4(),
        "a".repeat(MAX_MESSAGE_BYTES)
    );
    h.raw(a, &huge);
    assert_eq!(errors(&h.events(a)), vec![ErrorCode::MessageTooLarge]);
    assert!(h.closed.is_empty(), "bad frames do not end the connection");
    // Still fully usable.
    h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    );
}

#[test]
fn a_flood_is_rate_limited_and_others_are_unaffected() {
    let config = SwitchboardConfig {
        max_rate_violations: 5_000,
        ..SwitchboardConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (alice, bob, carol) = (user(), user(), user());
    let a = h.connect(&alice);
    let b = h.connect(&bob);
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    let (_, pb) = joined(&h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    ));
    h.media_connected(call, pa);
    h.media_connected(call, pb);
    h.events(a);
    h.events(b);

    // Carol floods 1 000 messages in one second.
    let c = h.connect(&carol);
    let ping = r#"{"v":1,"type":"ping"}"#;
    for _ in 0..1000 {
        h.raw(c, ping);
        h.advance(Duration::from_millis(1));
        // Meanwhile Alice and Bob keep working normally.
    }
    let flood = h.events(c);
    let pongs = flood
        .iter()
        .filter(|e| matches!(e, ServerMessage::Pong))
        .count();
    let limited = errors(&flood)
        .iter()
        .filter(|c| **c == ErrorCode::RateLimited)
        .count();
    assert!(
        (140..=160).contains(&pongs),
        "about burst + 1 s of sustained rate answered: {pongs}"
    );
    assert!(
        (1..20).contains(&limited),
        "refusals are reported, not echoed per message: {limited}"
    );

    h.ok(
        a,
        ClientMessage::MuteSelf {
            call_id: call,
            muted: true,
        },
    );
    assert!(
        roster_entries(&h.events(b))
            .iter()
            .any(|e| e.participant == pa && e.muted)
    );
    assert!(
        call_states(&h.events(b))
            .iter()
            .all(|(s, _)| *s != CallState::Disconnected)
    );

    // Keep flooding past the violation limit: the connection is closed; the call goes on.
    let config = SwitchboardConfig {
        max_rate_violations: 50,
        ..SwitchboardConfig::default()
    };
    let mut h2 = Harness::with_config(config);
    let d = h2.connect(&user());
    for _ in 0..400 {
        h2.raw(d, ping);
    }
    assert_eq!(h2.closed, vec![(d, ErrorCode::RateLimited)]);
    assert_eq!(h.sb.call_count(), 1);
}
