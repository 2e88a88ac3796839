//! One outgoing RTP stream of a peer connection: its sender, SSRC and numbering, including
//! how forwarded packets are renumbered into it.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::rtp_transceiver::RTCRtpSenderId;

use super::layout::Section;

/// State of one outgoing stream.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) sender: RTCRtpSenderId,
    pub(super) ssrc: u32,
    pub(super) seq: u16,
    /// Negotiated payload type and audio-level extension id, read once after negotiation.
    pub(super) negotiated: Option<(u8, Option<u8>)>,
    /// For forwarded media: the RTP timestamp of the last packet sent, the offset added to
    /// the current source's timestamps, and when that packet went.
    pub(super) forwarded: Option<(u32, u32, Instant)>,
    /// For forwarded media: the offset added to the current source's sequence numbers, so
    /// its gaps (losses upstream) stay gaps for the receiver.
    pub(super) seq_offset: u16,
    /// For forwarded media: the current source's most recent packets that were left out on
    /// purpose (padding-only bandwidth probes), newest last. Each one lowered `seq_offset`
    /// so that it leaves no gap; a packet older than one of them, arriving late, gets that
    /// one back.
    skipped: VecDeque<u16>,
    /// The fraction lost in the remote's latest reception report about this stream.
    pub(super) reported_loss: Option<f64>,
    /// Whether a packet of this stream went through webrtc-rs's sender (then it never takes
    /// the lean path: one SSRC, one SRTP context).
    pub(super) via_core: bool,
    /// What went out on the lean path, for this stream's sender reports.
    pub(super) lean_sent: LeanSent,
    /// Simulcast: each layer's RID, SSRC and next sequence number, smallest first (empty
    /// without simulcast).
    pub(super) layers: Vec<SendLayer>,
    /// The extension and CSRC lists of the last header the lean path sealed, kept for the
    /// next packet's header.
    pub(super) spare_extensions: Vec<rtc::rtp::header::Extension>,
    pub(super) spare_csrc: Vec<u32>,
}

/// One simulcast layer this side sends.
#[derive(Debug, Clone)]
pub(super) struct SendLayer {
    pub(super) rid: String,
    pub(super) ssrc: u32,
    pub(super) seq: u16,
}

/// Counts of a stream's lean packets, as an RTCP sender report states them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct LeanSent {
    pub(super) packets: u32,
    pub(super) octets: u32,
    /// The latest packet's RTP timestamp and when it went.
    pub(super) last: Option<(u32, Instant)>,
}

impl LeanSent {
    pub(super) fn note(&mut self, timestamp: u32, payload_len: usize, now: Instant) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last = Some((timestamp, now));
    }
}

impl Outgoing {
    pub(super) fn new(sender: RTCRtpSenderId, ssrc: u32) -> Outgoing {
        Outgoing {
            sender,
            ssrc,
            seq: (ssrc >> 16) as u16,
            negotiated: None,
            forwarded: None,
            seq_offset: 0,
            skipped: VecDeque::new(),
            reported_loss: None,
            via_core: false,
            lean_sent: LeanSent::default(),
            layers: Vec::new(),
            spare_extensions: Vec::new(),
            spare_csrc: Vec::new(),
        }
    }

    /// The header of a forwarded packet whose source numbered it `source_seq`: shifted into
    /// this stream's numbering, so its gaps stay gaps; a new source continues after the
    /// highest number sent.
    pub(super) fn forwarded_header(
        &mut self,
        payload_type: u8,
        source_seq: u16,
        new_source: bool,
        timestamp: u32,
        marker: bool,
    ) -> rtc::rtp::Header {
        if new_source || self.forwarded.is_none() {
            self.seq_offset = self.seq.wrapping_sub(source_seq);
            self.skipped.clear();
        }
        let skipped_after = self
            .skipped
            .iter()
            .filter(|&&s| (s.wrapping_sub(source_seq) as i16) > 0)
            .count() as u16;
        let seq = source_seq
            .wrapping_add(self.seq_offset)
            .wrapping_add(skipped_after);
        // `self.seq` stays one past the highest number sent (a late packet does not move it).
        if (seq.wrapping_sub(self.seq) as i16) >= 0 {
            self.seq = seq.wrapping_add(1);
        }
        rtc::rtp::Header {
            version: 2,
            marker,
            payload_type,
            sequence_number: seq,
            timestamp,
            ssrc: self.ssrc,
            ..Default::default()
        }
    }

    /// The current source's packet `source_seq` is left out on purpose (padding, no media):
    /// the packets after it close up, so the receiver sees no loss where there was none.
    pub(super) fn skip_forwarded(&mut self, source_seq: u16) {
        /// Skips remembered for late packets; older ones stay applied.
        const REMEMBERED: usize = 64;
        if self.forwarded.is_none() || self.skipped.contains(&source_seq) {
            return;
        }
        self.seq_offset = self.seq_offset.wrapping_sub(1);
        self.skipped.push_back(source_seq);
        if self.skipped.len() > REMEMBERED {
            self.skipped.pop_front();
        }
    }

    /// The header of the stream's next packet (takes a sequence number).
    pub(super) fn next_header(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
    ) -> rtc::rtp::Header {
        let header = rtc::rtp::Header {
            version: 2,
            marker,
            payload_type,
            sequence_number: self.seq,
            timestamp,
            ssrc: self.ssrc,
            ..Default::default()
        };
        self.seq = self.seq.wrapping_add(1);
        header
    }
}

/// A peer's outgoing streams by section. A handful per peer, looked up for every packet
/// sent: a linear scan of a short vector beats hashing the section each time.
#[derive(Debug, Default)]
pub(super) struct Streams(Vec<(Section, Outgoing)>);

impl Streams {
    pub(super) fn insert(&mut self, section: Section, out: Outgoing) {
        match self.get_mut(&section) {
            Some(existing) => *existing = out,
            None => self.0.push((section, out)),
        }
    }

    pub(super) fn get(&self, section: &Section) -> Option<&Outgoing> {
        self.0.iter().find(|(s, _)| s == section).map(|(_, o)| o)
    }

    pub(super) fn get_mut(&mut self, section: &Section) -> Option<&mut Outgoing> {
        self.0
            .iter_mut()
            .find(|(s, _)| s == section)
            .map(|(_, o)| o)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Section, &Outgoing)> {
        self.0.iter().map(|(s, o)| (s, o))
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Outgoing> {
        self.0.iter_mut().map(|(_, o)| o)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the instant a packet went does not matter here
mod tests {
    use super::*;

    fn forwarded(out: &mut Outgoing, seq: u16) -> u16 {
        let new_source = out.forwarded.is_none();
        let header = out.forwarded_header(96, seq, new_source, 0, false);
        out.forwarded = Some((0, 0, Instant::now()));
        header.sequence_number
    }

    #[test]
    fn padding_left_out_leaves_no_gap_and_losses_stay_gaps() {
        let mut out = Outgoing::new(RTCRtpSenderId::default(), 0x1234_5678);
        let first = forwarded(&mut out, 100);
        assert_eq!(forwarded(&mut out, 101), first.wrapping_add(1));
        // 102 and 103 are padding: left out, no gap.
        out.skip_forwarded(102);
        out.skip_forwarded(103);
        assert_eq!(forwarded(&mut out, 104), first.wrapping_add(2));
        // 105 is lost upstream: the gap stays.
        assert_eq!(forwarded(&mut out, 106), first.wrapping_add(4));
        // Padding 108, then 107 arrives late: it keeps its place before 109.
        out.skip_forwarded(108);
        assert_eq!(forwarded(&mut out, 107), first.wrapping_add(5));
        assert_eq!(forwarded(&mut out, 109), first.wrapping_add(6));
    }

    #[test]
    fn skips_before_anything_was_forwarded_change_nothing() {
        let mut out = Outgoing::new(RTCRtpSenderId::default(), 7);
        out.skip_forwarded(5);
        let first = forwarded(&mut out, 6);
        assert_eq!(forwarded(&mut out, 7), first.wrapping_add(1));
    }
}
