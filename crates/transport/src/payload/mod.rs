//! RTP payload formats.

pub mod h264;
pub mod opus;
