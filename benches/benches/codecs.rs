//! Codec cost per frame: Opus encode (by complexity), decode and PLC per 20 ms; H.264
//! encode and decode per picture (by size); G.711 per 20 ms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use confab_benches::{pattern_frames, speech_second};
use confab_codecs::g711::{self, G711Law};
use confab_codecs::{
    AudioDecoder, AudioEncoder, H264Decoder, H264Encoder, H264EncoderConfig, OpusDecoder,
    OpusEncoder, OpusEncoderConfig,
};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};

/// One benchmark: `config`'s encoder over a second of speech, a frame per iteration.
fn bench_encoder(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    config: OpusEncoderConfig,
    frames: &[AudioFrame],
) {
    let mut encoder = OpusEncoder::new(AudioFormat::MONO_48K, config).unwrap();
    let mut out = Vec::with_capacity(1500);
    let mut i = 0;
    group.bench_function(id, |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            encoder.encode(black_box(&frames[i]), &mut out).unwrap()
        });
    });
}

fn opus_encode(c: &mut Criterion) {
    let frames = speech_second();
    let mut group = c.benchmark_group("opus_encode_20ms_48k_mono");
    group.throughput(Throughput::Elements(1));
    for complexity in [0u8, 5, 9, 10] {
        let config = OpusEncoderConfig {
            complexity,
            ..OpusEncoderConfig::default()
        };
        bench_encoder(
            &mut group,
            BenchmarkId::new("complexity", complexity),
            config,
            &frames,
        );
    }
    group.finish();
}

/// The mixer's encoder (music mode: several voices) at the settings weighed for the mix.
fn opus_encode_mix(c: &mut Criterion) {
    let frames = speech_second();
    let mut group = c.benchmark_group("opus_encode_mix_20ms_48k_mono");
    group.throughput(Throughput::Elements(1));
    for (kbps, complexity) in [(48u32, 5u8), (48, 10), (64, 10)] {
        let config = OpusEncoderConfig {
            application: confab_codecs::OpusApplication::Audio,
            bitrate_bps: kbps * 1000,
            complexity,
            expected_loss_percent: 5,
            ..OpusEncoderConfig::default()
        };
        let id = BenchmarkId::new(format!("{kbps}kbps"), complexity);
        bench_encoder(&mut group, id, config, &frames);
    }
    group.finish();
}

fn encoded_speech() -> Vec<Vec<u8>> {
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    speech_second()
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            p
        })
        .collect()
}

fn opus_decode_and_plc(c: &mut Criterion) {
    let packets = encoded_speech();
    let mut group = c.benchmark_group("opus_decode_20ms_48k_mono");
    group.throughput(Throughput::Elements(1));
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let mut out = AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO);
    let mut i = 0;
    group.bench_function("decode", |b| {
        b.iter(|| {
            i = (i + 1) % packets.len();
            decoder
                .decode_into(black_box(&packets[i]), MediaTime::ZERO, &mut out)
                .unwrap();
        });
    });
    // One concealed frame right after a real one: the cost of hiding a single loss.
    group.bench_function("plc_after_packet", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i = (i + 1) % packets.len();
                decoder
                    .decode_into(&packets[i], MediaTime::ZERO, &mut out)
                    .unwrap();
                let start = Instant::now();
                decoder
                    .conceal_into(MediaTime::ZERO, black_box(&mut out))
                    .unwrap();
                total += start.elapsed();
            }
            total
        });
    });
    group.bench_function("fec_recover", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i = (i + 1) % packets.len();
                decoder
                    .decode_into(&packets[i], MediaTime::ZERO, &mut out)
                    .unwrap();
                let next = &packets[(i + 1) % packets.len()];
                let start = Instant::now();
                decoder
                    .recover_into(black_box(next), MediaTime::ZERO, &mut out)
                    .unwrap();
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

const SIZES: [(u32, u32); 2] = [(640, 480), (1280, 720)];

fn h264_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("h264_encode_picture");
    group.sample_size(20);
    for (w, h) in SIZES {
        let frames = pattern_frames(w, h, 60);
        let bitrate_bps = if w > 640 { 2_500_000 } else { 1_000_000 };
        let config = H264EncoderConfig {
            bitrate_bps,
            ..H264EncoderConfig::default()
        };
        let mut encoder = H264Encoder::new(config).unwrap();
        let mut n = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{w}x{h}")),
            &(w, h),
            |b, _| {
                b.iter(|| {
                    n = (n + 1) % frames.len();
                    encoder.encode(black_box(&frames[n]), false).unwrap()
                });
            },
        );
    }
    group.finish();
}

fn h264_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("h264_decode_picture");
    group.sample_size(20);
    for (w, h) in SIZES {
        // A 60-picture stream whose first picture is the only IDR: decoding it in a loop
        // restarts cleanly at the keyframe every 2 s of video.
        let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let units: Vec<_> = pattern_frames(w, h, 60)
            .iter()
            .filter_map(|f| encoder.encode(f, false).unwrap())
            .map(|e| e.data)
            .collect();
        let mut decoder = H264Decoder::new().unwrap();
        let mut n = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{w}x{h}")),
            &(w, h),
            |b, _| {
                b.iter(|| {
                    let unit = &units[n];
                    n = (n + 1) % units.len();
                    decoder.decode(black_box(unit), MediaTime::ZERO).unwrap()
                });
            },
        );
    }
    group.finish();
}

fn g711(c: &mut Criterion) {
    let frames = speech_second();
    let narrow: Vec<i16> = frames[0].samples().iter().step_by(6).copied().collect();
    let mut group = c.benchmark_group("g711_20ms_8k");
    group.throughput(Throughput::Elements(1));
    for law in [G711Law::MuLaw, G711Law::ALaw] {
        let mut codes = vec![0u8; narrow.len()];
        let mut back = vec![0i16; narrow.len()];
        group.bench_with_input(
            BenchmarkId::new("encode", format!("{law:?}")),
            &law,
            |b, &law| {
                b.iter(|| g711::encode(law, black_box(&narrow), &mut codes));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("decode", format!("{law:?}")),
            &law,
            |b, &law| {
                b.iter(|| g711::decode(law, black_box(&codes), &mut back));
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = codecs;
    config = config();
    targets = opus_encode, opus_encode_mix, opus_decode_and_plc, h264_encode, h264_decode, g711
}
criterion_main!(codecs);
