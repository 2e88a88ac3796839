//! [`AudioFrame`]: one packet's worth of PCM, in a known format, at a known media time.

use crate::audio::convert::{mono_to_stereo, stereo_to_mono};
use crate::{AudioFormat, Channels, FrameDuration, FrameError, MediaTime};

/// 10 or 20 ms of interleaved i16 PCM.
///
/// The sample count always matches the format and duration: constructors check it, and the
/// mutable view cannot change the length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    samples: Vec<i16>,
    format: AudioFormat,
    duration: FrameDuration,
    timestamp: MediaTime,
}

impl AudioFrame {
    /// A frame from interleaved samples; their count decides whether it is 10 or 20 ms.
    pub fn new(
        format: AudioFormat,
        timestamp: MediaTime,
        samples: Vec<i16>,
    ) -> Result<Self, FrameError> {
        let duration = format
            .duration_of(samples.len())
            .ok_or(FrameError::AudioLength {
                len: samples.len(),
                format,
            })?;
        Ok(AudioFrame {
            samples,
            format,
            duration,
            timestamp,
        })
    }

    /// Digital silence of the given shape.
    pub fn silence(format: AudioFormat, duration: FrameDuration, timestamp: MediaTime) -> Self {
        AudioFrame {
            samples: vec![0; format.samples_per_frame(duration)],
            format,
            duration,
            timestamp,
        }
    }

    /// Interleaved samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Interleaved samples, writable in place (the length is fixed).
    pub fn samples_mut(&mut self) -> &mut [i16] {
        &mut self.samples
    }

    /// Gives the sample buffer back, e.g. to reuse its allocation.
    pub fn into_samples(self) -> Vec<i16> {
        self.samples
    }

    /// Rate and channel layout.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// 10 or 20 ms.
    pub fn duration(&self) -> FrameDuration {
        self.duration
    }

    /// Samples per channel.
    pub fn samples_per_channel(&self) -> usize {
        self.format.samples_per_channel(self.duration)
    }

    /// Where the frame's first sample sits on its stream's clock.
    pub fn timestamp(&self) -> MediaTime {
        self.timestamp
    }

    /// Re-stamps the frame.
    pub fn set_timestamp(&mut self, timestamp: MediaTime) {
        self.timestamp = timestamp;
    }

    /// The same audio as mono (stereo is averaged; mono is copied).
    pub fn to_mono(&self) -> AudioFrame {
        match self.format.channels {
            Channels::Mono => self.clone(),
            Channels::Stereo => {
                let mut out = vec![0; self.samples.len() / 2];
                // Cannot fail: a stereo frame's length is always even.
                let _ = stereo_to_mono(&self.samples, &mut out);
                self.reshaped(Channels::Mono, out)
            }
        }
    }

    /// The same audio as stereo (mono is duplicated; stereo is copied).
    pub fn to_stereo(&self) -> AudioFrame {
        match self.format.channels {
            Channels::Stereo => self.clone(),
            Channels::Mono => {
                let mut out = vec![0; self.samples.len() * 2];
                // Cannot fail: the output is sized as twice the input.
                let _ = mono_to_stereo(&self.samples, &mut out);
                self.reshaped(Channels::Stereo, out)
            }
        }
    }

    /// Samples as f32 in [-1, 1), interleaved.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.samples.len()];
        crate::i16_to_f32(&self.samples, &mut out);
        out
    }

    /// A frame from f32 samples in [-1, 1] (out-of-range values saturate).
    pub fn from_f32(
        format: AudioFormat,
        timestamp: MediaTime,
        samples: &[f32],
    ) -> Result<Self, FrameError> {
        let mut out = vec![0; samples.len()];
        crate::f32_to_i16(samples, &mut out);
        AudioFrame::new(format, timestamp, out)
    }

    fn reshaped(&self, channels: Channels, samples: Vec<i16>) -> AudioFrame {
        AudioFrame {
            samples,
            format: AudioFormat::new(self.format.rate, channels),
            duration: self.duration,
            timestamp: self.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SampleRate;

    #[test]
    fn length_decides_duration_and_bad_lengths_are_refused() {
        let f = AudioFrame::new(AudioFormat::MONO_16K, MediaTime::ZERO, vec![0; 160]).unwrap();
        assert_eq!(f.duration(), FrameDuration::Ms10);
        assert_eq!(f.samples_per_channel(), 160);
        let err = AudioFrame::new(AudioFormat::MONO_16K, MediaTime::ZERO, vec![0; 161]);
        assert!(matches!(err, Err(FrameError::AudioLength { len: 161, .. })));
    }

    #[test]
    fn channel_conversion_keeps_duration_and_time() {
        let t = MediaTime::from_millis(40);
        let mono = AudioFrame::new(AudioFormat::MONO_8K, t, (0..160).collect()).unwrap();
        let stereo = mono.to_stereo();
        assert_eq!(
            stereo.format(),
            AudioFormat::new(SampleRate::Hz8000, Channels::Stereo)
        );
        assert_eq!(stereo.duration(), FrameDuration::Ms20);
        assert_eq!(stereo.timestamp(), t);
        assert_eq!(&stereo.samples()[..4], &[0, 0, 1, 1]);
        assert_eq!(stereo.to_mono(), mono);
    }

    #[test]
    fn f32_round_trip() {
        let mono =
            AudioFrame::new(AudioFormat::MONO_8K, MediaTime::ZERO, (0..160).collect()).unwrap();
        let back = AudioFrame::from_f32(mono.format(), mono.timestamp(), &mono.to_f32()).unwrap();
        assert_eq!(back, mono);
    }
}
