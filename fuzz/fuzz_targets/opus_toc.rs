//! Any bytes as an Opus RTP payload: a TOC or an error, and never more than 120 ms.
#![no_main]

use confab_transport::payload::opus::OpusToc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(toc) = OpusToc::parse(data) {
        assert!(toc.duration_samples() > 0 && toc.duration_samples() <= 5760);
    }
});
