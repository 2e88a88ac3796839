//! A participant whose connection drops keeps its place for the grace period: reconnecting
//! from the same endpoint resumes the call; staying away ends it as network lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{CallState, EndKind, Scope};

#[test]
fn reconnect_within_grace_resumes() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect_with(&alice, &[Scope::Voip], Some("alice-laptop"));
    let b = h.connect(&bob);
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    );
    h.media_connected(call, pa);
    h.events(b);

    h.disconnect(a);
    h.advance(Duration::from_secs(3));
    let a2 = h.connect_with(&alice, &[Scope::Voip], Some("alice-laptop"));
    let resumed = h.events(a2);
    assert!(
        resumed
            .iter()
            .any(|e| matches!(e, ServerMessage::Roster { you, .. } if *you == pa)),
        "{resumed:?}"
    );
    assert_eq!(call_states(&resumed), vec![(CallState::Connected, None)]);
    h.advance(Duration::from_secs(10));
    assert!(
        departures(&h.events(b)).is_empty(),
        "Bob never saw Alice leave"
    );
    h.ok(
        a2,
        ClientMessage::MuteSelf {
            call_id: call,
            muted: true,
        },
    );
}

#[test]
fn staying_away_is_network_lost() {
    let mut h = Harness::new();
    let (alice, bob) = (user(), user());
    let a = h.connect_with(&alice, &[Scope::Voip], Some("alice-laptop"));
    let b = h.connect(&bob);
    let (call, pa) = joined(&h.ok(
        a,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
    ));
    h.ok(
        b,
        ClientMessage::JoinCall {
            call_id: Some(call),
            group_id: None,
            video: false,
        },
    );
    h.events(b);
    h.disconnect(a);
    h.advance(Duration::from_secs(6));
    assert_eq!(departures(&h.events(b)), vec![(pa, EndKind::NetworkLost)]);
    // Coming back later finds nothing to resume.
    let a2 = h.connect_with(&alice, &[Scope::Voip], Some("alice-laptop"));
    assert!(call_states(&h.events(a2)).is_empty());
}
