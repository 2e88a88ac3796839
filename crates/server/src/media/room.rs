//! One call's media: its mixer, each participant's peer and receive slots, and who should
//! be seen and heard in those slots.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_mixer::{MediaScheduler, RoomHandle};
use confab_signaling::protocol::{CallId, ParticipantId};
use confab_transport::peer::{PeerId, Section};
use confab_transport::simulcast::Layers;

use super::video_budget::Budget;

use super::mixing::{MixRoom, MixedOut};
use super::slots::Slots;
use crate::metrics::Metrics;

/// A camera or screen counts as sending while its packets keep arriving this often.
const SENDING_WITHIN: Duration = Duration::from_secs(2);

/// Packets received from one participant.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PacketsIn {
    pub(crate) audio: u64,
    pub(crate) video: u64,
    pub(crate) screen: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Member {
    pub(crate) peer: Option<PeerId>,
    /// A phone's RTP leg (phones have no peer).
    pub(crate) phone: Option<super::phones::PhoneLeg>,
    pub(crate) connected: bool,
    pub(crate) on_hold: bool,
    pub(crate) muted: bool,
    /// When its last camera and screen packets arrived.
    pub(crate) camera_seen: Option<Instant>,
    pub(crate) screen_seen: Option<Instant>,
    /// Participants whose video it asked for, first asked first.
    pub(crate) subscriptions: Vec<ParticipantId>,
    /// The largest picture it wants of each participant it subscribed to.
    pub(crate) video_boxes: HashMap<ParticipantId, (u32, u32)>,
    /// The simulcast layers (or the one stream) of its camera and of its screen.
    pub(crate) camera_layers: Layers,
    pub(crate) screen_layers: Layers,
    /// Its receive slots.
    pub(crate) slots: Slots,
    pub(crate) packets_in: PacketsIn,
    /// Its video fitted to its link, and what that did.
    pub(crate) budget: Budget,
    pub(crate) layer_switches: u64,
    pub(crate) freezes: u64,
    /// How its microphone's RTP timestamps map onto the room's clock: (its SSRC, the
    /// offset to add), fixed at its first packet after the room's first tick.
    pub(crate) mic_clock: Option<(u32, u32)>,
}

impl Member {
    /// The simulcast layers of what it sends on `upstream` (its camera or its screen).
    pub(crate) fn layers_mut(&mut self, upstream: Section) -> &mut Layers {
        if upstream == Section::Screen {
            &mut self.screen_layers
        } else {
            &mut self.camera_layers
        }
    }

    /// Whether media flows to this member now.
    pub(crate) fn receiving(&self) -> Option<PeerId> {
        self.peer.filter(|_| self.connected && !self.on_hold)
    }

    fn sends_camera(&self, now: Instant) -> bool {
        self.camera_seen
            .is_some_and(|t| now.saturating_duration_since(t) < SENDING_WITHIN)
    }

    fn sends_screen(&self, now: Instant) -> bool {
        self.screen_seen
            .is_some_and(|t| now.saturating_duration_since(t) < SENDING_WITHIN)
    }
}

/// When a participant last spoke, and whether it speaks now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Speech {
    pub(crate) speaking: bool,
    pub(crate) last: Instant,
}

pub(crate) struct Room {
    /// The room's mixer, ticking on a media thread of the scheduler.
    pub(crate) mixer: RoomHandle,
    pub(crate) members: HashMap<ParticipantId, Member>,
    /// Dominant speakers, most recent first (each once).
    pub(crate) dominant: Vec<ParticipantId>,
    /// Voice activity per participant, from the mixer.
    pub(crate) speech: HashMap<ParticipantId, Speech>,
    /// Who shares the screen (signaling's flag).
    pub(crate) sharer: Option<ParticipantId>,
    /// Audio packets lost per participant, as the mixer last reported.
    pub(crate) lost: HashMap<ParticipantId, u64>,
    /// Whether phones' own voices are encoded for unmixed slots (some member has them).
    pub(crate) own_audio: bool,
    /// The room's clock: the instant and RTP timestamp (48 kHz) of its first mixer tick,
    /// then real time. The mix is stamped near it (ticks follow the dominant speaker's
    /// phase, within a frame); unmixed slots exactly, so a bot's files line up.
    pub(crate) clock: Option<(Instant, u32)>,
}

impl Room {
    /// A room whose mixer ticks on `scheduler`, sending its output to `out`.
    pub(crate) fn new(
        scheduler: &MediaScheduler,
        call_id: CallId,
        metrics: Arc<Metrics>,
        out: MixedOut,
    ) -> Option<Room> {
        let mix = match MixRoom::new(call_id, metrics, out) {
            Ok(mix) => mix,
            Err(e) => {
                tracing::error!(%call_id, "cannot create a mixer: {e}");
                return None;
            }
        };
        let mixer = match scheduler.add(mix) {
            Ok(handle) => handle,
            Err(e) => {
                tracing::error!(%call_id, "cannot place the mixer: {e}");
                return None;
            }
        };
        Some(Room {
            mixer,
            members: HashMap::new(),
            dominant: Vec::new(),
            speech: HashMap::new(),
            sharer: None,
            lost: HashMap::new(),
            own_audio: false,
            clock: None,
        })
    }

    /// The room clock's timestamp of a microphone packet of `from` (RTP timestamp `ts`,
    /// stream `ssrc`) that arrived at `now`: its own timestamp moved by a fixed offset, set
    /// at the member's first packet from the room clock's reading then (and again when its
    /// stream restarts or its timestamps jump by over a second). `None` before the room's
    /// first tick.
    pub(crate) fn on_clock(
        &mut self,
        from: ParticipantId,
        ssrc: u32,
        ts: u32,
        now: Instant,
    ) -> Option<u32> {
        const SECOND: i64 = 48_000;
        let (ticked, tick_ts) = self.clock?;
        let since = now.saturating_duration_since(ticked).as_micros() as u64 * 48 / 1000;
        let reading = tick_ts.wrapping_add(since as u32);
        let member = self.members.get_mut(&from)?;
        let mapped = match member.mic_clock {
            Some((known, offset)) if known == ssrc => {
                let mapped = ts.wrapping_add(offset);
                (i64::from(mapped.wrapping_sub(reading) as i32).abs() <= SECOND).then_some(mapped)
            }
            _ => None,
        };
        Some(mapped.unwrap_or_else(|| {
            member.mic_clock = Some((ssrc, reading.wrapping_sub(ts)));
            reading
        }))
    }

    /// Hands `from`'s audio packet to the room's mixer on its media thread (a typed command:
    /// nothing allocated per packet); dropped when that thread's queue is full, like a
    /// packet lost on the way.
    pub(crate) fn mix_packet(
        &self,
        from: ParticipantId,
        packet: confab_transport::jitter::AudioPacket,
        now: Instant,
    ) {
        if self
            .mixer
            .packet(super::mixing::source(from), packet, now)
            .is_err()
        {
            tracing::warn!("media thread queue full: audio packet dropped");
        }
    }

    /// Runs a command that must not be lost (membership, mute) on the room's mixer.
    pub(crate) fn control(&self, f: impl FnOnce(&mut MixRoom) + Send + 'static) {
        if self.mixer.with_reliably(f).is_err() {
            tracing::error!("media thread gone: mixer command lost");
        }
    }

    /// Notes a new dominant speaker.
    pub(crate) fn set_dominant(&mut self, speaker: ParticipantId) {
        self.dominant.retain(|p| *p != speaker);
        self.dominant.insert(0, speaker);
    }

    /// Camera senders in the room's order of interest: recent dominant speakers first,
    /// then everyone else by arrival.
    pub(crate) fn camera_order(&self, now: Instant) -> Vec<ParticipantId> {
        let sends = |p: &ParticipantId| self.members.get(p).is_some_and(|m| m.sends_camera(now));
        let mut order: Vec<ParticipantId> =
            self.dominant.iter().copied().filter(|p| sends(p)).collect();
        let mut rest: Vec<ParticipantId> = self
            .members
            .keys()
            .copied()
            .filter(|p| sends(p) && !order.contains(p))
            .collect();
        rest.sort();
        order.extend(rest);
        order
    }

    /// Whose cameras `viewer` should see, most wanted first, at most `limit` (its video
    /// slots): its own subscriptions, then the room's order (`camera_order`), never itself.
    /// Linear in the room's size, so a plan of every viewer stays O(n · slots).
    pub(crate) fn wanted_video(
        &self,
        viewer: ParticipantId,
        order: &[ParticipantId],
        now: Instant,
        limit: usize,
    ) -> Vec<ParticipantId> {
        let Some(member) = self.members.get(&viewer) else {
            return Vec::new();
        };
        let mut wanted: Vec<ParticipantId> = Vec::with_capacity(limit);
        let subscribed = member
            .subscriptions
            .iter()
            .copied()
            .filter(|p| self.members.get(p).is_some_and(|m| m.sends_camera(now)));
        for p in subscribed.chain(order.iter().copied()) {
            if wanted.len() == limit {
                break;
            }
            if p != viewer && !wanted.contains(&p) {
                wanted.push(p);
            }
        }
        wanted
    }

    /// Who sends screen video now, in a stable order: computed once per plan, then
    /// [`Room::screen_for`] picks each viewer's.
    pub(crate) fn screen_senders(&self, now: Instant) -> Vec<ParticipantId> {
        let mut senders: Vec<ParticipantId> = self
            .members
            .iter()
            .filter(|(_, m)| m.sends_screen(now))
            .map(|(p, _)| *p)
            .collect();
        senders.sort();
        senders
    }

    /// Whose screen the screen slot of `viewer` carries: the flagged sharer, else the first
    /// of `senders` (from [`Room::screen_senders`]) that is not the viewer.
    pub(crate) fn screen_for(
        &self,
        viewer: ParticipantId,
        senders: &[ParticipantId],
    ) -> Option<ParticipantId> {
        self.sharer
            .filter(|p| *p != viewer)
            .or_else(|| senders.iter().copied().find(|p| *p != viewer))
    }

    /// Whose audio `listener`'s `slots` unmixed slots carry: everyone else when they fit,
    /// else those speaking now, then those who spoke last.
    pub(crate) fn wanted_unmixed(
        &self,
        listener: ParticipantId,
        slots: usize,
    ) -> Vec<ParticipantId> {
        let mut others: Vec<ParticipantId> = self
            .members
            .keys()
            .copied()
            .filter(|p| *p != listener)
            .collect();
        others.sort();
        if others.len() > slots {
            others.sort_by_key(|p| {
                let speech = self.speech.get(p);
                (
                    std::cmp::Reverse(speech.is_some_and(|s| s.speaking)),
                    std::cmp::Reverse(speech.map(|s| s.last)),
                    *p,
                )
            });
        }
        others
    }
}
