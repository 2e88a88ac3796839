//! A 1 kHz tone through 48 k → 16 k → 48 k, frame by frame: same pitch, same level, and
//! nothing at the frame boundaries that is not in the tone itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime, Resampler, SampleRate};
use confab_testkit::signal;

const SECONDS: usize = 3;

fn tone_48k(freq: f64, amplitude: f64) -> Vec<AudioFrame> {
    let samples: Vec<i16> = (0..48_000 * SECONDS)
        .map(|n| {
            (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / 48_000.0).sin()).round()
                as i16
        })
        .collect();
    confab_testkit::fixtures::frames(&samples, AudioFormat::MONO_48K)
}

/// Returns input, output and the total delay in 48 kHz samples.
fn round_trip() -> (Vec<i16>, Vec<i16>, usize) {
    let duration = FrameDuration::Ms20;
    let frames = tone_48k(1000.0, 16_000.0);
    let mut down = Resampler::new(
        AudioFormat::MONO_48K,
        SampleRate::Hz16000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let mut up = Resampler::new(
        AudioFormat::MONO_16K,
        SampleRate::Hz48000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let delay = down.delay() * 3 + up.delay();
    let mut narrow = AudioFrame::silence(AudioFormat::MONO_16K, duration, MediaTime::ZERO);
    let mut wide = AudioFrame::silence(AudioFormat::MONO_48K, duration, MediaTime::ZERO);
    let mut out = Vec::new();
    for frame in &frames {
        down.process_into(frame, &mut narrow).unwrap();
        assert_eq!(narrow.samples().len(), 320, "20 ms in, 20 ms out");
        up.process_into(&narrow, &mut wide).unwrap();
        assert_eq!(wide.timestamp(), frame.timestamp());
        out.extend_from_slice(wide.samples());
    }
    (confab_testkit::fixtures::concat(&frames), out, delay)
}

#[test]
fn tone_keeps_frequency_level_and_has_no_boundary_clicks() {
    let (input, output, delay) = round_trip();
    // Skip the filters' start-up (delay plus one frame of settling).
    let settled = &output[delay + 960..];
    let reference = &input[960..input.len() - delay];

    let freq = signal::tone_frequency(settled, 48_000).unwrap();
    assert!((freq - 1000.0).abs() <= 1.0, "frequency {freq:.3} Hz");

    let level_change = signal::rms_dbfs(settled) - signal::rms_dbfs(reference);
    assert!(
        level_change.abs() <= 0.5,
        "level changed by {level_change:.3} dB"
    );

    // Remove the tone: what is left must be tiny everywhere, frame boundaries included.
    let residual = signal::tone_residual(settled, 48_000, freq);
    let worst = residual.iter().fold(0f64, |m, r| m.max(r.abs()));
    // `settled[i]` is output sample `i + delay + 960`; frames start at multiples of 960.
    let at_boundary = |i: usize| matches!((i + delay + 960) % 960, 0 | 1 | 959);
    let worst_at_boundaries = residual
        .iter()
        .enumerate()
        .filter(|&(i, _)| at_boundary(i))
        .fold(0f64, |m, (_, r)| m.max(r.abs()));
    println!(
        "1 kHz through 48k→16k→48k: {freq:.3} Hz, level {level_change:+.3} dB, \
         residual peak {worst:.1} LSB ({worst_at_boundaries:.1} at frame boundaries), delay {delay} samples"
    );
    // 16 000 amplitude: a residual under 16 LSB is −60 dB below the tone.
    assert!(worst < 16.0, "residual peak {worst:.1}");
    assert!(
        worst_at_boundaries < 16.0,
        "click at a frame boundary: {worst_at_boundaries:.1}"
    );
}
