//! The media scheduler on real threads and real time: rooms are ticked every 20 ms, spread
//! over threads, reached through handles without blocking; idle rooms are parked and cost
//! no ticks; no overruns on a lightly loaded machine.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confab_mixer::{MediaScheduler, Tick};

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
