//! Phones on the media thread: each phone participant's RTP leg (its own UDP port, polled
//! by the I/O loop), G.711 into its room's mixer, its mix-minus back out, RFC 4733 keys
//! both ways, and its own voice forwarded into bots' unmixed slots.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use confab_signaling::protocol::{CallId, ParticipantId};
use confab_sip::PhoneMedia;
use confab_sip::dtmf::Digit;
use confab_sip::leg::{LegEvent, LegStats, PlainRtpLeg};
use confab_sip::sdp::Negotiated;
use confab_transport::peer::{Forwarded, RtpHeader, RtpPacket};

use super::MediaReply;
use super::plane::{PHONES_READ_EVERY, Plane};

/// Datagrams read from one phone per pass of the loop, at most (a flood cannot starve the
/// other phones).
const READS_PER_PASS: usize = 32;

/// A phone participant's media on the media thread.
#[derive(Debug)]
pub(crate) struct PhoneLeg {
    socket: UdpSocket,
    pub(crate) leg: PlainRtpLeg,
    /// Sequence numbers of its own voice forwarded into unmixed slots.
    own_seq: u16,
    /// Loss already added to the service's counter.
    reported_lost: u64,
}

impl PhoneLeg {
    pub(crate) fn stats(&self) -> LegStats {
        self.leg.stats()
    }

    /// Sends what the leg queued.
    fn flush(&mut self) {
        while let Some((to, datagram)) = self.leg.poll_transmit() {
            match self.socket.send_to(&datagram, to) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => tracing::debug!(%to, "phone RTP send: {e}"),
            }
        }
    }
}

impl Plane {
    /// A phone's RTP leg joins its participant: the mixer takes its codec, media flows.
    #[allow(clippy::disallowed_methods)] // the media thread is a driver: it reads the clock
    pub(super) fn attach_phone(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        media: PhoneMedia,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            tracing::warn!(%call_id, %participant, "phone media for a call that is gone");
            return;
        };
        let Some(member) = room.members.get_mut(&participant) else {
            tracing::warn!(%call_id, %participant, "phone media for a participant not in the call's media");
            return;
        };
        let codec = media.config.negotiated.codec;
        let now = Instant::now();
        member.phone = Some(PhoneLeg {
            socket: media.socket,
            leg: PlainRtpLeg::new(media.config, now),
            own_seq: 0,
            reported_lost: 0,
        });
        member.connected = true;
        let own = room.own_audio;
        room.control(move |m| {
            m.set_codec(participant, codec);
            m.set_own_audio(participant, own);
        });
        if !self.phones.contains(&(call_id, participant)) {
            self.phones.push((call_id, participant));
        }
        tracing::info!(%call_id, %participant, ?codec, "phone media attached");
        self.reply(MediaReply::Connected(call_id, participant));
    }

    /// A phone's media was renegotiated.
    #[allow(clippy::disallowed_methods)] // see `attach_phone`
    pub(super) fn update_phone(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        negotiated: Negotiated,
    ) {
        let Some(phone) = self
            .member_mut(call_id, participant)
            .and_then(|m| m.phone.as_mut())
        else {
            return;
        };
        let codec_changed = phone.leg.negotiated().codec != negotiated.codec;
        phone.leg.renegotiate(negotiated, Instant::now());
        if codec_changed && let Some(room) = self.rooms.get(&call_id) {
            room.control(move |m| m.set_codec(participant, negotiated.codec));
        }
    }

    /// Keys to play to a phone.
    pub(super) fn phone_dtmf(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        digits: &[Digit],
    ) {
        let Some(phone) = self
            .member_mut(call_id, participant)
            .and_then(|m| m.phone.as_mut())
        else {
            return;
        };
        match phone.leg.send_dtmf(digits) {
            Ok(()) => {
                tracing::debug!(%call_id, %participant, keys = digits.len(), "keys to a phone");
            }
            Err(e) => tracing::info!(%call_id, %participant, "keys not sent: {e}"),
        }
    }

    /// Forgets a phone that left.
    pub(super) fn phone_gone(&mut self, call_id: CallId, participant: ParticipantId) {
        self.phones
            .retain(|&(c, p)| !(c == call_id && p == participant));
    }

    /// One pass over every phone: read its port, run its timers, hand audio to the mixer
    /// and keys to signaling.
    #[allow(clippy::disallowed_methods)] // see `attach_phone`
    pub(super) fn phones_io(&mut self) {
        if self.phones.is_empty() {
            return;
        }
        // The I/O loop comes round after every WebRTC datagram; phones' sockets are read
        // at most every millisecond (their RTP comes every 20 ms).
        let now = Instant::now();
        if self
            .phones_read
            .is_some_and(|at| now.saturating_duration_since(at) < PHONES_READ_EVERY)
        {
            return;
        }
        self.phones_read = Some(now);
        let mut buf = [0u8; 1500];
        let mut replies = Vec::new();
        for &(call_id, participant) in &self.phones {
            let Some(room) = self.rooms.get_mut(&call_id) else {
                continue;
            };
            let Some(phone) = room
                .members
                .get_mut(&participant)
                .and_then(|m| m.phone.as_mut())
            else {
                continue;
            };
            for _ in 0..READS_PER_PASS {
                match phone.socket.recv_from(&mut buf) {
                    Ok((len, from)) => phone.leg.handle_datagram(Instant::now(), from, &buf[..len]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        tracing::debug!(%call_id, %participant, "phone RTP receive: {e}");
                        break;
                    }
                }
            }
            let now = Instant::now();
            if phone.leg.poll_timeout().is_some_and(|t| t <= now) {
                phone.leg.handle_timeout(now);
            }
            let mut audio = Vec::new();
            while let Some(event) = phone.leg.poll_event() {
                match event {
                    LegEvent::Audio(packet) => audio.push(packet),
                    LegEvent::Dtmf { digit, duration_ms } => {
                        replies.push(MediaReply::Dtmf(
                            call_id,
                            participant,
                            digit.as_char(),
                            duration_ms,
                        ));
                    }
                    LegEvent::Latched(to) => {
                        tracing::info!(%call_id, %participant, %to, "phone RTP comes from another address than its SDP: answering there");
                    }
                    LegEvent::Inactive => {
                        tracing::info!(%call_id, %participant, "no RTP from the phone: its call is lost");
                        replies.push(MediaReply::Lost(call_id, participant));
                    }
                }
            }
            for packet in audio {
                room.mix_packet(participant, packet, now);
            }
        }
        for reply in replies {
            self.reply(reply);
        }
    }

    /// A phone's share of a mixed frame: its G.711 mix-minus, out on its leg.
    pub(super) fn phone_mix(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        payload: &Bytes,
    ) {
        let Some(member) = self.member_mut(call_id, participant) else {
            return;
        };
        if member.on_hold {
            return;
        }
        if let Some(phone) = member.phone.as_mut() {
            phone.leg.send_audio(payload);
            phone.flush();
        }
    }

    /// Phones' own voices (Opus from the mixer) into the unmixed slots that carry them.
    #[allow(clippy::disallowed_methods)] // see `attach_phone`
    pub(super) fn forward_own_audio(
        &mut self,
        call_id: CallId,
        timestamp: u32,
        own: &[(ParticipantId, Bytes, u8)],
    ) {
        let now = Instant::now();
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        for (from, payload, level) in own {
            let seq = match room.members.get_mut(from).and_then(|m| m.phone.as_mut()) {
                Some(phone) => {
                    phone.own_seq = phone.own_seq.wrapping_add(1);
                    phone.own_seq
                }
                None => continue,
            };
            let packet = RtpPacket {
                header: RtpHeader {
                    version: 2,
                    sequence_number: seq,
                    timestamp,
                    ..RtpHeader::default()
                },
                payload: payload.clone(),
            };
            for member in room.members.values_mut() {
                let Some(peer) = member.receiving() else {
                    continue;
                };
                if let Some((section, slot)) = member.slots.unmixed_of(*from) {
                    let sent = self.server.forward_from(
                        peer,
                        section,
                        now,
                        &packet,
                        slot.switched,
                        Some(*level),
                        Forwarded {
                            csrc: Some(from.0),
                            timestamp: Some(timestamp),
                        },
                    );
                    slot.switched &= sent.is_err();
                }
            }
        }
    }

    /// Every plan: phones' own voices encoded only while some member has unmixed slots;
    /// their losses into the service's counters.
    pub(super) fn plan_phones(&mut self) {
        for &(call_id, participant) in &self.phones {
            let Some(room) = self.rooms.get_mut(&call_id) else {
                continue;
            };
            let wanted = room.members.values().any(|m| !m.slots.unmixed.is_empty());
            if wanted != room.own_audio {
                room.own_audio = wanted;
                let phones: Vec<ParticipantId> = room
                    .members
                    .iter()
                    .filter(|(_, m)| m.phone.is_some())
                    .map(|(p, _)| *p)
                    .collect();
                room.control(move |m| {
                    for p in phones {
                        m.set_own_audio(p, wanted);
                    }
                });
            }
            if let Some(phone) = room
                .members
                .get_mut(&participant)
                .and_then(|m| m.phone.as_mut())
            {
                let lost = phone.leg.stats().lost;
                if lost > phone.reported_lost {
                    self.metrics
                        .pstn_rtp_lost
                        .fetch_add(lost - phone.reported_lost, Ordering::Relaxed);
                    phone.reported_lost = lost;
                }
            }
        }
    }

    /// Hold on a phone pauses its silence check.
    #[allow(clippy::disallowed_methods)] // see `attach_phone`
    pub(super) fn phone_hold(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        on_hold: bool,
    ) {
        if let Some(phone) = self
            .member_mut(call_id, participant)
            .and_then(|m| m.phone.as_mut())
        {
            phone.leg.set_on_hold(on_hold, Instant::now());
        }
    }
}
