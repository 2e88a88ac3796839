//! Arbitrary packet streams (sequence numbers, timestamps, arrival times, duplicates, jumps)
//! into the jitter buffer: one decision per pop, memory within capacity, no panics.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig};
use libfuzzer_sys::fuzz_target;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let config = JitterConfig::default();
    let capacity = config.capacity;
    let mut jb = JitterBuffer::new(config);
    let mut now = origin();
    // 8-byte records: seq (2), timestamp (4), time step (1), flags (1).
    for record in data.chunks_exact(8) {
        let seq = u16::from_be_bytes([record[0], record[1]]);
        let ts = u32::from_be_bytes([record[2], record[3], record[4], record[5]]);
        now += Duration::from_millis(u64::from(record[6]));
        let flags = record[7];
        if flags & 1 == 0 {
            let level = if flags & 2 != 0 { Some(flags >> 1) } else { None };
            jb.insert(AudioPacket { seq, timestamp: ts, payload: Bytes::from_static(&[0xF8]), level }, now);
        }
        if flags & 4 != 0 {
            let _ = jb.pop(now);
        }
        assert!(jb.held() <= capacity);
    }
    let _ = jb.stats();
});
