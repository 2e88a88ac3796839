//! The receiver reports a peer writes itself (webrtc-rs's report interceptor is not
//! installed: audio after each stream's first packet is opened on the lean ingress path,
//! which the core never sees). A bot sends speech to the service through an emulated uplink
//! that loses 10 % of packets at random and reorders and duplicates a few; the service
//! opens nearly all of it on the lean path, and the loss it reports back to the bot is the
//! loss that happened — reordering and duplicates are not counted as loss. The reports
//! themselves take the lean path too: the service, which speaks as well, sends its
//! reception report inside its own sender report, one SRTCP compound it seals itself, and
//! each end reads the other's without the core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_testkit::fixtures;
use confab_testkit::netem::NetemConfig;
use confab_transport::peer::Section;

#[test]
fn the_loss_reported_back_is_the_loss_on_the_link() {
    let up = NetemConfig {
        loss: 0.10,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(30),
        duplicate: 0.02,
        ..NetemConfig::default()
    };
    let (mut pair, _relay) = Pair::connect_through_relay(up, NetemConfig::default());
    let speech = media(fixtures::Speaker::Alice, 160, 120);
    let mut arrived = Received::new();
    let mut reported = Vec::new();
    let frames = 250;
    for i in 0..frames {
        let now = Instant::now();
        let (payload, level) = speech.packets[i % speech.packets.len()].clone();
        pair.client
            .send_audio(
                Section::Audio,
                now,
                payload.clone(),
                (i * 960) as u32,
                Some(level),
            )
            .unwrap();
        // The service speaks too (as the mix does), so its reception reports ride in its
        // own sender reports.
        pair.server
            .send_audio(
                pair.peer_id,
                Section::Audio,
                now,
                payload,
                (i * 960) as u32,
                Some(level),
            )
            .unwrap();
        pair.run(
            Duration::from_millis(20),
            &mut |_, e| arrived.take(e),
            &mut |_| {},
        );
        if i % 50 == 49 {
            reported.push(pair.client.reported_loss(Section::Audio));
        }
    }
    pair.run(
        Duration::from_millis(1200),
        &mut |_, e| arrived.take(e),
        &mut |_| {},
    );
    reported.push(pair.client.reported_loss(Section::Audio));

    let packets = arrived.packets(Section::Audio).len();
    let lean = pair.server.peer(pair.peer_id).unwrap().lean_packets_in();
    println!("{packets} audio packets arrived, {lean} of them opened on the lean path");
    println!("loss reported back each second: {reported:?}");
    assert!(
        (frames * 80 / 100..=frames * 97 / 100).contains(&packets),
        "about 90 % arrive: {packets}"
    );
    assert!(
        lean as usize + 1 >= packets,
        "all but the first through the lean path: {lean} of {packets}"
    );
    // Reports both ways were sealed and read by the peers themselves, never the core.
    let service = pair.server.peer(pair.peer_id).unwrap();
    let counts = [
        service.lean_reports_out(),
        pair.client.lean_reports_in(),
        pair.client.lean_reports_out(),
        service.lean_reports_in(),
    ];
    println!("reports on the lean path (service out, bot in, bot out, service in): {counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 4),
        "a report every second each way, sealed and read on the lean path: {counts:?}"
    );
    let losses: Vec<f64> = reported.iter().flatten().copied().collect();
    assert!(losses.len() >= 4, "a report every second: {reported:?}");
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    assert!(
        (0.05..=0.16).contains(&mean),
        "mean reported loss {mean:.3} for 10 % on the link"
    );
}
