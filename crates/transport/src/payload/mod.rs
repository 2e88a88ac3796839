//! RTP payload formats.

pub mod h264;
pub mod h264_sps;
pub mod opus;
