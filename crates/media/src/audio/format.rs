//! What PCM audio confab carries: rates, channel counts and frame durations.

use std::fmt;
use std::time::Duration;

/// The sample rates confab carries: narrowband (G.711), wideband (bots, speech analysis)
/// and fullband (Opus, browsers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8 kHz: G.711 telephony.
    Hz8000,
    /// 16 kHz: wideband speech.
    Hz16000,
    /// 48 kHz: Opus fullband, the call service's internal rate.
    Hz48000,
}

impl SampleRate {
    /// Samples per second.
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8_000,
            SampleRate::Hz16000 => 16_000,
            SampleRate::Hz48000 => 48_000,
        }
    }

    /// The rate with `hz` samples per second, if confab carries it.
    pub const fn from_hz(hz: u32) -> Option<Self> {
        match hz {
            8_000 => Some(SampleRate::Hz8000),
            16_000 => Some(SampleRate::Hz16000),
            48_000 => Some(SampleRate::Hz48000),
            _ => None,
        }
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

/// Mono or interleaved stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channels {
    /// One channel.
    Mono,
    /// Two channels, interleaved left/right.
    Stereo,
}

impl Channels {
    /// 1 or 2.
    pub const fn count(self) -> u16 {
        match self {
            Channels::Mono => 1,
            Channels::Stereo => 2,
        }
    }

    /// The layout with `count` channels, if it is 1 or 2.
    pub const fn from_count(count: u16) -> Option<Self> {
        match count {
            1 => Some(Channels::Mono),
            2 => Some(Channels::Stereo),
            _ => None,
        }
    }
}

/// Packet-sized frame lengths: Opus and RTP audio move 10 or 20 ms at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDuration {
    /// 10 ms.
    Ms10,
    /// 20 ms, confab's default everywhere.
    Ms20,
}

impl FrameDuration {
    /// The duration in milliseconds.
    pub const fn millis(self) -> u32 {
        match self {
            FrameDuration::Ms10 => 10,
            FrameDuration::Ms20 => 20,
        }
    }

    /// The duration as a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.millis() as u64)
    }
}

/// Rate and channel layout of PCM audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// Samples per second per channel.
    pub rate: SampleRate,
    /// Channel layout.
    pub channels: Channels,
}

impl AudioFormat {
    /// 48 kHz mono: what the mixer works in.
    pub const MONO_48K: AudioFormat = AudioFormat::new(SampleRate::Hz48000, Channels::Mono);
    /// 48 kHz stereo.
    pub const STEREO_48K: AudioFormat = AudioFormat::new(SampleRate::Hz48000, Channels::Stereo);
    /// 16 kHz mono: wideband speech for bots.
    pub const MONO_16K: AudioFormat = AudioFormat::new(SampleRate::Hz16000, Channels::Mono);
    /// 8 kHz mono: telephony.
    pub const MONO_8K: AudioFormat = AudioFormat::new(SampleRate::Hz8000, Channels::Mono);

    /// A format from its parts.
    pub const fn new(rate: SampleRate, channels: Channels) -> Self {
        AudioFormat { rate, channels }
    }

    /// Samples per channel in a frame of `duration`.
    pub const fn samples_per_channel(self, duration: FrameDuration) -> usize {
        (self.rate.hz() / 1000 * duration.millis()) as usize
    }

    /// Interleaved samples (all channels) in a frame of `duration`.
    pub const fn samples_per_frame(self, duration: FrameDuration) -> usize {
        self.samples_per_channel(duration) * self.channels.count() as usize
    }

    /// The frame duration `interleaved_len` samples make in this format, if it is 10 or 20 ms.
    pub const fn duration_of(self, interleaved_len: usize) -> Option<FrameDuration> {
        if interleaved_len == self.samples_per_frame(FrameDuration::Ms20) {
            Some(FrameDuration::Ms20)
        } else if interleaved_len == self.samples_per_frame(FrameDuration::Ms10) {
            Some(FrameDuration::Ms10)
        } else {
            None
        }
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}ch", self.rate, self.channels.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_follow_rate_channels_and_duration() {
        assert_eq!(
            AudioFormat::MONO_48K.samples_per_frame(FrameDuration::Ms20),
            960
        );
        assert_eq!(
            AudioFormat::STEREO_48K.samples_per_frame(FrameDuration::Ms20),
            1920
        );
        assert_eq!(
            AudioFormat::MONO_16K.samples_per_frame(FrameDuration::Ms10),
            160
        );
        assert_eq!(
            AudioFormat::MONO_8K.samples_per_frame(FrameDuration::Ms20),
            160
        );
        assert_eq!(
            AudioFormat::MONO_8K.duration_of(80),
            Some(FrameDuration::Ms10)
        );
        assert_eq!(AudioFormat::MONO_8K.duration_of(81), None);
    }

    #[test]
    fn rates_and_channels_round_trip_through_numbers() {
        for rate in [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz48000] {
            assert_eq!(SampleRate::from_hz(rate.hz()), Some(rate));
        }
        assert_eq!(SampleRate::from_hz(44_100), None);
        assert_eq!(Channels::from_count(2), Some(Channels::Stereo));
        assert_eq!(Channels::from_count(3), None);
    }
}
