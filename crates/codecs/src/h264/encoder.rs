//! [`H264Encoder`]: I420 pictures to constrained-baseline Annex-B access units.

use bytes::Bytes;
use confab_media::{MediaTime, VideoFrame};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType,
};

use super::I420Source;
use crate::H264Error;

/// What the video shows: tunes the encoder's rate control and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoContent {
    /// Camera: natural motion.
    Camera,
    /// Screen share: text and sharp edges, mostly static.
    Screen,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct H264EncoderConfig {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// The frame rate the rate control plans for.
    pub max_frame_rate: f32,
    /// A keyframe every this many frames; `None` for keyframes only on request (a real-time
    /// sender answers the receiver's PLI/FIR instead).
    pub keyframe_interval: Option<u32>,
    /// Camera or screen.
    pub content: VideoContent,
}

impl Default for H264EncoderConfig {
    /// 1 Mbit/s camera video at 30 fps, keyframes on request.
    fn default() -> Self {
        H264EncoderConfig {
            bitrate_bps: 1_000_000,
            max_frame_rate: 30.0,
            keyframe_interval: None,
            content: VideoContent::Camera,
        }
    }
}

/// One encoded picture: an Annex-B access unit (SPS and PPS included before every IDR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// The access unit, start codes included.
    pub data: Bytes,
    /// Whether it is an IDR picture (decodable on its own).
    pub keyframe: bool,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// The source picture's timestamp.
    pub timestamp: MediaTime,
}

/// Encodes I420 pictures to H.264 constrained baseline (profile-level-id 42e0xx: no
/// B-frames, CAVLC, one reference), which every browser decodes. The picture size may
/// change between calls: the encoder restarts at the new size with a keyframe.
pub struct H264Encoder {
    inner: Encoder,
    config: H264EncoderConfig,
    out: Vec<u8>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// An encoder with `config`.
    pub fn new(config: H264EncoderConfig) -> Result<Self, H264Error> {
        let usage = match config.content {
            VideoContent::Camera => UsageType::CameraVideoRealTime,
            VideoContent::Screen => UsageType::ScreenContentRealTime,
        };
        let encoder_config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(config.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(config.max_frame_rate))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(usage)
            .profile(Profile::Baseline)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            // Rate control may skip a picture to hold the bitrate (as browsers' encoders
            // do); `encode` then returns `None` and the receiver simply sees a lower rate.
            .skip_frames(true)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                config.keyframe_interval.unwrap_or(0),
            ))
            // Media threads are scheduled by confab, not by the codec.
            .num_threads(1);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), encoder_config)
            .map_err(H264Error::library("encoder_create"))?;
        Ok(H264Encoder {
            inner,
            config,
            out: Vec::with_capacity(64 * 1024),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> H264EncoderConfig {
        self.config
    }

    /// Encodes one picture. `force_keyframe` makes it an IDR (answering a PLI/FIR, or when a
    /// new receiver joins). Returns `None` if the encoder produced nothing for this picture.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedVideo>, H264Error> {
        let (width, height) = (frame.width(), frame.height());
        if width % 2 != 0
            || height % 2 != 0
            || !(16..=3840).contains(&width)
            || !(16..=2160).contains(&height)
        {
            return Err(H264Error::Size { width, height });
        }
        if force_keyframe {
            self.inner.force_intra_frame();
        }
        let timestamp = openh264::Timestamp::from_millis(frame.timestamp().as_micros() / 1000);
        let bitstream = self
            .inner
            .encode_at(&I420Source(frame), timestamp)
            .map_err(H264Error::library("encode"))?;
        let keyframe = match bitstream.frame_type() {
            FrameType::Skip | FrameType::Invalid => return Ok(None),
            FrameType::IDR => true,
            _ => false,
        };
        self.out.clear();
        bitstream.write_vec(&mut self.out);
        if self.out.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            data: Bytes::copy_from_slice(&self.out),
            keyframe,
            width,
            height,
            timestamp: frame.timestamp(),
        }))
    }
}
