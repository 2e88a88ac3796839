//! [`AudioMixer`]: one room's mixed audio, one 20 ms tick at a time.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{
    AudioFormat, AudioFrame, AudioLevel, FrameDuration, MediaTime, MixBuffer, VoiceActivityDetector,
};
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};

use crate::dominant::{DominantConfig, DominantSpeaker};
use crate::selector::{Candidate, SelectorConfig, SpeakerSelector};
use crate::{MixOutput, MixerError, MixerEvent, SourceId};

const FORMAT: AudioFormat = AudioFormat::MONO_48K;
const FRAME: usize = 960;

/// Tuning of a room's mixer.
#[derive(Debug, Clone)]
pub struct MixerConfig {
    /// Who gets mixed.
    pub selector: SelectorConfig,
    /// Who holds the floor.
    pub dominant: DominantConfig,
    /// Each source's jitter buffer.
    pub jitter: JitterConfig,
    /// The encoders of the mixes.
    pub encoder: OpusEncoderConfig,
    /// A source's decoder keeps decoding this long after it last spoke, so that if it is
    /// selected its audio starts clean.
    pub warm_for: Duration,
}

impl Default for MixerConfig {
    fn default() -> Self {
        MixerConfig {
            selector: SelectorConfig::default(),
            dominant: DominantConfig::default(),
            jitter: JitterConfig::default(),
            // Mixes of several voices need more bits than one voice.
            encoder: OpusEncoderConfig {
                application: confab_codecs::OpusApplication::Audio,
                bitrate_bps: 48_000,
                expected_loss_percent: 5,
                ..OpusEncoderConfig::default()
            },
            warm_for: Duration::from_secs(2),
        }
    }
}

/// What the mixer did, cumulatively: the cost drivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixerCounters {
    /// Ticks run.
    pub ticks: u64,
    /// Frames decoded from packets.
    pub decodes: u64,
    /// Lost frames rebuilt from the next packet's FEC.
    pub fec_recoveries: u64,
    /// Frames concealed (loss, underflow or DTX) on warm decoders.
    pub concealments: u64,
    /// Frames encoded.
    pub encodes: u64,
    /// Ticks with nobody to mix (a cached silence packet went out, nothing was encoded).
    pub silent_ticks: u64,
    /// Ticks with one voice: its own mix-minus was the cached silence (one encode only).
    pub lone_voice_ticks: u64,
}

/// Ticks of expansion that still count as the last level (a late packet), after which a
/// source that sends nothing counts as silent.
const MAX_EXPAND_AS_SPEECH: u32 = 3;

#[derive(Debug)]
struct Source {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    vad: VoiceActivityDetector,
    smoothed_db: f32,
    last_level: u8,
    /// Consecutive ticks with nothing to play (the sender is late, or has stopped).
    expanding: u32,
    sends_levels: bool,
    muted: bool,
    speaking: bool,
    warm_until: Option<Instant>,
    decision: Playout,
    decoded: bool,
    frame: AudioFrame,
}

/// A room's audio mixer. Sans-IO: [`insert`](AudioMixer::insert) packets as they arrive,
/// [`tick`](AudioMixer::tick) every 20 ms with the time, read the [`MixOutput`] and drain
/// [`MixerEvent`]s.
///
/// Each tick: every source's jitter buffer yields one decision; levels (RFC 6464, or VAD on
/// decoded audio for senders without them) drive voice activity, the [`SpeakerSelector`]
/// and the [`DominantSpeaker`]; only selected and recently active sources are decoded; the
/// selected frames are summed once; the shared mix and one mix-minus per selected speaker
/// are encoded — at most K+1 encodes whatever the room size.
pub struct AudioMixer {
    config: MixerConfig,
    sources: BTreeMap<SourceId, Source>,
    selector: SpeakerSelector,
    dominant: DominantSpeaker,
    candidates: Vec<Candidate>,
    mix: MixBuffer,
    pcm: AudioFrame,
    shared_encoder: OpusEncoder,
    slot_encoders: Vec<OpusEncoder>,
    silence: Bytes,
    encoded: Vec<u8>,
    output: MixOutput,
    events: VecDeque<MixerEvent>,
    counters: MixerCounters,
    ticks: u64,
}

impl std::fmt::Debug for AudioMixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioMixer")
            .field("sources", &self.sources.len())
            .field("selected", &self.selector.selected())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl AudioMixer {
    /// An empty room.
    pub fn new(config: MixerConfig) -> Result<Self, MixerError> {
        let encoder = || OpusEncoder::new(FORMAT, config.encoder);
        let shared_encoder = encoder()?;
        let slot_encoders = (0..config.selector.k)
            .map(|_| encoder())
            .collect::<Result<Vec<_>, _>>()?;
        // One encoded frame of digital silence, sent when nobody speaks (costs no encode).
        let mut silence = Vec::new();
        encoder()?.encode(
            &AudioFrame::silence(FORMAT, FrameDuration::Ms20, MediaTime::ZERO),
            &mut silence,
        )?;
        Ok(AudioMixer {
            selector: SpeakerSelector::new(config.selector),
            dominant: DominantSpeaker::new(config.dominant),
            shared_encoder,
            slot_encoders,
            silence: Bytes::from(silence.clone()),
            output: MixOutput::silent(Bytes::from(silence)),
            config,
            sources: BTreeMap::new(),
            candidates: Vec::new(),
            mix: MixBuffer::new(FRAME),
            pcm: AudioFrame::silence(FORMAT, FrameDuration::Ms20, MediaTime::ZERO),
            encoded: Vec::with_capacity(1500),
            events: VecDeque::new(),
            counters: MixerCounters::default(),
            ticks: 0,
        })
    }

    /// Adds a source (a participant's audio).
    pub fn add_source(&mut self, id: SourceId) -> Result<(), MixerError> {
        let source = Source {
            jitter: JitterBuffer::new(self.config.jitter.clone()),
            decoder: OpusDecoder::new(FORMAT)?,
            vad: VoiceActivityDetector::default(),
            smoothed_db: -127.0,
            last_level: 127,
            expanding: 0,
            sends_levels: false,
            muted: false,
            speaking: false,
            warm_until: None,
            decision: Playout::Buffering,
            decoded: false,
            frame: AudioFrame::silence(FORMAT, FrameDuration::Ms20, MediaTime::ZERO),
        };
        self.sources.insert(id, source);
        Ok(())
    }

    /// Removes a source.
    pub fn remove_source(&mut self, id: SourceId) {
        self.sources.remove(&id);
        self.selector.remove(id);
        self.dominant.remove(id);
    }

    /// Mutes or unmutes a source: a muted source is never mixed (or decoded).
    pub fn set_muted(&mut self, id: SourceId, muted: bool) {
        if let Some(s) = self.sources.get_mut(&id) {
            s.muted = muted;
        }
        if muted {
            self.selector.remove(id);
        }
    }

    /// A packet from `id` arrived at `now`.
    pub fn insert(&mut self, id: SourceId, packet: AudioPacket, now: Instant) {
        if let Some(s) = self.sources.get_mut(&id) {
            s.jitter.insert(packet, now);
        }
    }

    /// Sources in the room.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// The speakers mixed now, in slot order.
    pub fn selected(&self) -> &[SourceId] {
        self.selector.selected()
    }

    /// Cumulative counters.
    pub fn counters(&self) -> MixerCounters {
        self.counters
    }

    /// Packets lost on the way in, over every source now in the room.
    pub fn packets_lost(&self) -> u64 {
        self.sources.values().map(|s| s.jitter.stats().lost()).sum()
    }

    /// A source's jitter-buffer statistics.
    pub fn jitter_stats(&self, id: SourceId) -> Option<confab_transport::jitter::JitterStats> {
        self.sources.get(&id).map(|s| s.jitter.stats())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MixerEvent> {
        self.events.pop_front()
    }

    /// The output of the last tick.
    pub fn output(&self) -> &MixOutput {
        &self.output
    }

    /// Whether nobody is in the room (a scheduler can park it).
    pub fn is_idle(&self) -> bool {
        self.sources.is_empty()
    }

    /// Runs one 20 ms tick at `now` and returns what every listener gets.
    pub fn tick(&mut self, now: Instant) -> Result<&MixOutput, MixerError> {
        self.ticks += 1;
        self.counters.ticks += 1;
        let timestamp = MediaTime::from_millis(self.ticks * 20);
        self.candidates.clear();
        for (&id, s) in &mut self.sources {
            s.decision = s.jitter.pop(now);
            s.decoded = false;
            s.expanding = if s.decision == Playout::Expand {
                s.expanding + 1
            } else {
                0
            };
            let level = match &s.decision {
                Playout::Packet { level, .. } | Playout::RecoverFec { level, .. } => *level,
                Playout::Conceal { .. } => Some(s.last_level),
                // A late packet keeps the last level; a sender that stopped sending (no DTX,
                // no packets: a bot with nothing to say) is silent after 60 ms.
                Playout::Expand if s.expanding <= MAX_EXPAND_AS_SPEECH => Some(s.last_level),
                Playout::Expand | Playout::Dtx | Playout::Buffering => Some(127),
            };
            let level = match level {
                Some(l) => {
                    s.sends_levels |= !matches!(s.decision, Playout::Dtx | Playout::Buffering);
                    l
                }
                // No RFC 6464 level from this sender: decode now and measure.
                None => {
                    decode(s, timestamp, &mut self.counters)?;
                    AudioLevel::measure(s.frame.samples()).wire_value()
                }
            };
            s.last_level = level;
            let target = -f32::from(level);
            let rate = if target > s.smoothed_db { 0.5 } else { 0.1 };
            s.smoothed_db += (target - s.smoothed_db) * rate;
            let speaking = !s.muted
                && s.vad
                    .update(AudioLevel::from_wire(level).unwrap_or(AudioLevel::SILENCE));
            if speaking != s.speaking {
                s.speaking = speaking;
                self.events.push_back(MixerEvent::Speaking { id, speaking });
            }
            if speaking {
                s.warm_until = Some(now + self.config.warm_for);
            }
            self.candidates.push(Candidate {
                id,
                level_db: s.smoothed_db,
                speaking,
            });
        }
        if self.selector.update(now, &self.candidates) {
            self.events
                .push_back(MixerEvent::Selection(self.selector.selected().to_vec()));
        }
        if let Some(id) = self.dominant.update(now, &self.candidates) {
            self.events.push_back(MixerEvent::DominantSpeaker(id));
        }
        // Decode only what may be heard now or soon.
        for (&id, s) in &mut self.sources {
            let warm = s.warm_until.is_some_and(|t| t > now);
            if s.sends_levels && (warm || self.selector.is_selected(id)) {
                decode(s, timestamp, &mut self.counters)?;
            }
        }
        self.mix_and_encode(timestamp)?;
        Ok(&self.output)
    }

    fn mix_and_encode(&mut self, timestamp: MediaTime) -> Result<(), MixerError> {
        let selected = self.selector.selected();
        self.output.minus.clear();
        if selected.is_empty() {
            self.output.shared = self.silence.clone();
            self.output.shared_level = 127;
            self.counters.silent_ticks += 1;
            return Ok(());
        }
        self.mix.reset(FRAME);
        for id in selected {
            if let Some(s) = self.sources.get(id) {
                self.mix.add(s.frame.samples())?;
            }
        }
        self.pcm.set_timestamp(timestamp);
        self.mix.write_soft_clipped(self.pcm.samples_mut())?;
        self.output.shared_level = AudioLevel::measure(self.pcm.samples()).wire_value();
        self.shared_encoder.encode(&self.pcm, &mut self.encoded)?;
        self.output.shared = Bytes::copy_from_slice(&self.encoded);
        self.counters.encodes += 1;
        if let [only] = selected {
            // One voice: what it hears without itself is silence — no encode needed.
            self.output.minus.push((*only, self.silence.clone()));
            self.counters.lone_voice_ticks += 1;
            return Ok(());
        }
        for (slot, id) in selected.iter().enumerate() {
            let Some(s) = self.sources.get(id) else {
                continue;
            };
            self.mix
                .write_mix_minus(s.frame.samples(), self.pcm.samples_mut())?;
            self.slot_encoders[slot].encode(&self.pcm, &mut self.encoded)?;
            self.output
                .minus
                .push((*id, Bytes::copy_from_slice(&self.encoded)));
            self.counters.encodes += 1;
        }
        Ok(())
    }
}

/// Decodes a source's decision for this tick into its frame (once per tick at most).
fn decode(
    s: &mut Source,
    timestamp: MediaTime,
    counters: &mut MixerCounters,
) -> Result<(), MixerError> {
    if s.decoded {
        return Ok(());
    }
    s.decoded = true;
    match &s.decision {
        Playout::Packet { payload, .. } => {
            if s.decoder
                .decode_into(payload, timestamp, &mut s.frame)
                .is_err()
            {
                // A corrupt packet is concealed like a lost one.
                s.decoder.conceal_into(timestamp, &mut s.frame)?;
                counters.concealments += 1;
            } else {
                counters.decodes += 1;
            }
        }
        Playout::RecoverFec { next_payload, .. } => {
            s.decoder
                .recover_into(next_payload, timestamp, &mut s.frame)?;
            counters.fec_recoveries += 1;
        }
        Playout::Conceal { .. } | Playout::Expand | Playout::Dtx => {
            s.decoder.conceal_into(timestamp, &mut s.frame)?;
            counters.concealments += 1;
        }
        Playout::Buffering => s.frame.samples_mut().fill(0),
    }
    Ok(())
}
