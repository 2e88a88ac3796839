//! [`H264Decoder`]: Annex-B access units to I420 pictures.

use confab_media::{MediaTime, VideoFrame};
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use crate::H264Error;

/// Decodes H.264 (constrained baseline and what browsers send) into I420 pictures.
///
/// Feed it Annex-B data a whole access unit at a time (or NAL unit by NAL unit); it
/// returns each picture as soon as it is complete, without reordering delay. After a decode
/// error it keeps going: the caller should request a keyframe.
pub struct H264Decoder {
    inner: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// A fresh decoder (it needs an SPS, a PPS and an IDR picture before it can output).
    pub fn new() -> Result<Self, H264Error> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let inner = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(H264Error::library("decoder_create"))?;
        Ok(H264Decoder { inner })
    }

    /// Decodes Annex-B data; returns the picture it completes, stamped `timestamp`.
    pub fn decode(
        &mut self,
        annexb: &[u8],
        timestamp: MediaTime,
    ) -> Result<Option<VideoFrame>, H264Error> {
        let picture = self
            .inner
            .decode(annexb)
            .map_err(H264Error::library("decode"))?;
        picture.map(|yuv| copy_picture(&yuv, timestamp)).transpose()
    }

    /// Pictures still held inside the decoder, at the end of a stream.
    pub fn flush(&mut self, timestamp: MediaTime) -> Result<Vec<VideoFrame>, H264Error> {
        let pictures = self
            .inner
            .flush_remaining()
            .map_err(H264Error::library("flush"))?;
        pictures
            .iter()
            .map(|yuv| copy_picture(yuv, timestamp))
            .collect()
    }
}

fn copy_picture(yuv: &impl YUVSource, timestamp: MediaTime) -> Result<VideoFrame, H264Error> {
    let (width, height) = yuv.dimensions();
    let (y_stride, u_stride, v_stride) = yuv.strides();
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let plane = |data: &[u8], stride: usize, row_bytes: usize, rows: usize| {
        let mut packed = Vec::with_capacity(row_bytes * rows);
        for row in data.chunks(stride).take(rows) {
            packed.extend_from_slice(&row[..row_bytes.min(row.len())]);
        }
        packed
    };
    Ok(VideoFrame::from_planes(
        width as u32,
        height as u32,
        plane(yuv.y(), y_stride, width, height),
        width,
        plane(yuv.u(), u_stride, cw, ch),
        plane(yuv.v(), v_stride, cw, ch),
        cw,
        timestamp,
    )?)
}
