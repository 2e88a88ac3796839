//! The service's (ICE-lite) side of a connection judges liveness from everything its remote
//! sends, not from its ICE core: a remote that falls silent is not "disconnected" after the
//! core's 5 s (a browser that moved its checks to another of its candidates would look
//! silent to the core), and has failed after 30 s of hearing nothing at all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_transport::peer::PeerEvent;
use confab_transport::udp::Transport;

#[test]
fn a_silent_remote_fails_after_thirty_seconds_not_before() {
    let (mut pair, _) = Pair::connect();
    while pair.server.poll_event().is_some() {}
    let quiet_since = Instant::now();
    let events_at = |seconds: u64, pair: &mut Pair| {
        pair.server
            .handle_timeout(quiet_since + Duration::from_secs(seconds));
        std::iter::from_fn(|| pair.server.poll_event())
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, PeerEvent::Rtp { .. }))
            .collect::<Vec<_>>()
    };
    for seconds in [1, 6, 12, 20, 29] {
        let events = events_at(seconds, &mut pair);
        assert!(
            events.is_empty(),
            "{seconds} s of silence is not a failure: {events:?}"
        );
        assert!(pair.server.peer(pair.peer_id).unwrap().is_connected());
    }
    let events = events_at(31, &mut pair);
    assert!(
        events.iter().any(|e| matches!(e, PeerEvent::Failed)),
        "30 s of silence is: {events:?}"
    );
    assert!(!pair.server.peer(pair.peer_id).unwrap().is_connected());
}
