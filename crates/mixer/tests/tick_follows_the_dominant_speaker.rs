//! The media thread moves a room's 20 ms tick to just after the dominant speaker's packets
//! arrive (plus the jitter allowance), so the mix adds the allowance, not up to a frame
//! more for the phase between arrivals and ticks — and however jittered the speaker, the
//! mix's clock keeps pace with real time (whole frames of excess are dropped by the jitter
//! buffer, never taken out of the clock).
//!
//! Driven like the scheduler drives a room: each tick at its deadline, the next deadline
//! from [`RoomClock`] and the mixer's phase error; packets inserted at their arrival
//! times in between.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, RoomClock, TICK};
use confab_testkit::{Rng, VirtualClock, fixtures};

/// How a speaker's packets reach the service.
struct Network {
    /// Where in the room's initial 20 ms grid they land.
    phase: Duration,
    /// Uniform extra delay up to this.
    jitter_ms: u64,
    loss_per_mille: u64,
    /// Every this many frames the path stalls: six frames held, then released at once
    /// 40 ms after the last of them was due (0: never).
    stall_every: usize,
    seed: u64,
}

/// The frames that arrive and when, in arrival order.
fn arrivals(origin: Instant, frames: usize, net: &Network) -> Vec<(usize, Instant)> {
    let mut rng = Rng::new(net.seed);
    let due = |n: usize| origin + TICK * n as u32 + net.phase;
    let mut out = Vec::new();
    for n in 0..frames {
        if rng.next_u64() % 1000 < net.loss_per_mille {
            continue;
        }
        let jitter = Duration::from_micros(rng.next_u64() % (net.jitter_ms * 1000 + 1));
        let mut at = due(n) + jitter;
        if net.stall_every > 0 && n % net.stall_every < 6 {
            let released = due(n - n % net.stall_every + 5) + Duration::from_millis(40);
            at = at.max(released);
        }
        out.push((n, at));
    }
    out.sort_by_key(|&(_, at)| at);
    out
}

struct Run {
    /// How long each played packet waited, in ms, in order.
    waits_ms: Vec<f64>,
    /// Where the last tick fell against a fixed 20 ms grid from the first one (ms).
    clock_offset_ms: f64,
    lost: u64,
    expanded: u64,
}

/// Plays `ticks` ticks of a room with one speaker whose packets come as `arrivals` say.
fn run(ticks: usize, arrivals: &[(usize, Instant)], origin: Instant, aligned: bool) -> Run {
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut alice = Talker::speaker(1, fixtures::Speaker::Alice, 0);
    mixer.add_source(alice.id).unwrap();
    let packets: Vec<_> = (0..ticks + 50).map(|n| alice.packet(n)).collect();
    let first = origin + TICK;
    let mut clock = RoomClock::new(first);
    let mut next = arrivals.iter().peekable();
    let mut waits_ms = Vec::new();
    for _ in 0..ticks {
        let deadline = clock.deadline();
        while let Some(&&(n, at)) = next.peek()
            && at <= deadline
        {
            mixer.insert(alice.id, packets[n].clone(), at);
            next.next();
        }
        mixer.tick(deadline).unwrap();
        waits_ms.extend(
            mixer
                .played_waits()
                .iter()
                .map(|w| w.as_secs_f64() * 1000.0),
        );
        clock.advance(if aligned {
            mixer.phase_error_micros()
        } else {
            None
        });
    }
    let deadline = clock.deadline();
    let grid = first + TICK * ticks as u32;
    let clock_offset_ms = (deadline.duration_since(origin).as_secs_f64()
        - grid.duration_since(origin).as_secs_f64())
        * 1000.0;
    let stats = mixer.jitter_stats(alice.id).unwrap();
    Run {
        waits_ms,
        clock_offset_ms,
        lost: stats.lost(),
        expanded: stats.expanded,
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn the_tick_moves_to_just_after_a_steady_speakers_packets() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    // Packets land 18 ms into each period of the room's initial grid, within 2 ms.
    let network = Network {
        phase: Duration::from_millis(18),
        jitter_ms: 2,
        loss_per_mille: 0,
        stall_every: 0,
        seed: 7,
    };
    let arrivals = arrivals(origin, 400, &network);
    let fixed = run(300, &arrivals, origin, false);
    let aligned = run(300, &arrivals, origin, true);
    // Judge the steady state: the last 200 frames.
    let steady = |r: &Run| r.waits_ms[r.waits_ms.len() - 200..].to_vec();
    let (f, a) = (steady(&fixed), steady(&aligned));
    println!(
        "wait on a fixed grid p50 {:.1} / max {:.1} ms; aligned p50 {:.1} / max {:.1} ms; clock moved {:.1} ms",
        percentile(&f, 0.5),
        percentile(&f, 1.0),
        percentile(&a, 0.5),
        percentile(&a, 1.0),
        aligned.clock_offset_ms
    );
    // The allowance is 1.5 × the 2 ms jitter + 10 ms: on the fixed grid the phase adds 10.
    assert!(percentile(&f, 0.5) >= 20.0, "the fixed grid pays the phase");
    assert!(
        percentile(&a, 1.0) <= 16.0,
        "aligned, every packet waits about the allowance"
    );
    assert!(
        aligned.clock_offset_ms.abs() <= 10.5,
        "the tick moves by less than half a frame"
    );
    assert_eq!((aligned.lost, aligned.expanded), (0, 0), "nothing late");
}

#[test]
fn a_jittery_lossy_speaker_never_drags_the_mix_clock() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    // 60 s of 5 % loss and a stall every 6 s (between stalls the jitter estimate forgets
    // them and the tick follows the voice again): frames are lost, stretched over and shed
    // again, again and again.
    let network = Network {
        phase: Duration::from_millis(5),
        jitter_ms: 2,
        loss_per_mille: 50,
        stall_every: 300,
        seed: 11,
    };
    let arrivals = arrivals(origin, 3_100, &network);
    let aligned = run(3_000, &arrivals, origin, true);
    println!(
        "60 s at 5 % loss with stalls: clock moved {:.1} ms; {} lost, {} stretched; wait p50 {:.1} / p99 {:.1} ms",
        aligned.clock_offset_ms,
        aligned.lost,
        aligned.expanded,
        percentile(&aligned.waits_ms, 0.5),
        percentile(&aligned.waits_ms, 0.99),
    );
    assert!(
        aligned.expanded >= 10,
        "the scenario stretches (a frame each, 200 ms in all)"
    );
    // Each stretch is a frame of delay; had the clock taken them out, it would be that
    // far ahead by now. It follows the voice's phase (half a frame either way) and the
    // allowance while it is aligned (≤ 25 ms), no more.
    assert!(
        aligned.clock_offset_ms.abs() <= 30.0,
        "the mix clock kept pace with real time"
    );
}
