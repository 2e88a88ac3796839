//! A participant that simply stops sending (a bot with nothing more to say sends no DTX, no
//! packets at all) stops counting as speaking within a moment, and the one still talking
//! becomes the dominant speaker — the stopped stream is not "expanded" as speech for ever.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, MixerEvent, SourceId};
use confab_testkit::{VirtualClock, fixtures};

#[test]
fn a_stopped_sender_falls_silent_and_loses_the_floor() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut alice = Talker::speaker(1, fixtures::Speaker::Alice, 0);
    let mut bob = Talker::speaker(2, fixtures::Speaker::Bob, 100);
    mixer.add_source(alice.id).unwrap();
    mixer.add_source(bob.id).unwrap();
    let (mut alice_silent_at, mut bob_dominant_at) = (None, None);
    for n in 0..400 {
        if n < 150 {
            let p = alice.packet(n);
            mixer.insert(alice.id, p, send_time(origin, n));
        }
        let p = bob.packet(n);
        mixer.insert(bob.id, p, send_time(origin, n));
        mixer.tick(tick_time(origin, n)).unwrap();
        while let Some(event) = mixer.poll_event() {
            match event {
                MixerEvent::Speaking {
                    id: SourceId(1),
                    speaking: false,
                } if n >= 150 => {
                    alice_silent_at.get_or_insert(n);
                }
                MixerEvent::DominantSpeaker(SourceId(2)) => {
                    bob_dominant_at.get_or_insert(n);
                }
                _ => {}
            }
        }
    }
    println!(
        "Alice stopped at tick 150: silent at {alice_silent_at:?}, Bob dominant at {bob_dominant_at:?}"
    );
    assert!(
        alice_silent_at.is_some_and(|n| n <= 150 + 25),
        "within 0.5 s"
    );
    assert!(
        bob_dominant_at.is_some_and(|n| n <= 150 + 75),
        "within 1.5 s"
    );
}
