//! Arrival-driven playout (`poll_arrived`), the bots' mode: frames come out the moment they
//! arrive, in order; a hole is waited for only until its deadline; pauses are not filled.

#![allow(clippy::unwrap_used)]

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

/// Timestamps and sequence numbers come out extended: the first cycle starts one wrap up.
const BASE: u64 = 1 << 32;
const SEQ_BASE: u64 = 1 << 16;

fn drain(jb: &mut JitterBuffer, clock: &VirtualClock) -> Vec<(u64, Playout)> {
    std::iter::from_fn(|| jb.poll_arrived(clock.now())).collect()
}

#[test]
fn each_packet_plays_the_moment_it_arrives() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert!(jb.poll_arrived(clock.now()).is_none(), "nothing yet");
    for i in 0..50u16 {
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        let out = drain(&mut jb, &clock);
        assert_eq!(out.len(), 1, "packet {i} at once, no start-up wait");
        assert_eq!(out[0].0, BASE + u64::from(i) * 960);
        assert!(matches!(out[0].1, Playout::Packet { seq, .. } if seq == SEQ_BASE + u64::from(i)));
        clock.advance(Duration::from_millis(20));
    }
    assert_eq!(jb.stats().lost(), 0);
}

#[test]
fn a_hole_waits_for_its_deadline_then_fec_recovers_it() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    for i in 0..10u16 {
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        drain(&mut jb, &clock);
        clock.advance(Duration::from_millis(20));
    }
    // Packet 10 never comes; 11 arrives on time (at 220 ms).
    assert!(
        jb.deadline().is_none(),
        "nothing overdue while nothing newer is here"
    );
    clock.advance(Duration::from_millis(20));
    jb.insert(packet(11, 11 * 960), clock.now());
    assert!(
        drain(&mut jb, &clock).is_empty(),
        "11 waits behind the hole"
    );
    // Packet 10 was due at 200 ms; a clean stream allows the minimum delay (40 ms) more.
    let deadline = jb.deadline().unwrap();
    assert_eq!(deadline - clock.now(), Duration::from_millis(20));
    clock.advance_to(deadline);
    let out = drain(&mut jb, &clock);
    assert_eq!(out.len(), 2);
    assert!(
        matches!(out[0], (t, Playout::RecoverFec { lost, .. }) if lost == SEQ_BASE + 10 && t == BASE + 10 * 960)
    );
    assert!(
        matches!(out[1], (t, Playout::Packet { seq, .. }) if seq == SEQ_BASE + 11 && t == BASE + 11 * 960)
    );
    // The missing packet arriving now is late, not played.
    jb.insert(packet(10, 10 * 960), clock.now());
    assert!(drain(&mut jb, &clock).is_empty());
    assert_eq!(jb.stats().late, 1);
}

#[test]
fn a_hole_whose_fec_carrier_is_late_too_waits_one_frame_more_for_it() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    for i in 0..10u16 {
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        drain(&mut jb, &clock);
        clock.advance(Duration::from_millis(20));
    }
    // 10 is lost; 11 (which carries 10's FEC) is delayed; 12 arrives on time at 240 ms.
    clock.advance(Duration::from_millis(40));
    jb.insert(packet(12, 12 * 960), clock.now());
    assert!(drain(&mut jb, &clock).is_empty());
    // 10 was due at 200 ms + 40 ms allowance; with 11 missing too, 20 ms more.
    let deadline = jb.deadline().unwrap();
    assert_eq!(deadline - clock.now(), Duration::from_millis(20));
    // 11 turns up 10 ms later: the deadline is 10's own again, already past.
    clock.advance(Duration::from_millis(10));
    jb.insert(packet(11, 11 * 960), clock.now());
    let out = drain(&mut jb, &clock);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        matches!(out[0].1, Playout::RecoverFec { lost, .. } if lost == SEQ_BASE + 10),
        "rebuilt from 11, not concealed: {:?}",
        out[0]
    );
    assert!(matches!(out[1].1, Playout::Packet { seq, .. } if seq == SEQ_BASE + 11));
    assert!(matches!(out[2].1, Playout::Packet { seq, .. } if seq == SEQ_BASE + 12));
    assert_eq!(jb.stats().concealed, 0);
}

#[test]
fn a_reordered_packet_inside_the_allowance_is_not_lost() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    for i in 0..5u16 {
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        drain(&mut jb, &clock);
        clock.advance(Duration::from_millis(20));
    }
    // 5 (due at 100 ms) is held up 25 ms; 6 arrives on time and overtakes it.
    clock.advance(Duration::from_millis(20));
    jb.insert(packet(6, 6 * 960), clock.now());
    assert!(drain(&mut jb, &clock).is_empty());
    clock.advance(Duration::from_millis(5));
    jb.insert(packet(5, 5 * 960), clock.now());
    let seqs: Vec<u64> = drain(&mut jb, &clock)
        .into_iter()
        .filter_map(|(_, p)| match p {
            Playout::Packet { seq, .. } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        seqs,
        vec![SEQ_BASE + 5, SEQ_BASE + 6],
        "both, in order, at once"
    );
    assert_eq!(jb.stats().lost(), 0);
}

#[test]
fn a_pause_is_waited_for_not_filled() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    for i in 0..5u16 {
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        drain(&mut jb, &clock);
        clock.advance(Duration::from_millis(20));
    }
    // The sender stops for a second: nothing to decide, no deadline, nothing stretched.
    assert!(jb.deadline().is_none());
    clock.advance(Duration::from_secs(1));
    assert!(drain(&mut jb, &clock).is_empty());
    // It resumes with the next sequence number, its timestamp a second later.
    jb.insert(packet(5, (5 + 50) * 960), clock.now());
    let out = drain(&mut jb, &clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, BASE + 55 * 960, "its timestamp tells the pause");
    let s = jb.stats();
    assert_eq!((s.expanded, s.concealed, s.dtx), (0, 0, 0));
}

#[test]
fn under_jitter_the_allowance_grows() {
    let mut clock = VirtualClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    // Every fifth packet 60 ms late.
    let mut at = Vec::new();
    for i in 0..100u16 {
        let late = if i % 5 == 3 { 60 } else { 0 };
        at.push((u64::from(i) * 20 + late, i));
    }
    at.sort();
    let start = clock.now();
    let mut lost_before = 0;
    for (ms, i) in at {
        clock.advance_to(start + Duration::from_millis(ms));
        jb.insert(packet(i, u32::from(i) * 960), clock.now());
        drain(&mut jb, &clock);
        if i == 50 {
            lost_before = jb.stats().lost();
        }
    }
    // Once the window has seen the jitter, late packets are waited for.
    assert_eq!(
        jb.stats().lost(),
        lost_before,
        "no losses after the first 50"
    );
    assert!(
        lost_before <= 2,
        "learns within a few late packets: {lost_before}"
    );
}

/// Through a network losing 10 % with 50 ms of jitter: every frame comes out once — played,
/// recovered or concealed — none waits more than the allowance past its time.
#[test]
fn ten_percent_loss_and_fifty_ms_jitter_lose_no_frame_slots() {
    use confab_testkit::{NetemConfig, NetworkEmulator};
    let mut clock = VirtualClock::new();
    let start = clock.now();
    let mut net = NetworkEmulator::new(
        NetemConfig {
            base_delay: Duration::from_millis(10),
            jitter: Duration::from_millis(50),
            loss: 0.1,
            ..NetemConfig::default()
        },
        3,
    );
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut out = Vec::new();
    for ms in 0..12_000u64 {
        let now = start + Duration::from_millis(ms);
        clock.advance_to(now);
        if ms % 20 == 0 && ms < 10_000 {
            let i = (ms / 20) as u16;
            net.send(now, packet(i, u32::from(i) * 960));
        }
        while let Some(p) = net.poll(now) {
            jb.insert(p, now);
        }
        for (ts, playout) in drain(&mut jb, &clock) {
            out.push((ms, (ts - BASE) / 960, playout));
        }
    }
    let frames: Vec<u64> = out.iter().map(|o| o.1).collect();
    let first = frames[0];
    assert_eq!(
        frames,
        (first..500).collect::<Vec<_>>(),
        "every frame once, in order"
    );
    let worst = out
        .iter()
        .map(|(ms, n, _)| *ms as i64 - (*n as i64 * 20 + 10))
        .max()
        .unwrap();
    assert!(worst <= 150, "worst wait past the fastest path: {worst} ms");
    println!("stats {:?}, worst {worst} ms", jb.stats());
}
