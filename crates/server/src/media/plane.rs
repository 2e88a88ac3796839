//! The media thread's loop: network I/O, commands, and a 20 ms mixing tick per room.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confab_mixer::MediaScheduler;
use confab_signaling::MediaCommand;
use confab_signaling::protocol::{CallId, ParticipantId, ServerMessage};
use confab_transport::jitter::AudioPacket;
use confab_transport::peer::{
    Forwarded, PeerEvent, PeerId, PeerOptions, PeerServer, RtpPacket, Section, SrtpPolicy,
};
use confab_transport::udp::{Waker, pump_until_input};
use tokio::sync::mpsc;

use super::mixing::{Mixed, MixedOut, source};
use super::room::{Member, Room, Speech};
use super::slots::Slots;
use super::video_budget::Target;
use super::{MediaReply, MediaRequest};
use crate::metrics::Metrics;

/// Slots are re-planned (and port counters published) this often.
const PLAN_EVERY: Duration = Duration::from_millis(100);
/// The longest the I/O loop sleeps in the socket before looking at commands and at what
/// the mixers produced (a mixed frame waits at most this long to go out).
const POLL: Duration = Duration::from_millis(2);

pub(super) struct Plane {
    pub(super) metrics: Arc<Metrics>,
    pub(super) server: PeerServer,
    pub(super) rooms: HashMap<CallId, Room>,
    peers: HashMap<PeerId, (CallId, ParticipantId)>,
    pub(super) replies: mpsc::Sender<MediaReply>,
    /// The media threads that tick every room's mixer.
    scheduler: MediaScheduler,
    mixed_tx: MixedOut,
    /// Phone participants (their RTP legs live in their members).
    pub(super) phones: Vec<(CallId, ParticipantId)>,
    /// When the phones' sockets were last read.
    pub(super) phones_read: Option<Instant>,
    /// How every browser's and bot's peer is set up (the SRTP profiles offered).
    peer_options: PeerOptions,
}

/// The phones' sockets are read at most this often.
pub(super) const PHONES_READ_EVERY: Duration = Duration::from_millis(1);

/// Media threads for mixing: all cores but the one this I/O thread mostly uses.
fn mixing_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[allow(clippy::disallowed_methods)] // the media thread is a driver: it reads the clock
pub(super) fn run(
    socket: &UdpSocket,
    local_addr: SocketAddr,
    inbox: &Receiver<MediaRequest>,
    replies: mpsc::Sender<MediaReply>,
    metrics: Arc<Metrics>,
    srtp: SrtpPolicy,
) {
    let (mixed_tx, mixed_rx) = std::sync::mpsc::sync_channel(4096);
    let (mixed_tx, mix_wake) = MixedOut::new(mixed_tx, Waker::new(socket).ok());
    let mut datagram = vec![0u8; 2048];
    let mut plane = Plane {
        metrics,
        server: PeerServer::new(local_addr),
        rooms: HashMap::new(),
        peers: HashMap::new(),
        replies,
        scheduler: MediaScheduler::new(mixing_threads(), 8192),
        mixed_tx,
        phones: Vec::new(),
        phones_read: None,
        peer_options: PeerOptions {
            srtp,
            ..PeerOptions::default()
        },
    };
    let mut next_plan = Instant::now() + PLAN_EVERY;
    tracing::info!(%local_addr, mixing_threads = mixing_threads(), "media plane up");
    loop {
        let until = next_plan.min(Instant::now() + POLL);
        // Back after each datagram or wake-up (a mixer queued frames), or at `until`.
        if let Err(e) = pump_until_input(socket, &mut plane.server, until, &mut datagram) {
            tracing::error!("media socket: {e}");
        }
        plane.events();
        plane.phones_io();
        loop {
            match inbox.try_recv() {
                Ok(MediaRequest::Command(command)) => plane.command(command),
                Ok(MediaRequest::Stats(call_id, reply)) => {
                    let _ = reply.send(plane.stats(call_id));
                }
                Ok(MediaRequest::AttachPhone(call_id, participant, media)) => {
                    plane.attach_phone(call_id, participant, media);
                }
                Ok(MediaRequest::UpdatePhone(call_id, participant, negotiated)) => {
                    plane.update_phone(call_id, participant, negotiated);
                }
                Ok(MediaRequest::PhoneDtmf(call_id, participant, digits)) => {
                    plane.phone_dtmf(call_id, participant, &digits);
                }
                Ok(MediaRequest::Stop) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
        mix_wake.taking();
        while let Ok(mixed) = mixed_rx.try_recv() {
            plane.send_mix(mixed);
        }
        let now = Instant::now();
        if now >= next_plan {
            plane.plan(now);
            next_plan = now + PLAN_EVERY;
        }
    }
}

impl Plane {
    pub(super) fn reply(&self, reply: MediaReply) {
        if self.replies.try_send(reply).is_err() {
            tracing::warn!("signaling task busy: media reply dropped");
        }
    }

    fn command(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Join {
                call_id,
                participant,
                ..
            } => {
                let Some(room) = self.room(call_id) else {
                    return;
                };
                room.members.entry(participant).or_default();
                room.control(move |m| m.add(participant));
            }
            MediaCommand::Offer {
                call_id,
                participant,
                sdp,
            } => self.offer(call_id, participant, &sdp),
            MediaCommand::Leave {
                call_id,
                participant,
            } => self.leave(call_id, participant),
            MediaCommand::CallEnded { call_id } => {
                self.phones.retain(|&(c, _)| c != call_id);
                if let Some(room) = self.rooms.remove(&call_id) {
                    room.mixer.remove();
                    for member in room.members.values() {
                        if let Some(peer) = member.peer {
                            self.server.remove_peer(peer);
                            self.peers.remove(&peer);
                        }
                    }
                }
            }
            MediaCommand::Flags {
                call_id,
                participant,
                muted,
                on_hold,
                screen_sharing,
                ..
            } => {
                if let Some(room) = self.rooms.get_mut(&call_id) {
                    let silenced = muted || on_hold;
                    room.control(move |m| m.mixer.set_muted(source(participant), silenced));
                    if let Some(member) = room.members.get_mut(&participant) {
                        member.on_hold = on_hold;
                        member.muted = muted;
                    }
                    if screen_sharing {
                        room.sharer = Some(participant);
                    } else if room.sharer == Some(participant) {
                        room.sharer = None;
                    }
                }
                self.phone_hold(call_id, participant, on_hold);
            }
            MediaCommand::Subscribe {
                call_id,
                participant,
                target,
                max_width,
                max_height,
            } => {
                if let Some(member) = self.member_mut(call_id, participant) {
                    if !member.subscriptions.contains(&target) {
                        member.subscriptions.push(target);
                    }
                    member.video_boxes.insert(target, (max_width, max_height));
                }
            }
            MediaCommand::Unsubscribe {
                call_id,
                participant,
                target,
            } => {
                if let Some(member) = self.member_mut(call_id, participant) {
                    member.subscriptions.retain(|p| *p != target);
                    member.video_boxes.remove(&target);
                }
            }
            // ICE-lite: remote candidates are learned from connectivity checks.
            MediaCommand::Candidate { .. } | MediaCommand::Answer { .. } => {}
            _ => {}
        }
    }

    pub(super) fn member_mut(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
    ) -> Option<&mut Member> {
        self.rooms.get_mut(&call_id)?.members.get_mut(&participant)
    }

    fn stats(&self, call_id: CallId) -> Vec<super::ParticipantMedia> {
        let Some(room) = self.rooms.get(&call_id) else {
            return Vec::new();
        };
        let mut out: Vec<super::ParticipantMedia> = room
            .members
            .iter()
            .map(|(&participant, m)| super::ParticipantMedia {
                participant,
                connected: m.connected,
                audio_packets: m
                    .phone
                    .as_ref()
                    .map_or(m.packets_in.audio, |p| p.stats().audio_in),
                audio_packets_lean: m
                    .peer
                    .and_then(|p| self.server.peer(p))
                    .map_or(0, |p| p.lean_packets_in()),
                video_packets: m.packets_in.video,
                screen_packets: m.packets_in.screen,
                audio_lost: match &m.phone {
                    Some(phone) => phone.stats().lost,
                    None => room.lost.get(&participant).copied().unwrap_or(0),
                },
                video_slots: m.slots.video.iter().map(|s| s.occupant).collect(),
                video_slot_sizes: m
                    .slots
                    .video
                    .iter()
                    .map(|s| {
                        let source = room.members.get(&s.occupant?)?;
                        source.camera_layers.size(s.layer?)
                    })
                    .collect(),
                video_slot_rates: m
                    .slots
                    .video
                    .iter()
                    .map(|s| {
                        let source = room.members.get(&s.occupant?)?;
                        source.camera_layers.rate(s.layer?)
                    })
                    .collect(),
                screen_slot: m.slots.screen.occupant,
                unmixed_slots: m.slots.unmixed.iter().map(|s| s.occupant).collect(),
                bandwidth_estimate: m
                    .peer
                    .and_then(|p| self.server.peer(p))
                    .and_then(|p| p.bandwidth_estimate()),
                video_slots_paused: m
                    .slots
                    .video
                    .iter()
                    .chain(std::iter::once(&m.slots.screen))
                    .filter(|s| s.occupant.is_some() && s.target == Target::Paused)
                    .count(),
                video_layer_switches: m.layer_switches,
                video_bandwidth_downgrades: m.budget.downgrades,
                video_freezes: m.freezes,
            })
            .collect();
        out.sort_by_key(|p| p.participant);
        out
    }

    fn room(&mut self, call_id: CallId) -> Option<&mut Room> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.rooms.entry(call_id) {
            slot.insert(Room::new(
                &self.scheduler,
                call_id,
                self.metrics.clone(),
                self.mixed_tx.clone(),
            )?);
        }
        self.rooms.get_mut(&call_id)
    }

    #[allow(clippy::disallowed_methods)] // see `run`
    fn offer(&mut self, call_id: CallId, participant: ParticipantId, sdp: &str) {
        // The room first: a peer is only made for a call that can carry it.
        if self.room(call_id).is_none() {
            let message = ServerMessage::Error {
                code: confab_signaling::protocol::ErrorCode::Internal,
                message: "the media server cannot take this call now".into(),
            };
            self.reply(MediaReply::Deliver(call_id, participant, message));
            return;
        }
        match self.server.add_peer(sdp, self.peer_options, Instant::now()) {
            Ok((peer, answer)) => {
                let layout = self
                    .server
                    .peer(peer)
                    .map(|p| p.layout())
                    .unwrap_or_default();
                let Some(room) = self.rooms.get_mut(&call_id) else {
                    self.server.remove_peer(peer);
                    return;
                };
                let member = room.members.entry(participant).or_default();
                member.slots = Slots::new(layout);
                member.connected = false;
                if let Some(old) = member.peer.replace(peer) {
                    // A new offer replaces the participant's connection (a reconnect after a
                    // network drop): new RTP streams, numbered afresh. The mixer hears them
                    // with a fresh jitter buffer, and every slot forwarding them rebases.
                    self.server.remove_peer(old);
                    self.peers.remove(&old);
                    room.control(move |m| m.restart(participant));
                    for other in room.members.values_mut() {
                        other.slots.source_restarted(participant);
                    }
                    tracing::info!(%call_id, %participant, "connection replaced");
                }
                self.peers.insert(peer, (call_id, participant));
                self.reply(MediaReply::Deliver(
                    call_id,
                    participant,
                    ServerMessage::SdpAnswer {
                        call_id,
                        sdp: answer,
                    },
                ));
            }
            Err(e) => {
                tracing::info!(%call_id, %participant, "offer refused: {e}");
                let message = ServerMessage::Error {
                    code: confab_signaling::protocol::ErrorCode::InvalidMessage,
                    message: format!("offer refused: {e}"),
                };
                self.reply(MediaReply::Deliver(call_id, participant, message));
            }
        }
    }

    fn leave(&mut self, call_id: CallId, participant: ParticipantId) {
        self.phone_gone(call_id, participant);
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        room.control(move |m| m.remove(participant));
        room.dominant.retain(|p| *p != participant);
        room.speech.remove(&participant);
        room.lost.remove(&participant);
        if room.sharer == Some(participant) {
            room.sharer = None;
        }
        for member in room.members.values_mut() {
            member.subscriptions.retain(|p| *p != participant);
            member.video_boxes.remove(&participant);
        }
        if let Some(Member {
            peer: Some(peer), ..
        }) = room.members.remove(&participant)
        {
            self.server.remove_peer(peer);
            self.peers.remove(&peer);
        }
    }

    #[allow(clippy::disallowed_methods)] // see `run`
    fn events(&mut self) {
        while let Some((peer, event)) = self.server.poll_event() {
            let Some(&(call_id, participant)) = self.peers.get(&peer) else {
                continue;
            };
            match event {
                PeerEvent::Connected => {
                    if let Some(member) = self
                        .rooms
                        .get_mut(&call_id)
                        .and_then(|r| r.members.get_mut(&participant))
                    {
                        member.connected = true;
                    }
                    // Place the newcomer in everyone's slots now, not at the next plan: its
                    // first packets follow at once and must already have somewhere to go.
                    self.plan_slots(call_id, Instant::now());
                    self.reply(MediaReply::Connected(call_id, participant));
                }
                PeerEvent::Failed => self.reply(MediaReply::Lost(call_id, participant)),
                PeerEvent::Rtp {
                    section: Section::Audio,
                    packet,
                    audio_level,
                } => self.audio_in(call_id, participant, &packet, audio_level),
                PeerEvent::Rtp {
                    section: section @ (Section::Camera | Section::Screen),
                    packet,
                    ..
                } => self.video_in(call_id, participant, section, &packet),
                PeerEvent::Padding {
                    section: section @ (Section::Camera | Section::Screen),
                    ssrc,
                    seq,
                } => self.video_padding(call_id, participant, section, ssrc, seq),
                PeerEvent::KeyframeRequest { section } => {
                    self.keyframe_request(call_id, participant, section);
                }
                _ => {}
            }
        }
    }

    /// A participant's microphone: into the mixer, and as it is to every unmixed slot
    /// that carries it.
    #[allow(clippy::disallowed_methods)] // see `run`
    fn audio_in(
        &mut self,
        call_id: CallId,
        from: ParticipantId,
        packet: &RtpPacket,
        level: Option<u8>,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let now = Instant::now();
        let muted = match room.members.get_mut(&from) {
            Some(member) => {
                member.packets_in.audio += 1;
                member.muted || member.on_hold
            }
            None => return,
        };
        let audio = AudioPacket {
            seq: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            payload: packet.payload.clone(),
            level,
        };
        room.mix_packet(from, audio, now);
        if muted {
            return;
        }
        // Unmixed slots carry it on the room's clock, where the mix is stamped.
        let on_clock = room.on_clock(from, packet.header.ssrc, packet.header.timestamp, now);
        for member in room.members.values_mut() {
            let Some(peer) = member.receiving() else {
                continue;
            };
            if let Some((section, slot)) = member.slots.unmixed_of(from) {
                // The rebase happens with the first packet that actually goes out.
                // The speaker's participant id rides in the CSRC: the receiver credits each
                // frame to whoever spoke it, even across a hand-over of the slot.
                let sent = self.server.forward_from(
                    peer,
                    section,
                    now,
                    packet,
                    slot.switched,
                    level,
                    Forwarded {
                        csrc: Some(from.0),
                        timestamp: on_clock,
                    },
                );
                slot.switched &= sent.is_err();
            }
        }
    }

    /// A room's mixed frame: each receiving member gets its packet; speech and dominant
    /// speaker news update the room.
    #[allow(clippy::disallowed_methods)] // see `run`
    fn send_mix(&mut self, mixed: Mixed) {
        let call_id = mixed.call_id;
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        // The room clock: the first tick's instant and stamp, then real time (ticks move
        // their phase to follow the dominant speaker; the clock the microphones are mapped
        // to must not, or two speakers mapped at different moments would drift apart).
        room.clock.get_or_insert((mixed.ticked, mixed.timestamp));
        let now = Instant::now();
        let mut to_phones = Vec::new();
        for (participant, payload) in mixed.payloads {
            let Some(member) = room.members.get(&participant) else {
                continue;
            };
            if member.phone.is_some() {
                to_phones.push((participant, payload));
                continue;
            }
            let Some(peer) = member.receiving() else {
                continue;
            };
            let _ = self.server.send_audio(
                peer,
                Section::Audio,
                now,
                payload,
                mixed.timestamp,
                Some(mixed.level),
            );
        }
        // Flushed to the socket by the pump right after this round.
        self.metrics.mix_out.observe(
            Instant::now()
                .saturating_duration_since(mixed.ticked)
                .as_micros() as u64,
        );
        if let Some(lost) = mixed.lost {
            room.lost.extend(lost);
        }
        for event in mixed.events {
            match event {
                confab_mixer::MixerEvent::DominantSpeaker(source) => {
                    tracing::debug!(%call_id, source = source.0, "dominant speaker");
                    room.set_dominant(ParticipantId(source.0));
                    let _ = self
                        .replies
                        .try_send(MediaReply::DominantSpeakers(call_id, room.dominant.clone()));
                }
                confab_mixer::MixerEvent::Speaking { id, speaking } => {
                    tracing::debug!(%call_id, source = id.0, speaking, "speaking");
                    room.speech.insert(
                        ParticipantId(id.0),
                        Speech {
                            speaking,
                            last: now,
                        },
                    );
                }
                _ => {}
            }
        }
        for (participant, payload) in to_phones {
            self.phone_mix(call_id, participant, &payload);
        }
        if !mixed.own.is_empty() {
            self.forward_own_audio(call_id, mixed.timestamp, &mixed.own);
        }
    }

    /// Every 100 ms: re-plan every room's slots, publish the port's counters.
    fn plan(&mut self, now: Instant) {
        let calls: Vec<CallId> = self.rooms.keys().copied().collect();
        for call_id in calls {
            self.plan_slots(call_id, now);
        }
        self.plan_phones();
        let port = self.server.stats();
        self.metrics
            .media_datagrams_in
            .store(port.datagrams, Ordering::Relaxed);
        self.metrics
            .media_datagrams_out
            .store(port.sent, Ordering::Relaxed);
        self.metrics
            .media_datagrams_dropped
            .store(port.dropped, Ordering::Relaxed);
        let stats = self.scheduler.stats();
        self.metrics
            .tick_overruns
            .store(stats.overruns, Ordering::Relaxed);
    }
}
