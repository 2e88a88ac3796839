//! What a phone participant costs: per 20 ms, its G.711 decoded and resampled into the mix
//! (or concealed when a packet is lost), its mix resampled and companded back, its RTP leg
//! handling a packet each way, and a room's mixer tick by how many phones speak in it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use confab_codecs::{AudioCodec, AudioDecoder, AudioEncoder, G711Decoder, G711Encoder, G711Law};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime, Resampler, SampleRate};
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_sip::leg::{Latching, LegConfig, PlainRtpLeg};
use confab_sip::rtp::RtpPacket;
use confab_sip::sdp::{Direction, Negotiated};
use confab_testkit::{fixtures, signal};
use confab_transport::jitter::AudioPacket;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// 4 s of Bob's speech at 8 kHz in µ-law, 20 ms payloads.
fn ulaw_payloads() -> Vec<Vec<u8>> {
    let speech = signal::decimate_6(&fixtures::speech(fixtures::Speaker::Bob));
    let mut encoder = G711Encoder::new(G711Law::MuLaw);
    speech
        .chunks_exact(160)
        .take(200)
        .map(|c| {
            let frame = AudioFrame::new(AudioFormat::MONO_8K, MediaTime::ZERO, c.to_vec()).unwrap();
            let mut out = Vec::new();
            encoder.encode(&frame, &mut out).unwrap();
            out
        })
        .collect()
}

/// One leg's audio each way per 20 ms, the way the mixer does it.
fn leg_audio(c: &mut Criterion) {
    let payloads = ulaw_payloads();
    let mut group = c.benchmark_group("phone_leg_per_20ms");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("in", "decode_upsample"), |b| {
        let mut decoder = G711Decoder::new(G711Law::MuLaw);
        let mut up = Resampler::new(
            AudioFormat::MONO_8K,
            SampleRate::Hz48000,
            FrameDuration::Ms20,
        )
        .unwrap();
        let mut narrow =
            AudioFrame::silence(AudioFormat::MONO_8K, FrameDuration::Ms20, MediaTime::ZERO);
        let mut wide =
            AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO);
        let mut i = 0;
        b.iter(|| {
            decoder
                .decode_into(&payloads[i % payloads.len()], MediaTime::ZERO, &mut narrow)
                .unwrap();
            up.process_into(&narrow, &mut wide).unwrap();
            i += 1;
            black_box(wide.samples()[0])
        });
    });
    group.bench_function(BenchmarkId::new("in", "conceal_upsample"), |b| {
        let mut decoder = G711Decoder::new(G711Law::MuLaw);
        let mut up = Resampler::new(
            AudioFormat::MONO_8K,
            SampleRate::Hz48000,
            FrameDuration::Ms20,
        )
        .unwrap();
        let mut narrow =
            AudioFrame::silence(AudioFormat::MONO_8K, FrameDuration::Ms20, MediaTime::ZERO);
        let mut wide =
            AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO);
        let mut i = 0;
        b.iter(|| {
            // One loss in four: each loss starts a new concealment (pitch search included).
            if i % 4 == 3 {
                decoder.conceal_into(MediaTime::ZERO, &mut narrow).unwrap();
            } else {
                decoder
                    .decode_into(&payloads[i % payloads.len()], MediaTime::ZERO, &mut narrow)
                    .unwrap();
            }
            up.process_into(&narrow, &mut wide).unwrap();
            i += 1;
            black_box(wide.samples()[0])
        });
    });
    group.bench_function(BenchmarkId::new("out", "downsample_encode"), |b| {
        let speech = fixtures::speech_frames(fixtures::Speaker::Alice);
        let mut down = Resampler::new(
            AudioFormat::MONO_48K,
            SampleRate::Hz8000,
            FrameDuration::Ms20,
        )
        .unwrap();
        let mut encoder = G711Encoder::new(G711Law::MuLaw);
        let mut narrow =
            AudioFrame::silence(AudioFormat::MONO_8K, FrameDuration::Ms20, MediaTime::ZERO);
        let mut out = Vec::with_capacity(160);
        let mut i = 0;
        b.iter(|| {
            down.process_into(&speech[i % 200], &mut narrow).unwrap();
            encoder.encode(&narrow, &mut out).unwrap();
            i += 1;
            black_box(out[0])
        });
    });
    group.finish();
}

/// The RTP leg: one packet in (parse, latch, count, hand on) and one out (build, queue).
fn rtp_leg(c: &mut Criterion) {
    let payloads = ulaw_payloads();
    let remote = "127.0.0.1:4000".parse().unwrap();
    let now = Instant::now();
    let config = LegConfig {
        negotiated: Negotiated {
            codec: AudioCodec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            remote,
            remote_direction: Direction::SendRecv,
        },
        ssrc: 7,
        initial_seq: 0,
        initial_timestamp: 0,
        inactivity: Duration::from_secs(30),
        latching: Latching::FirstSource,
    };
    let datagrams: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut out = BytesMut::new();
            RtpPacket {
                marker: false,
                payload_type: 0,
                seq: i as u16,
                timestamp: i as u32 * 160,
                ssrc: 9,
                payload: Bytes::copy_from_slice(p),
            }
            .write(&mut out);
            out.to_vec()
        })
        .collect();
    let mut group = c.benchmark_group("phone_rtp_leg");
    group.throughput(Throughput::Elements(1));
    group.bench_function("packet_in_and_out", |b| {
        let mut leg = PlainRtpLeg::new(config, now);
        let mut i = 0;
        b.iter(|| {
            leg.handle_datagram(now, remote, &datagrams[i % datagrams.len()]);
            while let Some(event) = leg.poll_event() {
                black_box(event);
            }
            leg.send_audio(&payloads[i % payloads.len()]);
            while let Some(out) = leg.poll_transmit() {
                black_box(out);
            }
            i += 1;
        });
    });
    group.finish();
}

/// A room's tick with `phones` phones talking (µ-law, no audio levels: each is decoded and
/// resampled every tick to measure it) and one Opus listener.
fn mixer_with_phones(c: &mut Criterion) {
    let payloads = ulaw_payloads();
    let mut group = c.benchmark_group("mixer_tick_with_phones");
    for phones in [1u32, 10, 50] {
        group.throughput(Throughput::Elements(u64::from(phones)));
        group.bench_with_input(
            BenchmarkId::from_parameter(phones),
            &phones,
            |b, &phones| {
                let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
                mixer.add_source(SourceId(0)).unwrap();
                for id in 1..=phones {
                    mixer
                        .add_source_with_codec(SourceId(id), AudioCodec::Pcmu)
                        .unwrap();
                }
                let origin = Instant::now();
                let mut n = 0usize;
                b.iter(|| {
                    let sent = origin + Duration::from_millis(20 * n as u64);
                    for id in 1..=phones {
                        let packet = AudioPacket {
                            seq: n as u16,
                            timestamp: (n * 160) as u32,
                            payload: Bytes::copy_from_slice(
                                &payloads[(n + id as usize * 7) % payloads.len()],
                            ),
                            level: None,
                        };
                        mixer.insert(SourceId(id), packet, sent);
                    }
                    let out = mixer.tick(sent + Duration::from_millis(10)).unwrap();
                    n += 1;
                    black_box(out.payload_for(SourceId(0)).len())
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, leg_audio, rtp_leg, mixer_with_phones);
criterion_main!(benches);
