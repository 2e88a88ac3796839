//! The jitter buffer's rules, one small case each: reorder, duplicates, late packets,
//! FEC versus concealment, underflow, DTX, a sequence wrap and a jump in the stream.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Duration;

use bytes::Bytes;
use confab_testkit::VirtualClock;
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};

fn packet(seq: u16, ts: u32) -> AudioPacket {
    AudioPacket {
        seq,
        timestamp: ts,
        payload: Bytes::from(vec![seq as u8; 3]),
        level: Some(30),
    }
}

/// A buffer that has started playout on seq `first` (timestamp 0).
fn started(clock: &mut VirtualClock, first: u16) -> JitterBuffer {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    jb.insert(packet(first, 0), clock.now());
    jb.insert(packet(first.wrapping_add(1), 960), clock.now());
    clock.advance(Duration::from_millis(40));
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    jb
}

fn played_seq(p: &Playout) -> Option<u64> {
    match p {
        Playout::Packet { seq, .. } => Some(*seq),
        _ => None,
    }
}

#[test]
fn waits_for_the_target_delay_before_starting() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert_eq!(jb.pop(clock.now()), Playout::Buffering, "nothing yet");
    jb.insert(packet(100, 0), clock.now());
    assert_eq!(
        jb.pop(clock.now()),
        Playout::Buffering,
        "not waited long enough"
    );
    clock.advance(Duration::from_millis(20));
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
}

#[test]
fn reordered_packets_play_in_order_and_duplicates_are_dropped() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 10);
    jb.insert(packet(13, 3 * 960), clock.now());
    jb.insert(packet(12, 2 * 960), clock.now());
    jb.insert(packet(12, 2 * 960), clock.now());
    let seqs: Vec<u64> = (0..3)
        .filter_map(|_| played_seq(&jb.pop(clock.now())))
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(jb.stats().duplicates, 1);
}

#[test]
fn a_loss_with_the_next_packet_here_is_recovered_else_concealed() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. })); // seq 1
    // 2 lost, 3 here: FEC from 3.
    jb.insert(packet(3, 3 * 960), clock.now());
    assert!(
        matches!(jb.pop(clock.now()), Playout::RecoverFec { next_payload, .. } if next_payload[0] == 3)
    );
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    // 4 and 5 lost, 6 here: 4 concealed, 5 recovered from 6.
    jb.insert(packet(6, 6 * 960), clock.now());
    assert!(matches!(jb.pop(clock.now()), Playout::Conceal { .. }));
    assert!(matches!(jb.pop(clock.now()), Playout::RecoverFec { .. }));
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    let stats = jb.stats();
    assert_eq!((stats.recovered, stats.concealed, stats.lost()), (2, 1, 3));
    // A lost packet that shows up after all is late, not a second loss.
    jb.insert(packet(4, 4 * 960), clock.now());
    assert_eq!(jb.stats().late, 1);
    assert_eq!(jb.stats().lost(), 3);
}

#[test]
fn underflow_expands_without_losing_anything() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    assert_eq!(
        jb.pop(clock.now()),
        Playout::Expand,
        "nothing newer arrived"
    );
    assert_eq!(jb.pop(clock.now()), Playout::Expand);
    jb.insert(packet(2, 2 * 960), clock.now());
    assert!(
        matches!(jb.pop(clock.now()), Playout::Packet { .. }),
        "the late-but-not-lost packet plays"
    );
    assert_eq!((jb.stats().expanded, jb.stats().lost()), (2, 0));
}

#[test]
fn a_timestamp_gap_is_dtx_not_loss() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    // Seq 2 arrives after 5 frames of silence were not sent.
    jb.insert(packet(2, 7 * 960), clock.now());
    let gap: Vec<Playout> = (0..5).map(|_| jb.pop(clock.now())).collect();
    assert!(gap.iter().all(|p| *p == Playout::Dtx), "{gap:?}");
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    assert_eq!((jb.stats().dtx, jb.stats().lost()), (5, 0));
}

#[test]
fn a_sender_that_pauses_plays_on_at_once_when_it_resumes() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    // The sender says nothing for 10 frames (no packets, no DTX): the buffer stretches.
    for _ in 0..10 {
        clock.advance(Duration::from_millis(20));
        assert_eq!(jb.pop(clock.now()), Playout::Expand);
    }
    // It resumes: its timestamps moved on by the pause. Played at once, the pause not again.
    jb.insert(packet(2, 12 * 960), clock.now());
    clock.advance(Duration::from_millis(20));
    let resumed = jb.pop(clock.now());
    assert!(
        matches!(&resumed, Playout::Packet { payload, .. } if payload[0] == 2),
        "{resumed:?}"
    );
    assert_eq!((jb.stats().dtx, jb.stats().lost()), (0, 0));
}

#[test]
fn sequence_numbers_wrap() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 65_534);
    for (i, seq) in [0u16, 1, 2].iter().enumerate() {
        jb.insert(packet(*seq, (i as u32 + 2) * 960), clock.now());
    }
    let played: Vec<u64> = (0..4)
        .filter_map(|_| played_seq(&jb.pop(clock.now())))
        .collect();
    assert_eq!(played.len(), 4);
    assert!(played.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(jb.stats().lost(), 0);
}

#[test]
fn a_jump_far_ahead_restarts_the_buffer() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    jb.insert(packet(30_000, 9_000_000), clock.now());
    assert_eq!(jb.stats().resets, 1);
    assert_eq!(jb.pop(clock.now()), Playout::Buffering);
    clock.advance(Duration::from_millis(40));
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    assert!(jb.held() <= 1);
}

#[test]
fn a_played_packet_says_how_long_it_waited() {
    let mut clock = VirtualClock::new();
    let mut jb = started(&mut clock, 0);
    assert_eq!(
        jb.played_wait(),
        Some(Duration::from_millis(40)),
        "the first packet waited out the start-up delay"
    );
    // Packet 1 arrived with packet 0; it plays 20 ms later, 60 ms after it arrived.
    clock.advance(Duration::from_millis(20));
    assert!(matches!(jb.pop(clock.now()), Playout::Packet { .. }));
    assert_eq!(jb.played_wait(), Some(Duration::from_millis(60)));
    // Nothing to play: no wait to report.
    clock.advance(Duration::from_millis(20));
    assert_eq!(jb.pop(clock.now()), Playout::Expand);
    assert_eq!(jb.played_wait(), None);
}

/// A steady stream at `level` (−dBov) that is held up once (two frames released together
/// with the third: the buffer stretches) and then runs on for 5 s: frames stretched, and how
/// many pops after the stall began the buffer first shed a frame.
fn shed_after_a_stall(level: u8) -> (u64, Option<usize>) {
    let mut clock = VirtualClock::new();
    let origin = clock.now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let at = |n: u32| origin + Duration::from_millis(20 * u64::from(n) + 5);
    let mut first_shed = None;
    for n in 0..300u32 {
        // Frames 50 and 51 are held up until frame 52's time.
        let arrival = if (50..52).contains(&n) { at(52) } else { at(n) };
        let mut p = packet(n as u16, n * 960);
        p.level = Some(level);
        // Insert everything due by this tick (arrival order), then pop.
        let tick = origin + Duration::from_millis(20 * u64::from(n) + 20);
        clock.advance(tick.saturating_duration_since(clock.now()));
        if arrival <= tick {
            jb.insert(p, arrival);
        }
        if n == 52 {
            for late in 50..52u32 {
                let mut p = packet(late as u16, late * 960);
                p.level = Some(level);
                jb.insert(p, at(52));
            }
        }
        let before = jb.stats().accelerated;
        jb.pop(clock.now());
        if jb.stats().accelerated > before && first_shed.is_none() && n >= 50 {
            first_shed = Some(n as usize - 50);
        }
    }
    (jb.stats().expanded, first_shed)
}

#[test]
fn a_frame_too_many_is_shed_at_silence_then_at_a_quiet_frame_never_from_loud_speech() {
    let (stretched, silent) = shed_after_a_stall(60);
    let (_, quiet) = shed_after_a_stall(40);
    let (_, loud) = shed_after_a_stall(20);
    println!(
        "stretched {stretched}; shed after: silent {silent:?}, quiet {quiet:?}, loud {loud:?} pops"
    );
    assert!(stretched >= 1, "the stall stretched");
    let silent = silent.expect("silence: a frame is shed");
    assert!(silent <= 5, "silence: shed as soon as the stall is over");
    let quiet = quiet.expect("quiet speech: a frame is shed");
    assert!(
        (silent + 45..=silent + 60).contains(&quiet),
        "quiet speech: about a second later"
    );
    assert_eq!(loud, None, "loud speech is never cut");
}
