//! The jitter buffer through a bad network: 30 s of speech with 10 % random loss and 50 ms of
//! jitter, then 10 s with the jitter gone. Output stays continuous (one frame per 20 ms),
//! every loss is reported exactly once, memory stays bounded, and the delay comes back down
//! within 5 s of the jitter stopping.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioLevel};
use confab_testkit::{NetemConfig, NetworkEmulator, VirtualClock, fixtures};
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};

const JITTERY_SECONDS: u64 = 30;
const CALM_SECONDS: u64 = 10;

/// 40 s of speech as Opus packets with RFC 6464 levels.
fn speech_packets(frames: usize) -> Vec<(Bytes, u8)> {
    let mut samples = Vec::new();
    while samples.len() < frames * 960 {
        for speaker in fixtures::Speaker::ALL {
            samples.extend(fixtures::speech(speaker));
        }
    }
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    fixtures::frames(&samples[..frames * 960], AudioFormat::MONO_48K)
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            (
                Bytes::from(p),
                AudioLevel::measure(f.samples()).wire_value(),
            )
        })
        .collect()
}

#[test]
fn thirty_seconds_of_loss_and_jitter_then_calm() {
    let total_frames = ((JITTERY_SECONDS + CALM_SECONDS) * 50) as usize;
    let packets = speech_packets(total_frames);
    let mut clock = VirtualClock::new();
    let start = clock.now();
    let jittery = NetemConfig {
        base_delay: Duration::from_millis(20),
        jitter: Duration::from_millis(50),
        loss: 0.10,
        ..NetemConfig::default()
    };
    let calm = NetemConfig {
        base_delay: jittery.base_delay,
        loss: jittery.loss,
        ..NetemConfig::default()
    };
    let mut net = NetworkEmulator::new(jittery, 20_261_128);
    let config = JitterConfig::default();
    let capacity = config.capacity;
    let mut jb = JitterBuffer::new(config);
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();

    let mut dropped = BTreeSet::new();
    let (mut played, mut lost) = (Vec::new(), Vec::new());
    let mut started_at = None;
    let mut delays = Vec::new();
    let mut sent = 0usize;
    let mut pops = 0u64;
    // Millisecond steps: the sender sends every 20 ms, the receiver ticks every 20 ms at
    // another phase, the network delivers whenever packets land.
    for ms in 0..(JITTERY_SECONDS + CALM_SECONDS) * 1000 + 500 {
        let now = start + Duration::from_millis(ms);
        clock.advance_to(now);
        if ms == JITTERY_SECONDS * 1000 {
            net.set_config(calm.clone());
        }
        if ms % 20 == 0 && sent < packets.len() {
            let (payload, level) = packets[sent].clone();
            let seq = (sent as u16).wrapping_add(60_000);
            let packet = AudioPacket {
                seq,
                timestamp: sent as u32 * 960,
                payload,
                level: Some(level),
            };
            if !net.send(now, (sent as u64, packet)) {
                dropped.insert(sent as u64);
            }
            sent += 1;
        }
        while let Some((_, packet)) = net.poll(now) {
            jb.insert(packet, now);
        }
        if ms % 20 == 7 {
            pops += 1;
            let decision = jb.pop(now);
            // Every decision yields exactly one 20 ms frame from the decoder.
            let frame = match &decision {
                Playout::Buffering => {
                    assert!(
                        started_at.is_none(),
                        "buffering again after the start, at {ms} ms"
                    );
                    continue;
                }
                Playout::Packet { payload, .. } => decoder
                    .decode(payload, confab_media::MediaTime::ZERO)
                    .unwrap(),
                Playout::RecoverFec { next_payload, .. } => decoder
                    .recover(next_payload, confab_media::MediaTime::ZERO)
                    .unwrap(),
                Playout::Conceal { .. } | Playout::Expand | Playout::Dtx => {
                    decoder.conceal(confab_media::MediaTime::ZERO).unwrap()
                }
            };
            assert_eq!(frame.samples().len(), 960);
            started_at.get_or_insert(ms);
            match decision {
                Playout::Packet { seq, .. } => played.push(seq),
                Playout::RecoverFec { lost: seq, .. } | Playout::Conceal { lost: seq } => {
                    lost.push(seq);
                }
                _ => {}
            }
            let stats = jb.stats();
            delays.push((ms, stats.current_delay_ms, stats.target_delay_ms));
            assert!(jb.held() <= capacity, "memory bound");
        }
    }
    let stats = jb.stats();
    println!("{stats:?}");
    println!("emulator: {:?}", net.stats());

    // Continuity: after the start, every tick produced a frame.
    let started_at = started_at.unwrap();
    assert!(started_at < 100, "playout started after {started_at} ms");

    // Every sequence number is accounted for exactly once: played, lost, or dropped on
    // purpose to shrink the delay.
    let first = played.iter().chain(&lost).min().copied().unwrap();
    let lost_set: BTreeSet<u64> = lost.iter().copied().collect();
    let played_set: BTreeSet<u64> = played.iter().copied().collect();
    assert_eq!(lost_set.len(), lost.len(), "a loss reported twice");
    assert_eq!(played_set.len(), played.len(), "a packet played twice");
    assert!(lost_set.is_disjoint(&played_set));
    let last = played.iter().chain(&lost).max().copied().unwrap();
    assert_eq!(
        (last - first + 1) as usize,
        played.len() + lost.len() + stats.accelerated as usize,
        "every frame accounted for"
    );
    // Losses are the packets the network dropped plus those that came too late.
    let played_index: BTreeSet<u64> = played.iter().map(|s| s - first).collect();
    let lost_index: BTreeSet<u64> = lost.iter().map(|s| s - first).collect();
    assert!(
        dropped.iter().all(|d| !played_index.contains(d)),
        "a dropped packet was played"
    );
    let dropped_and_lost = dropped.iter().filter(|d| lost_index.contains(d)).count() as u64;
    assert_eq!(
        lost.len() as u64 - dropped_and_lost,
        stats.late,
        "losses not dropped by the network arrived late"
    );
    assert_eq!(stats.lost(), lost.len() as u64);
    assert!(
        stats.recovered > stats.concealed,
        "isolated losses are mostly recoverable by FEC"
    );

    // Memory stayed bounded well inside the capacity.
    assert!(
        stats.max_held <= 40,
        "held up to {} packets",
        stats.max_held
    );

    // Delay: high under jitter, back near the minimum within 5 s of calm.
    let jittery_delay = delays
        .iter()
        .filter(|(ms, ..)| (10_000..JITTERY_SECONDS * 1000).contains(ms))
        .map(|d| d.1)
        .max()
        .unwrap();
    let calm_after = delays
        .iter()
        .filter(|(ms, ..)| *ms >= (JITTERY_SECONDS + 5) * 1000)
        .map(|d| d.1)
        .max()
        .unwrap();
    println!(
        "delay under jitter up to {jittery_delay} ms; from 5 s after it stopped, at most {calm_after} ms"
    );
    assert!(
        jittery_delay >= 60,
        "the buffer grew to cover the jitter: {jittery_delay} ms"
    );
    assert!(calm_after <= 60, "delay came back down: {calm_after} ms");
    let late_rate = stats.late as f64 / sent as f64;
    assert!(
        late_rate < 0.03,
        "{:.1} % of packets arrived too late for the adaptive delay",
        late_rate * 100.0
    );
    assert!(pops > 1900);
}
