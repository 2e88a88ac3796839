//! The mix as phones hear it: 48 kHz PCM resampled to 8 kHz and companded to G.711, for
//! listeners that negotiated PCMU or PCMA.

use bytes::Bytes;
use confab_codecs::G711Law;
use confab_codecs::g711;
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime, Resampler, SampleRate};
use confab_transport::slab::PacketSlab;

use crate::MixerError;

/// One stream of 48 kHz mixes turned into G.711 payloads. The resampler's filter state
/// runs across ticks, so feed it every tick of the stream it serves.
#[derive(Debug)]
pub(crate) struct NarrowbandEncoder {
    downsampler: Resampler,
    narrow: AudioFrame,
    encoded: Vec<u8>,
}

impl NarrowbandEncoder {
    pub(crate) fn new() -> Result<Self, MixerError> {
        Ok(NarrowbandEncoder {
            downsampler: Resampler::new(
                AudioFormat::MONO_48K,
                SampleRate::Hz8000,
                FrameDuration::Ms20,
            )?,
            narrow: AudioFrame::silence(AudioFormat::MONO_8K, FrameDuration::Ms20, MediaTime::ZERO),
            encoded: Vec::with_capacity(160),
        })
    }

    /// Resamples one 20 ms mix to 8 kHz (call once per tick, before [`encode`]).
    ///
    /// [`encode`]: NarrowbandEncoder::encode
    pub(crate) fn resample(&mut self, mix: &AudioFrame) -> Result<(), MixerError> {
        self.downsampler.process_into(mix, &mut self.narrow)?;
        Ok(())
    }

    /// The last resampled mix, companded with `law`.
    pub(crate) fn encode(&mut self, law: G711Law, slab: &mut PacketSlab) -> Bytes {
        self.encoded.resize(self.narrow.samples().len(), 0);
        g711::encode(law, self.narrow.samples(), &mut self.encoded);
        slab.copy(&self.encoded)
    }
}

/// 20 ms of G.711 digital silence in `law` (what a lone phone speaker hears of itself).
pub(crate) fn silence(law: G711Law) -> Bytes {
    let mut out = vec![0u8; 160];
    g711::encode(law, &[0i16; 160], &mut out);
    Bytes::from(out)
}
