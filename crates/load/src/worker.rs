//! A media thread carrying many participants: one epoll (mio) over all their sockets, a
//! deadline heap for their timers and send clocks — no task per participant, no thread per
//! participant, no decoding unless a participant was asked to.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::participant::{Joining, Participant, Report};
use crate::payloads::Payloads;

const WAKER: Token = Token(usize::MAX);

/// A media thread's handle.
#[derive(Debug)]
pub(crate) struct Worker {
    joining: SyncSender<Joining>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    pub(crate) connected: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<Report>>,
}

impl Worker {
    pub(crate) fn start(name: String, payloads: Arc<Payloads>) -> std::io::Result<Worker> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (joining, inbox) = std::sync::mpsc::sync_channel(1024);
        let stop = Arc::new(AtomicBool::new(false));
        let connected = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, connected) = (stop.clone(), connected.clone());
            std::thread::Builder::new()
                .name(name)
                .spawn(move || run(poll, &inbox, &stop, &connected, &payloads))?
        };
        Ok(Worker {
            joining,
            waker,
            stop,
            connected,
            thread,
        })
    }

    /// Hands a negotiated participant to the thread.
    pub(crate) fn add(&self, participant: Joining) -> Result<(), String> {
        self.joining
            .send(participant)
            .map_err(|_| "media thread gone".to_string())?;
        self.waker.wake().map_err(|e| e.to_string())
    }

    /// Stops the thread and collects every participant's report.
    pub(crate) fn finish(self) -> Vec<Report> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        self.thread.join().unwrap_or_default()
    }
}

#[allow(clippy::disallowed_methods)] // a driver: it reads the clock
fn run(
    mut poll: Poll,
    inbox: &Receiver<Joining>,
    stop: &AtomicBool,
    connected: &AtomicUsize,
    payloads: &Arc<Payloads>,
) -> Vec<Report> {
    let mut participants: HashMap<usize, Participant> = HashMap::new();
    // (deadline, participant): min-heap by deadline; stale entries are skipped.
    let mut deadlines: BinaryHeap<std::cmp::Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut due: HashMap<usize, Instant> = HashMap::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    let mut counted = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let timeout = deadlines
            .peek()
            .map_or(Duration::from_millis(50), |d| {
                d.0.0.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        if let Err(e) = poll.poll(&mut events, Some(timeout))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            tracing::error!("poll: {e}");
            break;
        }
        while let Ok(joining) = inbox.try_recv() {
            let index = joining.index;
            match Participant::new(joining, payloads.clone()) {
                Ok(mut p) => {
                    if let Err(e) =
                        poll.registry()
                            .register(&mut p.socket, Token(index), Interest::READABLE)
                    {
                        tracing::warn!(index, "register: {e}");
                        continue;
                    }
                    let next = p.run(Instant::now());
                    due.insert(index, next);
                    deadlines.push(std::cmp::Reverse((next, index)));
                    participants.insert(index, p);
                }
                Err(e) => tracing::warn!(index, "participant: {e}"),
            }
        }
        for event in &events {
            let index = event.token().0;
            let Some(p) = participants.get_mut(&index) else {
                continue;
            };
            loop {
                match p.socket.recv_from(&mut buf) {
                    Ok((len, from)) => p.datagram(Instant::now(), from, &buf[..len]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            let next = p.run(Instant::now());
            if due.get(&index).is_none_or(|d| next < *d) {
                due.insert(index, next);
                deadlines.push(std::cmp::Reverse((next, index)));
            }
        }
        let now = Instant::now();
        while let Some(std::cmp::Reverse((at, index))) = deadlines.peek().copied() {
            if at > now {
                break;
            }
            deadlines.pop();
            if due.get(&index) != Some(&at) {
                continue; // superseded
            }
            let Some(p) = participants.get_mut(&index) else {
                continue;
            };
            let next = p.run(now);
            due.insert(index, next);
            deadlines.push(std::cmp::Reverse((next, index)));
            if p.connected() && counted.insert(index) {
                connected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let end = Instant::now();
    participants.into_values().map(|p| p.finish(end)).collect()
}
