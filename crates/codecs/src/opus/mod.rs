//! Opus through libopus: 48/16/8 kHz, mono or stereo, 10 or 20 ms frames.

pub(crate) mod decoder;
pub(crate) mod encoder;

use confab_media::{AudioFormat, Channels};

use crate::OpusError;

/// The largest Opus packet (RFC 6716 §3.4: 1275 bytes per frame, a few frames at most).
pub(crate) const MAX_PACKET: usize = 1500;

pub(crate) fn opus_channels(format: AudioFormat) -> opus::Channels {
    match format.channels {
        Channels::Mono => opus::Channels::Mono,
        Channels::Stereo => opus::Channels::Stereo,
    }
}

pub(crate) fn check_format(expected: AudioFormat, actual: AudioFormat) -> Result<(), OpusError> {
    if expected == actual {
        Ok(())
    } else {
        Err(OpusError::Format { expected, actual })
    }
}
