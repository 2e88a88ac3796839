//! Mixer errors.

use confab_codecs::{CodecError, OpusError};
use confab_media::{FrameError, ResampleError};

/// What can fail in a tick: the codecs or a frame of the wrong shape (both mean a bug or
/// an exhausted system, not bad input: bad packets are concealed, never errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// A codec failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A frame had the wrong shape.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A resampler (phones' 8 kHz to and from the mix's 48 kHz) failed.
    #[error("resampling: {0}")]
    Resample(String),
}

impl From<ResampleError> for MixerError {
    fn from(e: ResampleError) -> Self {
        MixerError::Resample(e.to_string())
    }
}

impl From<OpusError> for MixerError {
    fn from(e: OpusError) -> Self {
        MixerError::Codec(CodecError::Opus(e))
    }
}
