//! Arbitrary bytes as an SPS NAL unit and as an RTP payload that may start a keyframe:
//! errors or `None`, never panics; any size read is within the limit.
#![no_main]

use confab_transport::payload::h264_sps::{keyframe_start_size, sps_picture_size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((w, h)) = sps_picture_size(data) {
        assert!(w <= 16_384 && h <= 16_384);
    }
    let _ = keyframe_start_size(data);
});
