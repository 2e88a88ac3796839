//! Arbitrary bytes as an H.264 Annex-B stream: NAL and access-unit splitting never panic,
//! and access units tile the input exactly.
#![no_main]

use confab_codecs::annexb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let units = annexb::access_units(data);
    let covered: usize = units.iter().map(|u| u.len()).sum();
    if !units.is_empty() {
        let start = units[0].as_ptr() as usize - data.as_ptr() as usize;
        assert_eq!(start + covered, data.len());
    }
    for unit in units {
        let _ = annexb::is_keyframe(unit);
    }
    for nal in annexb::nal_units(data) {
        let _ = annexb::NalType::of(nal);
    }
});
