//! H.264 encode → decode of the moving test pattern: pictures come back at full size,
//! in order, at broadcast-like quality.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_codecs::{H264Decoder, H264Encoder, H264EncoderConfig, H264Error, annexb};
use confab_media::{MediaTime, TestPattern, VideoFrame, psnr};

fn round_trip(width: u32, height: u32, frames: u32, bitrate_bps: u32) -> Vec<f64> {
    let pattern = TestPattern::new(width, height);
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        bitrate_bps,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut scores = Vec::new();
    let mut bytes = 0;
    for n in 0..frames {
        let ts = MediaTime::from_micros(u64::from(n) * 33_333);
        let source = pattern.frame(n, ts);
        let encoded = encoder
            .encode(&source, false)
            .unwrap()
            .expect("within budget: no skipping");
        bytes += encoded.data.len();
        assert_eq!(
            encoded.keyframe,
            n == 0,
            "only the first picture is a keyframe"
        );
        assert_eq!(annexb::is_keyframe(&encoded.data), encoded.keyframe);
        assert_eq!(
            annexb::access_units(&encoded.data).len(),
            1,
            "one picture per access unit"
        );
        let decoded = decoder
            .decode(&encoded.data, ts)
            .unwrap()
            .expect("no decode delay");
        assert_eq!((decoded.width(), decoded.height()), (width, height));
        assert_eq!(
            TestPattern::read_index(&decoded),
            Some(n),
            "pictures arrive in order"
        );
        scores.push(psnr(&source, &decoded).unwrap());
    }
    let kbps = bytes as f64 * 8.0 / (f64::from(frames) / 30.0) / 1000.0;
    println!(
        "{width}x{height}: {kbps:.0} kbit/s for a {} kbit/s target",
        bitrate_bps / 1000
    );
    assert!(
        kbps < f64::from(bitrate_bps) / 1000.0 * 1.5,
        "rate control holds the bitrate"
    );
    scores
}

#[test]
fn vga_pattern_decodes_at_30_db_or_better() {
    let scores = round_trip(640, 480, 45, 1_500_000);
    let worst = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    println!("640x480 @ 1.5 Mbit/s: PSNR mean {mean:.1} dB, worst {worst:.1} dB");
    assert!(worst >= 30.0, "worst picture {worst:.1} dB");
}

#[test]
fn forced_keyframes_and_size_changes() {
    let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let small = TestPattern::new(320, 240);
    let big = TestPattern::new(640, 360);
    let frames: Vec<(VideoFrame, bool)> = vec![
        (small.frame(0, MediaTime::ZERO), true),
        (small.frame(1, MediaTime::ZERO), false),
        (small.frame(2, MediaTime::ZERO), true),
        (big.frame(3, MediaTime::ZERO), true),
        (big.frame(4, MediaTime::ZERO), false),
    ];
    for (i, (frame, expect_key)) in frames.iter().enumerate() {
        let force = i == 2;
        let encoded = encoder.encode(frame, force).unwrap().unwrap();
        assert_eq!(encoded.keyframe, *expect_key, "picture {i}");
        let decoded = decoder
            .decode(&encoded.data, MediaTime::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (frame.width(), frame.height())
        );
    }
}

#[test]
fn odd_or_tiny_sizes_are_refused_and_garbage_does_not_panic() {
    let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
    let odd = VideoFrame::black(321, 240, MediaTime::ZERO).unwrap();
    assert!(matches!(
        encoder.encode(&odd, false),
        Err(H264Error::Size { .. })
    ));
    let tiny = VideoFrame::black(8, 8, MediaTime::ZERO).unwrap();
    assert!(encoder.encode(&tiny, false).is_err());

    let mut decoder = H264Decoder::new().unwrap();
    for junk in [
        &[][..],
        &[0, 0, 0, 1, 0x65, 0xFF, 0xFF],
        &[0, 0, 1, 0x67, 0, 0, 0],
        &[0xAB; 500],
    ] {
        assert!(matches!(
            decoder.decode(junk, MediaTime::ZERO),
            Ok(None) | Err(_)
        ));
    }
}
