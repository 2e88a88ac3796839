//! [`PeerTimers`]: when each of many peers next wants its timers run, and which are due,
//! without looking at every peer. The shared port's driver asks for the next deadline after
//! every datagram; a scan of every peer's deadline made that O(peers) per packet.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::server::{ByPeer, PeerId};

/// Each peer's next deadline, and a min-heap of them. A peer's deadline changes often (it
/// moves with what the peer hears), so the heap keeps superseded entries until they surface
/// and are recognised as stale against the map; it is rebuilt when they outnumber the live.
#[derive(Debug, Default)]
pub(super) struct PeerTimers {
    deadlines: ByPeer<Instant>,
    heap: BinaryHeap<Reverse<(Instant, PeerId)>>,
}

impl PeerTimers {
    /// Sets (or with `None`, clears) `id`'s next deadline.
    pub(super) fn set(&mut self, id: PeerId, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.deadlines.insert(id, at) != Some(at) {
                    self.heap.push(Reverse((at, id)));
                    if self.heap.len() > 2 * self.deadlines.len() + 64 {
                        self.rebuild();
                    }
                }
            }
            None => {
                self.deadlines.remove(&id);
            }
        }
    }

    /// The earliest deadline of any peer.
    pub(super) fn next(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes every peer whose deadline is at or before `now` into `due` (their deadlines
    /// cleared: running a peer's timers sets its next one).
    pub(super) fn take_due(&mut self, now: Instant, due: &mut Vec<PeerId>) {
        loop {
            self.drop_stale();
            match self.heap.peek() {
                Some(Reverse((at, id))) if *at <= now => {
                    due.push(*id);
                    self.deadlines.remove(id);
                    self.heap.pop();
                }
                _ => return,
            }
        }
    }

    /// Pops heap entries that no longer match their peer's deadline.
    fn drop_stale(&mut self) {
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if self.deadlines.get(id) == Some(at) {
                return;
            }
            self.heap.pop();
        }
    }

    fn rebuild(&mut self) {
        self.heap = self
            .deadlines
            .iter()
            .map(|(id, at)| Reverse((*at, *id)))
            .collect();
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn the_earliest_live_deadline_is_next_and_moved_ones_are_forgotten() {
        let t = Instant::now();
        let mut timers = PeerTimers::default();
        timers.set(PeerId(1), Some(ms(t, 50)));
        timers.set(PeerId(2), Some(ms(t, 20)));
        timers.set(PeerId(3), Some(ms(t, 30)));
        assert_eq!(timers.next(), Some(ms(t, 20)));
        // Peer 2 moves later, peer 3 is cleared: 50 is next.
        timers.set(PeerId(2), Some(ms(t, 70)));
        timers.set(PeerId(3), None);
        assert_eq!(timers.next(), Some(ms(t, 50)));
        let mut due = Vec::new();
        timers.take_due(ms(t, 60), &mut due);
        assert_eq!(due, vec![PeerId(1)]);
        assert_eq!(timers.next(), Some(ms(t, 70)));
        due.clear();
        timers.take_due(ms(t, 100), &mut due);
        assert_eq!(due, vec![PeerId(2)]);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn a_deadline_set_back_to_an_earlier_value_still_fires_once() {
        let t = Instant::now();
        let mut timers = PeerTimers::default();
        timers.set(PeerId(1), Some(ms(t, 10)));
        timers.set(PeerId(1), Some(ms(t, 40)));
        timers.set(PeerId(1), Some(ms(t, 10)));
        let mut due = Vec::new();
        timers.take_due(ms(t, 50), &mut due);
        assert_eq!(due, vec![PeerId(1)], "two heap entries, one live deadline");
    }

    #[test]
    fn deadlines_that_move_with_every_packet_do_not_grow_the_heap() {
        let t = Instant::now();
        let mut timers = PeerTimers::default();
        for packet in 0..100_000u64 {
            timers.set(PeerId(packet % 350), Some(ms(t, 30_000 + packet)));
        }
        assert!(timers.heap.len() <= 2 * 350 + 64, "{}", timers.heap.len());
        assert_eq!(timers.next(), Some(ms(t, 30_000 + 100_000 - 350)));
    }
}
