//! [`PacketInbox`]: audio packets on their way to one media thread, handed over without
//! waking it.
//!
//! A room only needs its packets by its next tick, and each packet carries the instant it
//! arrived, so nothing is gained by waking the media thread for every one: in a 350-party
//! room the DTX packets of the silent majority alone came to ~900 wake-ups a second, each
//! a futex call on the I/O thread and a context switch on the media thread. The thread takes
//! the whole inbox at the start of each round instead. Only a thread asleep with no room to
//! tick (no deadline to wake it) is woken, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use confab_transport::jitter::AudioPacket;

use crate::SourceId;

/// One packet for room `room`.
pub(crate) type Queued = (u64, SourceId, AudioPacket, Instant);

/// The inbox itself, shared by the media thread and every handle to its rooms.
#[derive(Debug)]
pub(crate) struct PacketInbox {
    packets: Mutex<Vec<Queued>>,
    capacity: usize,
    /// The thread is about to wait, or waits, for a command with no deadline.
    sleeping: AtomicBool,
}

/// What [`PacketInbox::push`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the thread will take it at its next round.
    Queued,
    /// Queued, but the thread sleeps without a deadline: wake it.
    WakeThread,
    /// The inbox is full: dropped, like a packet lost on the way.
    Full,
}

impl PacketInbox {
    /// An inbox that holds at most `capacity` packets between two rounds.
    pub(crate) fn new(capacity: usize) -> Self {
        PacketInbox {
            packets: Mutex::new(Vec::with_capacity(capacity.min(1024))),
            capacity,
            sleeping: AtomicBool::new(false),
        }
    }

    /// Queues one packet (never blocks for longer than the thread's swap of the vector).
    pub(crate) fn push(&self, packet: Queued) -> Pushed {
        {
            let mut packets = self.packets.lock().unwrap_or_else(PoisonError::into_inner);
            if packets.len() >= self.capacity {
                return Pushed::Full;
            }
            packets.push(packet);
        }
        // SeqCst pairs with `may_sleep`: either the thread sees this packet before it
        // sleeps, or this sees it asleep.
        if self.sleeping.load(Ordering::SeqCst) {
            Pushed::WakeThread
        } else {
            Pushed::Queued
        }
    }

    /// Moves everything queued into `into` (emptied first; its capacity is reused).
    pub(crate) fn take(&self, into: &mut Vec<Queued>) {
        into.clear();
        let mut packets = self.packets.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *packets, into);
    }

    /// The thread is about to wait with no deadline. Returns false (and stays awake) when
    /// packets are already waiting; otherwise every later push asks for a wake-up until
    /// [`awake`](PacketInbox::awake).
    pub(crate) fn may_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        let empty = self
            .packets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        if !empty {
            self.sleeping.store(false, Ordering::SeqCst);
        }
        empty
    }

    /// The thread is awake again.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant to stamp packets with
mod tests {
    use super::*;

    fn packet(room: u64) -> Queued {
        (
            room,
            SourceId(1),
            AudioPacket {
                seq: 0,
                timestamp: 0,
                payload: bytes::Bytes::new(),
                level: None,
            },
            Instant::now(),
        )
    }

    #[test]
    fn only_a_sleeping_thread_is_woken_and_a_full_inbox_drops() {
        let inbox = PacketInbox::new(2);
        assert_eq!(inbox.push(packet(1)), Pushed::Queued);
        // Packets are waiting: the thread does not go to sleep.
        assert!(!inbox.may_sleep());
        assert_eq!(inbox.push(packet(2)), Pushed::Queued);
        assert_eq!(inbox.push(packet(3)), Pushed::Full);
        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert_eq!(taken.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2]);
        // Empty: the thread sleeps, and the next packet asks for it to be woken.
        assert!(inbox.may_sleep());
        assert_eq!(inbox.push(packet(4)), Pushed::WakeThread);
        inbox.awake();
        assert_eq!(inbox.push(packet(5)), Pushed::Queued);
        inbox.take(&mut taken);
        assert_eq!(taken.iter().map(|p| p.0).collect::<Vec<_>>(), [4, 5]);
    }
}
