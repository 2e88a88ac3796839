//! Raw video: I420 and NV12 pictures, a picture-quality measure and a moving test pattern.

pub(crate) mod frame;
pub(crate) mod pattern;
pub(crate) mod quality;
