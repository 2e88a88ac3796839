//! Raw media for confab: what a frame of audio or video *is*, and the arithmetic every
//! later stage does on it.
//!
//! This crate owns:
//! - [`AudioFrame`]: interleaved i16 PCM at 8, 16 or 48 kHz, mono or stereo, 10 or 20 ms,
//!   stamped with a [`MediaTime`]; channel and sample-format conversion.
//! - [`Resampler`]: streaming 48 ↔ 16 ↔ 8 kHz conversion, one frame in, one frame out,
//!   continuous across frames.
//! - [`AudioLevel`] (RFC 6464 −dBov) and a [`VoiceActivityDetector`] with hangover.
//! - [`MixBuffer`]: i32 accumulation, clipping / soft clipping and mix-minus.
//! - [`VideoFrame`] (I420) and [`Nv12Frame`], and a moving [`TestPattern`].
//!
//! It must not know about networks, codecs or calls; it never reads a clock (time is
//! always passed in) and performs no I/O.
//!
//! ```
//! use confab_media::{AudioFormat, AudioFrame, AudioLevel, FrameDuration, MediaTime};
//!
//! let format = AudioFormat::MONO_48K;
//! let frame = AudioFrame::silence(format, FrameDuration::Ms20, MediaTime::ZERO);
//! assert_eq!(frame.samples().len(), 960);
//! assert_eq!(AudioLevel::measure(frame.samples()), AudioLevel::SILENCE);
//! ```

mod audio;
mod error;
mod time;
mod video;

pub use audio::convert::{f32_to_i16, i16_to_f32, mono_to_stereo, stereo_to_mono};
pub use audio::format::{AudioFormat, Channels, FrameDuration, SampleRate};
pub use audio::frame::AudioFrame;
pub use audio::level::AudioLevel;
pub use audio::mix::{MixBuffer, soft_clip_sample};
pub use audio::resample::Resampler;
pub use audio::vad::{VadConfig, VoiceActivityDetector};
pub use error::{FrameError, ResampleError};
pub use time::MediaTime;
pub use video::frame::{Nv12Frame, VideoFrame};
pub use video::pattern::TestPattern;
pub use video::quality::psnr;
