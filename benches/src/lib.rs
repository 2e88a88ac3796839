//! criterion benchmarks of confab's media pipeline; the benches live in `benches/`.
//!
//! Run them all with `cargo bench -p confab-benches`, or one group with e.g.
//! `cargo bench -p confab-benches --bench codecs -- opus_encode`. This library only holds
//! the inputs the benches share, so each bench measures the work, not the set-up.

use confab_media::{AudioFrame, MediaTime, TestPattern, VideoFrame};
use confab_testkit::fixtures;

/// One second of a speech fixture as 48 kHz mono 20 ms frames (speech, not silence, so
/// codecs do their full work).
pub fn speech_second() -> Vec<AudioFrame> {
    fixtures::speech_frames(fixtures::Speaker::Alice)
        .into_iter()
        .skip(25)
        .take(50)
        .collect()
}

/// `count` consecutive test-pattern pictures at `width` x `height`, 30 fps timestamps.
pub fn pattern_frames(width: u32, height: u32, count: u32) -> Vec<VideoFrame> {
    let pattern = TestPattern::new(width, height);
    (0..count)
        .map(|n| pattern.frame(n, MediaTime::from_micros(u64::from(n) * 33_333)))
        .collect()
}
