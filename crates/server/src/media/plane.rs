//! The media thread's loop: network I/O, commands, and a 20 ms mixing tick per room.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confab_signaling::MediaCommand;
use confab_signaling::protocol::{CallId, ParticipantId, ServerMessage};
use confab_transport::jitter::AudioPacket;
use confab_transport::peer::{PeerEvent, PeerId, PeerOptions, PeerServer, RtpPacket, Section};
use confab_transport::udp::pump;
use tokio::sync::mpsc;

use super::room::{Member, Room, Speech};
use super::slots::{Slots, place};
use super::{MediaReply, MediaRequest};
use crate::metrics::Metrics;

const TICK: Duration = Duration::from_millis(20);
/// Slots are re-planned every this many ticks (and at once when someone joins).
const PLAN_EVERY_TICKS: u64 = 5;

struct Plane<'m> {
    metrics: &'m Metrics,
    server: PeerServer,
    rooms: HashMap<CallId, Room>,
    peers: HashMap<PeerId, (CallId, ParticipantId)>,
    replies: mpsc::Sender<MediaReply>,
}

#[allow(clippy::disallowed_methods)] // the media thread is a driver: it reads the clock
pub(super) fn run(
    socket: &UdpSocket,
    local_addr: SocketAddr,
    inbox: &Receiver<MediaRequest>,
    replies: mpsc::Sender<MediaReply>,
    metrics: &Metrics,
) {
    let mut plane = Plane {
        metrics,
        server: PeerServer::new(local_addr),
        rooms: HashMap::new(),
        peers: HashMap::new(),
        replies,
    };
    let mut next_tick = Instant::now() + TICK;
    tracing::info!(%local_addr, "media plane up");
    loop {
        // Network and peer timers until the next tick (or 5 ms, to take commands promptly).
        let until = next_tick.min(Instant::now() + Duration::from_millis(5));
        if let Err(e) = pump(socket, &mut plane.server, until) {
            tracing::error!("media socket: {e}");
        }
        plane.events();
        loop {
            match inbox.try_recv() {
                Ok(MediaRequest::Command(command)) => plane.command(command),
                Ok(MediaRequest::Stats(call_id, reply)) => {
                    let _ = reply.send(plane.stats(call_id));
                }
                Ok(MediaRequest::Stop) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            plane.tick(next_tick);
            if Instant::now() > next_tick + TICK {
                plane.metrics.tick_overruns.fetch_add(1, Ordering::Relaxed);
            }
            next_tick += TICK;
            if now > next_tick + 5 * TICK {
                next_tick = now + TICK;
            }
        }
    }
}

impl Plane<'_> {
    fn reply(&self, reply: MediaReply) {
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
                if let Err(e) = room.mixer.add_source(Room::source(participant)) {
                    tracing::error!(%call_id, %participant, "mixer: {e}");
                }
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
                if let Some(room) = self.rooms.remove(&call_id) {
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
                    room.mixer
                        .set_muted(Room::source(participant), muted || on_hold);
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
            }
            MediaCommand::Subscribe {
                call_id,
                participant,
                target,
                ..
            } => {
                if let Some(member) = self.member_mut(call_id, participant)
                    && !member.subscriptions.contains(&target)
                {
                    member.subscriptions.push(target);
                }
            }
            MediaCommand::Unsubscribe {
                call_id,
                participant,
                target,
            } => {
                if let Some(member) = self.member_mut(call_id, participant) {
                    member.subscriptions.retain(|p| *p != target);
                }
            }
            // ICE-lite: remote candidates are learned from connectivity checks.
            MediaCommand::Candidate { .. } | MediaCommand::Answer { .. } => {}
            _ => {}
        }
    }

    fn member_mut(&mut self, call_id: CallId, participant: ParticipantId) -> Option<&mut Member> {
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
                audio_packets: m.packets_in.audio,
                video_packets: m.packets_in.video,
                screen_packets: m.packets_in.screen,
                audio_lost: room
                    .mixer
                    .jitter_stats(Room::source(participant))
                    .map_or(0, |j| j.lost()),
                video_slots: m.slots.video.iter().map(|s| s.occupant).collect(),
                screen_slot: m.slots.screen.occupant,
                unmixed_slots: m.slots.unmixed.iter().map(|s| s.occupant).collect(),
            })
            .collect();
        out.sort_by_key(|p| p.participant);
        out
    }

    fn room(&mut self, call_id: CallId) -> Option<&mut Room> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.rooms.entry(call_id) {
            slot.insert(Room::new()?);
        }
        self.rooms.get_mut(&call_id)
    }

    #[allow(clippy::disallowed_methods)] // see `run`
    fn offer(&mut self, call_id: CallId, participant: ParticipantId, sdp: &str) {
        match self
            .server
            .add_peer(sdp, PeerOptions::default(), Instant::now())
        {
            Ok((peer, answer)) => {
                let Some(layout) = self.server.peer(peer).map(|p| p.layout()) else {
                    return;
                };
                let Some(room) = self.room(call_id) else {
                    return;
                };
                let member = room.members.entry(participant).or_default();
                member.slots = Slots::new(layout);
                member.connected = false;
                if let Some(old) = member.peer.replace(peer) {
                    // A new offer replaces the participant's connection (an ICE restart).
                    self.server.remove_peer(old);
                    self.peers.remove(&old);
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
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        room.mixer.remove_source(Room::source(participant));
        room.dominant.retain(|p| *p != participant);
        room.speech.remove(&participant);
        if room.sharer == Some(participant) {
            room.sharer = None;
        }
        for member in room.members.values_mut() {
            member.subscriptions.retain(|p| *p != participant);
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
                PeerEvent::KeyframeRequest { section } => {
                    // A viewer lost pictures: ask the source in that slot for a keyframe.
                    let Some(room) = self.rooms.get(&call_id) else {
                        continue;
                    };
                    let source = room
                        .members
                        .get(&participant)
                        .and_then(|m| m.slots.occupant(section));
                    let source_peer = source.and_then(|s| room.members.get(&s)?.peer);
                    let upstream = if section == Section::ScreenSlot {
                        Section::Screen
                    } else {
                        Section::Camera
                    };
                    if let Some(peer) = source_peer {
                        self.server.request_keyframe(peer, upstream, Instant::now());
                    }
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
        room.mixer.insert(
            Room::source(from),
            AudioPacket {
                seq: packet.header.sequence_number,
                timestamp: packet.header.timestamp,
                payload: packet.payload.clone(),
                level,
            },
            now,
        );
        if muted {
            return;
        }
        for member in room.members.values_mut() {
            let Some(peer) = member.receiving() else {
                continue;
            };
            if let Some((section, slot)) = member.slots.unmixed_of(from) {
                let new_source = std::mem::take(&mut slot.switched);
                let _ = self
                    .server
                    .forward(peer, section, now, packet, new_source, level);
            }
        }
    }

    /// The SFU path: a camera or screen packet from `from` goes to every slot showing it.
    #[allow(clippy::disallowed_methods)] // see `run`
    fn video_in(
        &mut self,
        call_id: CallId,
        from: ParticipantId,
        section: Section,
        packet: &RtpPacket,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let now = Instant::now();
        if let Some(member) = room.members.get_mut(&from) {
            if section == Section::Screen {
                member.packets_in.screen += 1;
                member.screen_seen = Some(now);
            } else {
                member.packets_in.video += 1;
                member.camera_seen = Some(now);
            }
        }
        for member in room.members.values_mut() {
            let Some(peer) = member.receiving() else {
                continue;
            };
            let target = if section == Section::Screen {
                let slot = &mut member.slots.screen;
                (slot.occupant == Some(from)).then_some((Section::ScreenSlot, slot))
            } else {
                member.slots.video_of(from)
            };
            if let Some((out, slot)) = target {
                let new_source = std::mem::take(&mut slot.switched);
                let _ = self
                    .server
                    .forward(peer, out, now, packet, new_source, None);
            }
        }
    }

    /// Re-plans every member's slots; a changed slot asks its new source for a keyframe
    /// (so the viewer can decode at once) and the member hears of it in `media_slots`.
    fn plan_slots(&mut self, call_id: CallId, now: Instant) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let order = room.camera_order(now);
        let viewers: Vec<ParticipantId> = room.members.keys().copied().collect();
        let mut keyframes: Vec<(ParticipantId, Section)> = Vec::new();
        let mut notices = Vec::new();
        for viewer in viewers {
            let video = room.wanted_video(viewer, &order, now);
            let screen = room.screen_for(viewer, now);
            let unmixed_count = room
                .members
                .get(&viewer)
                .map_or(0, |m| m.slots.unmixed.len());
            let unmixed = if unmixed_count > 0 {
                room.wanted_unmixed(viewer, unmixed_count)
            } else {
                Vec::new()
            };
            let Some(member) = room.members.get_mut(&viewer) else {
                continue;
            };
            let mut changed = false;
            for i in place(&mut member.slots.video, &video) {
                changed = true;
                keyframes.extend(member.slots.video[i].occupant.map(|p| (p, Section::Camera)));
            }
            changed |= !place(&mut member.slots.unmixed, &unmixed).is_empty();
            if member.slots.screen.occupant != screen {
                member.slots.screen.occupant = screen;
                member.slots.screen.switched = true;
                keyframes.extend(screen.map(|p| (p, Section::Screen)));
                changed = true;
            }
            if changed && let Some(peer) = member.peer {
                notices.push((viewer, peer));
            }
        }
        for (source, section) in keyframes {
            if let Some(peer) = room.members.get(&source).and_then(|m| m.peer) {
                self.server.request_keyframe(peer, section, now);
            }
        }
        for (viewer, peer) in notices {
            let (Some(member), Some(p)) = (room.members.get(&viewer), self.server.peer(peer))
            else {
                continue;
            };
            let message = ServerMessage::MediaSlots {
                call_id,
                slots: member.slots.assignments(p),
            };
            if self
                .replies
                .try_send(MediaReply::Deliver(call_id, viewer, message))
                .is_err()
            {
                tracing::warn!("signaling task busy: media_slots dropped");
            }
        }
    }

    /// One 20 ms tick of every room: mix, then send each listener its packet.
    #[allow(clippy::disallowed_methods)] // see `run`: ticks are timed for the metrics
    fn tick(&mut self, now: Instant) {
        for (&call_id, room) in &mut self.rooms {
            let started = Instant::now();
            if let Err(e) = room.mixer.tick(now) {
                tracing::error!(%call_id, "mixer tick: {e}");
                continue;
            }
            self.metrics
                .observe_tick(started.elapsed().as_micros() as u64);
            let counters = room.mixer.counters();
            let (lost, concealed) = (
                room.mixer.packets_lost(),
                counters.fec_recoveries + counters.concealments,
            );
            self.metrics
                .jitter_lost
                .fetch_add(lost.saturating_sub(room.reported.0), Ordering::Relaxed);
            self.metrics
                .jitter_concealed
                .fetch_add(concealed.saturating_sub(room.reported.1), Ordering::Relaxed);
            room.reported = (lost.max(room.reported.0), concealed);
            let timestamp = room.timestamp;
            room.timestamp = room.timestamp.wrapping_add(960);
            let output = room.mixer.output();
            for (&participant, member) in &room.members {
                let Some(peer) = member.receiving() else {
                    continue;
                };
                let payload = output.payload_for(Room::source(participant)).clone();
                let _ = self.server.send_audio(
                    peer,
                    Section::Audio,
                    now,
                    payload,
                    timestamp,
                    Some(output.shared_level),
                );
            }
            while let Some(event) = room.mixer.poll_event() {
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
            room.ticks += 1;
        }
        let due: Vec<CallId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.ticks % PLAN_EVERY_TICKS == 1)
            .map(|(c, _)| *c)
            .collect();
        for call_id in due {
            self.plan_slots(call_id, now);
        }
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
    }
}
