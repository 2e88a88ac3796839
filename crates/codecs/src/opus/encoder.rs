//! [`OpusEncoder`]: PCM frames to Opus packets.

use confab_media::{AudioFormat, AudioFrame};

use super::{MAX_PACKET, check_format, opus_channels};
use crate::{AudioCodec, AudioEncoder, CodecError, OpusError};

/// What the encoder is tuned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpusApplication {
    /// Speech: intelligibility first (SILK at low rates). Conferencing's default.
    Voip,
    /// Music or mixed content: fidelity first.
    Audio,
    /// Lowest algorithmic delay (CELT only, no FEC).
    LowDelay,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Speech, music or low delay.
    pub application: OpusApplication,
    /// Target bitrate in bits per second (6 000..=510 000).
    pub bitrate_bps: u32,
    /// CPU effort 0..=10: 10 is best quality, 0 cheapest.
    pub complexity: u8,
    /// Carry a low-rate copy of each frame in the next packet (LBRR) so a receiver can
    /// recover a single lost packet. Only takes effect with `expected_loss_percent > 0`.
    pub inband_fec: bool,
    /// Discontinuous transmission: send almost nothing during silence.
    pub dtx: bool,
    /// Packet loss the encoder should plan for, 0..=100 %.
    pub expected_loss_percent: u8,
}

impl Default for OpusEncoderConfig {
    /// Speech at 32 kbit/s, complexity 9 (libwebrtc's desktop default), FEC on for 10 % loss,
    /// DTX off. Complexity 9 against 5: PESQ-WB of a speech fixture 4.20 against 4.03 through
    /// the codec alone, 3.55 against 3.33 through the service at 10 % loss + 50 ms jitter
    /// (docs/quality.md), for 243 µs an encode against 181 µs (criterion, `opus_encode_20ms`).
    fn default() -> Self {
        OpusEncoderConfig {
            application: OpusApplication::Voip,
            bitrate_bps: 32_000,
            complexity: 9,
            inband_fec: true,
            dtx: false,
            expected_loss_percent: 10,
        }
    }
}

/// Encodes 10 or 20 ms frames of one fixed format into Opus packets.
pub struct OpusEncoder {
    inner: opus::Encoder,
    format: AudioFormat,
    config: OpusEncoderConfig,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("format", &self.format)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder for frames of `format`, with `config` applied.
    pub fn new(format: AudioFormat, config: OpusEncoderConfig) -> Result<Self, OpusError> {
        let application = match config.application {
            OpusApplication::Voip => opus::Application::Voip,
            OpusApplication::Audio => opus::Application::Audio,
            OpusApplication::LowDelay => opus::Application::LowDelay,
        };
        let inner = opus::Encoder::new(format.rate.hz(), opus_channels(format), application)
            .map_err(OpusError::library("encoder_create"))?;
        let mut encoder = OpusEncoder {
            inner,
            format,
            config,
        };
        encoder.apply(config)?;
        Ok(encoder)
    }

    /// Changes bitrate, complexity, FEC, DTX and expected loss on the fly (the application
    /// stays as created).
    pub fn apply(&mut self, config: OpusEncoderConfig) -> Result<(), OpusError> {
        if !(6_000..=510_000).contains(&config.bitrate_bps) {
            return Err(OpusError::Config(format!(
                "bitrate {} bps",
                config.bitrate_bps
            )));
        }
        if config.complexity > 10 {
            return Err(OpusError::Config(format!(
                "complexity {}",
                config.complexity
            )));
        }
        if config.expected_loss_percent > 100 {
            return Err(OpusError::Config(format!(
                "loss {} %",
                config.expected_loss_percent
            )));
        }
        let e = &mut self.inner;
        e.set_bitrate(opus::Bitrate::Bits(config.bitrate_bps as i32))
            .map_err(OpusError::library("set_bitrate"))?;
        e.set_complexity(i32::from(config.complexity))
            .map_err(OpusError::library("set_complexity"))?;
        e.set_inband_fec(config.inband_fec)
            .map_err(OpusError::library("set_inband_fec"))?;
        e.set_dtx(config.dtx)
            .map_err(OpusError::library("set_dtx"))?;
        e.set_packet_loss_perc(i32::from(config.expected_loss_percent))
            .map_err(OpusError::library("set_packet_loss_perc"))?;
        self.config = config;
        Ok(())
    }

    /// The settings in force.
    pub fn config(&self) -> OpusEncoderConfig {
        self.config
    }

    /// Encodes one frame into `out`, returning the packet length. A packet of 2 bytes or
    /// fewer is a DTX discontinuity marker: nothing worth sending.
    pub fn encode_into(&mut self, frame: &AudioFrame, out: &mut [u8]) -> Result<usize, OpusError> {
        check_format(self.format, frame.format())?;
        self.inner
            .encode(frame.samples(), out)
            .map_err(OpusError::library("encode"))
    }

    /// Algorithmic delay in samples per channel at the encoder's rate (what a decoded
    /// stream lags its input by).
    pub fn lookahead(&mut self) -> Result<usize, OpusError> {
        let samples = self
            .inner
            .get_lookahead()
            .map_err(OpusError::library("get_lookahead"))?;
        Ok(samples.max(0) as usize)
    }
}

impl AudioEncoder for OpusEncoder {
    fn codec(&self) -> AudioCodec {
        AudioCodec::Opus
    }

    fn input_format(&self) -> AudioFormat {
        self.format
    }

    fn encode(&mut self, frame: &AudioFrame, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        // Reuses `out`'s allocation: size it for the largest packet, then cut to length.
        out.resize(MAX_PACKET, 0);
        let len = self.encode_into(frame, out)?;
        out.truncate(len);
        Ok(len > 2)
    }
}
