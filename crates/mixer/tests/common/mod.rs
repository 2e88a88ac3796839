//! Synthetic participants for mixer tests: speech fixtures (or silence) as Opus packets
//! with RFC 6464 levels, one per 20 ms, on a virtual clock.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, AudioLevel, MediaTime};
use confab_mixer::{AudioMixer, SourceId};
use confab_testkit::fixtures;
use confab_transport::jitter::AudioPacket;

pub const FRAME: usize = 960;

/// One synthetic participant: plays `samples` from `start_tick` on, silence otherwise.
pub struct Talker {
    pub id: SourceId,
    encoder: OpusEncoder,
    samples: Vec<i16>,
    start_tick: usize,
    end_tick: usize,
    gain: f32,
    seq: u16,
}

impl Talker {
    pub fn new(id: u32, samples: Vec<i16>, start_tick: usize, gain: f32) -> Self {
        Talker {
            id: SourceId(id),
            encoder: OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap(),
            samples,
            start_tick,
            end_tick: usize::MAX,
            gain,
            seq: (id as u16).wrapping_mul(1000),
        }
    }

    /// Silent again from tick `end` on.
    pub fn until(mut self, end: usize) -> Self {
        self.end_tick = end;
        self
    }

    pub fn speaker(id: u32, speaker: fixtures::Speaker, start_tick: usize) -> Self {
        Talker::new(id, fixtures::speech(speaker), start_tick, 1.0)
    }

    /// A speaker whose fixture is scaled to `rms_dbfs` (people in a call speak at similar
    /// loudness; the fixtures differ by several dB).
    pub fn speaker_at(
        id: u32,
        speaker: fixtures::Speaker,
        start_tick: usize,
        rms_dbfs: f64,
    ) -> Self {
        let samples = fixtures::speech(speaker);
        let gain = 10f64.powf((rms_dbfs - confab_testkit::signal::rms_dbfs(&samples)) / 20.0);
        Talker::new(id, samples, start_tick, gain as f32)
    }

    pub fn silent(id: u32) -> Self {
        Talker::new(id, Vec::new(), 0, 1.0)
    }

    /// The PCM this talker sends at tick `n`.
    pub fn frame(&self, n: usize) -> Vec<i16> {
        let mut out = vec![0i16; FRAME];
        if n >= self.start_tick && n < self.end_tick {
            let at = (n - self.start_tick) * FRAME;
            for (i, o) in out.iter_mut().enumerate() {
                *o = self
                    .samples
                    .get(at + i)
                    .map_or(0, |&s| (f32::from(s) * self.gain) as i16);
            }
        }
        out
    }

    /// Everything this talker sends over `ticks`, as one signal (the reference).
    pub fn signal(&self, ticks: usize) -> Vec<i16> {
        (0..ticks).flat_map(|n| self.frame(n)).collect()
    }

    /// Tick `n`'s packet.
    pub fn packet(&mut self, n: usize) -> AudioPacket {
        let frame = AudioFrame::new(AudioFormat::MONO_48K, MediaTime::ZERO, self.frame(n)).unwrap();
        let mut payload = Vec::new();
        self.encoder.encode(&frame, &mut payload).unwrap();
        self.seq = self.seq.wrapping_add(1);
        AudioPacket {
            seq: self.seq,
            timestamp: (n * FRAME) as u32,
            payload: Bytes::from(payload),
            level: Some(AudioLevel::measure(frame.samples()).wire_value()),
        }
    }
}

/// What one listener hears, decoded continuously from the packets routed to it.
pub struct Listener {
    pub id: SourceId,
    decoder: OpusDecoder,
    pub heard: Vec<i16>,
}

impl Listener {
    pub fn new(id: SourceId) -> Self {
        Listener {
            id,
            decoder: OpusDecoder::new(AudioFormat::MONO_48K).unwrap(),
            heard: Vec::new(),
        }
    }

    pub fn hear(&mut self, mixer: &AudioMixer) {
        let payload = mixer.output().payload_for(self.id);
        let frame = self.decoder.decode(payload, MediaTime::ZERO).unwrap();
        self.heard.extend_from_slice(frame.samples());
    }
}

/// The room's clock: packets sent at tick starts, ticks 10 ms later.
pub fn tick_time(origin: Instant, n: usize) -> Instant {
    origin + Duration::from_millis(20 * n as u64 + 10)
}

pub fn send_time(origin: Instant, n: usize) -> Instant {
    origin + Duration::from_millis(20 * n as u64)
}
