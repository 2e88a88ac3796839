//! 10 % packet loss on one speaker's way in: the mix stays continuous, the losses are
//! rebuilt from FEC or concealed (counted), and no click appears at frame boundaries.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::{NetemConfig, NetworkEmulator, VirtualClock, fixtures, signal};

#[test]
fn losses_are_hidden_without_clicks() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut lossy = Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -24.0);
    let mut clean = Talker::speaker_at(2, fixtures::Speaker::Bob, 0, -24.0);
    let listener_id = SourceId(3);
    for id in [lossy.id, clean.id, listener_id] {
        mixer.add_source(id).unwrap();
    }
    let mut net = NetworkEmulator::new(
        NetemConfig {
            loss: 0.10,
            base_delay: Duration::from_millis(5),
            ..NetemConfig::default()
        },
        99,
    );
    let mut listener = Listener::new(listener_id);
    let ticks = 400;
    for n in 0..ticks {
        let now = send_time(origin, n);
        net.send(now, lossy.packet(n));
        while let Some(p) = net.poll(tick_time(origin, n)) {
            mixer.insert(lossy.id, p, now);
        }
        let p = clean.packet(n);
        mixer.insert(clean.id, p, now);
        let out = mixer.tick(tick_time(origin, n)).unwrap();
        assert!(!out.shared.is_empty());
        listener.hear(&mixer);
    }
    assert_eq!(listener.heard.len(), ticks * FRAME, "one frame every tick");
    let counters = mixer.counters();
    let jitter = mixer.jitter_stats(lossy.id).unwrap();
    println!(
        "{counters:?}\nlossy source: {jitter:?}\nnetwork: {:?}",
        net.stats()
    );
    assert!(jitter.lost() >= 20, "the network lost packets: {jitter:?}");
    assert!(
        counters.fec_recoveries + counters.concealments >= jitter.lost(),
        "every loss was hidden"
    );
    assert!(counters.fec_recoveries > 0, "FEC was used");

    // Clicks: the sharpest bend at a frame boundary is no sharper than inside frames.
    let heard = &listener.heard[50 * FRAME..];
    let inside = signal::max_bend_at(
        heard,
        (0..heard.len()).filter(|i| i % FRAME > 2 && i % FRAME < FRAME - 2),
    );
    let boundaries = signal::max_bend_at(
        heard,
        (1..heard.len() / FRAME).flat_map(|f| [f * FRAME, f * FRAME + 1]),
    );
    println!("bends: inside frames {inside}, at boundaries {boundaries}");
    assert!(
        boundaries <= inside,
        "click at a frame boundary: {boundaries} vs {inside}"
    );
}
