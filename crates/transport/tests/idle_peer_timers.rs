//! A connected peer on the service that nothing happens to asks for a timer about once a
//! second (its own RTCP reports), not five times: every timer walks the peer's whole
//! connection (ICE, DTLS, every interceptor), and a 350-party room is mostly such peers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_transport::udp::Transport;

#[test]
fn an_idle_connected_peer_wakes_about_once_a_second() {
    let (mut pair, _) = Pair::connect();
    while pair.server.poll_event().is_some() {}
    let start = Instant::now();
    let span = Duration::from_secs(10);
    let mut wakes = 0u32;
    let mut now = start;
    while let Some(at) = pair.server.poll_timeout() {
        if at > start + span {
            break;
        }
        // Time only moves forward, and by at least a millisecond a step: a timer that keeps
        // asking for "now" counts once per millisecond, as a busy loop would cost.
        now = at.max(now + Duration::from_millis(1));
        pair.server.handle_timeout(now);
        while pair.server.poll_transmit().is_some() {}
        wakes += 1;
        assert!(wakes < 10_000, "the peer's timers spin");
    }
    println!("{wakes} wakes in {span:?}");
    assert!(
        wakes <= 12,
        "{wakes} timer wakes in 10 s of an idle connected peer: each walks the whole \
         connection (was 50+ when the ICE-lite agent woke every 200 ms)"
    );
    assert!(
        wakes >= 8,
        "{wakes} timer wakes in 10 s: the peer's own sender and receiver reports go out \
         once a second"
    );
    assert!(pair.server.peer(pair.peer_id).unwrap().is_connected());
}
