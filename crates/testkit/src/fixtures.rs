//! The files in `fixtures/` (see `fixtures/README.md`), loaded by name.

use std::path::PathBuf;

use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};

/// The three speech fixtures: different voices, different sentences, 48 kHz mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// American English, female voice, ~9.3 s.
    Alice,
    /// British English, male voice, ~8.7 s.
    Bob,
    /// Scottish English, female voice, ~7.3 s.
    Carol,
}

impl Speaker {
    /// All three.
    pub const ALL: [Speaker; 3] = [Speaker::Alice, Speaker::Bob, Speaker::Carol];

    /// The fixture's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Speaker::Alice => "speech-alice.wav",
            Speaker::Bob => "speech-bob.wav",
            Speaker::Carol => "speech-carol.wav",
        }
    }
}

/// The path of a file in the workspace's `fixtures/` directory.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// The raw bytes of a fixture. Panics with the path if it is missing: fixtures are
/// committed, so a missing one is a broken checkout.
#[allow(clippy::panic)]
pub fn bytes(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A mono 16-bit WAV fixture's samples and rate. Panics on a missing or malformed file.
#[allow(clippy::panic)]
pub fn wav(name: &str) -> (Vec<i16>, u32) {
    let p = path(name);
    let reader =
        hound::WavReader::open(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample, spec.sample_format),
        (1, 16, hound::SampleFormat::Int),
        "fixture {} must be mono 16-bit PCM",
        p.display()
    );
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    (samples, spec.sample_rate)
}

/// A speech fixture's 48 kHz mono samples.
pub fn speech(speaker: Speaker) -> Vec<i16> {
    let (samples, rate) = wav(speaker.file_name());
    assert_eq!(rate, 48_000, "{} must be 48 kHz", speaker.file_name());
    samples
}

/// `samples` cut into consecutive 20 ms frames of `format` starting at media time zero;
/// the last partial frame is padded with silence.
#[allow(clippy::expect_used)]
pub fn frames(samples: &[i16], format: AudioFormat) -> Vec<AudioFrame> {
    let len = format.samples_per_frame(FrameDuration::Ms20);
    samples
        .chunks(len)
        .enumerate()
        .map(|(i, chunk)| {
            let mut buf = chunk.to_vec();
            buf.resize(len, 0);
            AudioFrame::new(format, MediaTime::from_millis(20 * i as u64), buf)
                .expect("sized to one 20 ms frame")
        })
        .collect()
}

/// A speech fixture as 48 kHz mono 20 ms frames.
pub fn speech_frames(speaker: Speaker) -> Vec<AudioFrame> {
    frames(&speech(speaker), AudioFormat::MONO_48K)
}

/// Concatenates frames' samples.
pub fn concat(frames: &[AudioFrame]) -> Vec<i16> {
    frames
        .iter()
        .flat_map(|f| f.samples().iter().copied())
        .collect()
}
