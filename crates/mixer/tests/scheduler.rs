//! The media scheduler on real threads and real time: rooms are ticked every 20 ms, spread
//! over threads, reached through handles without blocking; idle rooms are parked and cost
//! no ticks; no overruns on a lightly loaded machine.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confab_mixer::{MediaScheduler, Tick};
use confab_transport::jitter::AudioPacket;

/// A room that counts its ticks and is idle when it has no members.
struct CountingRoom {
    members: usize,
    ticks: Arc<AtomicU64>,
    last: Option<Instant>,
    max_gap: Duration,
}

impl Tick for CountingRoom {
    fn tick(&mut self, now: Instant) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        if let Some(last) = self.last {
            self.max_gap = self.max_gap.max(now - last);
        }
        self.last = Some(now);
    }

    fn is_idle(&self) -> bool {
        self.members == 0
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
fn rooms_tick_every_20_ms_and_idle_rooms_are_parked() {
    let scheduler = MediaScheduler::new(2, 1024);
    let busy: Vec<Arc<AtomicU64>> = (0..6).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let idle = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for ticks in &busy {
        let room = CountingRoom {
            members: 3,
            ticks: ticks.clone(),
            last: None,
            max_gap: Duration::ZERO,
        };
        handles.push(scheduler.add(room).unwrap());
    }
    let parked = scheduler
        .add(CountingRoom {
            members: 0,
            ticks: idle.clone(),
            last: None,
            max_gap: Duration::ZERO,
        })
        .unwrap();
    assert_eq!(scheduler.rooms_per_thread().iter().sum::<usize>(), 7);
    assert!(
        scheduler.rooms_per_thread().iter().all(|&n| n >= 3),
        "spread over threads"
    );

    std::thread::sleep(Duration::from_millis(1000));
    let counts: Vec<u64> = busy.iter().map(|t| t.load(Ordering::Relaxed)).collect();
    println!(
        "ticks per busy room in 1 s: {counts:?}; idle room: {}; {:?}",
        idle.load(Ordering::Relaxed),
        scheduler.stats()
    );
    assert!(
        counts.iter().all(|&c| (45..=52).contains(&c)),
        "50 ticks a second: {counts:?}"
    );
    assert!(
        idle.load(Ordering::Relaxed) <= 1,
        "the idle room is parked after its first round"
    );

    // A handle wakes the parked room by giving it a member; it ticks from then on.
    parked
        .with(|room: &mut CountingRoom| room.members = 1)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let woken = idle.load(Ordering::Relaxed);
    assert!(
        (12..=17).contains(&woken),
        "woken room ticked {woken} times in 300 ms"
    );
    let stats = scheduler.stats();
    assert_eq!(stats.overruns, 0, "{stats:?}");
    // Gaps between ticks of one room stay at 20 ms.
    let (tx, rx) = std::sync::mpsc::channel();
    handles[0]
        .with(move |room: &mut CountingRoom| tx.send(room.max_gap).unwrap())
        .unwrap();
    let gap = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(
        gap,
        Duration::from_millis(20),
        "deadlines advance by exactly 20 ms"
    );
}

/// A room that wants its ticks 7 ms into each period of its own 20 ms grid and says how far
/// off each tick was.
struct PhasedRoom {
    origin: Instant,
    error: Option<i64>,
    ticks: Vec<Instant>,
}

impl Tick for PhasedRoom {
    fn tick(&mut self, now: Instant) {
        let into_period = (now.duration_since(self.origin).as_micros() % 20_000) as i64;
        let late = into_period - 7_000;
        self.error = Some(if late > 10_000 { late - 20_000 } else { late });
        self.ticks.push(now);
    }

    fn is_idle(&self) -> bool {
        false
    }

    fn phase_error_micros(&self) -> Option<i64> {
        self.error
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // real threads, real time: the room's grid starts now
fn a_room_that_reports_a_phase_error_is_moved_a_little_each_tick() {
    let scheduler = MediaScheduler::new(1, 64);
    let handle = scheduler
        .add(PhasedRoom {
            origin: Instant::now(),
            error: None,
            ticks: Vec::new(),
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let (tx, rx) = std::sync::mpsc::channel();
    handle
        .with(move |room: &mut PhasedRoom| tx.send((room.origin, room.ticks.clone())).unwrap())
        .unwrap();
    let (origin, ticks) = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    let gaps: Vec<Duration> = ticks.windows(2).map(|w| w[1] - w[0]).collect();
    let phase = |t: &Instant| t.duration_since(origin).as_micros() % 20_000;
    println!(
        "{} ticks; gaps {:?} … ; phases (µs) of the last five {:?}",
        ticks.len(),
        &gaps[..gaps.len().min(8)],
        ticks[ticks.len() - 5..]
            .iter()
            .map(phase)
            .collect::<Vec<_>>()
    );
    assert!(ticks.len() >= 20);
    assert!(
        gaps.iter()
            .all(|g| *g >= Duration::from_millis(18) && *g <= Duration::from_millis(22)),
        "a period moves by at most 2 ms"
    );
    assert!(
        ticks[ticks.len() - 5..]
            .iter()
            .all(|t| phase(t).abs_diff(7_000) <= 250),
        "the room's ticks settled 7 ms into its periods"
    );
}

/// A room that counts the packets it was given before each tick, idle once it has had 50
/// ticks without one.
#[derive(Default)]
struct ListeningRoom {
    arrived: Vec<Instant>,
    seen_by_tick: Vec<(Instant, usize)>,
    quiet_ticks: u32,
}

impl Tick for ListeningRoom {
    fn tick(&mut self, now: Instant) {
        let before = self.seen_by_tick.last().map_or(0, |(_, n)| *n);
        self.quiet_ticks = if self.arrived.len() > before {
            0
        } else {
            self.quiet_ticks + 1
        };
        self.seen_by_tick.push((now, self.arrived.len()));
    }

    fn packet(&mut self, _: confab_mixer::SourceId, _: AudioPacket, now: Instant) {
        self.arrived.push(now);
    }

    fn is_idle(&self) -> bool {
        self.quiet_ticks >= 50
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn audio(seq: u16) -> AudioPacket {
    AudioPacket {
        seq,
        timestamp: u32::from(seq) * 960,
        payload: bytes::Bytes::from_static(&[0xF8, 0xFF, 0xFE]),
        level: None,
    }
}

/// Packets reach their room by its next tick without waking the media thread for each
/// (500 packets a second cost no more wake-ups than the ticks themselves), and a packet for
/// a parked room on an otherwise idle thread still wakes it at once.
#[test]
#[allow(clippy::disallowed_methods)] // real threads, real time
fn packets_arrive_by_the_next_tick_without_a_wake_up_each() {
    let scheduler = MediaScheduler::new(1, 1024);
    let room = scheduler.add(ListeningRoom::default()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = scheduler.stats();
    let sent: Vec<Instant> = (0..500u16)
        .map(|seq| {
            let at = Instant::now();
            room.packet(confab_mixer::SourceId(1), audio(seq), at)
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
            at
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let after = scheduler.stats();
    let (tx, rx) = std::sync::mpsc::channel();
    room.with(move |r: &mut ListeningRoom| tx.send(r.seen_by_tick.clone()).unwrap())
        .unwrap();
    let seen_by_tick = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    let (ticks, wakeups) = (after.ticks - before.ticks, after.wakeups - before.wakeups);
    println!(
        "{} packets over {ticks} ticks: {wakeups} wake-ups",
        sent.len()
    );
    assert!(
        wakeups <= ticks + 5,
        "{wakeups} wake-ups for {ticks} ticks and 500 packets"
    );
    // Every packet was in its room by the first tick after it was sent...
    for (i, at) in sent.iter().enumerate() {
        let by = seen_by_tick
            .iter()
            .find(|(tick, _)| tick > at)
            .map(|(_, n)| *n);
        assert!(
            by.is_none_or(|n| n > i),
            "packet {i} missed the tick after it"
        );
    }
    // ... and all of them arrived.
    assert_eq!(seen_by_tick.last().unwrap().1, 500);

    // Quiet for 50 ticks: parked; the thread has nothing else and sleeps. A packet wakes it.
    std::thread::sleep(Duration::from_millis(1_300));
    let asleep = scheduler.stats();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(scheduler.stats().ticks, asleep.ticks, "parked, no ticks");
    let at = Instant::now();
    room.packet(confab_mixer::SourceId(1), audio(500), at)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (tx, rx) = std::sync::mpsc::channel();
    room.with(move |r: &mut ListeningRoom| tx.send(r.arrived.clone()).unwrap())
        .unwrap();
    let arrived = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(arrived.len(), 501, "the packet reached the parked room");
    assert!(scheduler.stats().ticks > asleep.ticks, "and it ticks again");
}
