//! [`OpusDecoder`]: Opus packets to PCM frames, with loss concealment and FEC recovery.

use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};

use super::opus_channels;
use crate::{AudioCodec, AudioDecoder, CodecError, OpusError};

/// 120 ms at 48 kHz stereo: the longest an Opus packet can decode to.
const MAX_DECODED: usize = 5760 * 2;

/// Decodes Opus packets into frames of one fixed format (Opus decodes any packet to any of
/// its rates, so a 48 kHz stream can be decoded straight to 16 kHz for a bot).
///
/// Three ways in, matching what a jitter buffer decides for each 20 ms slot:
/// - [`decode`](AudioDecoder::decode): the packet arrived;
/// - [`conceal`](AudioDecoder::conceal): it is lost and nothing can bring it back (PLC
///   extrapolates the signal, fading out over repeated losses);
/// - [`recover`](OpusDecoder::recover): it is lost but the *next* packet is here, and its
///   in-band FEC (LBRR) carries a low-rate copy of the lost frame.
pub struct OpusDecoder {
    inner: opus::Decoder,
    format: AudioFormat,
    last_duration: FrameDuration,
    scratch: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("format", &self.format)
            .field("last_duration", &self.last_duration)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder producing frames of `format`.
    pub fn new(format: AudioFormat) -> Result<Self, OpusError> {
        let inner = opus::Decoder::new(format.rate.hz(), opus_channels(format))
            .map_err(OpusError::library("decoder_create"))?;
        Ok(OpusDecoder {
            inner,
            format,
            last_duration: FrameDuration::Ms20,
            scratch: vec![0; MAX_DECODED],
        })
    }

    /// Rebuilds the lost frame before `next_payload` from that packet's in-band FEC data,
    /// into `out`. Call it *before* decoding `next_payload` itself. When the packet carries
    /// no FEC data, libopus conceals instead, so the output is never a gap.
    pub fn recover_into(
        &mut self,
        next_payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), OpusError> {
        let duration = self.last_duration;
        self.run(next_payload, true, duration, timestamp, out)
    }

    /// [`recover_into`](OpusDecoder::recover_into) into a new frame.
    pub fn recover(
        &mut self,
        next_payload: &[u8],
        timestamp: MediaTime,
    ) -> Result<AudioFrame, OpusError> {
        let mut out = AudioFrame::silence(self.format, self.last_duration, timestamp);
        self.recover_into(next_payload, timestamp, &mut out)?;
        Ok(out)
    }

    /// Samples per channel `payload` decodes to at this decoder's rate.
    pub fn samples_in(&self, payload: &[u8]) -> Result<usize, OpusError> {
        opus::packet::get_nb_samples(payload, self.format.rate.hz())
            .map_err(OpusError::library("packet_get_nb_samples"))
    }

    fn run(
        &mut self,
        payload: &[u8],
        fec: bool,
        duration: FrameDuration,
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), OpusError> {
        let channels = usize::from(self.format.channels.count());
        // For loss (empty payload) and FEC, the output length tells libopus how much to
        // synthesise; for a normal packet it is only a capacity.
        let capacity = if payload.is_empty() || fec {
            self.format.samples_per_frame(duration)
        } else {
            self.scratch.len()
        };
        let per_channel = self
            .inner
            .decode(payload, &mut self.scratch[..capacity], fec)
            .map_err(OpusError::library(if fec {
                "decode_fec"
            } else {
                "decode"
            }))?;
        let duration = self.format.duration_of(per_channel * channels).ok_or(
            OpusError::UnsupportedDuration {
                samples: per_channel,
            },
        )?;
        if out.format() != self.format || out.duration() != duration {
            *out = AudioFrame::silence(self.format, duration, timestamp);
        }
        out.set_timestamp(timestamp);
        out.samples_mut()
            .copy_from_slice(&self.scratch[..per_channel * channels]);
        if !payload.is_empty() && !fec {
            self.last_duration = duration;
        }
        Ok(())
    }
}

impl AudioDecoder for OpusDecoder {
    fn codec(&self) -> AudioCodec {
        AudioCodec::Opus
    }

    fn output_format(&self) -> AudioFormat {
        self.format
    }

    fn decode_into(
        &mut self,
        payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError> {
        if payload.is_empty() {
            // An empty payload would mean "lost" to libopus; on the wire it is malformed.
            return Err(OpusError::Library {
                op: "decode",
                message: "empty packet".into(),
            }
            .into());
        }
        let duration = self.last_duration;
        Ok(self.run(payload, false, duration, timestamp, out)?)
    }

    fn conceal_into(
        &mut self,
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError> {
        let duration = self.last_duration;
        Ok(self.run(&[], false, duration, timestamp, out)?)
    }
}
