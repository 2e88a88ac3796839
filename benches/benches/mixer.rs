//! The mixer's cost per 20 ms tick by room size, speakers and Opus complexity, and the cost
//! of routing one listener to its packet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{AudioEncoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, AudioLevel, FrameDuration, MediaTime};
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::fixtures;
use confab_transport::jitter::AudioPacket;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// 4 s of each speaker's speech as (payload, level), cycled by the talkers.
fn speech_packets() -> Vec<Vec<(Bytes, u8)>> {
    fixtures::Speaker::ALL
        .iter()
        .map(|&speaker| {
            let mut encoder =
                OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
            fixtures::speech_frames(speaker)
                .iter()
                .take(200)
                .map(|f| {
                    let mut p = Vec::new();
                    encoder.encode(f, &mut p).unwrap();
                    (
                        Bytes::from(p),
                        AudioLevel::measure(f.samples()).wire_value(),
                    )
                })
                .collect()
        })
        .collect()
}

struct Room {
    mixer: AudioMixer,
    participants: u32,
    speaking: u32,
    speech: Vec<Vec<(Bytes, u8)>>,
    silence: Bytes,
    origin: Instant,
    n: usize,
}

impl Room {
    fn new(
        participants: u32,
        speaking: u32,
        complexity: u8,
        speech: Vec<Vec<(Bytes, u8)>>,
    ) -> Room {
        let mut config = MixerConfig::default();
        config.encoder.complexity = complexity;
        let mut mixer = AudioMixer::new(config).unwrap();
        for id in 0..participants {
            mixer.add_source(SourceId(id)).unwrap();
        }
        let mut silence = Vec::new();
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default())
            .unwrap()
            .encode(
                &AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO),
                &mut silence,
            )
            .unwrap();
        let mut room = Room {
            mixer,
            participants,
            speaking,
            speech,
            silence: Bytes::from(silence),
            origin: Instant::now(),
            n: 0,
        };
        // Past buffering, VAD onset and selection.
        for _ in 0..100 {
            room.tick();
        }
        room
    }

    /// One packet from every participant, then one tick: the room's work per 20 ms.
    fn tick(&mut self) {
        let n = self.n;
        let sent = self.origin + Duration::from_millis(20 * n as u64);
        for id in 0..self.participants {
            let (payload, level) = if id < self.speaking {
                let track = &self.speech[id as usize % self.speech.len()];
                track[(n + id as usize * 37) % track.len()].clone()
            } else {
                (self.silence.clone(), 127)
            };
            let packet = AudioPacket {
                seq: n as u16,
                timestamp: (n * 960) as u32,
                payload,
                level: Some(level),
            };
            self.mixer.insert(SourceId(id), packet, sent);
        }
        self.mixer.tick(sent + Duration::from_millis(10)).unwrap();
        self.n += 1;
    }
}

fn tick(c: &mut Criterion) {
    let speech = speech_packets();
    let mut group = c.benchmark_group("mixer_tick");
    group.sample_size(30);
    for complexity in [5u8, 10] {
        for participants in [3u32, 10, 50, 350] {
            for speaking in [1u32, 3, 10] {
                if speaking > participants {
                    continue;
                }
                let mut room = Room::new(participants, speaking, complexity, speech.clone());
                let id = BenchmarkId::new(
                    format!("c{complexity}_p{participants}"),
                    format!("speaking{speaking}"),
                );
                group.bench_with_input(id, &participants, |b, _| b.iter(|| room.tick()));
            }
        }
    }
    group.finish();
}

fn routing(c: &mut Criterion) {
    let mut room = Room::new(350, 3, 5, speech_packets());
    room.tick();
    let output = room.mixer.output().clone();
    let mut group = c.benchmark_group("mixer_routing");
    group.throughput(Throughput::Elements(350));
    group.bench_function("payload_for_350_listeners", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for id in 0..350 {
                bytes += output.payload_for(black_box(SourceId(id))).len();
            }
            bytes
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = tick, routing
}
criterion_main!(benches);
