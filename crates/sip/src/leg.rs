//! [`PlainRtpLeg`]: one phone's media, sans-IO — plain RTP to and from the far end's
//! address (learned from its first packet, for trunks behind NAT: symmetric RTP), audio
//! packets handed to the mixer, RFC 4733 DTMF read and written, loss counted, and a far
//! end that falls silent for too long reported.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use confab_transport::jitter::AudioPacket;

use crate::dtmf::{Digit, TelephoneEvent};
use crate::rtp::{RtpPacket, is_rtcp};
use crate::sdp::Negotiated;

/// Samples (8 kHz ticks) in one 20 ms frame.
const FRAME_TICKS: u32 = 160;
/// A sent digit sounds this long (in 20 ms frames)...
const TONE_FRAMES: u16 = 5;
/// ...and the next waits this long after it.
const GAP_FRAMES: u8 = 3;
/// The end of an event goes out three times (RFC 4733 §2.5.1.4).
const END_COPIES: usize = 3;
/// A received event whose end packet never came is reported after this long.
const EVENT_END_WAIT: Duration = Duration::from_secs(1);
/// The volume written in sent events (−10 dBm0).
const VOLUME: u8 = 10;

/// Where RTP is accepted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latching {
    /// From the first address that sends valid RTP, then only from it (symmetric RTP,
    /// "comedia": works through NAT).
    FirstSource,
    /// Only from the address the far end's SDP names.
    SdpOnly,
}

/// How a leg is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// What offer and answer agreed on.
    pub negotiated: Negotiated,
    /// Our SSRC.
    pub ssrc: u32,
    /// Our first sequence number and timestamp (random, RFC 3550 §5.1).
    pub initial_seq: u16,
    /// See `initial_seq`.
    pub initial_timestamp: u32,
    /// Nothing received for this long (while not on hold) reports [`LegEvent::Inactive`].
    pub inactivity: Duration,
    /// Where RTP is accepted from.
    pub latching: Latching,
}

/// What a leg reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// An audio packet of the negotiated codec, for the mixer.
    Audio(AudioPacket),
    /// The far end pressed a key.
    Dtmf {
        /// The key.
        digit: Digit,
        /// How long it was held, in milliseconds.
        duration_ms: u32,
    },
    /// Media comes from another address than the SDP said (NAT): replies go there now.
    Latched(SocketAddr),
    /// Nothing arrived for the inactivity time: the far end is gone.
    Inactive,
}

/// A leg's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets accepted from the far end (audio and events).
    pub received: u64,
    /// Packets the far end sent that never arrived (RFC 3550 A.3: expected − received).
    pub lost: u64,
    /// Audio packets handed on.
    pub audio_in: u64,
    /// Digits received.
    pub dtmf_in: u64,
    /// Packets sent.
    pub sent: u64,
    /// Digits sent.
    pub dtmf_out: u64,
    /// Datagrams refused: malformed, RTCP, unknown payload types, or from a stranger.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct IncomingEvent {
    timestamp: u32,
    event: u8,
    duration: u16,
    reported: bool,
    updated: Instant,
}

#[derive(Debug, Clone, Copy)]
struct OutgoingEvent {
    digit: Digit,
    timestamp: u32,
    frames: u16,
}

/// One phone's plain RTP. Sans-IO: feed it datagrams and the time, hand it one audio
/// payload per 20 ms to send, drain [`poll_transmit`](PlainRtpLeg::poll_transmit) and
/// [`poll_event`](PlainRtpLeg::poll_event).
#[derive(Debug)]
pub struct PlainRtpLeg {
    config: LegConfig,
    remote: SocketAddr,
    latched: bool,
    on_hold: bool,
    last_heard: Instant,
    inactive_reported: bool,
    /// Receive: the far end's SSRC, first and highest extended sequence numbers.
    their_ssrc: Option<u32>,
    base_seq: u64,
    highest_seq: u64,
    incoming_event: Option<IncomingEvent>,
    /// Send.
    seq: u16,
    timestamp: u32,
    digits: VecDeque<Digit>,
    outgoing_event: Option<OutgoingEvent>,
    gap: u8,
    stats: LegStats,
    events: VecDeque<LegEvent>,
    transmit: VecDeque<(SocketAddr, BytesMut)>,
}

/// The far end does not do RFC 4733: send digits another way (SIP INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the far end did not negotiate telephone-event")]
pub struct NoTelephoneEvents;

impl PlainRtpLeg {
    /// A leg sending to the address the far end's SDP gave.
    pub fn new(config: LegConfig, now: Instant) -> Self {
        PlainRtpLeg {
            remote: config.negotiated.remote,
            latched: false,
            on_hold: false,
            last_heard: now,
            inactive_reported: false,
            their_ssrc: None,
            base_seq: 0,
            highest_seq: 0,
            incoming_event: None,
            seq: config.initial_seq,
            timestamp: config.initial_timestamp,
            digits: VecDeque::new(),
            outgoing_event: None,
            gap: 0,
            stats: LegStats::default(),
            events: VecDeque::new(),
            transmit: VecDeque::new(),
            config,
        }
    }

    /// Where media goes now.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The negotiated media.
    pub fn negotiated(&self) -> &Negotiated {
        &self.config.negotiated
    }

    /// Counters so far.
    pub fn stats(&self) -> LegStats {
        self.stats
    }

    /// A new offer/answer in the dialog (re-INVITE): new address, codec or direction.
    pub fn renegotiate(&mut self, negotiated: Negotiated, now: Instant) {
        if negotiated.remote != self.config.negotiated.remote {
            self.remote = negotiated.remote;
            self.latched = false;
        }
        self.config.negotiated = negotiated;
        self.last_heard = now;
        self.inactive_reported = false;
    }

    /// On hold the far end may send nothing; the inactivity check waits.
    pub fn set_on_hold(&mut self, on_hold: bool, now: Instant) {
        self.on_hold = on_hold;
        self.last_heard = now;
        self.inactive_reported = false;
    }

    /// A datagram arrived on the leg's port.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if is_rtcp(data) {
            self.stats.dropped += 1;
            return;
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            self.stats.dropped += 1;
            return;
        };
        let negotiated = self.config.negotiated;
        let is_audio = packet.payload_type == negotiated.payload_type;
        let is_event = Some(packet.payload_type) == negotiated.telephone_event;
        if !is_audio && !is_event {
            self.stats.dropped += 1;
            return;
        }
        if from != self.remote {
            let may_latch = self.config.latching == Latching::FirstSource && !self.latched;
            if !may_latch {
                self.stats.dropped += 1;
                return;
            }
            self.remote = from;
            self.events.push_back(LegEvent::Latched(from));
        }
        self.latched = true;
        self.last_heard = now;
        self.inactive_reported = false;
        self.count(&packet);
        if is_audio {
            self.stats.audio_in += 1;
            self.events.push_back(LegEvent::Audio(AudioPacket {
                seq: packet.seq,
                timestamp: packet.timestamp,
                payload: packet.payload,
                level: None,
            }));
        } else if let Some(event) = TelephoneEvent::parse(&packet.payload) {
            self.event_in(packet.timestamp, event, now);
        }
    }

    /// RFC 3550 A.1: extended sequence numbers, restarted on a new SSRC.
    fn count(&mut self, packet: &RtpPacket) {
        self.stats.received += 1;
        if self.their_ssrc != Some(packet.ssrc) {
            self.their_ssrc = Some(packet.ssrc);
            self.base_seq = u64::from(packet.seq);
            self.highest_seq = self.base_seq;
            self.stats.received = 1;
            self.stats.lost = 0;
            return;
        }
        let cycle = self.highest_seq & !0xFFFF;
        let mut candidate = cycle | u64::from(packet.seq);
        // Pick the cycle that puts the packet nearest the highest seen.
        if candidate + 0x8000 < self.highest_seq {
            candidate += 0x1_0000;
        } else if candidate > self.highest_seq + 0x8000 && candidate >= 0x1_0000 {
            candidate -= 0x1_0000;
        }
        self.highest_seq = self.highest_seq.max(candidate);
        let expected = self.highest_seq - self.base_seq + 1;
        self.stats.lost = expected.saturating_sub(self.stats.received);
    }

    /// An RFC 4733 packet: each event (one timestamp) is reported once, at its end.
    fn event_in(&mut self, timestamp: u32, event: TelephoneEvent, now: Instant) {
        match &mut self.incoming_event {
            Some(current) if current.timestamp == timestamp => {
                current.duration = current.duration.max(event.duration);
                current.updated = now;
            }
            _ => {
                self.flush_event();
                self.incoming_event = Some(IncomingEvent {
                    timestamp,
                    event: event.event,
                    duration: event.duration,
                    reported: false,
                    updated: now,
                });
            }
        }
        if event.end {
            self.flush_event();
        }
    }

    /// Reports the event under way, once.
    fn flush_event(&mut self) {
        let Some(current) = &mut self.incoming_event else {
            return;
        };
        if current.reported {
            return;
        }
        current.reported = true;
        if let Some(digit) = Digit::from_event(current.event) {
            self.stats.dtmf_in += 1;
            self.events.push_back(LegEvent::Dtmf {
                digit,
                duration_ms: u32::from(current.duration) / 8,
            });
        }
    }

    /// Queues digits to send as RFC 4733 events, in the place of audio frames.
    pub fn send_dtmf(&mut self, digits: &[Digit]) -> Result<(), NoTelephoneEvents> {
        if self.config.negotiated.telephone_event.is_none() {
            return Err(NoTelephoneEvents);
        }
        self.digits.extend(digits.iter().copied());
        Ok(())
    }

    /// Sends one 20 ms frame of audio (a G.711 payload) — or, while a digit sounds, the
    /// digit's event packet in its place. Call every 20 ms.
    pub fn send_audio(&mut self, payload: &[u8]) {
        let frame_start = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(FRAME_TICKS);
        if self.outgoing_event.is_none() && self.gap == 0 {
            if let Some(digit) = self.digits.pop_front() {
                self.outgoing_event = Some(OutgoingEvent {
                    digit,
                    timestamp: frame_start,
                    frames: 0,
                });
            }
        } else if self.gap > 0 {
            self.gap -= 1;
        }
        if let (Some(mut event), Some(pt)) =
            (self.outgoing_event, self.config.negotiated.telephone_event)
        {
            event.frames += 1;
            let end = event.frames >= TONE_FRAMES;
            let payload = TelephoneEvent {
                event: event.digit.event(),
                end,
                volume: VOLUME,
                duration: event.frames * FRAME_TICKS as u16,
            }
            .to_bytes();
            let copies = if end { END_COPIES } else { 1 };
            for _ in 0..copies {
                self.write(event.frames == 1, pt, event.timestamp, &payload);
            }
            if end {
                self.outgoing_event = None;
                self.gap = GAP_FRAMES;
                self.stats.dtmf_out += 1;
            } else {
                self.outgoing_event = Some(event);
            }
            return;
        }
        let pt = self.config.negotiated.payload_type;
        self.write(false, pt, frame_start, payload);
    }

    fn write(&mut self, marker: bool, payload_type: u8, timestamp: u32, payload: &[u8]) {
        let packet = RtpPacket {
            marker,
            payload_type,
            seq: self.seq,
            timestamp,
            ssrc: self.config.ssrc,
            payload: bytes::Bytes::copy_from_slice(payload),
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = BytesMut::with_capacity(12 + payload.len());
        packet.write(&mut out);
        self.stats.sent += 1;
        self.transmit.push_back((self.remote, out));
    }

    /// Whether digits are queued or sounding.
    pub fn sending_dtmf(&self) -> bool {
        self.outgoing_event.is_some() || !self.digits.is_empty()
    }

    /// Time passed: the far end's silence and unfinished events.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(current) = self.incoming_event
            && !current.reported
            && now.saturating_duration_since(current.updated) >= EVENT_END_WAIT
        {
            self.flush_event();
        }
        if !self.on_hold
            && !self.inactive_reported
            && now.saturating_duration_since(self.last_heard) >= self.config.inactivity
        {
            self.inactive_reported = true;
            self.events.push_back(LegEvent::Inactive);
        }
    }

    /// When [`handle_timeout`](PlainRtpLeg::handle_timeout) must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending_event = self
            .incoming_event
            .filter(|e| !e.reported)
            .map(|e| e.updated + EVENT_END_WAIT);
        let silence = (!self.on_hold && !self.inactive_reported)
            .then(|| self.last_heard + self.config.inactivity);
        pending_event.into_iter().chain(silence).min()
    }

    /// The next thing the leg reports.
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.transmit.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::Direction;
    use bytes::Bytes;
    use confab_codecs::AudioCodec;

    fn config(telephone_event: Option<u8>, latching: Latching) -> LegConfig {
        LegConfig {
            negotiated: Negotiated {
                codec: AudioCodec::Pcmu,
                payload_type: 0,
                telephone_event,
                remote: "192.0.2.1:4000".parse().unwrap(),
                remote_direction: Direction::SendRecv,
            },
            ssrc: 77,
            initial_seq: 65_534,
            initial_timestamp: 1000,
            inactivity: Duration::from_secs(10),
            latching,
        }
    }

    fn rtp(pt: u8, seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        RtpPacket {
            marker: false,
            payload_type: pt,
            seq,
            timestamp,
            ssrc: 5,
            payload: Bytes::copy_from_slice(payload),
        }
        .write(&mut out);
        out.to_vec()
    }

    fn drain(leg: &mut PlainRtpLeg) -> Vec<LegEvent> {
        std::iter::from_fn(|| leg.poll_event()).collect()
    }

    #[test]
    fn audio_in_latches_counts_loss_and_refuses_strangers() {
        let t0 = confab_testkit::VirtualClock::new().now();
        let mut leg = PlainRtpLeg::new(config(None, Latching::FirstSource), t0);
        let nat: SocketAddr = "203.0.113.9:61000".parse().unwrap();
        leg.handle_datagram(t0, nat, &rtp(0, 65_535, 0, &[0xFF; 160]));
        // Seq 0 and 2 arrive (wrapping), 1 is lost.
        leg.handle_datagram(t0, nat, &rtp(0, 0, 160, &[0xFF; 160]));
        leg.handle_datagram(t0, nat, &rtp(0, 2, 480, &[0xFF; 160]));
        // Another address after latching, a foreign payload type, garbage, RTCP.
        leg.handle_datagram(
            t0,
            "198.51.100.1:9".parse().unwrap(),
            &rtp(0, 3, 640, &[0; 160]),
        );
        leg.handle_datagram(t0, nat, &rtp(13, 3, 640, &[0; 1]));
        leg.handle_datagram(t0, nat, &[1, 2, 3]);
        leg.handle_datagram(t0, nat, &[0x80, 200, 0, 1, 0, 0, 0, 0]);
        let events = drain(&mut leg);
        assert_eq!(events[0], LegEvent::Latched(nat));
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(matches!(&events[3], LegEvent::Audio(p) if p.seq == 2 && p.timestamp == 480));
        let stats = leg.stats();
        assert_eq!((stats.received, stats.lost, stats.dropped), (3, 1, 4));
        // Replies go to the latched address.
        leg.send_audio(&[0xFF; 160]);
        let (to, datagram) = leg.poll_transmit().unwrap();
        assert_eq!(to, nat);
        let sent = RtpPacket::parse(&datagram).unwrap();
        assert_eq!((sent.seq, sent.timestamp, sent.ssrc), (65_534, 1000, 77));
    }

    #[test]
    fn strict_legs_take_only_the_sdp_address() {
        let t0 = confab_testkit::VirtualClock::new().now();
        let mut leg = PlainRtpLeg::new(config(None, Latching::SdpOnly), t0);
        leg.handle_datagram(
            t0,
            "203.0.113.9:61000".parse().unwrap(),
            &rtp(0, 1, 0, &[0; 160]),
        );
        leg.handle_datagram(
            t0,
            "192.0.2.1:4000".parse().unwrap(),
            &rtp(0, 2, 160, &[0; 160]),
        );
        assert_eq!(drain(&mut leg).len(), 1);
        assert_eq!(leg.stats().dropped, 1);
    }

    #[test]
    fn a_received_event_is_reported_once_with_its_duration() {
        let t0 = confab_testkit::VirtualClock::new().now();
        let mut leg = PlainRtpLeg::new(config(Some(101), Latching::FirstSource), t0);
        let from = "192.0.2.1:4000".parse().unwrap();
        let event = |end, duration| {
            TelephoneEvent {
                event: 11,
                end,
                volume: 10,
                duration,
            }
            .to_bytes()
        };
        for (seq, (end, duration)) in [(false, 160), (false, 320), (true, 800), (true, 800)]
            .into_iter()
            .enumerate()
        {
            leg.handle_datagram(t0, from, &rtp(101, seq as u16, 8000, &event(end, duration)));
        }
        let digits: Vec<LegEvent> = drain(&mut leg);
        assert_eq!(
            digits,
            vec![LegEvent::Dtmf {
                digit: Digit::new('#').unwrap(),
                duration_ms: 100
            }]
        );
        // An event whose end packets are all lost is reported after a second.
        leg.handle_datagram(t0, from, &rtp(101, 9, 16_000, &event(false, 160)));
        assert_eq!(leg.poll_timeout(), Some(t0 + EVENT_END_WAIT));
        leg.handle_timeout(t0 + EVENT_END_WAIT);
        assert!(matches!(
            drain(&mut leg)[..],
            [LegEvent::Dtmf {
                duration_ms: 20,
                ..
            }]
        ));
    }

    #[test]
    fn sent_digits_replace_audio_frames_and_keep_the_clock() {
        let t0 = confab_testkit::VirtualClock::new().now();
        let mut leg = PlainRtpLeg::new(config(Some(101), Latching::FirstSource), t0);
        leg.send_dtmf(&Digit::parse_all("1#", 8).unwrap()).unwrap();
        let mut packets = Vec::new();
        for _ in 0..20 {
            leg.send_audio(&[0xFF; 160]);
            while let Some((_, d)) = leg.poll_transmit() {
                packets.push(RtpPacket::parse(&d).unwrap());
            }
        }
        let events: Vec<&RtpPacket> = packets.iter().filter(|p| p.payload_type == 101).collect();
        // Two digits: four updates and three end copies each.
        assert_eq!(events.len(), 14);
        assert!(events[0].marker && events[0].timestamp == 1000);
        let first = TelephoneEvent::parse(&events[0].payload).unwrap();
        assert_eq!((first.event, first.end, first.duration), (1, false, 160));
        let end = TelephoneEvent::parse(&events[6].payload).unwrap();
        assert_eq!((end.end, end.duration), (true, 800));
        let second = TelephoneEvent::parse(&events[7].payload).unwrap();
        assert_eq!(second.event, 11);
        // The second digit starts after five tone frames and three gap frames.
        assert_eq!(events[7].timestamp, 1000 + 8 * 160);
        // Audio resumes on the frame clock; sequence numbers never repeat.
        let audio: Vec<&RtpPacket> = packets.iter().filter(|p| p.payload_type == 0).collect();
        assert_eq!(audio[0].timestamp, 1000 + 5 * 160);
        let seqs: Vec<u16> = packets.iter().map(|p| p.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert_eq!(leg.stats().dtmf_out, 2);
        assert!(!leg.sending_dtmf());
        let mut plain = PlainRtpLeg::new(config(None, Latching::FirstSource), t0);
        assert_eq!(
            plain.send_dtmf(&[Digit::new('1').unwrap()]),
            Err(NoTelephoneEvents)
        );
    }

    #[test]
    fn silence_is_reported_once_but_not_on_hold() {
        let t0 = confab_testkit::VirtualClock::new().now();
        let mut leg = PlainRtpLeg::new(config(None, Latching::FirstSource), t0);
        assert_eq!(leg.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        leg.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(drain(&mut leg), vec![LegEvent::Inactive]);
        leg.handle_timeout(t0 + Duration::from_secs(30));
        assert!(drain(&mut leg).is_empty());
        leg.set_on_hold(true, t0 + Duration::from_secs(30));
        assert_eq!(leg.poll_timeout(), None);
        leg.handle_timeout(t0 + Duration::from_secs(300));
        assert!(drain(&mut leg).is_empty());
    }
}
