//! Any offer text through the media-layout reader: a layout or an error, never a panic; a
//! layout read has exactly one mid per section, within the slot limits.
#![no_main]

use confab_transport::peer::{MAX_UNMIXED_SLOTS, MAX_VIDEO_SLOTS, MediaLayout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((layout, mids)) = MediaLayout::from_offer(sdp) {
        assert!((1..=MAX_VIDEO_SLOTS).contains(&layout.video_slots));
        assert!(layout.unmixed_slots <= MAX_UNMIXED_SLOTS);
        assert_eq!(mids.len(), layout.sections().len());
    }
});
