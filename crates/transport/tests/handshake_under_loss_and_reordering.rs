//! A bot's peer and the service's ICE-lite peer connect through a network that loses 10 % of
//! the datagrams and reorders them (0–50 ms of jitter), every datagram impaired: STUN, DTLS
//! and all. Virtual time, seeded networks: each seed is one reproducible network.
//!
//! Before the DTLS fix in `vendor/rtc-dtls` about one handshake in ten never completed: a
//! side waiting for the peer's next flight dropped its own retransmission timer whenever a
//! datagram of the peer's *previous* flight came in again (which is exactly what a peer
//! does when our flight was lost), so neither side sent anything new.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// One real `Instant` starts the virtual clock; nothing else reads the time.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confab_testkit::{NetemConfig, NetworkEmulator};
use confab_transport::peer::{MediaLayout, Peer, PeerEvent, PeerOptions, PeerServer};
use confab_transport::udp::Transport;

const BOT: &str = "10.0.0.1:40000";
const SERVICE: &str = "10.0.0.2:3478";

type Datagram = (SocketAddr, Vec<u8>);

/// How long (virtual time) the two ends took to both report `Connected`, if they did within
/// `limit`.
fn connect_through(net: &NetemConfig, seed: u64, limit: Duration) -> Option<Duration> {
    let bot_addr: SocketAddr = BOT.parse().unwrap();
    let service_addr: SocketAddr = SERVICE.parse().unwrap();
    let start = Instant::now();
    let mut now = start;
    let mut server = PeerServer::new(service_addr);
    let (mut bot, offer) = Peer::offer(
        bot_addr,
        MediaLayout::default(),
        PeerOptions::default(),
        now,
    )
    .unwrap();
    let (_, answer) = server
        .add_peer(&offer, PeerOptions::default(), now)
        .unwrap();
    bot.accept_answer(&answer, now).unwrap();
    let mut up: NetworkEmulator<Datagram> = NetworkEmulator::new(net.clone(), seed);
    let mut down: NetworkEmulator<Datagram> =
        NetworkEmulator::new(net.clone(), seed.wrapping_mul(7919) + 1);
    let (mut bot_up, mut service_up) = (false, false);
    while now - start < limit {
        while let Some((to, data)) = bot.poll_transmit() {
            up.send(now, (to, data.to_vec()));
        }
        while let Some((to, data)) = server.poll_transmit() {
            down.send(now, (to, data.to_vec()));
        }
        while let Some((_, data)) = up.poll(now) {
            server.handle_datagram(now, bot_addr, &data);
        }
        while let Some((_, data)) = down.poll(now) {
            bot.handle_datagram(now, service_addr, &data);
        }
        while let Some(event) = bot.poll_event() {
            bot_up |= matches!(event, PeerEvent::Connected);
        }
        while let Some((_, event)) = server.poll_event() {
            service_up |= matches!(event, PeerEvent::Connected);
        }
        if bot_up && service_up {
            return Some(now - start);
        }
        // Next thing to happen: a timer or an arrival, at least 1 ms on.
        let next = [
            bot.poll_timeout(),
            server.poll_timeout(),
            up.next_arrival(),
            down.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(10));
        now = next.max(now + Duration::from_millis(1));
        bot.handle_timeout(now);
        server.handle_timeout(now);
    }
    None
}

#[test]
fn every_handshake_completes_through_ten_percent_loss_with_reordering() {
    let net = NetemConfig {
        base_delay: Duration::from_millis(10),
        jitter: Duration::from_millis(50),
        loss: 0.10,
        ..NetemConfig::default()
    };
    let seeds = 1..=60u64;
    let mut times = Vec::new();
    let mut stuck = Vec::new();
    for seed in seeds.clone() {
        match connect_through(&net, seed, Duration::from_secs(20)) {
            Some(t) => times.push(t),
            None => stuck.push(seed),
        }
    }
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let slowest = times.last().copied().unwrap_or_default();
    eprintln!(
        "{} of {} connected; median {median:?}, slowest {slowest:?}; stuck seeds {stuck:?}",
        times.len(),
        seeds.count()
    );
    assert!(
        stuck.is_empty(),
        "handshakes that never completed in 20 s on seeds {stuck:?}"
    );
    // Each lost flight costs one 1 s retransmission interval; several in a row are rare.
    assert!(slowest < Duration::from_secs(8), "slowest {slowest:?}");
}

#[test]
fn a_clean_network_connects_at_once() {
    let net = NetemConfig::default();
    let took = connect_through(&net, 1, Duration::from_secs(5)).expect("connected");
    assert!(took < Duration::from_millis(400), "took {took:?}");
}
