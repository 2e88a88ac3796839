//! The media thread's loop: network I/O, commands, and a 20 ms mixing tick per room.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confab_signaling::MediaCommand;
use confab_signaling::protocol::{CallId, ParticipantId, ServerMessage};
use confab_transport::jitter::AudioPacket;
use confab_transport::peer::{MediaKind, PeerEvent, PeerId, PeerOptions, PeerServer};
use confab_transport::udp::pump;
use tokio::sync::mpsc;

use super::room::{Member, Room};
use super::{MediaReply, MediaRequest};
use crate::metrics::Metrics;

const TICK: Duration = Duration::from_millis(20);

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
                ..
            } => {
                if let Some(room) = self.rooms.get_mut(&call_id) {
                    room.mixer
                        .set_muted(Room::source(participant), muted || on_hold);
                    if let Some(member) = room.members.get_mut(&participant) {
                        member.on_hold = on_hold;
                    }
                }
            }
            // ICE-lite: remote candidates are learned from connectivity checks.
            MediaCommand::Candidate { .. } | MediaCommand::Answer { .. } => {}
            MediaCommand::Subscribe { .. } | MediaCommand::Unsubscribe { .. } => {}
            _ => {}
        }
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
                audio_packets: m.packets_in.0,
                video_packets: m.packets_in.1,
                audio_lost: room
                    .mixer
                    .jitter_stats(Room::source(participant))
                    .map_or(0, |j| j.lost()),
                watching: m.watching,
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
        let options = PeerOptions {
            send_audio: true,
            send_video: true,
            ..PeerOptions::default()
        };
        match self.server.add_peer(sdp, options, Instant::now()) {
            Ok((peer, answer)) => {
                let Some(room) = self.room(call_id) else {
                    return;
                };
                let member = room.members.entry(participant).or_default();
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
                    kind: MediaKind::Audio,
                    packet,
                    audio_level,
                } => {
                    if let Some(room) = self.rooms.get_mut(&call_id) {
                        if let Some(member) = room.members.get_mut(&participant) {
                            member.packets_in.0 += 1;
                        }
                        let packet = AudioPacket {
                            seq: packet.header.sequence_number,
                            timestamp: packet.header.timestamp,
                            payload: packet.payload,
                            level: audio_level,
                        };
                        room.mixer
                            .insert(Room::source(participant), packet, Instant::now());
                    }
                }
                PeerEvent::Rtp {
                    kind: MediaKind::Video,
                    packet,
                    ..
                } => self.forward(call_id, participant, &packet),
                PeerEvent::KeyframeRequest => {
                    // A viewer lost pictures: ask the source it watches for a keyframe.
                    let source = self
                        .rooms
                        .get(&call_id)
                        .and_then(|r| r.members.get(&participant))
                        .and_then(|m| m.watching);
                    let source_peer =
                        source.and_then(|s| self.rooms.get(&call_id)?.members.get(&s)?.peer);
                    if let Some(peer) = source_peer {
                        self.server.request_keyframe(peer, Instant::now());
                    }
                }
                _ => {}
            }
        }
    }

    /// The SFU path: a video packet from `from` goes to everyone watching it.
    #[allow(clippy::disallowed_methods)] // see `run`
    fn forward(
        &mut self,
        call_id: CallId,
        from: ParticipantId,
        packet: &confab_transport::peer::RtpPacket,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        if let Some(member) = room.members.get_mut(&from) {
            member.sends_video = true;
            member.packets_in.1 += 1;
        }
        let now = Instant::now();
        for member in room.members.values_mut() {
            let (Some(peer), true, false, Some(watching)) = (
                member.peer,
                member.connected,
                member.on_hold,
                member.watching,
            ) else {
                continue;
            };
            if watching != from {
                continue;
            }
            let new_source = std::mem::take(&mut member.switched);
            let _ = self.server.forward_video(peer, now, packet, new_source);
        }
    }

    /// Points each member's video slot at its featured participant; a switch asks the new
    /// source for a keyframe so the viewer can start decoding at once.
    fn assign_video(&mut self, call_id: CallId, now: Instant) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let viewers: Vec<ParticipantId> = room.members.keys().copied().collect();
        let mut keyframes = Vec::new();
        for viewer in viewers {
            let featured = room.featured_for(viewer);
            let Some(member) = room.members.get_mut(&viewer) else {
                continue;
            };
            if member.watching != featured {
                member.watching = featured;
                member.switched = true;
                keyframes.extend(
                    featured
                        .and_then(|f| room.members.get(&f))
                        .and_then(|m| m.peer),
                );
            }
        }
        for peer in keyframes {
            self.server.request_keyframe(peer, now);
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
                let (Some(peer), true, false) = (member.peer, member.connected, member.on_hold)
                else {
                    continue;
                };
                let payload = output.payload_for(Room::source(participant)).clone();
                let _ = self.server.send_audio(
                    peer,
                    now,
                    payload,
                    timestamp,
                    Some(output.shared_level),
                );
            }
            while let Some(event) = room.mixer.poll_event() {
                if let confab_mixer::MixerEvent::DominantSpeaker(source) = event {
                    room.dominant = Some(ParticipantId(source.0));
                    let _ = self.replies.try_send(MediaReply::DominantSpeakers(
                        call_id,
                        vec![ParticipantId(source.0)],
                    ));
                }
            }
        }
        let calls: Vec<CallId> = self.rooms.keys().copied().collect();
        for call_id in calls {
            self.assign_video(call_id, now);
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
