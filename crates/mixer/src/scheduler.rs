//! [`MediaScheduler`]: dedicated media threads (never tokio workers) that tick many rooms on
//! a 20 ms deadline, count overruns, and park idle rooms so they cost nothing.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The tick period.
pub const TICK: Duration = Duration::from_millis(20);

/// Something the scheduler ticks: a room.
pub trait Tick: Send + 'static {
    /// Runs one 20 ms tick at (virtual) deadline `now`.
    fn tick(&mut self, now: Instant);
    /// Whether the room has nothing to do (it is then parked until woken).
    fn is_idle(&self) -> bool;
    /// The room as `Any`, so handles can reach their concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl Tick for crate::AudioMixer {
    fn tick(&mut self, now: Instant) {
        if let Err(e) = crate::AudioMixer::tick(self, now) {
            tracing::error!("mixer tick failed: {e}");
        }
    }

    fn is_idle(&self) -> bool {
        crate::AudioMixer::is_idle(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

type Job = Box<dyn FnOnce(&mut dyn Tick) + Send>;

enum Command {
    Add(u64, Box<dyn Tick>),
    Run(u64, Job),
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
}

/// A snapshot of the scheduler's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Room ticks run.
    pub ticks: u64,
    /// Rounds (all of a thread's rooms) that finished after their 20 ms deadline had passed.
    pub overruns: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Mean room tick, in nanoseconds.
    pub mean_tick_nanos: u64,
    /// Longest room tick, in nanoseconds.
    pub max_tick_nanos: u64,
}

struct Worker {
    commands: SyncSender<Command>,
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
    /// Starts `threads` media threads, each with a command queue of `queue` entries.
    pub fn new(threads: usize, queue: usize) -> Self {
        let counters = Arc::new(Counters::default());
        let workers = (0..threads.max(1))
            .map(|i| {
                let (commands, rx) = mpsc::sync_channel(queue.max(16));
                let rooms = Arc::new(AtomicUsize::new(0));
                let (c, r) = (counters.clone(), rooms.clone());
                let thread = thread::Builder::new()
                    .name(format!("confab-media-{i}"))
                    .spawn(move || run(&rx, &c, &r))
                    .ok();
                Worker {
                    commands,
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

/// One media thread: runs due rounds, applies commands in between, sleeps otherwise.
#[allow(clippy::disallowed_methods)] // the scheduler is the driver: it reads the clock
fn run(rx: &mpsc::Receiver<Command>, counters: &Counters, load: &AtomicUsize) {
    let mut active: Vec<(u64, Box<dyn Tick>)> = Vec::new();
    let mut parked: Vec<(u64, Box<dyn Tick>)> = Vec::new();
    let mut deadline = Instant::now() + TICK;
    loop {
        // Wait for the deadline, applying commands as they come; with nothing active,
        // block until a command arrives (idle rooms cost nothing).
        let command = if active.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        };
        match command {
            Ok(Command::Stop) => return,
            Ok(command) => {
                let was_idle = active.is_empty();
                apply(command, &mut active, &mut parked, load);
                if was_idle && !active.is_empty() {
                    deadline = Instant::now() + TICK;
                }
                if Instant::now() < deadline {
                    continue;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // A round: tick every active room for this deadline.
        for (_, room) in &mut active {
            let start = Instant::now();
            room.tick(deadline);
            let nanos = start.elapsed().as_nanos() as u64;
            counters.ticks.fetch_add(1, Ordering::Relaxed);
            counters.tick_nanos.fetch_add(nanos, Ordering::Relaxed);
            counters.max_tick_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
        counters.rounds.fetch_add(1, Ordering::Relaxed);
        let (still, idle): (Vec<_>, Vec<_>) = active.drain(..).partition(|(_, r)| !r.is_idle());
        active = still;
        parked.extend(idle);
        let now = Instant::now();
        if now > deadline + TICK {
            counters.overruns.fetch_add(1, Ordering::Relaxed);
        }
        deadline += TICK;
        if now > deadline + 5 * TICK {
            // Far behind (the machine stalled): skip the missed rounds instead of bursting.
            deadline = now + TICK;
        }
    }
}

fn apply(
    command: Command,
    active: &mut Vec<(u64, Box<dyn Tick>)>,
    parked: &mut Vec<(u64, Box<dyn Tick>)>,
    load: &AtomicUsize,
) {
    match command {
        Command::Add(id, room) => active.push((id, room)),
        Command::Run(id, job) => {
            if let Some(at) = parked.iter().position(|(i, _)| *i == id) {
                active.push(parked.swap_remove(at));
            }
            if let Some((_, room)) = active.iter_mut().find(|(i, _)| *i == id) {
                job(room.as_mut());
            }
        }
        Command::Remove(id) => {
            let before = active.len() + parked.len();
            active.retain(|(i, _)| *i != id);
            parked.retain(|(i, _)| *i != id);
            if active.len() + parked.len() < before {
                load.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Command::Stop => {}
    }
}
