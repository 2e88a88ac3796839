//! [`VideoFrame`] (planar I420) and [`Nv12Frame`] (semi-planar), with conversions.

use crate::{FrameError, MediaTime};

const MAX_DIMENSION: u32 = 8192;

fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        Err(FrameError::VideoSize { width, height })
    } else {
        Ok(())
    }
}

fn check_plane(
    plane: &'static str,
    data: &[u8],
    stride: usize,
    row_bytes: usize,
    rows: usize,
) -> Result<(), FrameError> {
    // The last row need not be padded out to the stride.
    let needed = stride * (rows - 1) + row_bytes;
    if stride < row_bytes || data.len() < needed {
        return Err(FrameError::PlaneSize {
            plane,
            needed,
            stride,
            actual: data.len(),
        });
    }
    Ok(())
}

/// Chroma plane size of a `width` x `height` 4:2:0 picture: half, rounded up.
const fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// One I420 picture: a full-size luma plane and two quarter-size chroma planes, each with
/// its own row stride (which may exceed the visible width).
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    y_stride: usize,
    uv_stride: usize,
    timestamp: MediaTime,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("y_stride", &self.y_stride)
            .field("uv_stride", &self.uv_stride)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl VideoFrame {
    /// A black picture with tightly packed planes.
    pub fn black(width: u32, height: u32, timestamp: MediaTime) -> Result<Self, FrameError> {
        check_size(width, height)?;
        Ok(VideoFrame::blank(width, height, timestamp))
    }

    /// A black picture of a size the caller has already checked.
    pub(crate) fn blank(width: u32, height: u32, timestamp: MediaTime) -> Self {
        let (cw, ch) = chroma_size(width, height);
        VideoFrame {
            width,
            height,
            y: vec![16; width as usize * height as usize],
            u: vec![128; cw * ch],
            v: vec![128; cw * ch],
            y_stride: width as usize,
            uv_stride: cw,
            timestamp,
        }
    }

    /// A picture from planes that already hold I420 data; strides are bytes per row.
    #[allow(clippy::too_many_arguments)]
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        y_stride: usize,
        u: Vec<u8>,
        v: Vec<u8>,
        uv_stride: usize,
        timestamp: MediaTime,
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        check_plane("Y", &y, y_stride, width as usize, height as usize)?;
        check_plane("U", &u, uv_stride, cw, ch)?;
        check_plane("V", &v, uv_stride, cw, ch)?;
        Ok(VideoFrame {
            width,
            height,
            y,
            u,
            v,
            y_stride,
            uv_stride,
            timestamp,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width and height of each chroma plane.
    pub fn chroma_size(&self) -> (usize, usize) {
        chroma_size(self.width, self.height)
    }

    /// Luma plane.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Cb plane.
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// Cr plane.
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// All three planes, writable, with their strides: `(y, u, v, y_stride, uv_stride)`.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8], usize, usize) {
        (
            &mut self.y,
            &mut self.u,
            &mut self.v,
            self.y_stride,
            self.uv_stride,
        )
    }

    /// Bytes per luma row.
    pub fn y_stride(&self) -> usize {
        self.y_stride
    }

    /// Bytes per chroma row (both chroma planes).
    pub fn uv_stride(&self) -> usize {
        self.uv_stride
    }

    /// Presentation time on the stream's clock.
    pub fn timestamp(&self) -> MediaTime {
        self.timestamp
    }

    /// Re-stamps the picture.
    pub fn set_timestamp(&mut self, timestamp: MediaTime) {
        self.timestamp = timestamp;
    }

    /// Visible luma row `row` (without stride padding).
    pub fn y_row(&self, row: usize) -> &[u8] {
        let start = row * self.y_stride;
        &self.y[start..start + self.width as usize]
    }

    /// Visible Cb and Cr rows `row`.
    pub fn uv_rows(&self, row: usize) -> (&[u8], &[u8]) {
        let start = row * self.uv_stride;
        let (cw, _) = self.chroma_size();
        (&self.u[start..start + cw], &self.v[start..start + cw])
    }

    /// The same picture with tightly packed planes (strides equal to the visible widths).
    pub fn to_packed(&self) -> VideoFrame {
        let (cw, ch) = self.chroma_size();
        let mut y = Vec::with_capacity(self.width as usize * self.height as usize);
        for row in 0..self.height as usize {
            y.extend_from_slice(self.y_row(row));
        }
        let mut u = Vec::with_capacity(cw * ch);
        let mut v = Vec::with_capacity(cw * ch);
        for row in 0..ch {
            let (ur, vr) = self.uv_rows(row);
            u.extend_from_slice(ur);
            v.extend_from_slice(vr);
        }
        VideoFrame {
            width: self.width,
            height: self.height,
            y,
            u,
            v,
            y_stride: self.width as usize,
            uv_stride: cw,
            timestamp: self.timestamp,
        }
    }

    /// Converts to NV12: same luma, chroma interleaved as CbCr pairs.
    pub fn to_nv12(&self) -> Nv12Frame {
        let packed = self.to_packed();
        let (cw, ch) = packed.chroma_size();
        let mut uv = Vec::with_capacity(2 * cw * ch);
        for (&cb, &cr) in packed.u.iter().zip(&packed.v) {
            uv.push(cb);
            uv.push(cr);
        }
        Nv12Frame {
            width: self.width,
            height: self.height,
            y: packed.y,
            uv,
            timestamp: self.timestamp,
        }
    }
}

/// One NV12 picture, tightly packed: luma plane, then one plane of interleaved CbCr pairs.
#[derive(Clone, PartialEq, Eq)]
pub struct Nv12Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    uv: Vec<u8>,
    timestamp: MediaTime,
}

impl std::fmt::Debug for Nv12Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nv12Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Nv12Frame {
    /// An NV12 picture from tightly packed planes.
    pub fn new(
        width: u32,
        height: u32,
        y: Vec<u8>,
        uv: Vec<u8>,
        timestamp: MediaTime,
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        check_plane("Y", &y, width as usize, width as usize, height as usize)?;
        check_plane("UV", &uv, 2 * cw, 2 * cw, ch)?;
        Ok(Nv12Frame {
            width,
            height,
            y,
            uv,
            timestamp,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Luma plane.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Interleaved CbCr plane.
    pub fn uv(&self) -> &[u8] {
        &self.uv
    }

    /// Converts to I420 with tightly packed planes.
    pub fn to_i420(&self) -> VideoFrame {
        let (cw, ch) = chroma_size(self.width, self.height);
        let mut u = Vec::with_capacity(cw * ch);
        let mut v = Vec::with_capacity(cw * ch);
        for pair in self.uv.chunks_exact(2).take(cw * ch) {
            u.push(pair[0]);
            v.push(pair[1]);
        }
        VideoFrame {
            width: self.width,
            height: self.height,
            y: self.y[..self.width as usize * self.height as usize].to_vec(),
            u,
            v,
            y_stride: self.width as usize,
            uv_stride: cw,
            timestamp: self.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestPattern;

    #[test]
    fn i420_nv12_round_trip_is_lossless() {
        let frame = TestPattern::new(64, 48).frame(7, MediaTime::from_millis(233));
        let nv12 = frame.to_nv12();
        assert_eq!(nv12.uv().len(), 2 * 32 * 24);
        assert_eq!(nv12.uv()[0], frame.u()[0]);
        assert_eq!(nv12.uv()[1], frame.v()[0]);
        assert_eq!(nv12.to_i420(), frame.to_packed());
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = VideoFrame::black(5, 3, MediaTime::ZERO).unwrap();
        assert_eq!(frame.chroma_size(), (3, 2));
        assert_eq!(frame.to_nv12().to_i420(), frame);
    }

    #[test]
    fn strided_planes_pack_to_visible_pixels() {
        // 4x2 picture stored with 8-byte luma rows and 4-byte chroma rows.
        let y: Vec<u8> = (0..16).collect();
        let frame = VideoFrame::from_planes(
            4,
            2,
            y,
            8,
            vec![1, 2, 0, 0],
            vec![3, 4, 0, 0],
            4,
            MediaTime::ZERO,
        )
        .unwrap();
        let packed = frame.to_packed();
        assert_eq!(packed.y(), &[0, 1, 2, 3, 8, 9, 10, 11]);
        assert_eq!(packed.u(), &[1, 2]);
        assert_eq!(packed.v(), &[3, 4]);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(VideoFrame::black(0, 10, MediaTime::ZERO).is_err());
        assert!(VideoFrame::black(10_000, 10, MediaTime::ZERO).is_err());
        let short_y = VideoFrame::from_planes(
            4,
            2,
            vec![0; 7],
            4,
            vec![0; 2],
            vec![0; 2],
            2,
            MediaTime::ZERO,
        );
        assert!(matches!(
            short_y,
            Err(FrameError::PlaneSize { plane: "Y", .. })
        ));
        let narrow_stride = VideoFrame::from_planes(
            4,
            2,
            vec![0; 8],
            3,
            vec![0; 2],
            vec![0; 2],
            2,
            MediaTime::ZERO,
        );
        assert!(narrow_stride.is_err());
        assert!(Nv12Frame::new(4, 2, vec![0; 8], vec![0; 3], MediaTime::ZERO).is_err());
    }
}
