//! H.264 through OpenH264: constrained baseline encode, and decode of what browsers send.

pub(crate) mod decoder;
pub(crate) mod encoder;

use confab_media::VideoFrame;

/// Lends a [`VideoFrame`]'s planes to OpenH264 without copying.
pub(crate) struct I420Source<'a>(pub(crate) &'a VideoFrame);

impl openh264::formats::YUVSource for I420Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.0.y_stride(), self.0.uv_stride(), self.0.uv_stride())
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}
