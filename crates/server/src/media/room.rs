//! One call's media: its mixer, each participant's peer and receive slots, and who should
//! be seen and heard in those slots.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_signaling::protocol::ParticipantId;
use confab_transport::peer::PeerId;

use super::slots::Slots;

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
    pub(crate) connected: bool,
    pub(crate) on_hold: bool,
    pub(crate) muted: bool,
    /// When its last camera and screen packets arrived.
    pub(crate) camera_seen: Option<Instant>,
    pub(crate) screen_seen: Option<Instant>,
    /// Participants whose video it asked for, first asked first.
    pub(crate) subscriptions: Vec<ParticipantId>,
    /// Its receive slots.
    pub(crate) slots: Slots,
    pub(crate) packets_in: PacketsIn,
}

impl Member {
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
    pub(crate) mixer: AudioMixer,
    pub(crate) members: HashMap<ParticipantId, Member>,
    /// RTP timestamp of the next mixed frame (48 kHz).
    pub(crate) timestamp: u32,
    /// Dominant speakers, most recent first (each once).
    pub(crate) dominant: Vec<ParticipantId>,
    /// Voice activity per participant, from the mixer.
    pub(crate) speech: HashMap<ParticipantId, Speech>,
    /// Who shares the screen (signaling's flag).
    pub(crate) sharer: Option<ParticipantId>,
    /// Loss and concealment totals already added to the service's metrics.
    pub(crate) reported: (u64, u64),
    /// Ticks since the room was created (slots are re-planned every few).
    pub(crate) ticks: u64,
}

impl Room {
    pub(crate) fn new() -> Option<Room> {
        match AudioMixer::new(MixerConfig::default()) {
            Ok(mixer) => Some(Room {
                mixer,
                members: HashMap::new(),
                timestamp: 0,
                dominant: Vec::new(),
                speech: HashMap::new(),
                sharer: None,
                reported: (0, 0),
                ticks: 0,
            }),
            Err(e) => {
                tracing::error!("cannot create a mixer: {e}");
                None
            }
        }
    }

    pub(crate) fn source(participant: ParticipantId) -> SourceId {
        SourceId(participant.0)
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

    /// Whose cameras `viewer` should see, most wanted first: its own subscriptions, then
    /// the room's order (`camera_order`), never itself.
    pub(crate) fn wanted_video(
        &self,
        viewer: ParticipantId,
        order: &[ParticipantId],
        now: Instant,
    ) -> Vec<ParticipantId> {
        let Some(member) = self.members.get(&viewer) else {
            return Vec::new();
        };
        let mut wanted: Vec<ParticipantId> = member
            .subscriptions
            .iter()
            .copied()
            .filter(|p| self.members.get(p).is_some_and(|m| m.sends_camera(now)))
            .collect();
        for p in order {
            if !wanted.contains(p) {
                wanted.push(*p);
            }
        }
        wanted.retain(|p| *p != viewer);
        wanted
    }

    /// Whose screen the screen slot of `viewer` carries: the flagged sharer, else whoever
    /// sends screen video now.
    pub(crate) fn screen_for(&self, viewer: ParticipantId, now: Instant) -> Option<ParticipantId> {
        let sends = |p: &ParticipantId| self.members.get(p).is_some_and(|m| m.sends_screen(now));
        self.sharer.filter(|p| *p != viewer).or_else(|| {
            let mut senders: Vec<ParticipantId> = self
                .members
                .keys()
                .copied()
                .filter(|p| *p != viewer && sends(p))
                .collect();
            senders.sort();
            senders.first().copied()
        })
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
