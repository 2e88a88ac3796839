//! Video a bot receives (per slot: depacketize, then hand over the H.264 and/or decode it)
//! and sends (I420 encoded here, or H.264 as given).

use bytes::Bytes;
use confab_codecs::{H264Decoder, H264Encoder, H264EncoderConfig};
use confab_media::{MediaTime, VideoFrame};
use confab_transport::payload::h264::H264Depacketizer;

/// What one received picture gave.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// The access unit (Annex-B), when the bot wants H.264.
    pub(crate) encoded: Option<(Bytes, bool)>,
    /// The decoded picture, when the bot wants pictures.
    pub(crate) decoded: Option<VideoFrame>,
    /// Packets were lost: ask the sender for a keyframe.
    pub(crate) wants_keyframe: bool,
}

pub(crate) struct VideoReceiver {
    depacketizer: H264Depacketizer,
    decoder: Option<H264Decoder>,
    encoded: bool,
    max_size: (u32, u32),
    pub(crate) pictures: u64,
}

impl std::fmt::Debug for VideoReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReceiver")
            .field("pictures", &self.pictures)
            .finish_non_exhaustive()
    }
}

impl VideoReceiver {
    pub(crate) fn new(encoded: bool, decoded: bool, max_size: (u32, u32)) -> Result<Self, String> {
        let decoder = if decoded {
            Some(H264Decoder::new().map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(VideoReceiver {
            depacketizer: H264Depacketizer::new(),
            decoder,
            encoded,
            max_size,
            pictures: 0,
        })
    }

    pub(crate) fn push(
        &mut self,
        seq: u16,
        payload: &[u8],
        marker: bool,
        at: MediaTime,
    ) -> Received {
        let mut out = Received::default();
        let unit = match self.depacketizer.push(seq, payload, marker) {
            Ok(Some(unit)) => unit,
            Ok(None) => return out,
            Err(_) => {
                out.wants_keyframe = true;
                return out;
            }
        };
        out.wants_keyframe = !unit.intact;
        self.pictures += 1;
        if let Some(decoder) = &mut self.decoder {
            match decoder.decode(&unit.data, at) {
                Ok(Some(picture)) => out.decoded = Some(fit(picture, self.max_size)),
                Ok(None) => {}
                Err(_) => out.wants_keyframe = true,
            }
        }
        if self.encoded {
            out.encoded = Some((unit.data, unit.keyframe));
        }
        out
    }
}

/// A picture scaled down by the smallest whole factor that fits it in `max` (box filter);
/// pictures that fit already are returned as they are.
pub(crate) fn fit(picture: VideoFrame, max: (u32, u32)) -> VideoFrame {
    let (w, h) = (picture.width(), picture.height());
    let factor = w.div_ceil(max.0.max(1)).max(h.div_ceil(max.1.max(1)));
    if factor <= 1 {
        return picture;
    }
    let (nw, nh) = ((w / factor) & !1, (h / factor) & !1);
    if nw == 0 || nh == 0 {
        return picture;
    }
    let f = factor as usize;
    let shrink = |plane: &[u8], stride: usize, ow: usize, oh: usize| -> Vec<u8> {
        let mut out = vec![0u8; ow * oh];
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = 0u32;
                for dy in 0..f {
                    let row = &plane[(y * f + dy) * stride..];
                    sum += row[x * f..x * f + f]
                        .iter()
                        .map(|&v| u32::from(v))
                        .sum::<u32>();
                }
                out[y * ow + x] = (sum / (f * f) as u32) as u8;
            }
        }
        out
    };
    let (nw_, nh_) = (nw as usize, nh as usize);
    let y = shrink(picture.y(), picture.y_stride(), nw_, nh_);
    let u = shrink(picture.u(), picture.uv_stride(), nw_ / 2, nh_ / 2);
    let v = shrink(picture.v(), picture.uv_stride(), nw_ / 2, nh_ / 2);
    VideoFrame::from_planes(nw, nh, y, nw_, u, v, nw_ / 2, picture.timestamp()).unwrap_or(picture)
}

/// Encodes a bot's I420 frames (created at the first frame, re-created on a size change).
pub(crate) struct VideoSender {
    encoder: Option<H264Encoder>,
    bitrate_bps: u32,
    pub(crate) force_keyframe: bool,
}

impl std::fmt::Debug for VideoSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSender").finish_non_exhaustive()
    }
}

impl VideoSender {
    pub(crate) fn new(bitrate_bps: u32) -> VideoSender {
        VideoSender {
            encoder: None,
            bitrate_bps,
            force_keyframe: true,
        }
    }

    pub(crate) fn encode(&mut self, frame: &VideoFrame) -> Result<Option<Bytes>, String> {
        if self.encoder.is_none() {
            self.encoder = Some(
                H264Encoder::new(H264EncoderConfig {
                    bitrate_bps: self.bitrate_bps,
                    ..H264EncoderConfig::default()
                })
                .map_err(|e| e.to_string())?,
            );
        }
        let Some(encoder) = &mut self.encoder else {
            return Ok(None);
        };
        let force = std::mem::take(&mut self.force_keyframe);
        Ok(encoder
            .encode(frame, force)
            .map_err(|e| e.to_string())?
            .map(|e| e.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_media::TestPattern;

    #[test]
    fn big_pictures_are_scaled_down_to_fit() {
        let picture = TestPattern::new(1280, 720).frame(3, MediaTime::ZERO);
        let small = fit(picture.clone(), (640, 360));
        assert_eq!((small.width(), small.height()), (640, 360));
        let smaller = fit(picture.clone(), (320, 240));
        assert_eq!((smaller.width(), smaller.height()), (320, 180));
        let same = fit(picture, (1920, 1080));
        assert_eq!((same.width(), same.height()), (1280, 720));
        // Still the same picture: close to the pattern drawn at the small size.
        let drawn = TestPattern::new(640, 360).frame(3, MediaTime::ZERO);
        let psnr = confab_media::psnr(&drawn, &small).unwrap();
        assert!(psnr > 20.0, "{psnr:.1} dB");
    }
}
