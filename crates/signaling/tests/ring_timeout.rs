//! Nobody answers: after the ring timeout the caller's call ends with "no answer" and the
//! callee stops ringing — driven entirely by the virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use std::time::Duration;

use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{CallState, EndKind, SwitchboardConfig};

#[test]
fn unanswered_call_times_out() {
    let config = SwitchboardConfig {
        ring_timeout: Duration::from_secs(20),
        ..SwitchboardConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (alice, bob) = (user(), user());
    let a = h.connect(&alice);
    let b = h.connect(&bob);
    let (call, _) = joined(&h.ok(
        a,
        ClientMessage::PlaceCall {
            to: bob,
            video: false,
            resumes: None,
        },
    ));
    h.events(a);
    h.events(b);
    assert_eq!(h.sb.poll_timeout(), Some(h.now + Duration::from_secs(20)));

    h.advance(Duration::from_secs(19));
    assert!(h.events(a).is_empty(), "still ringing at 19 s");

    h.advance(Duration::from_secs(2));
    let states = call_states(&h.events(a));
    assert_eq!(
        states.last(),
        Some(&(CallState::Disconnected, Some(EndKind::RingTimeout)))
    );
    assert!(h.events(b).iter().any(|e| matches!(e,
        ServerMessage::IncomingCallEnded { call_id, reason } if *call_id == call && reason.kind == EndKind::RingTimeout)));
    assert_eq!(h.sb.call_count(), 0);
    assert_eq!(h.sb.poll_timeout(), None);
}
