//! A clip made by ffmpeg/libx264 (an encoder nobody here wrote) decodes to its known frame
//! count and size: the decoder handles real-world streams, not just our own encoder's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_codecs::{H264Decoder, annexb};
use confab_media::{MediaTime, VideoFrame};
use confab_testkit::fixtures;

#[test]
fn libx264_clip_decodes_to_60_frames_of_320x240() {
    let clip = fixtures::bytes("testsrc-320x240-60f.h264");
    let units = annexb::access_units(&clip);
    assert_eq!(units.len(), 60, "access units in the clip");
    assert!(annexb::is_keyframe(units[0]));

    let mut decoder = H264Decoder::new().unwrap();
    let mut pictures: Vec<VideoFrame> = Vec::new();
    for (n, unit) in units.iter().enumerate() {
        let ts = MediaTime::from_micros(n as u64 * 33_333);
        pictures.extend(decoder.decode(unit, ts).unwrap());
    }
    pictures.extend(decoder.flush(MediaTime::ZERO).unwrap());
    assert_eq!(pictures.len(), 60);
    for p in &pictures {
        assert_eq!((p.width(), p.height()), (320, 240));
    }
    // testsrc moves: consecutive pictures differ.
    assert_ne!(pictures[0].y(), pictures[30].y());
}
