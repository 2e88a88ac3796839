//! Arbitrary RTP payloads into the H.264 depacketizer: errors, never panics; what it
//! assembles is well-formed Annex-B.
#![no_main]

use confab_transport::payload::h264::H264Depacketizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut depacketizer = H264Depacketizer::new();
    // Payloads separated by 0xFF 0xFE; the first byte of each picks marker and sequence step.
    let mut seq = 0u16;
    for chunk in data.split(|b| *b == 0xFE) {
        let Some((&control, payload)) = chunk.split_first() else { continue };
        seq = seq.wrapping_add(u16::from(control & 0x03));
        if let Ok(Some(unit)) = depacketizer.push(seq, payload, control & 0x80 != 0) {
            assert!(unit.data.starts_with(&[0, 0, 0, 1]));
        }
    }
});
