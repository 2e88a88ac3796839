//! One call's media: its mixer, and which peer each participant's media lives on.

use std::collections::HashMap;

use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_signaling::protocol::ParticipantId;
use confab_transport::peer::PeerId;

#[derive(Debug, Default)]
pub(crate) struct Member {
    pub(crate) peer: Option<PeerId>,
    pub(crate) connected: bool,
    pub(crate) on_hold: bool,
    /// This participant sends camera video.
    pub(crate) sends_video: bool,
    /// Whose video this participant's video slot carries now.
    pub(crate) watching: Option<ParticipantId>,
    /// The slot just switched to another source (timestamps must be rebased).
    pub(crate) switched: bool,
    /// Audio and video packets received from this participant.
    pub(crate) packets_in: (u64, u64),
}

pub(crate) struct Room {
    pub(crate) mixer: AudioMixer,
    pub(crate) members: HashMap<ParticipantId, Member>,
    /// RTP timestamp of the next mixed frame (48 kHz).
    pub(crate) timestamp: u32,
    /// The dominant speaker, whose video everyone else sees.
    pub(crate) dominant: Option<ParticipantId>,
    /// Loss and concealment totals already added to the service's metrics.
    pub(crate) reported: (u64, u64),
}

impl Room {
    pub(crate) fn new() -> Option<Room> {
        match AudioMixer::new(MixerConfig::default()) {
            Ok(mixer) => Some(Room {
                mixer,
                members: HashMap::new(),
                timestamp: 0,
                dominant: None,
                reported: (0, 0),
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

    /// Whose video `viewer` should see: the dominant speaker if it sends video and is not
    /// the viewer, else the first other participant sending video.
    pub(crate) fn featured_for(&self, viewer: ParticipantId) -> Option<ParticipantId> {
        let sends = |p: &ParticipantId| self.members.get(p).is_some_and(|m| m.sends_video);
        self.dominant
            .filter(|d| *d != viewer && sends(d))
            .or_else(|| {
                let mut others: Vec<ParticipantId> = self
                    .members
                    .keys()
                    .copied()
                    .filter(|p| *p != viewer && sends(p))
                    .collect();
                others.sort();
                others.first().copied()
            })
    }
}
