//! One synthetic participant on a media thread: its peer and socket, what it sends on its
//! own clock (speech, DTX, camera), and what it measures of the mix it receives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_codecs::{AudioDecoder, OpusDecoder};
use confab_media::{AudioFormat, MediaTime};
use confab_transport::peer::{Peer, PeerEvent, Section};
use serde::Serialize;

use crate::payloads::Payloads;

/// During DTX a participant sends one packet every 400 ms (as Opus DTX does).
const DTX_EVERY: u32 = 20;
/// How far the service's mix clock may move against the wall clock (see `finish`).
const MIX_CLOCK_SLACK: Duration = Duration::from_millis(35);

/// A packet that arrives this much later than the earliest one (in media-time terms) is
/// late: past any sane jitter buffer.
const LATE_AFTER: Duration = Duration::from_millis(60);
/// Camera pictures every 66 ms (15 per second).
const PICTURE_EVERY: Duration = Duration::from_micros(66_667);

/// What a participant does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// Speaks the fixture in a loop (starting `offset` frames in).
    Speaker,
    /// Silent: DTX.
    Listener,
}

/// A participant handed to a media thread once its peer is negotiated.
#[derive(Debug)]
pub(crate) struct Joining {
    pub(crate) index: usize,
    pub(crate) role: Role,
    pub(crate) decode: bool,
    pub(crate) camera: bool,
    pub(crate) peer: Peer,
    pub(crate) socket: std::net::UdpSocket,
    /// When its signaling began (join time is measured from here).
    pub(crate) began: Instant,
    /// When the service answered its offer.
    pub(crate) answered: Instant,
}

/// What one participant measured.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) index: usize,
    pub(crate) role: Option<Role>,
    /// Signaling start to the service's SDP answer.
    pub(crate) answer_ms: Option<u64>,
    /// Signaling start to media connected (ICE and DTLS up).
    pub(crate) join_ms: Option<u64>,
    /// Signaling start to the first mixed packet.
    pub(crate) first_audio_ms: Option<u64>,
    /// Mixed packets received, and how many the service must have sent since the first
    /// (one per 20 ms).
    pub(crate) mix_received: u64,
    pub(crate) mix_expected: u64,
    /// Packets missing in the mix's sequence.
    pub(crate) mix_lost: u64,
    /// Packets that arrived more than 60 ms later than the fastest.
    pub(crate) mix_late: u64,
    /// Audio packets sent.
    pub(crate) sent: u64,
    /// Camera pictures sent and video packets received.
    pub(crate) pictures_sent: u64,
    pub(crate) video_received: u64,
    /// For the decoding sample: frames decoded, of which loud (> −50 dBFS), and decode
    /// errors.
    pub(crate) decoded: Option<u64>,
    pub(crate) loud: Option<u64>,
    pub(crate) decode_errors: Option<u64>,
    /// Why it never joined, if it did not.
    pub(crate) error: Option<String>,
}

/// A participant on its media thread.
#[derive(Debug)]
pub(crate) struct Participant {
    pub(crate) socket: mio::net::UdpSocket,
    pub(crate) peer: Peer,
    payloads: Arc<Payloads>,
    role: Role,
    began: Instant,
    camera: bool,
    connected: Option<Instant>,
    /// Next audio frame due, its index and RTP timestamp.
    next_audio: Instant,
    frame: u32,
    next_picture: Instant,
    picture: u64,
    decoder: Option<OpusDecoder>,
    first_rx: Option<(Instant, u32)>,
    min_transit_us: i64,
    highest_seq: Option<u64>,
    seq_base: u64,
    report: Report,
}

fn dbfs(samples: &[i16]) -> f64 {
    let energy =
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * (energy.max(1e-9) / (32768.0f64 * 32768.0)).log10()
}

impl Participant {
    pub(crate) fn new(joining: Joining, payloads: Arc<Payloads>) -> std::io::Result<Participant> {
        joining.socket.set_nonblocking(true)?;
        let decoder = if joining.decode {
            OpusDecoder::new(AudioFormat::MONO_48K).ok()
        } else {
            None
        };
        let offset = (joining.index as u32 * 150) % payloads.speech.len().max(1) as u32;
        Ok(Participant {
            socket: mio::net::UdpSocket::from_std(joining.socket),
            peer: joining.peer,
            role: joining.role,
            began: joining.began,
            camera: joining.camera,
            connected: None,
            next_audio: joining.answered,
            frame: offset,
            next_picture: joining.answered,
            picture: 0,
            decoder,
            first_rx: None,
            min_transit_us: i64::MAX,
            highest_seq: None,
            seq_base: 0,
            report: Report {
                index: joining.index,
                role: Some(joining.role),
                answer_ms: Some(
                    joining
                        .answered
                        .saturating_duration_since(joining.began)
                        .as_millis() as u64,
                ),
                decoded: joining.decode.then_some(0),
                loud: joining.decode.then_some(0),
                decode_errors: joining.decode.then_some(0),
                ..Report::default()
            },
            payloads,
        })
    }

    /// A datagram for this participant.
    pub(crate) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.peer.handle_datagram(now, from, data);
    }

    /// Timers, sending what is due, events; returns when to come back.
    pub(crate) fn run(&mut self, now: Instant) -> Instant {
        if self.peer.poll_timeout().is_some_and(|t| t <= now) {
            self.peer.handle_timeout(now);
        }
        if self.connected.is_some() {
            self.send_due(now);
        }
        while let Some(event) = self.peer.poll_event() {
            match event {
                PeerEvent::Connected => {
                    self.connected = Some(now);
                    self.report.join_ms =
                        Some(now.saturating_duration_since(self.began).as_millis() as u64);
                    // Media starts on the next frame boundary from here.
                    self.next_audio = now;
                    self.next_picture = now;
                }
                PeerEvent::Rtp {
                    section: Section::Audio,
                    packet,
                    ..
                } => self.mix_in(
                    now,
                    packet.header.sequence_number,
                    packet.header.timestamp,
                    &packet.payload,
                ),
                PeerEvent::Rtp { .. } => self.report.video_received += 1,
                _ => {}
            }
        }
        self.flush();
        let mut next = self
            .peer
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(100));
        if self.connected.is_some() {
            next = next.min(self.next_audio);
            if self.camera {
                next = next.min(self.next_picture);
            }
        }
        next.max(now + Duration::from_micros(200))
    }

    fn send_due(&mut self, now: Instant) {
        while self.next_audio <= now {
            let n = self.frame as usize;
            let timestamp = self.frame.wrapping_mul(960);
            self.frame = self.frame.wrapping_add(1);
            self.next_audio += Duration::from_millis(20);
            let packet = match self.role {
                Role::Speaker => Some(self.payloads.speech[n % self.payloads.speech.len()].clone()),
                // DTX: one silent packet every 400 ms; the timestamps say the rest was quiet.
                Role::Listener if self.frame % DTX_EVERY == 1 => {
                    Some((self.payloads.silence.clone(), 127))
                }
                Role::Listener => None,
            };
            if let Some((payload, level)) = packet
                && self
                    .peer
                    .send_audio(Section::Audio, now, payload, timestamp, Some(level))
                    .is_ok()
            {
                self.report.sent += 1;
            }
        }
        if self.camera && !self.payloads.camera.is_empty() {
            while self.next_picture <= now {
                let au =
                    &self.payloads.camera[(self.picture as usize) % self.payloads.camera.len()];
                let timestamp = (self.picture * 6000) as u32;
                self.picture += 1;
                self.next_picture += PICTURE_EVERY;
                if self
                    .peer
                    .send_video(Section::Camera, now, au, timestamp)
                    .is_ok()
                {
                    self.report.pictures_sent += 1;
                }
            }
        }
    }

    fn mix_in(&mut self, now: Instant, seq: u16, timestamp: u32, payload: &[u8]) {
        self.report.mix_received += 1;
        let (t0, ts0) = *self.first_rx.get_or_insert((now, timestamp));
        if self.report.first_audio_ms.is_none() {
            self.report.first_audio_ms =
                Some(now.saturating_duration_since(self.began).as_millis() as u64);
        }
        // Lateness: transit relative to the stream's first packet, against the fastest.
        let arrival_us = now.saturating_duration_since(t0).as_micros() as i64;
        let media_us = i64::from(timestamp.wrapping_sub(ts0) as i32) * 1000 / 48;
        let transit = arrival_us - media_us;
        self.min_transit_us = self.min_transit_us.min(transit);
        if transit - self.min_transit_us > LATE_AFTER.as_micros() as i64 {
            self.report.mix_late += 1;
        }
        // Loss: the extended sequence number's gaps.
        let seq = u64::from(seq);
        match self.highest_seq {
            None => {
                self.seq_base = seq;
                self.highest_seq = Some(seq);
            }
            Some(high) => {
                let cycle = high & !0xFFFF;
                let mut ext = cycle | seq;
                if ext + 0x8000 < high {
                    ext += 0x1_0000;
                } else if ext > high + 0x8000 && ext >= 0x1_0000 {
                    ext -= 0x1_0000;
                }
                self.highest_seq = Some(high.max(ext));
            }
        }
        if let Some(decoder) = &mut self.decoder {
            match decoder.decode(payload, MediaTime::ZERO) {
                Ok(frame) => {
                    *self.report.decoded.get_or_insert(0) += 1;
                    if dbfs(frame.samples()) > -50.0 {
                        *self.report.loud.get_or_insert(0) += 1;
                    }
                }
                Err(_) => *self.report.decode_errors.get_or_insert(0) += 1,
            }
        }
    }

    fn flush(&mut self) {
        while let Some((to, data)) = self.peer.poll_transmit() {
            match self.socket.send_to(&data, to) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => tracing::debug!(%to, "send: {e}"),
            }
        }
    }

    /// What it measured, at the end (`now`).
    pub(crate) fn finish(mut self, now: Instant) -> Report {
        if let Some((t0, _)) = self.first_rx {
            // One per 20 ms of wall clock, less what the service may move its mix clock to
            // follow the dominant speaker's phase (half a frame, plus its 25 ms alignment
            // bound): a frame "missing" at the end for that is no loss.
            let elapsed = now
                .saturating_duration_since(t0)
                .saturating_sub(MIX_CLOCK_SLACK);
            self.report.mix_expected = elapsed.as_millis() as u64 / 20 + 1;
        }
        if let Some(high) = self.highest_seq {
            let expected = high - self.seq_base + 1;
            self.report.mix_lost = expected.saturating_sub(self.report.mix_received);
        }
        self.report
    }

    /// Its report so far (for progress lines).
    pub(crate) fn connected(&self) -> bool {
        self.connected.is_some()
    }
}
