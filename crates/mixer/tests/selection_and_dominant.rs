//! Ten participants, four talking: exactly K = 3 are mixed, a louder newcomer gets in only
//! after the hysteresis hold, and the dominant speaker changes once per real turn.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, MixerEvent, SourceId};
use confab_testkit::{VirtualClock, fixtures};

#[test]
fn exactly_three_mixed_and_the_newcomer_waits_for_the_hold() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut talkers = vec![
        Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -26.0),
        Talker::speaker_at(2, fixtures::Speaker::Bob, 0, -26.0),
        Talker::speaker_at(3, fixtures::Speaker::Carol, 0, -26.0),
        // Ten dB louder, from 3 s on.
        Talker::speaker_at(4, fixtures::Speaker::Alice, 150, -16.0),
    ];
    talkers.extend((5..=10).map(Talker::silent));
    for t in &talkers {
        mixer.add_source(t.id).unwrap();
    }
    let mut speaking = std::collections::BTreeSet::new();
    let mut changes = Vec::new();
    let mut first_with_four = None;
    for n in 0..400 {
        for t in &mut talkers {
            let p = t.packet(n);
            mixer.insert(t.id, p, send_time(origin, n));
        }
        let encoded = mixer.tick(tick_time(origin, n)).unwrap().encoded_packets();
        assert!(encoded <= 4, "tick {n}: {encoded} encodes");
        while let Some(event) = mixer.poll_event() {
            match event {
                MixerEvent::Speaking { id, speaking: true } => {
                    speaking.insert(id);
                }
                MixerEvent::Speaking {
                    id,
                    speaking: false,
                } => {
                    speaking.remove(&id);
                }
                MixerEvent::Selection(selected) => {
                    if selected.contains(&SourceId(4)) && first_with_four.is_none() {
                        first_with_four = Some(n);
                    }
                    changes.push((n, selected));
                }
                _ => {}
            }
        }
        let selected = mixer.selected();
        assert!(selected.len() <= 3, "tick {n}: {selected:?}");
        if speaking.len() >= 3 {
            assert_eq!(
                selected.len(),
                3,
                "tick {n}: {} speaking but {selected:?} mixed",
                speaking.len()
            );
        }
        assert!(
            selected.iter().all(|s| s.0 <= 4),
            "a silent participant was selected"
        );
    }
    println!("selection changes: {changes:?}");
    let four = first_with_four.expect("the loud newcomer gets mixed");
    // VAD onset (2 frames) plus the 400 ms hold (20 ticks) at least; within 2 s at most.
    assert!(
        (150 + 20..=150 + 100).contains(&four),
        "newcomer mixed at tick {four}"
    );
    // No flapping: a handful of changes in 8 s, not one per pause.
    assert!(changes.len() <= 12, "{} selection changes", changes.len());
}

#[test]
fn the_dominant_speaker_changes_once_per_turn() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    // Turns: 1 for 0-5 s, 2 for 5-10 s, 3 from 10 s; 4 interjects for 300 ms at 2 s.
    let mut talkers = vec![
        Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -24.0).until(250),
        Talker::speaker_at(2, fixtures::Speaker::Bob, 250, -24.0).until(500),
        Talker::speaker_at(3, fixtures::Speaker::Carol, 500, -24.0),
        Talker::speaker_at(4, fixtures::Speaker::Bob, 100, -24.0).until(115),
    ];
    for t in &talkers {
        mixer.add_source(t.id).unwrap();
    }
    let mut dominant = Vec::new();
    for n in 0..700 {
        for t in &mut talkers {
            let p = t.packet(n);
            mixer.insert(t.id, p, send_time(origin, n));
        }
        mixer.tick(tick_time(origin, n)).unwrap();
        while let Some(event) = mixer.poll_event() {
            if let MixerEvent::DominantSpeaker(id) = event {
                dominant.push((n, id));
            }
        }
    }
    println!("dominant speaker changes: {dominant:?}");
    let who: Vec<SourceId> = dominant.iter().map(|(_, id)| *id).collect();
    assert_eq!(who, vec![SourceId(1), SourceId(2), SourceId(3)]);
    // Each turn is recognised within 2 s of its start.
    assert!(
        dominant[1].0 < 250 + 100 && dominant[2].0 < 500 + 100,
        "{dominant:?}"
    );
}
