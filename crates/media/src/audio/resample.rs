//! Streaming sample-rate conversion between confab's rates, one frame at a time.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

use crate::{AudioFormat, AudioFrame, FrameDuration, ResampleError, SampleRate};

/// Converts a stream of frames from one rate to another: every call takes one frame and
/// gives back one frame of the same duration, and the filter state carries across calls,
/// so the output is continuous.
///
/// Built on rubato's synchronous FFT resampler with 10 ms FFT blocks: each 10 or 20 ms
/// frame is a whole number of blocks, so no samples are ever held back between calls, and
/// the added delay is half a block ([`Resampler::delay`], 5 ms). The same rate in and out
/// is a plain copy. Buffers are allocated once, at construction.
pub struct Resampler {
    input: AudioFormat,
    output: AudioFormat,
    duration: FrameDuration,
    engine: Option<Box<Fft<f32>>>,
    in_f32: Vec<f32>,
    out_f32: Vec<f32>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("input", &self.input)
            .field("output", &self.output)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `input` to `to` (same channel layout) for frames of `duration`.
    pub fn new(
        input: AudioFormat,
        to: SampleRate,
        duration: FrameDuration,
    ) -> Result<Self, ResampleError> {
        let output = AudioFormat::new(to, input.channels);
        let channels = usize::from(input.channels.count());
        let frames_in = input.samples_per_channel(duration);
        let frames_out = output.samples_per_channel(duration);
        let engine = if input.rate == to {
            None
        } else {
            let blocks_per_frame = (duration.millis() / 10) as usize;
            let construction = |reason: String| ResampleError::Construction {
                from: input.rate,
                to,
                reason,
            };
            let fft = Fft::<f32>::new_custom(
                input.rate.hz() as usize,
                to.hz() as usize,
                frames_in,
                blocks_per_frame,
                channels,
                WindowFunction::BlackmanHarris2,
                FixedSync::Input,
            )
            .map_err(|e| construction(e.to_string()))?;
            if fft.input_frames_next() != frames_in || fft.output_frames_next() != frames_out {
                return Err(construction(format!(
                    "library chose {}→{} frames per call, need {frames_in}→{frames_out}",
                    fft.input_frames_next(),
                    fft.output_frames_next()
                )));
            }
            Some(Box::new(fft))
        };
        Ok(Resampler {
            input,
            output,
            duration,
            engine,
            in_f32: vec![0.0; frames_in * channels],
            out_f32: vec![0.0; frames_out * channels],
        })
    }

    /// The format frames come out in.
    pub fn output_format(&self) -> AudioFormat {
        self.output
    }

    /// The delay the filter adds, in output samples per channel.
    pub fn delay(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.output_delay())
    }

    /// Converts the next frame of the stream, writing into `out` (reused; its samples are
    /// replaced). The output keeps the input's timestamp.
    pub fn process_into(
        &mut self,
        frame: &AudioFrame,
        out: &mut AudioFrame,
    ) -> Result<(), ResampleError> {
        let expected = self.input;
        if frame.format() != expected || frame.duration() != self.duration {
            return Err(ResampleError::InputFormat {
                expected,
                actual: frame.format(),
            });
        }
        if out.format() != self.output || out.duration() != self.duration {
            *out = AudioFrame::silence(self.output, self.duration, frame.timestamp());
        }
        out.set_timestamp(frame.timestamp());
        let Some(engine) = self.engine.as_mut() else {
            out.samples_mut().copy_from_slice(frame.samples());
            return Ok(());
        };
        let channels = usize::from(expected.channels.count());
        crate::i16_to_f32(frame.samples(), &mut self.in_f32);
        let frames_in = self.in_f32.len() / channels;
        let frames_out = self.out_f32.len() / channels;
        let process_error = |e: &dyn std::fmt::Display| ResampleError::Process(e.to_string());
        let input = InterleavedSlice::new(&self.in_f32[..], channels, frames_in)
            .map_err(|e| process_error(&e))?;
        let mut output = InterleavedSlice::new_mut(&mut self.out_f32[..], channels, frames_out)
            .map_err(|e| process_error(&e))?;
        let (_, written) = engine
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| process_error(&e))?;
        if written != frames_out {
            return Err(ResampleError::Process(format!(
                "wrote {written} frames, expected {frames_out}"
            )));
        }
        crate::f32_to_i16(&self.out_f32, out.samples_mut());
        Ok(())
    }

    /// Converts the next frame of the stream into a new frame.
    pub fn process(&mut self, frame: &AudioFrame) -> Result<AudioFrame, ResampleError> {
        let mut out = AudioFrame::silence(self.output, self.duration, frame.timestamp());
        self.process_into(frame, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channels, MediaTime};

    fn tone_frames(format: AudioFormat, hz: f64, frames: usize) -> Vec<AudioFrame> {
        let n = format.samples_per_channel(FrameDuration::Ms20);
        (0..frames)
            .map(|f| {
                let samples = (0..n)
                    .map(|i| {
                        let t = (f * n + i) as f64 / f64::from(format.rate.hz());
                        (10_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
                    })
                    .collect();
                AudioFrame::new(format, MediaTime::from_millis(20 * f as u64), samples).unwrap()
            })
            .collect()
    }

    #[test]
    fn every_rate_pair_gives_one_frame_per_frame() {
        let rates = [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz48000];
        for from in rates {
            for to in rates {
                for duration in [FrameDuration::Ms10, FrameDuration::Ms20] {
                    let input = AudioFormat::new(from, Channels::Mono);
                    let mut r = Resampler::new(input, to, duration).unwrap();
                    let frame = AudioFrame::silence(input, duration, MediaTime::from_millis(60));
                    let out = r.process(&frame).unwrap();
                    assert_eq!(out.format().rate, to);
                    assert_eq!(out.duration(), duration);
                    assert_eq!(out.timestamp(), MediaTime::from_millis(60));
                }
            }
        }
    }

    #[test]
    fn stereo_is_resampled_per_channel() {
        let input = AudioFormat::STEREO_48K;
        let mut r = Resampler::new(input, SampleRate::Hz16000, FrameDuration::Ms20).unwrap();
        for frame in tone_frames(AudioFormat::MONO_48K, 440.0, 10) {
            let out = r.process(&frame.to_stereo()).unwrap();
            assert_eq!(out.samples().len(), 640);
            for pair in out.samples().chunks_exact(2) {
                assert_eq!(pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn wrong_input_format_is_refused() {
        let mut r = Resampler::new(
            AudioFormat::MONO_48K,
            SampleRate::Hz16000,
            FrameDuration::Ms20,
        )
        .unwrap();
        let frame =
            AudioFrame::silence(AudioFormat::MONO_16K, FrameDuration::Ms20, MediaTime::ZERO);
        assert!(matches!(
            r.process(&frame),
            Err(ResampleError::InputFormat { .. })
        ));
        let short =
            AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms10, MediaTime::ZERO);
        assert!(r.process(&short).is_err());
    }

    #[test]
    fn same_rate_is_a_copy() {
        let mut r = Resampler::new(
            AudioFormat::MONO_48K,
            SampleRate::Hz48000,
            FrameDuration::Ms20,
        )
        .unwrap();
        let frame = &tone_frames(AudioFormat::MONO_48K, 1000.0, 1)[0];
        assert_eq!(&r.process(frame).unwrap(), frame);
        assert_eq!(r.delay(), 0);
    }
}
