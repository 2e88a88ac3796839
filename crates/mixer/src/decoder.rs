//! How one source's packets become the mixer's 48 kHz PCM, whatever codec it sends: Opus
//! (WebRTC peers) decodes at 48 kHz with its own PLC and in-band FEC; G.711 (phones) decodes
//! at 8 kHz with pitch-repeating concealment and is resampled up.

use confab_codecs::{AudioCodec, AudioDecoder, G711Decoder, G711Law, OpusDecoder};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime, Resampler, SampleRate};
use confab_transport::jitter::JitterConfig;

use crate::MixerError;

/// A source's decoder, producing 20 ms of 48 kHz mono per call.
#[derive(Debug)]
pub(crate) enum SourceDecoder {
    Opus(OpusDecoder),
    G711 {
        decoder: G711Decoder,
        upsampler: Box<Resampler>,
        narrow: AudioFrame,
    },
}

impl SourceDecoder {
    pub(crate) fn new(codec: AudioCodec) -> Result<Self, MixerError> {
        let law = match codec {
            AudioCodec::Opus => return Ok(SourceDecoder::Opus(OpusDecoder::new(FORMAT)?)),
            AudioCodec::Pcmu => G711Law::MuLaw,
            AudioCodec::Pcma => G711Law::ALaw,
        };
        Ok(SourceDecoder::G711 {
            decoder: G711Decoder::new(law),
            upsampler: Box::new(Resampler::new(
                AudioFormat::MONO_8K,
                SampleRate::Hz48000,
                FrameDuration::Ms20,
            )?),
            narrow: AudioFrame::silence(AudioFormat::MONO_8K, FrameDuration::Ms20, MediaTime::ZERO),
        })
    }

    /// The jitter buffer a source of `codec` needs: the codec's RTP clock, 20 ms frames.
    pub(crate) fn jitter_config(codec: AudioCodec, base: &JitterConfig) -> JitterConfig {
        let clock_rate = codec.rtp_clock_rate();
        JitterConfig {
            clock_rate,
            frame_ticks: clock_rate / 50,
            ..base.clone()
        }
    }

    /// Decodes one packet into `out`.
    pub(crate) fn decode(
        &mut self,
        payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), MixerError> {
        match self {
            SourceDecoder::Opus(d) => Ok(d.decode_into(payload, timestamp, out)?),
            SourceDecoder::G711 {
                decoder,
                upsampler,
                narrow,
            } => {
                // A payload of another length than 20 ms cannot fill this tick: conceal it.
                if payload.len() == narrow.samples().len() {
                    decoder.decode_into(payload, timestamp, narrow)?;
                } else {
                    decoder.conceal_into(timestamp, narrow)?;
                }
                upsampler.process_into(narrow, out)?;
                Ok(())
            }
        }
    }

    /// Conceals one lost or missing frame into `out`.
    pub(crate) fn conceal(
        &mut self,
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), MixerError> {
        match self {
            SourceDecoder::Opus(d) => Ok(d.conceal_into(timestamp, out)?),
            SourceDecoder::G711 {
                decoder,
                upsampler,
                narrow,
            } => {
                decoder.conceal_into(timestamp, narrow)?;
                upsampler.process_into(narrow, out)?;
                Ok(())
            }
        }
    }

    /// Rebuilds a lost frame from the next packet (Opus in-band FEC); codecs without FEC
    /// conceal it.
    pub(crate) fn recover(
        &mut self,
        next_payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), MixerError> {
        match self {
            SourceDecoder::Opus(d) => Ok(d.recover_into(next_payload, timestamp, out)?),
            SourceDecoder::G711 { .. } => self.conceal(timestamp, out),
        }
    }
}

const FORMAT: AudioFormat = AudioFormat::MONO_48K;
