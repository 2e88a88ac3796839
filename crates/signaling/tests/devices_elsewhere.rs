//! In a cluster, someone called may have devices only on other nodes, which bring them here
//! to ring: with `device_wait` set, a 1:1 call to someone with no device here rings while
//! it waits for one; a device that signs in meanwhile rings for the full ring time, and
//! with none the call ends as unavailable once the wait is over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::ClientMessage;
use confab_signaling::{CallState, EndKind, SwitchboardConfig};

fn clustered() -> Harness {
    Harness::with_config(SwitchboardConfig {
        device_wait: Some(Duration::from_secs(3)),
        ring_timeout: Duration::from_secs(30),
        ..SwitchboardConfig::default()
    })
}

#[test]
fn a_device_arriving_from_another_node_rings() {
    let mut h = clustered();
    let bob = user();
    let a = h.connect(&user());
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob.clone(),
            video: false,
            resumes: None,
        },
    ));
    h.advance(Duration::from_secs(2));
    assert!(
        !call_states(&h.events(a)).contains(&(CallState::Disconnected, Some(EndKind::Unavailable))),
        "still waiting for a device"
    );
    // Bob's device, brought here by its own node, signs in and rings.
    let b = h.connect(&bob);
    assert_eq!(incoming(&h.events(b)), Some(call));
    // It rings for the full ring time, not the wait.
    h.advance(Duration::from_secs(20));
    assert!(h.events(a).iter().all(|e| !matches!(
        e,
        confab_signaling::protocol::ServerMessage::CallState {
            state: CallState::Disconnected,
            ..
        }
    )));
    h.ok(
        b,
        ClientMessage::AcceptCall {
            call_id: call,
            video: false,
        },
    );
    assert_eq!(h.sb.call_count(), 1);
}

#[test]
fn nobody_anywhere_is_unavailable_after_the_wait() {
    let mut h = clustered();
    let a = h.connect(&user());
    h.ok(
        a,
        ClientMessage::PlaceCall {
            to: user(),
            video: false,
            resumes: None,
        },
    );
    h.advance(Duration::from_millis(3_100));
    let states = call_states(&h.events(a));
    assert_eq!(
        states.last(),
        Some(&(CallState::Disconnected, Some(EndKind::Unavailable))),
        "{states:?}"
    );
    assert_eq!(h.sb.call_count(), 0);
}
