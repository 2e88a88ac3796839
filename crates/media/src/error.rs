//! Errors of this crate: one small enum per kind of operation.

use crate::{AudioFormat, SampleRate};

/// A frame could not be built or converted: its buffers do not match its declared shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The sample count is not 10 or 20 ms of audio in this format.
    #[error("{len} samples is not 10 or 20 ms of {format}")]
    AudioLength {
        /// Interleaved samples given.
        len: usize,
        /// The format they were declared to have.
        format: AudioFormat,
    },
    /// The operation needs a different channel count than the frame has.
    #[error("expected a {expected}-channel frame, got {actual}")]
    ChannelCount {
        /// Channels the operation needs.
        expected: u16,
        /// Channels the frame has.
        actual: u16,
    },
    /// Two frames that must have the same shape do not.
    #[error("frames differ in shape: {0}")]
    ShapeMismatch(&'static str),
    /// Width or height is zero or over the 8192 pixel limit.
    #[error("video size {width}x{height} is outside 1..=8192")]
    VideoSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A plane's buffer is too small for its stride and the picture height.
    #[error("{plane} plane needs {needed} bytes (stride {stride}), got {actual}")]
    PlaneSize {
        /// Which plane ("Y", "U", "V", "UV").
        plane: &'static str,
        /// Bytes needed.
        needed: usize,
        /// The stride given.
        stride: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// A resampler could not be built or fed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// The resampling library refused the rate pair or chunk size.
    #[error("cannot resample {from} to {to}: {reason}")]
    Construction {
        /// Input rate.
        from: SampleRate,
        /// Output rate.
        to: SampleRate,
        /// What the library said.
        reason: String,
    },
    /// The input frame does not have the format this resampler was built for.
    #[error("resampler expects {expected}, got {actual}")]
    InputFormat {
        /// The resampler's input format.
        expected: AudioFormat,
        /// The frame's format.
        actual: AudioFormat,
    },
    /// The resampling library failed while processing.
    #[error("resampling failed: {0}")]
    Process(String),
}
