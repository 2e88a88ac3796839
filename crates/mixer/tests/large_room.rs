//! 350 participants, 347 of them silent (half sending silence with RFC 6464 levels, half in
//! DTX sending nothing): the silent ones cost no decode, and every tick does at most K+1
//! encodes — counted, not timed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use bytes::Bytes;
use common::*;
use confab_codecs::{AudioEncoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::{VirtualClock, fixtures};
use confab_transport::jitter::AudioPacket;

#[test]
fn silent_participants_cost_no_decode() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut speakers = vec![
        Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -24.0),
        Talker::speaker_at(2, fixtures::Speaker::Bob, 0, -24.0),
        Talker::speaker_at(3, fixtures::Speaker::Carol, 0, -24.0),
    ];
    for s in &speakers {
        mixer.add_source(s.id).unwrap();
    }
    for id in 4..=350 {
        mixer.add_source(SourceId(id)).unwrap();
    }
    // One encoded silent frame serves every silent sender (only their sequence numbers differ).
    let mut silence = Vec::new();
    OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default())
        .unwrap()
        .encode(
            &AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO),
            &mut silence,
        )
        .unwrap();
    let silence = Bytes::from(silence);

    let ticks = 200;
    let mut worst_decodes = 0;
    let mut worst_encodes = 0;
    for n in 0..ticks {
        for s in &mut speakers {
            let p = s.packet(n);
            mixer.insert(s.id, p, send_time(origin, n));
        }
        for id in 4..=350u32 {
            // Odd ids send silence every 20 ms; even ids are in DTX (one packet per 400 ms).
            if id % 2 == 1 || n % 20 == 0 {
                let packet = AudioPacket {
                    seq: n as u16,
                    timestamp: (n * FRAME) as u32,
                    payload: silence.clone(),
                    level: Some(127),
                };
                mixer.insert(SourceId(id), packet, send_time(origin, n));
            }
        }
        let before = mixer.counters();
        mixer.tick(tick_time(origin, n)).unwrap();
        let after = mixer.counters();
        let decodes = (after.decodes + after.concealments + after.fec_recoveries)
            - (before.decodes + before.concealments + before.fec_recoveries);
        worst_decodes = worst_decodes.max(decodes);
        worst_encodes = worst_encodes.max(after.encodes - before.encodes);
    }
    let counters = mixer.counters();
    println!(
        "350 sources, 3 speaking, {ticks} ticks: {counters:?}; worst tick {worst_decodes} decodes, {worst_encodes} encodes"
    );
    assert!(
        worst_decodes <= 3,
        "only the three speakers are decoded: {worst_decodes} in one tick"
    );
    assert!(worst_encodes <= 4, "K+1 encodes at most: {worst_encodes}");
    assert!(
        counters.decodes >= 3 * 150,
        "the speakers are decoded: {counters:?}"
    );
}
