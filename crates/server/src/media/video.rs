//! Video on the media thread: the SFU path (each camera or screen packet to the slots
//! showing it, from the simulcast layer each viewer's box and link call for), keyframe
//! requests back to sources, and the plan of every member's slots fitted to its link.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use confab_signaling::protocol::{CallId, ParticipantId, ServerMessage};
use confab_transport::payload::h264_sps::keyframe_start_size;
use confab_transport::peer::{PeerServer, RtpPacket, Section};

use super::MediaReply;
use super::plane::Plane;
use super::room::{Member, Room};
use super::slots::place;
use super::video_budget::{Target, Want};
use crate::metrics::Metrics;

impl Plane {
    /// A viewer lost pictures in `section`: ask the source in that slot for a keyframe,
    /// of the layer that viewer gets, and not more often than it pays.
    #[allow(clippy::disallowed_methods)] // see `plane::run`
    pub(super) fn keyframe_request(
        &mut self,
        call_id: CallId,
        viewer: ParticipantId,
        section: Section,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let Some(viewer) = room.members.get(&viewer) else {
            return;
        };
        let layer = viewer.slots.layer_in(section);
        let Some(source) = viewer.slots.occupant(section) else {
            return;
        };
        let Some(source) = room.members.get_mut(&source) else {
            return;
        };
        let upstream = if section == Section::ScreenSlot {
            Section::Screen
        } else {
            Section::Camera
        };
        let now = Instant::now();
        let peer = source.peer;
        let layers = source.layers_mut(upstream);
        match (peer, layer) {
            // Only the layer that viewer gets, and not more often than it pays.
            (Some(peer), Some(ssrc)) if layers.may_ask_keyframe(ssrc, now) => {
                self.server
                    .request_layer_keyframe(peer, upstream, ssrc, now);
                self.metrics
                    .video_keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
            }
            (Some(peer), None) => {
                self.server.request_keyframe(peer, upstream, now);
                self.metrics
                    .video_keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The SFU path: a camera or screen packet from `from` goes to every slot showing it,
    /// from the one stream (simulcast layer) each viewer's box calls for. A slot moves to
    /// another layer only where that layer starts a keyframe, so its viewer's decoder never
    /// sees a picture that refers to one it did not get.
    #[allow(clippy::disallowed_methods)] // see `plane::run`
    pub(super) fn video_in(
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
        let ssrc = packet.header.ssrc;
        let keyframe = keyframe_start_size(&packet.payload);
        let layers_of = |member: &mut Member| {
            if section == Section::Screen {
                member.packets_in.screen += 1;
                member.screen_seen = Some(now);
            } else {
                member.packets_in.video += 1;
                member.camera_seen = Some(now);
            }
            // Out of the member while the viewers (the sender among them) are walked.
            std::mem::take(member.layers_mut(section))
        };
        let Some(mut layers) = room.members.get_mut(&from).map(layers_of) else {
            return;
        };
        layers.saw(ssrc, now, packet.payload.len(), keyframe);
        let mut wanted_keyframe = None;
        for member in room.members.values_mut() {
            let Some(peer) = member.receiving() else {
                continue;
            };
            // Screen share: the largest layer (text stays legible); camera: the viewer's box.
            let slot_box = if section == Section::Screen {
                None
            } else {
                member.video_boxes.get(&from).copied()
            };
            let Some((out, slot)) = member.slots.carrying(section, from) else {
                continue;
            };
            let best = match slot.target {
                Target::Auto => layers.choose(slot_box, now),
                Target::Layer(layer) => Some(layer),
                Target::Paused => {
                    // The viewer's link has no room: nothing until it has (from a keyframe).
                    if slot.layer.take().is_some() {
                        slot.switched = true;
                    }
                    continue;
                }
            };
            if best.is_some() && slot.layer != best {
                if best == Some(ssrc) && keyframe.is_some() {
                    if slot.layer.is_some() {
                        self.metrics
                            .video_layer_switches
                            .fetch_add(1, Ordering::Relaxed);
                        member.layer_switches += 1;
                    }
                    slot.layer = best;
                    slot.switched = true;
                } else if best == Some(ssrc) {
                    wanted_keyframe = Some(ssrc);
                }
            }
            if slot.layer != Some(ssrc) {
                continue;
            }
            let sent = self
                .server
                .forward(peer, out, now, packet, slot.switched, None);
            slot.switched &= sent.is_err();
            if sent.is_ok() {
                slot.last_sent = Some(now);
                slot.frozen = false;
            }
        }
        let Some(member) = room.members.get_mut(&from) else {
            return;
        };
        // A viewer waits for a keyframe of the layer it should get: ask for one (rate-limited).
        if let Some(ssrc) = wanted_keyframe
            && let Some(peer) = member.peer
            && layers.may_ask_keyframe(ssrc, now)
        {
            self.server.request_layer_keyframe(peer, section, ssrc, now);
            self.metrics
                .video_keyframe_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        *member.layers_mut(section) = layers;
    }

    /// A padding-only packet of `from`'s camera or screen (a bandwidth probe): never
    /// forwarded, but every slot carrying that stream closes the gap it leaves, or its
    /// viewer would count it lost and ask for a keyframe.
    pub(super) fn video_padding(
        &mut self,
        call_id: CallId,
        from: ParticipantId,
        section: Section,
        ssrc: u32,
        seq: u16,
    ) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        for member in room.members.values_mut() {
            let Some(peer) = member.receiving() else {
                continue;
            };
            if let Some((out, slot)) = member.slots.carrying(section, from)
                && slot.layer == Some(ssrc)
                && !slot.switched
            {
                self.server.skip_forwarded(peer, out, seq);
                self.metrics
                    .video_padding_absorbed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Re-plans every member's slots; a changed slot asks its new source for a keyframe
    /// (so the viewer can decode at once) and the member hears of it in `media_slots`.
    pub(super) fn plan_slots(&mut self, call_id: CallId, now: Instant) {
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return;
        };
        let order = room.camera_order(now);
        let screens = room.screen_senders(now);
        let viewers: Vec<ParticipantId> = room.members.keys().copied().collect();
        let mut keyframes: Vec<(ParticipantId, Section)> = Vec::new();
        let mut notices = Vec::new();
        let mut priorities = Vec::new();
        for viewer in viewers {
            let (video_count, unmixed_count) = room
                .members
                .get(&viewer)
                .map_or((0, 0), |m| (m.slots.video.len(), m.slots.unmixed.len()));
            let video = room.wanted_video(viewer, &order, now, video_count);
            let screen = room.screen_for(viewer, &screens);
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
                member.slots.screen.set_occupant(screen);
                keyframes.extend(screen.map(|p| (p, Section::Screen)));
                changed = true;
            }
            // A notice the signaling task had no room for is sent again at the next plan.
            if (changed || member.slots.unannounced)
                && let Some(peer) = member.peer
            {
                notices.push((viewer, peer));
            }
            priorities.push((viewer, video));
        }
        for (viewer, video) in priorities {
            fit_to_link(&self.server, &self.metrics, room, viewer, &video, now);
        }
        for (source, section) in keyframes {
            if let Some(peer) = room.members.get(&source).and_then(|m| m.peer) {
                self.server.request_keyframe(peer, section, now);
                self.metrics
                    .video_keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
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
            let sent = self
                .replies
                .try_send(MediaReply::Deliver(call_id, viewer, message))
                .is_ok();
            if !sent {
                tracing::warn!("signaling task busy: media_slots delayed");
            }
            if let Some(member) = room.members.get_mut(&viewer) {
                member.slots.unannounced = !sent;
            }
        }
    }
}

/// Fits `viewer`'s video slots to its link (`video`: whose cameras it gets, most important
/// first; its screen slot comes before them), and counts slots that froze: nothing
/// forwarded for a second while their source sent.
fn fit_to_link(
    server: &PeerServer,
    metrics: &Metrics,
    room: &mut Room,
    viewer: ParticipantId,
    video: &[ParticipantId],
    now: Instant,
) {
    /// A slot that forwarded nothing for this long while its source sent is frozen.
    const FROZEN_AFTER: Duration = Duration::from_secs(1);
    /// A source that sent within this long is sending.
    const SENDING: Duration = Duration::from_millis(300);
    let Some(member) = room.members.get(&viewer) else {
        return;
    };
    let Some(peer) = member.receiving() else {
        return;
    };
    if video.is_empty() && member.slots.screen.occupant.is_none() {
        // No picture to fit (most of a large room's listeners): nothing below would change.
        return;
    }
    let estimate = server.peer(peer).and_then(|p| p.bandwidth_estimate());
    // Which slot each want is for: `None` the screen slot, `Some(i)` video slot i.
    let mut order: Vec<Option<usize>> = Vec::new();
    let mut wants = Vec::new();
    if let Some(source) = member
        .slots
        .screen
        .occupant
        .and_then(|p| room.members.get(&p))
    {
        order.push(None);
        wants.push(Want {
            layers: &source.screen_layers,
            max: None,
            current: member.slots.screen.target,
        });
    }
    for p in video {
        let slot = member
            .slots
            .video
            .iter()
            .position(|s| s.occupant == Some(*p));
        if let (Some(i), Some(source)) = (slot, room.members.get(p)) {
            order.push(Some(i));
            wants.push(Want {
                layers: &source.camera_layers,
                max: member.video_boxes.get(p).copied(),
                current: member.slots.video[i].target,
            });
        }
    }
    let mut budget = member.budget.clone();
    let targets = estimate.map(|bits| budget.allocate(bits, &wants, now));
    drop(wants);
    let sending: Vec<bool> = order
        .iter()
        .map(|slot| {
            let source = match slot {
                None => member.slots.screen.occupant,
                Some(i) => member.slots.video[*i].occupant,
            };
            source.and_then(|p| room.members.get(&p)).is_some_and(|s| {
                let seen = if slot.is_none() {
                    s.screen_seen
                } else {
                    s.camera_seen
                };
                seen.is_some_and(|t| now.saturating_duration_since(t) < SENDING)
            })
        })
        .collect();
    // A step down because the link cannot carry the layer the slot forwards now: stop
    // forwarding it at once rather than at the smaller layer's keyframe (which takes a
    // keyframe request's round trip), or the link's queue keeps growing and drops audio.
    let overflowing: Vec<bool> = order
        .iter()
        .enumerate()
        .map(|(k, slot)| {
            let (Some(targets), Some(bits)) = (&targets, estimate) else {
                return false;
            };
            let slot = match slot {
                None => &member.slots.screen,
                Some(i) => &member.slots.video[*i],
            };
            let source = slot.occupant.and_then(|p| room.members.get(&p));
            let (Some(source), Some(current), Target::Layer(target)) =
                (source, slot.layer, targets[k])
            else {
                return false;
            };
            let layers = if order[k].is_none() {
                &source.screen_layers
            } else {
                &source.camera_layers
            };
            let smaller = layers.area(target) < layers.area(current);
            target != current && smaller && layers.rate(current).is_some_and(|r| r > bits)
        })
        .collect();
    let Some(member) = room.members.get_mut(&viewer) else {
        return;
    };
    let downgrades = budget.downgrades - member.budget.downgrades;
    metrics
        .video_bandwidth_downgrades
        .fetch_add(downgrades, Ordering::Relaxed);
    member.budget = budget;
    for (k, slot) in order.iter().enumerate() {
        let slot = match slot {
            None => &mut member.slots.screen,
            Some(i) => &mut member.slots.video[*i],
        };
        if let Some(targets) = &targets {
            if slot.target != targets[k] {
                tracing::debug!(%viewer, ?estimate, from = ?slot.target, to = ?targets[k], "video slot target");
            }
            slot.target = targets[k];
        }
        if overflowing[k] {
            slot.layer = None;
            slot.switched = true;
            member.layer_switches += 1;
            metrics.video_layer_switches.fetch_add(1, Ordering::Relaxed);
        }
        let stalled = slot
            .last_sent
            .is_some_and(|t| now.saturating_duration_since(t) >= FROZEN_AFTER);
        if stalled && sending[k] && slot.target != Target::Paused && !slot.frozen {
            slot.frozen = true;
            member.freezes += 1;
            metrics.video_freezes.fetch_add(1, Ordering::Relaxed);
        }
    }
}
