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
}

pub(crate) struct Room {
    pub(crate) mixer: AudioMixer,
    pub(crate) members: HashMap<ParticipantId, Member>,
    /// RTP timestamp of the next mixed frame (48 kHz).
    pub(crate) timestamp: u32,
}

impl Room {
    pub(crate) fn new() -> Option<Room> {
        match AudioMixer::new(MixerConfig::default()) {
            Ok(mixer) => Some(Room {
                mixer,
                members: HashMap::new(),
                timestamp: 0,
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
}
