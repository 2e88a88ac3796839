//! What a tick produces for the fan-out, and the events it raises.

use bytes::Bytes;
use confab_codecs::G711Law;

use crate::SourceId;

/// One tick's encoded audio: the shared mix for everyone who is not a selected speaker, and
/// one mix-minus per selected speaker (nobody hears themself), each in the codec its
/// listener takes (Opus, or G.711 for phones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixOutput {
    /// The Opus packet every listener who is not selected receives.
    pub shared: Bytes,
    /// The shared mix's level (−dBov), for the RFC 6464 extension of outgoing packets.
    pub shared_level: u8,
    /// The shared mix in G.711 µ-law, while some listener takes it.
    pub shared_pcmu: Option<Bytes>,
    /// The shared mix in G.711 A-law, while some listener takes it.
    pub shared_pcma: Option<Bytes>,
    /// Each selected speaker and its mix-minus, in the speaker's own codec.
    pub minus: Vec<(SourceId, Bytes)>,
    /// Sources whose own audio was asked for in Opus ([`AudioMixer::set_own_audio`]), with
    /// this tick's packet and its level (−dBov): how a phone's voice reaches unmixed slots.
    ///
    /// [`AudioMixer::set_own_audio`]: crate::AudioMixer::set_own_audio
    pub own: Vec<(SourceId, Bytes, u8)>,
    /// Listeners that take G.711, and which law.
    pub(crate) narrowband: Vec<(SourceId, G711Law)>,
}

impl MixOutput {
    pub(crate) fn silent(silence: Bytes) -> Self {
        MixOutput {
            shared: silence,
            shared_level: 127,
            shared_pcmu: None,
            shared_pcma: None,
            minus: Vec::new(),
            own: Vec::new(),
            narrowband: Vec::new(),
        }
    }

    /// Drops the last tick's packets (the shared mix becomes `silence` until replaced).
    pub(crate) fn release(&mut self, silence: &Bytes) {
        self.shared = silence.clone();
        self.shared_pcmu = None;
        self.shared_pcma = None;
        self.minus.clear();
        self.own.clear();
    }

    /// The shared mix in `law`, if some listener takes it.
    pub fn shared_g711(&self, law: G711Law) -> Option<&Bytes> {
        match law {
            G711Law::MuLaw => self.shared_pcmu.as_ref(),
            G711Law::ALaw => self.shared_pcma.as_ref(),
        }
    }

    /// The packet `listener` receives this tick, in its codec: O(K + phones), no
    /// allocation.
    pub fn payload_for(&self, listener: SourceId) -> &Bytes {
        if let Some((_, p)) = self.minus.iter().find(|(id, _)| *id == listener) {
            return p;
        }
        self.narrowband
            .iter()
            .find(|(id, _)| *id == listener)
            .and_then(|&(_, law)| self.shared_g711(law))
            .unwrap_or(&self.shared)
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
