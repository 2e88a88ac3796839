//! Errors: one enum per codec, and [`CodecError`] wrapping them for the codec-agnostic traits.

use confab_media::{AudioFormat, FrameError};

/// Opus encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// libopus refused a call; `op` names it.
    #[error("libopus {op}: {message}")]
    Library {
        /// The libopus operation.
        op: &'static str,
        /// libopus's description.
        message: String,
    },
    /// A setting outside what Opus supports.
    #[error("invalid Opus setting: {0}")]
    Config(String),
    /// The frame's format is not the one the codec was created for.
    #[error("codec works in {expected}, frame is {actual}")]
    Format {
        /// The codec's format.
        expected: AudioFormat,
        /// The frame's format.
        actual: AudioFormat,
    },
    /// A packet decoded to a duration confab frames cannot hold (only 10 and 20 ms can).
    #[error("packet holds {samples} samples per channel, not 10 or 20 ms")]
    UnsupportedDuration {
        /// Samples per channel in the packet.
        samples: usize,
    },
}

impl OpusError {
    pub(crate) fn library(op: &'static str) -> impl FnOnce(opus::Error) -> OpusError {
        move |e| OpusError::Library {
            op,
            message: e.description().to_string(),
        }
    }
}

/// H.264 encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H264Error {
    /// OpenH264 refused a call; `op` names it.
    #[error("OpenH264 {op}: {message}")]
    Library {
        /// The OpenH264 operation.
        op: &'static str,
        /// OpenH264's description.
        message: String,
    },
    /// The encoder needs even dimensions within 16..=3840 x 16..=2160.
    #[error("cannot encode {width}x{height}: need even sizes from 16x16 to 3840x2160")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A decoded picture could not be turned into a frame.
    #[error("decoded picture: {0}")]
    Picture(#[from] FrameError),
}

impl H264Error {
    pub(crate) fn library(op: &'static str) -> impl FnOnce(openh264::Error) -> H264Error {
        move |e| H264Error::Library {
            op,
            message: e.to_string(),
        }
    }
}

/// G.711 input had the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum G711Error {
    /// G.711 carries 8 kHz mono; the frame is something else.
    #[error("G.711 carries 8 kHz mono, frame is {0}")]
    Format(AudioFormat),
    /// A payload whose length is not 10 or 20 ms at 8 kHz (80 or 160 bytes).
    #[error("G.711 payload of {0} bytes is not 10 or 20 ms")]
    PayloadLength(usize),
}

/// Any codec's error, as the codec-agnostic traits return it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// From Opus.
    #[error(transparent)]
    Opus(#[from] OpusError),
    /// From H.264.
    #[error(transparent)]
    H264(#[from] H264Error),
    /// From G.711.
    #[error(transparent)]
    G711(#[from] G711Error),
}
