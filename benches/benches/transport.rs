//! Transport cost per packet: the jitter buffer (insert + pop) on clean and jittery
//! streams, and RTP payload formats (H.264 packetize / depacketize per picture, Opus TOC).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_benches::pattern_frames;
use confab_codecs::{H264Encoder, H264EncoderConfig};
use confab_testkit::Rng;
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig};
use confab_transport::payload::h264::{H264Depacketizer, H264Packetizer};
use confab_transport::payload::opus::OpusToc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// One packet in, one frame out, per iteration; `jitter_ms` of random arrival jitter
/// (packets may arrive out of order).
fn jitter_buffer(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter_buffer_insert_pop");
    group.throughput(Throughput::Elements(1));
    for jitter_ms in [0u64, 50] {
        group.bench_with_input(
            BenchmarkId::new("jitter_ms", jitter_ms),
            &jitter_ms,
            |b, &jitter_ms| {
                let origin = Instant::now();
                let mut jb = JitterBuffer::new(JitterConfig::default());
                let mut rng = Rng::new(42);
                let payload = Bytes::from_static(&[0x78; 80]);
                let mut seq: u16 = 0;
                let mut n: u64 = 0;
                b.iter(|| {
                    // Sender at 20 ms spacing, arrival with uniform jitter; one pop per packet.
                    let sent = origin + Duration::from_millis(n * 20);
                    let arrival = sent
                        + Duration::from_micros((rng.unit() * (jitter_ms * 1000) as f64) as u64);
                    let packet = AudioPacket {
                        seq,
                        timestamp: (n * 960) as u32,
                        payload: payload.clone(),
                        level: Some(40),
                    };
                    jb.insert(black_box(packet), arrival);
                    let out = jb.pop(sent + Duration::from_millis(7));
                    seq = seq.wrapping_add(1);
                    n += 1;
                    out
                });
            },
        );
    }
    group.finish();
}

fn h264_payload(c: &mut Criterion) {
    let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
    let frames = pattern_frames(640, 480, 2);
    let key = encoder.encode(&frames[0], true).unwrap().unwrap();
    let delta = encoder.encode(&frames[1], false).unwrap().unwrap();
    let packetizer = H264Packetizer::new(1200);
    let mut group = c.benchmark_group("h264_rtp_640x480");
    for (name, unit) in [("keyframe", &key.data), ("delta", &delta.data)] {
        let packets = packetizer.packetize(unit);
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_with_input(BenchmarkId::new("packetize", name), unit, |b, unit| {
            b.iter(|| packetizer.packetize(black_box(unit)));
        });
        let mut depacketizer = H264Depacketizer::new();
        let mut seq = 0u16;
        group.bench_with_input(
            BenchmarkId::new("depacketize", name),
            &packets,
            |b, packets| {
                b.iter(|| {
                    let mut out = None;
                    for p in packets {
                        out = depacketizer
                            .push(seq, black_box(&p.payload), p.marker)
                            .unwrap()
                            .or(out);
                        seq = seq.wrapping_add(1);
                    }
                    out
                });
            },
        );
    }
    group.finish();
}

fn opus_payload(c: &mut Criterion) {
    let packet = [0x78u8, 0x01, 0x02, 0x03];
    c.bench_function("opus_rtp_toc_parse", |b| {
        b.iter(|| OpusToc::parse(black_box(&packet)));
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = transport;
    config = config();
    targets = jitter_buffer, h264_payload, opus_payload
}
criterion_main!(transport);
