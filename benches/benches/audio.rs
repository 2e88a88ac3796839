//! Per-20 ms audio arithmetic: resampling for bots and phones, and mixing N speakers
//! with mix-minus.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::Duration;

use confab_benches::speech_second;
use confab_media::{
    AudioFormat, AudioFrame, AudioLevel, FrameDuration, MediaTime, MixBuffer, Resampler, SampleRate,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn resample(c: &mut Criterion) {
    let frames = speech_second();
    let mut group = c.benchmark_group("resample_20ms");
    group.throughput(Throughput::Elements(1));
    for to in [SampleRate::Hz16000, SampleRate::Hz8000] {
        let mut r = Resampler::new(AudioFormat::MONO_48K, to, FrameDuration::Ms20).unwrap();
        let mut out = AudioFrame::silence(r.output_format(), FrameDuration::Ms20, MediaTime::ZERO);
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("from_48k", to.hz()), &to, |b, _| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                r.process_into(black_box(&frames[i]), &mut out).unwrap();
            });
        });
    }
    group.finish();
}

/// Mixing `n` speakers: accumulate all, write the shared mix, and one mix-minus per speaker
/// (what the mixer does each tick for its selected speakers).
fn mix(c: &mut Criterion) {
    let speech = speech_second();
    let mut group = c.benchmark_group("mix_20ms_48k");
    group.throughput(Throughput::Elements(1));
    for n in [3usize, 10] {
        let inputs: Vec<&AudioFrame> = (0..n).map(|k| &speech[(k * 7) % speech.len()]).collect();
        let mut buffer = MixBuffer::new(960);
        let mut shared = vec![0i16; 960];
        let mut minus = vec![vec![0i16; 960]; n];
        group.bench_with_input(BenchmarkId::new("sum_and_mix_minus", n), &n, |b, _| {
            b.iter(|| {
                buffer.reset(960);
                for f in &inputs {
                    buffer.add(black_box(f.samples())).unwrap();
                }
                buffer.write_soft_clipped(&mut shared).unwrap();
                for (f, out) in inputs.iter().zip(minus.iter_mut()) {
                    buffer.write_mix_minus(f.samples(), out).unwrap();
                }
            });
        });
    }
    group.finish();

    let frame = &speech[10];
    c.bench_function("audio_level_rfc6464_20ms_48k", |b| {
        b.iter(|| AudioLevel::measure(black_box(frame.samples())));
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = audio;
    config = config();
    targets = resample, mix
}
criterion_main!(audio);
