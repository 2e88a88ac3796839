//! Mixer errors.

use confab_codecs::{CodecError, OpusError};
use confab_media::FrameError;

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
}

impl From<OpusError> for MixerError {
    fn from(e: OpusError) -> Self {
        MixerError::Codec(CodecError::Opus(e))
    }
}
