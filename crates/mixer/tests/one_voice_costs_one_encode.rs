//! With one voice in the room, the speaker's own mix-minus is the cached silence packet: one
//! encode per tick (the shared mix), not two; a second voice brings the mix-minus back.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::{VirtualClock, fixtures};

#[test]
fn a_lone_speaker_costs_one_encode() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut alice = Talker::speaker(1, fixtures::Speaker::Alice, 0);
    let mut bob = Talker::speaker(2, fixtures::Speaker::Bob, 200);
    let listener = SourceId(3);
    for id in [alice.id, bob.id, listener] {
        mixer.add_source(id).unwrap();
    }
    // Before anyone speaks, everyone gets the silence packet.
    let silence = mixer.tick(tick_time(origin, 0)).unwrap().shared.clone();
    let mut alone_ticks = 0;
    for n in 1..300 {
        let p = alice.packet(n);
        mixer.insert(alice.id, p, send_time(origin, n));
        let p = bob.packet(n);
        mixer.insert(bob.id, p, send_time(origin, n));
        let before = mixer.counters().encodes;
        let out = mixer.tick(tick_time(origin, n)).unwrap();
        let (heard, own) = (
            out.payload_for(listener).clone(),
            out.payload_for(alice.id).clone(),
        );
        let encodes = mixer.counters().encodes - before;
        if mixer.selected() == [alice.id] {
            alone_ticks += 1;
            assert_eq!(encodes, 1, "tick {n}: one encode for one voice");
            assert_eq!(own, silence, "tick {n}: Alice hears silence, not herself");
            assert_ne!(heard, silence, "tick {n}: the others hear her");
        }
        if n >= 260 {
            assert_eq!(mixer.selected().len(), 2, "tick {n}: two voices are mixed");
            assert_eq!(encodes, 3, "tick {n}: the shared mix and two mix-minus");
        }
    }
    println!(
        "{alone_ticks} lone-voice ticks; counters {:?}",
        mixer.counters()
    );
    assert!(alone_ticks > 100);
}
