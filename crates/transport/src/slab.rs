//! Packet buffers carved from one allocation: the media path's answer to a heap allocation
//! per packet.
//!
//! A [`PacketSlab`] hands out each packet as a [`BytesMut`] or [`Bytes`] split off the front
//! of one shared buffer. Splitting only bumps a reference count; when the slab runs out, it
//! takes its buffer back in place if every packet cut from it has been dropped (the usual
//! case: a datagram lives until it is sent, an encoded mix until the tick's packets are
//! sealed), and allocates a fresh buffer only while some are still held. So a stream of
//! short-lived packets costs no allocation at all after the first, and long-lived ones cost
//! one allocation per slab, not per packet.
//!
//! Keep packets that live for seconds (retransmission stores) out of a slab: each one holds
//! its whole slab alive.

use bytes::{Bytes, BytesMut};

/// Packet buffers cut from one shared allocation (see the module docs).
#[derive(Debug)]
pub struct PacketSlab {
    buf: BytesMut,
    capacity: usize,
}

impl PacketSlab {
    /// A slab of `capacity` bytes (allocated on first use; at least one 1,500-byte packet).
    pub fn new(capacity: usize) -> Self {
        PacketSlab {
            buf: BytesMut::new(),
            capacity: capacity.max(1500),
        }
    }

    /// Makes sure the next `len` bytes fit without moving on. Call it where a batch of
    /// packets starts (a tick, a send round) and the last batch is known to be gone: the
    /// slab then takes its buffer back now, rather than run out halfway through the batch
    /// while some of it is still held.
    pub fn make_room(&mut self, len: usize) {
        if self.buf.capacity() < len {
            // Reclaims the whole buffer in place when nothing cut from it is alive.
            self.buf.reserve(len.max(self.capacity));
        }
    }

    /// Room for a packet of up to `len` bytes, empty, to write into; then
    /// [`take`](PacketSlab::take) it.
    pub fn writer(&mut self, len: usize) -> &mut BytesMut {
        debug_assert!(self.buf.is_empty(), "a packet was written but not taken");
        self.buf.clear();
        self.make_room(len);
        &mut self.buf
    }

    /// What was written since [`writer`](PacketSlab::writer), as its own buffer.
    pub fn take(&mut self) -> BytesMut {
        self.buf.split()
    }

    /// A copy of `data` cut from the slab.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        self.writer(data.len()).extend_from_slice(data);
        self.take().freeze()
    }
}

impl Default for PacketSlab {
    /// Room for about a hundred audio packets.
    fn default() -> Self {
        PacketSlab::new(16 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_independent_copies() {
        let mut slab = PacketSlab::new(4096);
        let a = slab.copy(b"first");
        let b = slab.copy(b"second packet");
        let w = slab.writer(3);
        w.extend_from_slice(b"abc");
        let c = slab.take();
        assert_eq!(&a[..], b"first");
        assert_eq!(&b[..], b"second packet");
        assert_eq!(&c[..], b"abc");
    }

    #[test]
    fn a_slab_whose_packets_were_dropped_is_reused_in_place() {
        let mut slab = PacketSlab::new(2048);
        let first = slab.copy(&[1; 100]);
        let start = first.as_ptr();
        drop(first);
        // Fill well past the capacity, dropping each packet at once.
        for n in 0..100u8 {
            let p = slab.copy(&[n; 700]);
            assert!(p.iter().all(|&x| x == n));
        }
        let again = slab.copy(&[9; 1400]);
        let base = start as usize;
        let at = again.as_ptr() as usize;
        assert!(
            at >= base && at < base + 4096,
            "the original allocation was reclaimed"
        );
    }

    #[test]
    fn room_made_before_a_batch_keeps_the_batch_in_one_buffer() {
        let mut slab = PacketSlab::new(2048);
        let mut base = None;
        for round in 0..50 {
            slab.make_room(1000);
            let batch: Vec<Bytes> = (0..4u8).map(|n| slab.copy(&[n; 200])).collect();
            let start = batch[0].as_ptr() as usize;
            let base = *base.get_or_insert(start);
            for p in &batch {
                let at = p.as_ptr() as usize;
                assert!(at >= base && at < base + 2048, "round {round}: one buffer");
            }
        }
    }

    #[test]
    fn held_packets_stay_intact_when_the_slab_moves_on() {
        let mut slab = PacketSlab::new(1500);
        let held: Vec<Bytes> = (0..20u8).map(|n| slab.copy(&[n; 500])).collect();
        for (n, p) in held.iter().enumerate() {
            assert!(p.iter().all(|&x| usize::from(x) == n), "packet {n}");
        }
    }
}
