//! [`MediaScheduler`]: dedicated media threads (never tokio workers) that tick many rooms on
//! a 20 ms deadline, count overruns, and park idle rooms so they cost nothing. Each room
//! keeps its own deadline, which it may slide a little each tick to phase-align its ticks
//! with the voice it follows ([`Tick::phase_error_micros`], [`RoomClock`]).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use confab_transport::jitter::AudioPacket;

use crate::packet_inbox::{PacketInbox, Pushed, Queued};

/// The tick period.
pub const TICK: Duration = Duration::from_millis(20);

/// The most a room's tick moves per period when it phase-aligns (10 % of a period: the
/// listeners' jitter buffers see it as a little clock drift).
pub const MAX_RETIME: Duration = Duration::from_millis(2);

/// Phase errors below this are left alone (no wiggle on measurement noise).
const RETIME_DEADBAND_MICROS: i64 = 250;

/// A room's tick deadline: one period apart, slid a little each tick to phase-align with the
/// voice the room follows, and never more than a period away from the grid it started on.
/// Alignment only matters modulo a period, so every phase is reachable within that; without
/// that bound each change of the followed voice could leave the clock up to
/// half a period further off, and over minutes of speaker changes it walked away from real
/// time (a 5-minute 350-party run counted 70 % of the mix's packets more than 60 ms late
/// against its first ones, with none lost).
#[derive(Debug, Clone, Copy)]
pub struct RoomClock {
    deadline: Instant,
    /// How much earlier than its starting grid the room ticks now (µs; negative: later).
    offset_micros: i64,
}

impl RoomClock {
    /// A clock whose first tick is at `first`.
    pub fn new(first: Instant) -> RoomClock {
        RoomClock {
            deadline: first,
            offset_micros: 0,
        }
    }

    /// The next tick's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How far (µs) the ticks sit earlier than the grid the clock started on (negative:
    /// later); within ± a period, plus at most one [`MAX_RETIME`] step.
    pub fn offset_micros(&self) -> i64 {
        self.offset_micros
    }

    /// After a tick that came `phase_error` µs later than it needed (negative: earlier):
    /// the next deadline is one period on, moved by half the way to that phase, at most
    /// [`MAX_RETIME`] (the long way round only when the short one would leave the clock
    /// more than a period off its grid). A steady error is thus closed in a few ticks,
    /// measurement noise damped.
    pub fn advance(&mut self, phase_error: Option<i64>) {
        let max = MAX_RETIME.as_micros() as i64;
        let step = match phase_error {
            Some(e) if e.abs() >= RETIME_DEADBAND_MICROS => {
                // The short way while the clock stays within a period of its grid; past
                // that, the same phase the other way round (a frame's worth of jump, which
                // the jitter buffers absorb), so the clock never walks off.
                let direct = self.offset_micros + e;
                let period = TICK.as_micros() as i64;
                let target = if direct.abs() <= period {
                    direct
                } else {
                    fold_to_half_period(direct)
                };
                ((target - self.offset_micros) / 2).clamp(-max, max)
            }
            _ => 0,
        };
        self.offset_micros += step;
        let shift = Duration::from_micros(step.unsigned_abs());
        self.deadline = if step >= 0 {
            self.deadline + TICK - shift
        } else {
            self.deadline + TICK + shift
        };
    }

    /// Starts a new grid at `first` (after a stall whose missed ticks are skipped).
    pub fn restart(&mut self, first: Instant) {
        *self = RoomClock::new(first);
    }
}

/// `micros` moved by whole periods into [-½, +½) a period.
fn fold_to_half_period(micros: i64) -> i64 {
    let period = TICK.as_micros() as i64;
    (micros + period / 2).rem_euclid(period) - period / 2
}

/// Something the scheduler ticks: a room.
pub trait Tick: Send + 'static {
    /// Runs one 20 ms tick at (virtual) deadline `now`.
    fn tick(&mut self, now: Instant);
    /// Whether the room has nothing to do (it is then parked until woken).
    fn is_idle(&self) -> bool;
    /// After a tick: how much later (µs; negative: earlier) than needed it came for the
    /// stream the room follows. The scheduler moves the room's next deadline by part of it
    /// ([`RoomClock::advance`]). `None` (the default): keep the period.
    fn phase_error_micros(&self) -> Option<i64> {
        None
    }
    /// An audio packet of `source` that arrived at `now` (the I/O thread's hot path: sent
    /// as a typed command, no closure boxed per packet). The default drops it.
    fn packet(&mut self, source: crate::SourceId, packet: AudioPacket, now: Instant) {
        let _ = (source, packet, now);
    }
    /// The room as `Any`, so handles can reach their concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl Tick for crate::AudioMixer {
    fn tick(&mut self, now: Instant) {
        if let Err(e) = crate::AudioMixer::tick(self, now) {
            tracing::error!("mixer tick failed: {e}");
        }
    }

    fn packet(&mut self, source: crate::SourceId, packet: AudioPacket, now: Instant) {
        self.insert(source, packet, now);
    }

    fn is_idle(&self) -> bool {
        crate::AudioMixer::is_idle(self)
    }

    fn phase_error_micros(&self) -> Option<i64> {
        crate::AudioMixer::phase_error_micros(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

type Job = Box<dyn FnOnce(&mut dyn Tick) + Send>;

enum Command {
    Add(u64, Box<dyn Tick>),
    Run(u64, Job),
    /// Look at the packet inbox (sent only to a thread asleep with no deadline).
    Wake,
    Remove(u64),
    Stop,
}

/// Counters shared by all media threads.
#[derive(Debug, Default)]
struct Counters {
    ticks: AtomicU64,
    overruns: AtomicU64,
    tick_nanos: AtomicU64,
    max_tick_nanos: AtomicU64,
    rounds: AtomicU64,
    wakeups: AtomicU64,
}

/// A snapshot of the scheduler's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Room ticks run.
    pub ticks: u64,
    /// Room ticks that finished more than a period after their deadline.
    pub overruns: u64,
    /// Rounds run (wake-ups of a media thread that ticked at least one room).
    pub rounds: u64,
    /// Times a media thread stopped waiting (a deadline, a command or a packet's wake-up).
    pub wakeups: u64,
    /// Mean room tick, in nanoseconds.
    pub mean_tick_nanos: u64,
    /// Longest room tick, in nanoseconds.
    pub max_tick_nanos: u64,
}

struct Worker {
    commands: SyncSender<Command>,
    packets: Arc<PacketInbox>,
    rooms: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// Media threads that tick rooms. Rooms go to the thread with the fewest.
pub struct MediaScheduler {
    workers: Vec<Worker>,
    counters: Arc<Counters>,
    next_room: AtomicU64,
}

impl std::fmt::Debug for MediaScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaScheduler")
            .field("threads", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// A handle to a room on a media thread: runs closures on it there, never blocking the
/// media thread.
pub struct RoomHandle {
    id: u64,
    commands: SyncSender<Command>,
    packets: Arc<PacketInbox>,
}

impl std::fmt::Debug for RoomHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomHandle").field("id", &self.id).finish()
    }
}

/// The media thread's queue is full: the command was dropped (the caller decides whether
/// to retry; a slow room drops its own work, never the thread's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("media thread queue full or stopped")]
pub struct QueueFull;

impl RoomHandle {
    /// Runs `f` on the room on its media thread (and wakes it if parked). `R` must be the
    /// room's type; a mismatch is ignored.
    pub fn with<R: Tick>(&self, f: impl FnOnce(&mut R) + Send + 'static) -> Result<(), QueueFull> {
        let job: Job = Box::new(move |room: &mut dyn Tick| {
            if let Some(room) = room.as_any_mut().downcast_mut::<R>() {
                f(room);
            }
        });
        self.commands
            .try_send(Command::Run(self.id, job))
            .map_err(|e| match e {
                TrySendError::Full(_) | TrySendError::Disconnected(_) => QueueFull,
            })
    }

    /// Hands an audio packet to the room ([`Tick::packet`]) on its media thread without
    /// blocking, without allocating and (unless the thread sleeps with no room to tick)
    /// without waking it: the room gets it before its next tick. Dropped when the inbox is
    /// full, like a packet lost on the way.
    pub fn packet(
        &self,
        source: crate::SourceId,
        packet: AudioPacket,
        now: Instant,
    ) -> Result<(), QueueFull> {
        match self.packets.push((self.id, source, packet, now)) {
            Pushed::Queued => Ok(()),
            Pushed::WakeThread => {
                // A full command queue means the thread is busy anyway.
                let _ = self.commands.try_send(Command::Wake);
                Ok(())
            }
            Pushed::Full => Err(QueueFull),
        }
    }

    /// Like [`with`](RoomHandle::with), but waits for room in the queue instead of
    /// dropping `f`: for commands that must not be lost (membership, mute), which are rare;
    /// the media thread drains its queue every round.
    pub fn with_reliably<R: Tick>(
        &self,
        f: impl FnOnce(&mut R) + Send + 'static,
    ) -> Result<(), QueueFull> {
        let job: Job = Box::new(move |room: &mut dyn Tick| {
            if let Some(room) = room.as_any_mut().downcast_mut::<R>() {
                f(room);
            }
        });
        self.commands
            .send(Command::Run(self.id, job))
            .map_err(|_| QueueFull)
    }

    /// Removes the room from its thread (waiting for queue room: a removal is never lost).
    pub fn remove(self) {
        let _ = self.commands.send(Command::Remove(self.id));
    }
}

impl MediaScheduler {
    /// Starts `threads` media threads, each with a command queue and a packet inbox of
    /// `queue` entries.
    pub fn new(threads: usize, queue: usize) -> Self {
        let counters = Arc::new(Counters::default());
        let workers = (0..threads.max(1))
            .map(|i| {
                let (commands, rx) = mpsc::sync_channel(queue.max(16));
                let packets = Arc::new(PacketInbox::new(queue.max(16)));
                let rooms = Arc::new(AtomicUsize::new(0));
                let (c, r, p) = (counters.clone(), rooms.clone(), packets.clone());
                let thread = thread::Builder::new()
                    .name(format!("confab-media-{i}"))
                    .spawn(move || run(&rx, &p, &c, &r))
                    .ok();
                Worker {
                    commands,
                    packets,
                    rooms,
                    thread,
                }
            })
            .collect();
        MediaScheduler {
            workers,
            counters,
            next_room: AtomicU64::new(1),
        }
    }

    /// Places a room on the least loaded thread.
    pub fn add(&self, room: impl Tick) -> Result<RoomHandle, QueueFull> {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.rooms.load(Ordering::Relaxed))
            .ok_or(QueueFull)?;
        let id = self.next_room.fetch_add(1, Ordering::Relaxed);
        worker
            .commands
            .try_send(Command::Add(id, Box::new(room)))
            .map_err(|_| QueueFull)?;
        worker.rooms.fetch_add(1, Ordering::Relaxed);
        Ok(RoomHandle {
            id,
            commands: worker.commands.clone(),
            packets: worker.packets.clone(),
        })
    }

    /// Rooms per thread.
    pub fn rooms_per_thread(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.rooms.load(Ordering::Relaxed))
            .collect()
    }

    /// The counters so far.
    pub fn stats(&self) -> SchedulerStats {
        let c = &self.counters;
        let ticks = c.ticks.load(Ordering::Relaxed);
        SchedulerStats {
            ticks,
            overruns: c.overruns.load(Ordering::Relaxed),
            rounds: c.rounds.load(Ordering::Relaxed),
            wakeups: c.wakeups.load(Ordering::Relaxed),
            mean_tick_nanos: c.tick_nanos.load(Ordering::Relaxed) / ticks.max(1),
            max_tick_nanos: c.max_tick_nanos.load(Ordering::Relaxed),
        }
    }
}

impl Drop for MediaScheduler {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Handles may still hold senders: stop explicitly, then wait.
            let _ = w.commands.send(Command::Stop);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A room that ticks, with its own deadline.
struct Active {
    id: u64,
    room: Box<dyn Tick>,
    clock: RoomClock,
}

/// One media thread: ticks each room at its deadline, applies commands in between, takes
/// the packet inbox before each round, sleeps otherwise.
#[allow(clippy::disallowed_methods)] // the scheduler is the driver: it reads the clock
fn run(rx: &mpsc::Receiver<Command>, inbox: &PacketInbox, counters: &Counters, load: &AtomicUsize) {
    let mut active: Vec<Active> = Vec::new();
    let mut parked: Vec<(u64, Box<dyn Tick>)> = Vec::new();
    let mut packets: Vec<Queued> = Vec::new();
    loop {
        // Wait for the earliest deadline, applying commands as they come; with nothing
        // active, block until a command (or a packet's wake-up) arrives: idle rooms cost
        // nothing.
        let earliest = active.iter().map(|a| a.clock.deadline()).min();
        let command = match earliest {
            None if !inbox.may_sleep() => Ok(Command::Wake),
            None => {
                let command = rx.recv().map_err(|_| RecvTimeoutError::Disconnected);
                inbox.awake();
                command
            }
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        counters.wakeups.fetch_add(1, Ordering::Relaxed);
        match command {
            Ok(Command::Stop) => return,
            Ok(Command::Wake) => {
                if take_packets(rx, inbox, &mut packets, &mut active, &mut parked, load) {
                    return;
                }
                continue;
            }
            Ok(command) => {
                apply(command, &mut active, &mut parked, load);
                let due = active.iter().any(|a| a.clock.deadline() <= Instant::now());
                if !due {
                    continue;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // A round: the packets that came since the last, then every room whose deadline
        // has come.
        if take_packets(rx, inbox, &mut packets, &mut active, &mut parked, load) {
            return;
        }
        let now = Instant::now();
        for a in active.iter_mut().filter(|a| a.clock.deadline() <= now) {
            let start = Instant::now();
            let deadline = a.clock.deadline();
            a.room.tick(deadline);
            let end = Instant::now();
            let nanos = end.duration_since(start).as_nanos() as u64;
            counters.ticks.fetch_add(1, Ordering::Relaxed);
            counters.tick_nanos.fetch_add(nanos, Ordering::Relaxed);
            counters.max_tick_nanos.fetch_max(nanos, Ordering::Relaxed);
            if end > deadline + TICK {
                counters.overruns.fetch_add(1, Ordering::Relaxed);
            }
            a.clock.advance(a.room.phase_error_micros());
            if end > a.clock.deadline() + 5 * TICK {
                // Far behind (the machine stalled): skip the missed ticks, no burst.
                a.clock.restart(end + TICK);
            }
        }
        counters.rounds.fetch_add(1, Ordering::Relaxed);
        // Idle rooms to the parked list, in place (a round allocates nothing).
        let mut i = 0;
        while i < active.len() {
            if active[i].room.is_idle() {
                let a = active.swap_remove(i);
                parked.push((a.id, a.room));
            } else {
                i += 1;
            }
        }
    }
}

/// Hands the inbox's packets to their rooms (waking parked ones). The commands already
/// queued go first: a packet is pushed after the commands that made its room and source,
/// so taking the inbox before those commands, then applying it after them, keeps that
/// order. Returns true when a `Stop` was among the commands.
#[allow(clippy::disallowed_methods)] // the scheduler is the driver: it reads the clock
fn take_packets(
    rx: &mpsc::Receiver<Command>,
    inbox: &PacketInbox,
    packets: &mut Vec<Queued>,
    active: &mut Vec<Active>,
    parked: &mut Vec<(u64, Box<dyn Tick>)>,
    load: &AtomicUsize,
) -> bool {
    inbox.take(packets);
    while let Ok(command) = rx.try_recv() {
        if matches!(command, Command::Stop) {
            return true;
        }
        apply(command, active, parked, load);
    }
    for (id, source, packet, at) in packets.drain(..) {
        if let Some(a) = active.iter_mut().find(|a| a.id == id) {
            a.room.packet(source, packet, at);
        } else if let Some(i) = parked.iter().position(|(i, _)| *i == id) {
            let (id, mut room) = parked.swap_remove(i);
            room.packet(source, packet, at);
            active.push(Active {
                id,
                room,
                clock: RoomClock::new(Instant::now() + TICK),
            });
        }
    }
    false
}

#[allow(clippy::disallowed_methods)] // the scheduler is the driver: it reads the clock
fn apply(
    command: Command,
    active: &mut Vec<Active>,
    parked: &mut Vec<(u64, Box<dyn Tick>)>,
    load: &AtomicUsize,
) {
    let woken = |id, room| Active {
        id,
        room,
        clock: RoomClock::new(Instant::now() + TICK),
    };
    match command {
        Command::Add(id, room) => active.push(woken(id, room)),
        Command::Run(id, job) => {
            if let Some(at) = parked.iter().position(|(i, _)| *i == id) {
                let (id, room) = parked.swap_remove(at);
                active.push(woken(id, room));
            }
            if let Some(a) = active.iter_mut().find(|a| a.id == id) {
                job(a.room.as_mut());
            }
        }
        Command::Remove(id) => {
            let before = active.len() + parked.len();
            active.retain(|a| a.id != id);
            parked.retain(|(i, _)| *i != id);
            if active.len() + parked.len() < before {
                load.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Command::Wake | Command::Stop => {}
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real instant anchors each clock under test
mod clock_tests {
    use super::*;

    /// Followed voices that keep changing, each at its own phase: the clock aligns with
    /// each, but never strays more than a period (and one step) from its grid.
    #[test]
    fn a_clock_that_follows_changing_voices_stays_near_its_grid() {
        let start = Instant::now();
        let mut clock = RoomClock::new(start);
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut worst = 0i64;
        for change in 0..400u64 {
            // A new voice, at a phase anywhere in the period, followed for 2 s.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let voice_phase = (rng % 20_000) as i64;
            for _ in 0..100 {
                // The tick's phase on the voice's 20 ms grid, and how late that is, folded.
                let tick_phase = -clock.offset_micros();
                let error = fold_to_half_period(tick_phase - voice_phase);
                clock.advance(Some(error));
                worst = worst.max(clock.offset_micros().abs());
            }
            let settled = fold_to_half_period(-clock.offset_micros() - voice_phase).abs();
            assert!(
                settled < 1_000,
                "change {change}: {settled} µs off the voice"
            );
        }
        assert!(worst <= 20_000 + 2_000, "strayed {worst} µs from the grid");
        let elapsed = clock.deadline().duration_since(start).as_micros() as i64;
        let grid = 400 * 100 * TICK.as_micros() as i64;
        assert!(
            (elapsed - grid).abs() <= 22_000,
            "{} µs off real time",
            elapsed - grid
        );
    }

    #[test]
    fn a_steady_error_is_closed_in_a_few_ticks() {
        let mut clock = RoomClock::new(Instant::now());
        let mut error = 6_000i64;
        for _ in 0..10 {
            let before = clock.offset_micros();
            clock.advance(Some(error));
            error -= clock.offset_micros() - before;
        }
        assert!(error.abs() < RETIME_DEADBAND_MICROS * 2, "{error}");
        assert_eq!(clock.offset_micros(), 6_000 - error);
    }
}
