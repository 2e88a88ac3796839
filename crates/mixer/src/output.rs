//! What a tick produces for the fan-out, and the events it raises.

use bytes::Bytes;

use crate::SourceId;

/// One tick's encoded audio: the shared mix for everyone who is not a selected speaker, and
/// one mix-minus per selected speaker (nobody hears themself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixOutput {
    /// The Opus packet every listener who is not selected receives.
    pub shared: Bytes,
    /// The shared mix's level (−dBov), for the RFC 6464 extension of outgoing packets.
    pub shared_level: u8,
    /// Each selected speaker and the Opus packet of its mix-minus.
    pub minus: Vec<(SourceId, Bytes)>,
}

impl MixOutput {
    pub(crate) fn silent(silence: Bytes) -> Self {
        MixOutput {
            shared: silence,
            shared_level: 127,
            minus: Vec::new(),
        }
    }

    /// The packet `listener` receives this tick: O(K), no allocation.
    pub fn payload_for(&self, listener: SourceId) -> &Bytes {
        self.minus
            .iter()
            .find(|(id, _)| *id == listener)
            .map_or(&self.shared, |(_, p)| p)
    }

    /// Distinct packets encoded this tick (K+1 at most, 1 when nobody speaks).
    pub fn encoded_packets(&self) -> usize {
        1 + self.minus.len()
    }
}

/// What the mixer tells the call service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MixerEvent {
    /// A source started or stopped speaking.
    Speaking {
        /// Which source.
        id: SourceId,
        /// Now speaking or silent.
        speaking: bool,
    },
    /// The mixed speakers changed (slot order).
    Selection(Vec<SourceId>),
    /// A new dominant speaker.
    DominantSpeaker(SourceId),
}
