//! [`Peer`]: one WebRTC peer connection (the sans-IO `rtc` core) carrying confab's fixed
//! media layout ([`MediaLayout`]): every section is sent or received by [`Section`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;

use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::sansio::Protocol;
use rtc::shared::marshal::Unmarshal;
use rtc::shared::time::SystemInstant;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::bandwidth::EstimateCell;
use super::layout::{MediaLayout, Section};
use super::lean::LeanPath;
use super::lean_ingress::{Ingress, LeanIngress};
use super::outgoing::Streams;
use super::reception::Reception;
use super::setup::AUDIO_LEVEL_URI;
use super::{MediaKind, PeerError, PeerEvent};
use rtcp::LEAN_REPORT_EVERY;

mod negotiate;
mod rtcp;
mod send;
use crate::payload::h264::H264Packetizer;
use crate::slab::PacketSlab;

/// MTU for RTP payloads: leaves room for RTP, SRTP and UDP/IP headers under 1280.
const RTP_PAYLOAD_MTU: usize = 1100;

/// One peer connection and its media. Sans-IO: datagrams and time in, datagrams, events
/// and RTP out.
pub struct Peer {
    pc: RTCPeerConnection,
    local_addr: SocketAddr,
    ufrag: String,
    layout: MediaLayout,
    /// Each section's mid, once negotiated.
    mids: HashMap<String, Section>,
    /// The sections this side sends on.
    outgoing: Streams,
    /// Incoming tracks: their section, receiver and audio-level extension id.
    incoming: HashMap<String, (Section, RTCRtpReceiverId, Option<u8>)>,
    packetizer: H264Packetizer,
    events: VecDeque<PeerEvent>,
    state: RTCPeerConnectionState,
    /// When the last datagram came in (while connecting, timers are looked at soon after).
    last_input: Option<Instant>,
    /// The service's side (ICE-lite) judges liveness itself: when anything last came from
    /// the remote, from any of its addresses. `None` on a full-ICE peer (its core does).
    heard: Option<Instant>,
    /// Outgoing audio protected and queued by confab itself (see `lean.rs`).
    lean: LeanPath,
    /// Incoming audio opened by confab itself (see `lean_ingress.rs`).
    lean_in: LeanIngress,
    lean_ingress: bool,
    /// Every incoming stream's reception, for the receiver reports this side writes.
    reception: Reception,
    /// The SSRC this side's receiver reports are from.
    report_ssrc: u32,
    /// The copy of each datagram handed to the core (which opens SRTP into a buffer of its
    /// own and drops this one before it returns, so the slab is reused in place).
    ingress: PacketSlab,
    lean_egress: bool,
    /// When the lean streams' next RTCP sender reports are due (webrtc-rs never sees their
    /// packets, so its report interceptor cannot), and the wall clock they are stamped with.
    next_lean_report: Option<Instant>,
    /// Where this side's reports are written before the lean path seals them.
    rtcp_plain: Vec<u8>,
    /// Compounds of reports the lean path sealed and sent.
    lean_reports_out: u64,
    wall_clock: Option<SystemInstant>,
    /// The latest sender report heard for each incoming section: packets and octets sent.
    sender_reports: HashMap<Section, (u32, u32)>,
    /// Which incoming section each remote SSRC was last seen on.
    incoming_ssrcs: HashMap<u32, Section>,
    /// What the remote's link can take of what this side sends (see `bandwidth.rs`).
    estimate: EstimateCell,
}

/// An ICE-lite peer that hears nothing at all for this long has failed. Its ICE core never
/// times out by itself: it keeps the first pair the remote nominated, and browsers may move
/// their media and consent checks to another of their candidates (Chromium does, with two
/// host candidates), which the core would take for silence on the pair it keeps.
pub(crate) const LITE_SILENCE_FAILS: std::time::Duration = std::time::Duration::from_secs(30);

/// RTP clock rates: Opus, and every video codec.
const AUDIO_CLOCK: u32 = 48_000;
const VIDEO_CLOCK: u32 = 90_000;

/// One datagram of any size at a time: the core is done with it when `handle_read` returns.
const INGRESS_SLAB_BYTES: usize = 2048;

/// How soon after a datagram a connecting peer's timers run.
const CONNECTING_POLL: std::time::Duration = std::time::Duration::from_millis(5);

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("ufrag", &self.ufrag)
            .field("local_addr", &self.local_addr)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn rtc_error(context: &'static str) -> impl FnOnce(rtc::shared::error::Error) -> PeerError {
    move |e| PeerError::Rtc {
        context,
        message: e.to_string(),
    }
}

/// Random hex of `bytes` bytes from the OS-seeded hasher keys (ICE credentials need to be
/// unguessable, not cryptographic keys: DTLS protects the media).
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(bytes * 2);
    let mut counter = 0u64;
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(counter);
        counter += 1;
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

fn ssrc() -> u32 {
    u32::from_str_radix(&random_hex(4), 16).unwrap_or(0x5EED_0001) | 1
}

impl Peer {
    /// The connection's layout.
    pub fn layout(&self) -> MediaLayout {
        self.layout
    }

    /// The mid of a section (for slot assignments).
    pub fn mid(&self, section: Section) -> Option<&str> {
        self.mids
            .iter()
            .find(|(_, s)| **s == section)
            .map(|(m, _)| m.as_str())
    }

    /// The section a mid names.
    pub fn section(&self, mid: &str) -> Option<Section> {
        self.mids.get(mid).copied()
    }

    /// Our ICE username fragment (what the remote's STUN USERNAME starts with).
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// How many bits per second the remote's link takes of what this side forwards through
    /// webrtc-rs (video), by congestion control over its transport-wide feedback; `None`
    /// until it has reported (a remote that never does, e.g. one without transport-cc).
    pub fn bandwidth_estimate(&self) -> Option<u64> {
        self.estimate.get()
    }

    /// Incoming packets opened on the lean ingress path so far (the rest went through
    /// webrtc-rs: every stream's first packet, video, and everything without AES-GCM).
    pub fn lean_packets_in(&self) -> u64 {
        self.lean_in.opened
    }

    /// Incoming RTCP compounds of reports only (sender and receiver reports, source
    /// descriptions) read on the lean ingress path so far, never shown to the core.
    pub fn lean_reports_in(&self) -> u64 {
        self.lean_in.reports_opened
    }

    /// The connection state.
    pub fn is_connected(&self) -> bool {
        self.state == RTCPeerConnectionState::Connected
    }

    /// Feeds a datagram that arrived from `from`. Returns whether the core saw it: a packet
    /// opened on the lean ingress path (`false`) leaves the core's queues and timers as
    /// they were, so a caller may then take only [`poll_event`](Peer::poll_event).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> bool {
        if self.handle_lean(now, data) {
            if let Some(heard) = &mut self.heard {
                *heard = now;
            }
            return false;
        }
        let message = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local_addr,
                peer_addr: from,
                transport_protocol: TransportProtocol::UDP,
                ecn: None,
            },
            message: {
                self.ingress.writer(data.len()).extend_from_slice(data);
                self.ingress.take()
            },
        };
        // The core reports problems by logging; a bad datagram never fails the peer.
        let _ = self.pc.handle_read(message);
        self.drain(now);
        self.last_input = Some(now);
        if let Some(heard) = &mut self.heard {
            *heard = now;
        }
        true
    }

    /// A datagram of a stream on the lean ingress path: opened here, never shown to the
    /// core. `false`: not one (the core takes it).
    fn handle_lean(&mut self, now: Instant, data: &[u8]) -> bool {
        match self.lean_in.open(data) {
            Ingress::NotLean => false,
            Ingress::Dropped(reason) => {
                tracing::trace!("lean ingress dropped a packet: {reason}");
                true
            }
            Ingress::Packet {
                section,
                packet,
                audio_level,
            } => {
                let h = &packet.header;
                self.reception
                    .packet(h.ssrc, AUDIO_CLOCK, h.sequence_number, h.timestamp, now);
                self.events.push_back(PeerEvent::Rtp {
                    section,
                    packet,
                    audio_level,
                });
                true
            }
            Ingress::Reports(packets) => {
                for packet in &packets {
                    self.note_reception_reports(packet.as_any(), now);
                }
                true
            }
            Ingress::Padding {
                section,
                ssrc,
                seq,
                timestamp,
            } => {
                self.reception
                    .packet(ssrc, AUDIO_CLOCK, seq, timestamp, now);
                self.events
                    .push_back(PeerEvent::Padding { section, ssrc, seq });
                true
            }
        }
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        if let Some(lean) = self.lean.poll_transmit() {
            return Some(lean);
        }
        let (to, data) = self
            .pc
            .poll_write()
            .map(|t| (t.transport.peer_addr, t.message))?;
        self.lean.core_sent(&data, to);
        Some((to, data))
    }

    /// The next datagram of the lean egress path only (see [`Peer::sends_lean`]): what
    /// [`Peer::send_audio`] queued, without looking at the core.
    pub fn poll_lean_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.lean.poll_transmit()
    }

    /// Whether audio sections not yet written through the core take the lean path (their
    /// own SRTP, queued directly): the connection is up, its SRTP keys are known and so is
    /// the remote's media address. Then a caller that sent only such audio may collect with
    /// [`Peer::poll_lean_transmit`] and skip the core's queues and timers.
    pub fn sends_lean(&self) -> bool {
        self.lean.ready() && self.is_connected()
    }

    /// When [`handle_timeout`](Peer::handle_timeout) must next run.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut core = self.pc.poll_timeout();
        if let Some(report) = self.next_lean_report {
            core = Some(core.map_or(report, |t| t.min(report)));
        }
        if let Some(heard) = self.heard.filter(|_| self.is_connected()) {
            let silent = heard + LITE_SILENCE_FAILS;
            core = Some(core.map_or(silent, |t| t.min(silent)));
        }
        match self.last_input {
            // While connecting, what a datagram set in motion waits for the core's timer:
            // the DTLS client's first flight is queued when the ICE pair is selected but
            // only goes out on a timeout — up to 200 ms later on an ICE-lite peer. Look again
            // soon after every input until the connection is up.
            Some(at) if !self.is_connected() => {
                let soon = at + CONNECTING_POLL;
                Some(core.map_or(soon, |t| t.min(soon)))
            }
            _ => core,
        }
    }

    /// Runs timers (ICE keep-alives and checks, DTLS retransmits, RTCP reports). Returns
    /// whether the core was walked: when only this side's own timers were due (its reports,
    /// sealed on the lean path, once a second), the core's queues and timers are as they
    /// were, so a caller may then take only [`poll_lean_transmit`](Peer::poll_lean_transmit)
    /// and [`poll_event`](Peer::poll_event).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self
            .last_input
            .is_some_and(|at| now >= at + CONNECTING_POLL)
        {
            self.last_input = None;
        }
        let core_due = !self.sends_lean() || self.pc.poll_timeout().is_some_and(|t| t <= now);
        let mut walked = core_due;
        if core_due {
            let _ = self.pc.handle_timeout(now);
        }
        if self.next_lean_report.is_some_and(|at| now >= at) {
            walked |= self.send_reports(now);
            self.next_lean_report = Some(now + LEAN_REPORT_EVERY);
        }
        if walked {
            self.drain(now);
        }
        if self.is_connected()
            && self
                .heard
                .is_some_and(|heard| now >= heard + LITE_SILENCE_FAILS)
        {
            self.state = RTCPeerConnectionState::Failed;
            self.events.push_back(PeerEvent::Failed);
        }
        walked
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Closes the connection (DTLS close_notify goes out through `poll_transmit`).
    pub fn close(&mut self) {
        let _ = self.pc.close();
    }

    fn drain(&mut self, now: Instant) {
        // A handshake that completed during the call that led here parked its keys.
        if let Some(export) = rtc::dtls::srtp_export::take() {
            if self.lean_egress {
                self.lean.keys(&export);
            }
            if self.lean_ingress {
                self.lean_in.keys(&export);
            }
            // Sender reports of lean streams and every receiver report are this side's.
            self.next_lean_report = Some(now + LEAN_REPORT_EVERY);
        }
        while let Some(event) = self.pc.poll_event() {
            match event {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                    self.state = state;
                    match state {
                        RTCPeerConnectionState::Connected => {
                            self.events.push_back(PeerEvent::Connected);
                        }
                        RTCPeerConnectionState::Failed => self.events.push_back(PeerEvent::Failed),
                        RTCPeerConnectionState::Disconnected => {
                            self.events.push_back(PeerEvent::Disconnected);
                        }
                        RTCPeerConnectionState::Closed => self.events.push_back(PeerEvent::Closed),
                        _ => {}
                    }
                }
                RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                    let Some(section) = self.section_of_receiver(init.receiver_id) else {
                        continue;
                    };
                    let Some(mut receiver) = self.pc.rtp_receiver(init.receiver_id) else {
                        continue;
                    };
                    let level_id = receiver
                        .get_parameters()
                        .rtp_parameters
                        .header_extensions
                        .iter()
                        .find(|e| e.uri == AUDIO_LEVEL_URI)
                        .and_then(|e| u8::try_from(e.id).ok());
                    self.incoming
                        .insert(init.track_id, (section, init.receiver_id, level_id));
                }
                _ => {}
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            match message {
                RTCMessage::RtpPacket(track_id, packet) => {
                    let Some(&(section, _, level_id)) = self.incoming.get(&track_id) else {
                        continue;
                    };
                    let clock = match section.kind() {
                        MediaKind::Audio => AUDIO_CLOCK,
                        MediaKind::Video => VIDEO_CLOCK,
                    };
                    let h = &packet.header;
                    self.reception
                        .packet(h.ssrc, clock, h.sequence_number, h.timestamp, now);
                    if self.lean_ingress && section.kind() == MediaKind::Audio {
                        // Its SSRC is bound to the section now: the rest comes lean.
                        self.lean_in.adopt(h.ssrc, section, level_id);
                    }
                    // Padding-only packets (bandwidth probes) carry no media, but take a
                    // sequence number: whoever forwards the stream must close that gap.
                    if packet.payload.is_empty() {
                        self.events.push_back(PeerEvent::Padding {
                            section,
                            ssrc: packet.header.ssrc,
                            seq: packet.header.sequence_number,
                        });
                        continue;
                    }
                    if self.incoming_ssrcs.get(&packet.header.ssrc) != Some(&section) {
                        self.incoming_ssrcs.insert(packet.header.ssrc, section);
                    }
                    let audio_level = level_id
                        .and_then(|id| packet.header.get_extension(id))
                        .and_then(|mut raw| AudioLevelExtension::unmarshal(&mut raw).ok())
                        .map(|l| l.level);
                    self.events.push_back(PeerEvent::Rtp {
                        section,
                        packet,
                        audio_level,
                    });
                }
                RTCMessage::RtcpPacket(_, packets) => {
                    use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
                    for p in &packets {
                        let any = p.as_any();
                        self.note_reception_reports(any, now);
                        let ssrcs: Vec<u32> =
                            if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                                vec![pli.media_ssrc]
                            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                                fir.fir.iter().map(|e| e.ssrc).collect()
                            } else {
                                continue;
                            };
                        for ssrc in ssrcs {
                            let section = self
                                .outgoing
                                .iter()
                                .find(|(_, o)| {
                                    o.ssrc == ssrc || o.layers.iter().any(|l| l.ssrc == ssrc)
                                })
                                .map(|(s, _)| *s);
                            if let Some(section) = section
                                && !self.events.iter().any(|e| {
                                    matches!(e, PeerEvent::KeyframeRequest { section: s } if *s == section)
                                })
                            {
                                self.events.push_back(PeerEvent::KeyframeRequest { section });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
