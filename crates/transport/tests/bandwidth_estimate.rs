//! The service's estimate of a viewer's downlink, over a real DTLS-SRTP connection through
//! the emulated network: the service sends video at the estimate, up to 1.2 Mbit/s; capped
//! at 300 kbit/s (a 200 ms queue, tail drop) the estimate falls within a second and then
//! saws around the cap; lifted, it climbs back above 700 kbit/s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_testkit::netem::NetemConfig;
use confab_transport::peer::Section;

/// A made-up access unit of `bytes` (one non-IDR slice): the link cares about size only.
fn access_unit(bytes: usize) -> Vec<u8> {
    let mut unit = vec![0, 0, 0, 1, 0x41];
    unit.resize(bytes, 0x5A);
    unit
}

/// Sends 30 access units a second for `how_long`, as large as the estimate allows, at most
/// 5000 bytes (1.2 Mbit/s); returns the estimate every second.
fn send_video(pair: &mut Pair, how_long: Duration, frame: &mut u32) -> Vec<Option<u64>> {
    let start = Instant::now();
    let mut next_second = start + Duration::from_secs(1);
    let mut estimates = Vec::new();
    while start.elapsed() < how_long {
        let now = Instant::now();
        let estimate = pair.server.peer(pair.peer_id).unwrap().bandwidth_estimate();
        let bytes = estimate.map_or(5000, |bits| (bits / 8 / 30).clamp(200, 5000) as usize);
        let unit = access_unit(bytes);
        pair.server
            .send_video(
                pair.peer_id,
                Section::VideoSlot(0),
                now,
                &unit,
                *frame * 3000,
            )
            .unwrap();
        *frame += 1;
        pair.run(Duration::from_millis(33), &mut |_, _| {}, &mut |_| {});
        if Instant::now() >= next_second {
            next_second += Duration::from_secs(1);
            estimates.push(pair.server.peer(pair.peer_id).unwrap().bandwidth_estimate());
        }
    }
    estimates
}

#[test]
fn the_estimate_follows_a_capped_link_down_and_back_up() {
    let capped = NetemConfig {
        rate_bps: 300_000,
        queue_limit: Duration::from_millis(200),
        ..NetemConfig::default()
    };
    let (mut pair, relay) = Pair::connect_through_relay(NetemConfig::default(), capped);
    let client = relay.clients()[0];
    let mut frame = 0;

    let capped_phase = send_video(&mut pair, Duration::from_secs(8), &mut frame);
    println!("capped at 300 kbit/s: {capped_phase:?}");
    assert!(
        capped_phase[0].is_some(),
        "the viewer's feedback gives an estimate within a second"
    );
    // Sending at the estimate, it saws around the cap (grows until the queue does, backs
    // off to 85 % of what arrived): its mean over the last five seconds is near the cap.
    let last: Vec<u64> = capped_phase[capped_phase.len() - 5..]
        .iter()
        .map(|e| e.unwrap())
        .collect();
    let settled = last.iter().sum::<u64>() / last.len() as u64;
    assert!(
        (100_000..=420_000).contains(&settled),
        "estimate at the 300 kbit/s cap: mean {settled} of {last:?}"
    );

    relay.set_client_down(client, NetemConfig::default());
    let lifted = send_video(&mut pair, Duration::from_secs(15), &mut frame);
    println!("cap lifted: {lifted:?}");
    let recovered = lifted.iter().flatten().max().copied().unwrap();
    assert!(
        recovered >= 700_000,
        "estimate after the cap lifted: {recovered}"
    );
}
