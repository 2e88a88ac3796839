//! Retransmissions (the NACK responder's resends) held to a share of the link: each lost
//! packet resent at most twice, and resends together at most three tenths of the
//! connection's bandwidth estimate per second, at least a packet's worth.
//!
//! The share was measured both ways. Unbounded, a receiver on a link at its limit asks again
//! for every resend the link drops, and the resends crowd out media and audio (Chromium
//! behind a 300 kbit/s link: 7,159 of 9,187 datagrams dropped in 15 s, a quarter of the audio
//! lost). At a tenth, a keyframe missing a few packets was repaired one resend at a time, and
//! Chromium, which for H.264 assembles no frame past a gap, showed nothing for up to 5 s. At
//! the whole estimate (libwebrtc's sender limit), a bot viewer's resends after a sudden cap
//! kept its 200 kbit/s link full and 2 % of its audio was lost after the step down; at three
//! tenths, none, and Chromium's longest freeze stayed at 0.4 s.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;

use super::bandwidth::EstimateCell;

/// The share of the estimate resends may take.
const SHARE: f64 = 0.3;
/// Resends may burst this long's worth of their share, and at least one full packet.
const BURST_SECONDS: f64 = 0.25;
const BURST_MIN_BYTES: f64 = 1500.0;
/// Resends of one packet at most (a resend can be lost too, on a link at its limit).
const RESENDS_PER_PACKET: u8 = 2;
/// Before any estimate: as if the link took this much.
const ASSUMED_BITS_PER_SECOND: f64 = 1_000_000.0;
/// Resent sequence numbers remembered per stream (a second's worth at high rates).
const REMEMBERED: usize = 512;

#[derive(Default)]
struct Stream {
    highest: Option<u16>,
    /// Recently resent sequence numbers and how often each went.
    resent: VecDeque<(u16, u8)>,
}

/// Drops resends beyond the budget, and second resends of one packet.
pub(crate) struct LimitRetransmissions {
    estimate: EstimateCell,
    streams: HashMap<u32, Stream>,
    /// Bytes resends may still take, and when that was last topped up.
    allowance: f64,
    topped_up: Option<Instant>,
    writes: VecDeque<TaggedPacket>,
    reads: VecDeque<TaggedPacket>,
}

impl LimitRetransmissions {
    pub(crate) fn new(estimate: EstimateCell) -> LimitRetransmissions {
        LimitRetransmissions {
            estimate,
            streams: HashMap::new(),
            allowance: 0.0,
            topped_up: None,
            writes: VecDeque::new(),
            reads: VecDeque::new(),
        }
    }

    /// Whether an outgoing RTP packet may go: new packets always, a resend if that packet
    /// was not resent too often yet and the allowance covers it.
    fn admits(&mut self, ssrc: u32, seq: u16, bytes: usize, now: Instant) -> bool {
        let stream = self.streams.entry(ssrc).or_default();
        let newer = stream
            .highest
            .is_none_or(|h| (seq.wrapping_sub(h) as i16) > 0);
        if newer {
            stream.highest = Some(seq);
            return true;
        }
        let earlier = stream.resent.iter().position(|(s, _)| *s == seq);
        if earlier.is_some_and(|i| stream.resent[i].1 >= RESENDS_PER_PACKET) {
            return false;
        }
        let rate = self
            .estimate
            .get()
            .map_or(ASSUMED_BITS_PER_SECOND, |b| b as f64)
            * SHARE
            / 8.0;
        let burst = (rate * BURST_SECONDS).max(BURST_MIN_BYTES);
        // Full at first; then topped up at the rate, up to the burst.
        self.allowance = match self.topped_up {
            Some(t) => self.allowance + rate * now.saturating_duration_since(t).as_secs_f64(),
            None => burst,
        }
        .min(burst);
        self.topped_up = Some(now);
        if self.allowance < bytes as f64 {
            return false;
        }
        self.allowance -= bytes as f64;
        match earlier {
            Some(i) => stream.resent[i].1 += 1,
            None => {
                stream.resent.push_back((seq, 1));
                if stream.resent.len() > REMEMBERED {
                    stream.resent.pop_front();
                }
            }
        }
        true
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for LimitRetransmissions {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
            if !self.admits(ssrc, seq, packet.marshal_size(), msg.now) {
                return Ok(());
            }
        }
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

impl Interceptor for LimitRetransmissions {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn new_packets_always_go_resends_twice_at_most_and_within_their_share() {
        // 333 kbit/s: resends 12,500 bytes/s, bursts of 3,125 (full at first).
        let mut limit = LimitRetransmissions::new(EstimateCell::fixed(333_334));
        let now = Instant::now();
        for seq in 0..100u16 {
            assert!(limit.admits(1, seq, 1000, now), "new packet {seq}");
        }
        assert!(limit.admits(1, 10, 1000, now), "a first resend");
        assert!(limit.admits(1, 10, 1000, now), "a second");
        assert!(limit.admits(1, 11, 1000, now));
        assert!(!limit.admits(1, 12, 1000, now), "the burst is spent");
        let later = now + Duration::from_millis(200);
        assert!(!limit.admits(1, 10, 1000, later), "never a third time");
        assert!(limit.admits(1, 12, 1000, later), "topped up");
        assert!(limit.admits(1, 100, 1000, later), "new packets never wait");
        assert!(
            limit.admits(2, 5, 1000, later),
            "each stream its own numbers"
        );
    }

    #[test]
    fn on_a_slow_link_a_full_packet_still_goes() {
        // 100 kbit/s: 3,750 bytes/s, a quarter second of it 937 bytes.
        let mut limit = LimitRetransmissions::new(EstimateCell::fixed(100_000));
        let now = Instant::now();
        assert!(limit.admits(1, 10, 1200, now));
        assert!(limit.admits(1, 9, 1200, now + Duration::from_secs(1)));
        assert!(!limit.admits(1, 8, 1200, now + Duration::from_secs(1)));
    }
}
