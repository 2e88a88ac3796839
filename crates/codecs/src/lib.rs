//! Codecs for confab: turning [`AudioFrame`](confab_media::AudioFrame)s and
//! [`VideoFrame`](confab_media::VideoFrame)s into payloads and back.
//!
//! This crate owns:
//! - Opus ([`OpusEncoder`], [`OpusDecoder`]): voice or music tuning, bitrate, complexity,
//!   in-band FEC, DTX, expected loss; decoding with packet-loss concealment and FEC recovery
//!   of a lost frame from the packet after it. Through libopus (the `opus` crate).
//! - H.264 ([`H264Encoder`], [`H264Decoder`]): I420 to Annex-B access units in constrained
//!   baseline (what browsers decode), and back. Through OpenH264 (the `openh264` crate).
//!   [`annexb`] splits Annex-B streams into NAL units and access units.
//! - G.711 ([`g711`]): µ-law and A-law, per sample and per frame.
//! - The small shared vocabulary the transport, mixer and bot SDK use: [`AudioCodec`],
//!   the [`AudioEncoder`] / [`AudioDecoder`] traits, [`EncodedVideo`].
//!
//! It must not know about calls, networks or RTP: payloads in, frames out. Nothing here
//! reads a clock; timestamps are passed in with each frame.
//!
//! ```
//! use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
//! use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
//!
//! let mut encoder = OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default())?;
//! let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K)?;
//! let frame = AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO);
//! let mut payload = Vec::new();
//! encoder.encode(&frame, &mut payload)?;
//! let decoded = decoder.decode(&payload, MediaTime::ZERO)?;
//! assert_eq!(decoded.samples().len(), 960);
//! # Ok::<(), confab_codecs::CodecError>(())
//! ```

pub mod annexb;
mod audio_codec;
mod error;
pub mod g711;
mod h264;
mod opus;

pub use audio_codec::{AudioCodec, AudioDecoder, AudioEncoder};
pub use error::{CodecError, G711Error, H264Error, OpusError};
pub use g711::{G711Decoder, G711Encoder, G711Law};
pub use h264::decoder::H264Decoder;
pub use h264::encoder::{EncodedVideo, H264Encoder, H264EncoderConfig, VideoContent};
pub use opus::decoder::OpusDecoder;
pub use opus::encoder::{OpusApplication, OpusEncoder, OpusEncoderConfig};
