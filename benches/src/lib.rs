//! criterion benchmarks of confab's media pipeline; the benches live in `benches/`.
//!
//! Run them all with `cargo bench -p confab-benches`, or one group with e.g.
//! `cargo bench -p confab-benches --bench codecs -- opus_encode`. This library only holds
//! the inputs the benches share, so each bench measures the work, not the set-up.

use std::time::{Duration, Instant};

use confab_media::{AudioFrame, MediaTime, TestPattern, VideoFrame};
use confab_testkit::fixtures;
use confab_transport::peer::{MediaLayout, Peer, PeerEvent, PeerId, PeerOptions, PeerServer};
use confab_transport::udp::Transport;

/// One second of a speech fixture as 48 kHz mono 20 ms frames (speech, not silence, so
/// codecs do their full work).
pub fn speech_second() -> Vec<AudioFrame> {
    fixtures::speech_frames(fixtures::Speaker::Alice)
        .into_iter()
        .skip(25)
        .take(50)
        .collect()
}

/// `count` consecutive test-pattern pictures at `width` x `height`, 30 fps timestamps.
pub fn pattern_frames(width: u32, height: u32, count: u32) -> Vec<VideoFrame> {
    let pattern = TestPattern::new(width, height);
    (0..count)
        .map(|n| pattern.frame(n, MediaTime::from_micros(u64::from(n) * 33_333)))
        .collect()
}

/// The address in-memory services are made with (`PeerServer::new(service_addr())`).
pub fn service_addr() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, 2], 3478))
}

/// Adds client number `n` (a bot's full-ICE peer asking for `layout`) to `server`, whose
/// side of it uses `options`, and connects the two in memory on a virtual clock from
/// `start`; returns the client's id at the server, the client, and the time it connected.
///
/// # Panics
/// If they do not connect within 10 virtual seconds.
#[allow(clippy::expect_used)] // set-up for benches and tests
pub fn connect_in_memory(
    server: &mut PeerServer,
    n: u16,
    layout: MediaLayout,
    options: PeerOptions,
    start: Instant,
) -> (PeerId, Peer, Instant) {
    let bot_addr = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000 + n));
    let service_addr = service_addr();
    let mut now = start;
    let (mut bot, offer) =
        Peer::offer(bot_addr, layout, PeerOptions::default(), now).expect("an offer");
    let (id, answer) = server.add_peer(&offer, options, now).expect("an answer");
    bot.accept_answer(&answer, now).expect("the answer fits");
    let (mut bot_up, mut service_up) = (false, false);
    for _ in 0..10_000 {
        while let Some((_, data)) = bot.poll_transmit() {
            server.handle_datagram(now, bot_addr, &data);
        }
        while let Some((to, data)) = server.poll_transmit() {
            if to == bot_addr {
                bot.handle_datagram(now, service_addr, &data);
            }
        }
        while let Some(e) = bot.poll_event() {
            bot_up |= matches!(e, PeerEvent::Connected);
        }
        while let Some((peer, e)) = server.poll_event() {
            service_up |= peer == id && matches!(e, PeerEvent::Connected);
        }
        if bot_up && service_up {
            return (id, bot, now);
        }
        now += Duration::from_millis(1);
        bot.handle_timeout(now);
        server.handle_timeout(now);
    }
    panic!("no connection in memory");
}
