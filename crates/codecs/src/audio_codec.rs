//! What every audio codec offers the layers above: encode a frame, decode a payload,
//! conceal a lost one.

use confab_media::{AudioFormat, AudioFrame, MediaTime};

use crate::CodecError;

/// The audio codecs confab negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// Opus (RFC 6716, RTP payload RFC 7587): always a 48 kHz RTP clock.
    Opus,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl AudioCodec {
    /// The encoding name as SDP writes it.
    pub const fn sdp_name(self) -> &'static str {
        match self {
            AudioCodec::Opus => "opus",
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate in Hz.
    pub const fn rtp_clock_rate(self) -> u32 {
        match self {
            AudioCodec::Opus => 48_000,
            AudioCodec::Pcmu | AudioCodec::Pcma => 8_000,
        }
    }

    /// The static RTP payload type, for the codecs that have one.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            AudioCodec::Opus => None,
            AudioCodec::Pcmu => Some(0),
            AudioCodec::Pcma => Some(8),
        }
    }
}

/// Turns PCM frames into payloads.
pub trait AudioEncoder: Send {
    /// The codec.
    fn codec(&self) -> AudioCodec;

    /// The PCM format frames must have.
    fn input_format(&self) -> AudioFormat;

    /// Encodes one frame, replacing the contents of `out` with the payload.
    /// Returns `false` when the encoder has nothing worth sending for this frame (Opus DTX
    /// during silence); `out` then holds the tiny discontinuity packet.
    fn encode(&mut self, frame: &AudioFrame, out: &mut Vec<u8>) -> Result<bool, CodecError>;
}

/// Turns payloads into PCM frames, and hides lost ones.
pub trait AudioDecoder: Send {
    /// The codec.
    fn codec(&self) -> AudioCodec;

    /// The PCM format frames come out in.
    fn output_format(&self) -> AudioFormat;

    /// Decodes one payload into `out` (reused when its shape fits), stamped `timestamp`.
    fn decode_into(
        &mut self,
        payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError>;

    /// Fills `out` with a concealment of one lost frame, continuing the signal.
    fn conceal_into(
        &mut self,
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError>;

    /// Decodes one payload into a new frame.
    fn decode(&mut self, payload: &[u8], timestamp: MediaTime) -> Result<AudioFrame, CodecError> {
        let mut out = AudioFrame::silence(
            self.output_format(),
            confab_media::FrameDuration::Ms20,
            timestamp,
        );
        self.decode_into(payload, timestamp, &mut out)?;
        Ok(out)
    }

    /// Conceals one lost frame into a new frame.
    fn conceal(&mut self, timestamp: MediaTime) -> Result<AudioFrame, CodecError> {
        let mut out = AudioFrame::silence(
            self.output_format(),
            confab_media::FrameDuration::Ms20,
            timestamp,
        );
        self.conceal_into(timestamp, &mut out)?;
        Ok(out)
    }
}
