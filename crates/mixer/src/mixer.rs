//! [`AudioMixer`]: one room's mixed audio, one 20 ms tick at a time.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{AudioCodec, AudioEncoder, G711Law, OpusEncoder, OpusEncoderConfig};
use confab_media::{
    AudioFormat, AudioFrame, AudioLevel, FrameDuration, MediaTime, MixBuffer, VoiceActivityDetector,
};
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};
use confab_transport::slab::PacketSlab;

use crate::decoder::SourceDecoder;
use crate::dominant::{DominantConfig, DominantSpeaker};
use crate::narrowband::{self, NarrowbandEncoder};
use crate::selector::{Candidate, SelectorConfig, SpeakerSelector};
use crate::{MixOutput, MixerError, MixerEvent, SourceId};

const FORMAT: AudioFormat = AudioFormat::MONO_48K;
const FRAME: usize = 960;
/// A tick's packets (the shared mix, a mix-minus per speaker, phones' G.711) many times over.
const MIXER_SLAB_BYTES: usize = 16 * 1024;
/// More than a tick's packets take: a mix and four mix-minus at the highest Opus bitrate
/// are under 2 KiB.
const TICK_BYTES: usize = 4096;

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
            // No floor beyond the target's own guard: the media thread's tick is phase-aligned
            // to the voice it follows (see `phase_error_micros`), so a packet needs to wait
            // only the jitter allowance, not a frame for the phase as well.
            jitter: JitterConfig {
                min_delay: Duration::from_millis(20),
                ..JitterConfig::default()
            },
            // Mixes of several voices need more bits than one voice, and a second generation
            // of coding needs the encoder's full effort: at complexity 10 (whose signal
            // analysis picks the speech modes) a voice through the mix scores PESQ-WB 3.87
            // against the codec's 4.03 (complexity 5: 3.40; 64 kbit/s and 10: 3.95), for
            // 0.24 ms an encode instead of 0.05 (benches/codecs.rs, opus_encode_mix).
            encoder: OpusEncoderConfig {
                application: confab_codecs::OpusApplication::Audio,
                bitrate_bps: 48_000,
                expected_loss_percent: 5,
                complexity: 10,
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

/// A voice whose jitter buffer aims for more delay than this is not followed by the tick:
/// the phase (< 20 ms) matters little next to such a depth, and the clock stays put rather
/// than wander with a jitter estimate.
const ALIGN_UP_TO_TARGET: Duration = Duration::from_millis(25);

/// Ticks of expansion that still count as the last level (a late packet), after which a
/// source that sends nothing counts as silent.
const MAX_EXPAND_AS_SPEECH: u32 = 3;

#[derive(Debug)]
struct Source {
    jitter: JitterBuffer,
    decoder: SourceDecoder,
    /// The G.711 law it speaks and hears, for phones (`None`: Opus).
    law: Option<G711Law>,
    /// Encodes its own audio in Opus each tick, when asked ([`AudioMixer::set_own_audio`]).
    own_encoder: Option<Box<OpusEncoder>>,
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
    /// How late this tick played its packet against its allowance (µs; see
    /// [`JitterBuffer::played_margin_micros`]).
    margin: Option<i64>,
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
    /// The shared mix for phones, made while any phone listens.
    shared_narrowband: Option<Box<NarrowbandEncoder>>,
    /// Each slot's mix-minus for a phone speaker, made on first use.
    slot_narrowband: Vec<Option<Box<NarrowbandEncoder>>>,
    silence: Bytes,
    /// 20 ms of G.711 silence, µ-law and A-law.
    g711_silence: (Bytes, Bytes),
    encoded: Vec<u8>,
    /// Where each tick's packets are cut from: the listeners' datagrams are sealed from them
    /// within the tick, so the slab is reused in place and a tick allocates nothing.
    slab: PacketSlab,
    output: MixOutput,
    events: VecDeque<MixerEvent>,
    counters: MixerCounters,
    /// The last tick's jitter-buffer waits (reused: no allocation per tick).
    waits: Vec<Duration>,
    /// How much later than needed this tick came for the voice the room follows, and how
    /// long that voice's packet had waited.
    phase_error: Option<i64>,
    followed_wait: Option<Duration>,
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
            slot_narrowband: (0..slot_encoders.len()).map(|_| None).collect(),
            slot_encoders,
            shared_narrowband: None,
            g711_silence: (
                narrowband::silence(G711Law::MuLaw),
                narrowband::silence(G711Law::ALaw),
            ),
            silence: Bytes::from(silence.clone()),
            output: MixOutput::silent(Bytes::from(silence)),
            config,
            sources: BTreeMap::new(),
            candidates: Vec::new(),
            mix: MixBuffer::new(FRAME),
            pcm: AudioFrame::silence(FORMAT, FrameDuration::Ms20, MediaTime::ZERO),
            encoded: Vec::with_capacity(1500),
            slab: PacketSlab::new(MIXER_SLAB_BYTES),
            events: VecDeque::new(),
            counters: MixerCounters::default(),
            waits: Vec::new(),
            phase_error: None,
            followed_wait: None,
            ticks: 0,
        })
    }

    /// Adds a source (a participant's audio) that sends and hears Opus.
    pub fn add_source(&mut self, id: SourceId) -> Result<(), MixerError> {
        self.add_source_with_codec(id, AudioCodec::Opus)
    }

    /// Adds a source that sends and hears `codec`: Opus, or G.711 (a phone, 8 kHz: decoded
    /// with pitch-repeating concealment and resampled into the mix; it hears the mix
    /// resampled to 8 kHz and companded).
    pub fn add_source_with_codec(
        &mut self,
        id: SourceId,
        codec: AudioCodec,
    ) -> Result<(), MixerError> {
        let law = match codec {
            AudioCodec::Opus => None,
            AudioCodec::Pcmu => Some(G711Law::MuLaw),
            AudioCodec::Pcma => Some(G711Law::ALaw),
        };
        if law.is_some() && self.shared_narrowband.is_none() {
            self.shared_narrowband = Some(Box::new(NarrowbandEncoder::new()?));
        }
        let source = Source {
            jitter: JitterBuffer::new(SourceDecoder::jitter_config(codec, &self.config.jitter)),
            decoder: SourceDecoder::new(codec)?,
            law,
            own_encoder: None,
            vad: VoiceActivityDetector::default(),
            smoothed_db: -127.0,
            last_level: 127,
            expanding: 0,
            sends_levels: false,
            muted: false,
            speaking: false,
            warm_until: None,
            decision: Playout::Buffering,
            margin: None,
            decoded: false,
            frame: AudioFrame::silence(FORMAT, FrameDuration::Ms20, MediaTime::ZERO),
        };
        self.sources.insert(id, source);
        self.update_narrowband();
        Ok(())
    }

    /// A source's audio starts over as a new RTP stream (its connection was replaced after
    /// a network drop): nothing of the old stream stays buffered, and the new numbering is
    /// learnt from its first packet. Its codec, mute and speaking state stay.
    pub fn restart_source(&mut self, id: SourceId) {
        if let Some(s) = self.sources.get_mut(&id) {
            s.jitter.restart();
            s.decision = Playout::Buffering;
        }
    }

    /// Removes a source.
    pub fn remove_source(&mut self, id: SourceId) {
        self.sources.remove(&id);
        self.selector.remove(id);
        self.dominant.remove(id);
        self.update_narrowband();
    }

    /// Asks for (or stops) a source's own audio encoded in Opus every tick it is decoded,
    /// in [`MixOutput::own`]: how a phone's voice reaches listeners that take each
    /// participant's audio apart (bots' unmixed slots). Sources without RFC 6464 levels
    /// (phones) are decoded every tick.
    pub fn set_own_audio(&mut self, id: SourceId, on: bool) -> Result<(), MixerError> {
        let Some(s) = self.sources.get_mut(&id) else {
            return Ok(());
        };
        match (on, s.own_encoder.is_some()) {
            (true, false) => {
                // Audio mode (CELT) keeps the waveform of an 8 kHz voice: measured through
                // the service, 0.95 correlation at the bot against 0.90 in voice mode (SILK)
                // at 24 kbit/s.
                let config = OpusEncoderConfig {
                    application: confab_codecs::OpusApplication::Audio,
                    bitrate_bps: 32_000,
                    ..OpusEncoderConfig::default()
                };
                s.own_encoder = Some(Box::new(OpusEncoder::new(FORMAT, config)?));
            }
            (false, true) => s.own_encoder = None,
            _ => {}
        }
        Ok(())
    }

    /// Keeps the output's list of G.711 listeners in step with the sources; the phones'
    /// shared encoder is dropped when the last phone leaves.
    fn update_narrowband(&mut self) {
        self.output.narrowband = self
            .sources
            .iter()
            .filter_map(|(&id, s)| s.law.map(|law| (id, law)))
            .collect();
        if self.output.narrowband.is_empty() {
            self.shared_narrowband = None;
            self.output.shared_pcmu = None;
            self.output.shared_pcma = None;
        }
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

    /// How long each packet the last tick played had waited in its source's jitter buffer.
    pub fn played_waits(&self) -> &[Duration] {
        &self.waits
    }

    /// How much later (µs; negative: earlier) than it needed this tick came for the voice
    /// the room follows — the dominant speaker, else the loudest speaking source that
    /// played a packet — folded into half a frame either way: a whole frame too much delay
    /// is the jitter buffer's to shed (by dropping a silent frame), never the clock's, so
    /// the mix's clock keeps pace with real time. `None` when no such packet was played. A
    /// scheduler that moves the room's next tick earlier by this (a little at a time)
    /// phase-aligns the mix to that voice: its packets are mixed one jitter allowance after
    /// they arrive, not up to a frame more ([`MediaScheduler`](crate::MediaScheduler) does).
    pub fn phase_error_micros(&self) -> Option<i64> {
        self.phase_error
    }

    /// How long the packet of the voice the room follows had waited, this tick.
    pub fn followed_wait(&self) -> Option<Duration> {
        self.followed_wait
    }

    /// The voice the tick aligns to: the dominant speaker if it played a packet this tick,
    /// else the loudest speaking source that did.
    fn followed(&self) -> Option<&Source> {
        let dominant = self.dominant.current().and_then(|id| self.sources.get(&id));
        if let Some(s) = dominant.filter(|s| s.margin.is_some()) {
            return Some(s);
        }
        self.sources
            .values()
            .filter(|s| s.speaking && s.margin.is_some())
            .max_by(|a, b| a.smoothed_db.total_cmp(&b.smoothed_db))
    }

    /// Cumulative counters.
    pub fn counters(&self) -> MixerCounters {
        self.counters
    }

    /// Packets lost on the way in, over every source now in the room.
    pub fn packets_lost(&self) -> u64 {
        self.sources.values().map(|s| s.jitter.lost()).sum()
    }

    /// Packets lost on the way in from one source.
    pub fn source_packets_lost(&self, id: SourceId) -> Option<u64> {
        self.sources.get(&id).map(|s| s.jitter.lost())
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
        self.waits.clear();
        for (&id, s) in &mut self.sources {
            s.decision = s.jitter.pop(now);
            if let Some(wait) = s.jitter.played_wait() {
                self.waits.push(wait);
            }
            // Alignment is for steady arrivals: under jitter the buffer's depth dwarfs the
            // phase, and following a moving target would only make the clock wander.
            s.margin = s
                .jitter
                .played_margin_micros(now)
                .filter(|_| s.jitter.target_delay() <= ALIGN_UP_TO_TARGET);
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
        let followed = self.followed().map(|s| (s.margin, s.jitter.played_wait()));
        self.phase_error = followed.and_then(|(margin, _)| margin).map(fold_to_phase);
        self.followed_wait = followed.and_then(|(_, wait)| wait);
        // Decode only what may be heard now or soon.
        for (&id, s) in &mut self.sources {
            let warm = s.warm_until.is_some_and(|t| t > now);
            if s.sends_levels && (warm || self.selector.is_selected(id)) {
                decode(s, timestamp, &mut self.counters)?;
            }
        }
        // Last tick's packets go first, so the slab finds itself free and is reused.
        self.output.release(&self.silence);
        self.slab.make_room(TICK_BYTES);
        self.encode_own_audio()?;
        self.mix_and_encode(timestamp)?;
        Ok(&self.output)
    }

    /// Sources whose own audio was asked for: this tick's decoded frame, in Opus.
    fn encode_own_audio(&mut self) -> Result<(), MixerError> {
        self.output.own.clear();
        for (&id, s) in &mut self.sources {
            let Some(encoder) = s.own_encoder.as_mut() else {
                continue;
            };
            if !s.decoded || s.decision == Playout::Buffering {
                continue;
            }
            encoder.encode(&s.frame, &mut self.encoded)?;
            self.counters.encodes += 1;
            self.output
                .own
                .push((id, self.slab.copy(&self.encoded), s.last_level));
        }
        Ok(())
    }

    fn mix_and_encode(&mut self, timestamp: MediaTime) -> Result<(), MixerError> {
        let selected = self.selector.selected();
        self.output.minus.clear();
        self.pcm.set_timestamp(timestamp);
        if selected.is_empty() {
            self.output.shared = self.silence.clone();
            self.output.shared_level = 127;
            self.counters.silent_ticks += 1;
            // Phones hear the silence through the same filter, so it never restarts.
            self.pcm.samples_mut().fill(0);
            encode_shared_narrowband(
                self.shared_narrowband.as_deref_mut(),
                &self.pcm,
                &mut self.output,
                &mut self.slab,
            )?;
            return Ok(());
        }
        self.mix.reset(FRAME);
        for id in selected {
            if let Some(s) = self.sources.get(id) {
                self.mix.add(s.frame.samples())?;
            }
        }
        self.mix.write_soft_clipped(self.pcm.samples_mut())?;
        self.output.shared_level = AudioLevel::measure(self.pcm.samples()).wire_value();
        self.shared_encoder.encode(&self.pcm, &mut self.encoded)?;
        self.output.shared = self.slab.copy(&self.encoded);
        self.counters.encodes += 1;
        encode_shared_narrowband(
            self.shared_narrowband.as_deref_mut(),
            &self.pcm,
            &mut self.output,
            &mut self.slab,
        )?;
        if let [only] = selected {
            // One voice: what it hears without itself is silence — no encode needed.
            let silence = match self.sources.get(only).and_then(|s| s.law) {
                Some(G711Law::MuLaw) => self.g711_silence.0.clone(),
                Some(G711Law::ALaw) => self.g711_silence.1.clone(),
                None => self.silence.clone(),
            };
            self.output.minus.push((*only, silence));
            self.counters.lone_voice_ticks += 1;
            return Ok(());
        }
        for (slot, id) in selected.iter().enumerate() {
            let Some(s) = self.sources.get(id) else {
                continue;
            };
            self.mix
                .write_mix_minus(s.frame.samples(), self.pcm.samples_mut())?;
            let payload = match s.law {
                None => {
                    self.slot_encoders[slot].encode(&self.pcm, &mut self.encoded)?;
                    self.slab.copy(&self.encoded)
                }
                Some(law) => {
                    let encoder = match &mut self.slot_narrowband[slot] {
                        Some(encoder) => encoder,
                        empty => empty.insert(Box::new(NarrowbandEncoder::new()?)),
                    };
                    encoder.resample(&self.pcm)?;
                    encoder.encode(law, &mut self.slab)
                }
            };
            self.output.minus.push((*id, payload));
            self.counters.encodes += 1;
        }
        Ok(())
    }
}

/// A playout margin (µs) as a phase error within one frame: in (−½ frame, ½ frame].
fn fold_to_phase(margin: i64) -> i64 {
    const FRAME_US: i64 = crate::TICK.as_micros() as i64;
    let within = margin.rem_euclid(FRAME_US);
    if within > FRAME_US / 2 {
        within - FRAME_US
    } else {
        within
    }
}

/// The shared mix for phones, in each law some phone takes.
fn encode_shared_narrowband(
    encoder: Option<&mut NarrowbandEncoder>,
    mix: &AudioFrame,
    output: &mut MixOutput,
    slab: &mut PacketSlab,
) -> Result<(), MixerError> {
    let Some(encoder) = encoder else {
        return Ok(());
    };
    encoder.resample(mix)?;
    let wants = |law| output.narrowband.iter().any(|&(_, l)| l == law);
    output.shared_pcmu = wants(G711Law::MuLaw).then(|| encoder.encode(G711Law::MuLaw, slab));
    output.shared_pcma = wants(G711Law::ALaw).then(|| encoder.encode(G711Law::ALaw, slab));
    Ok(())
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
            if s.decoder.decode(payload, timestamp, &mut s.frame).is_err() {
                // A corrupt packet is concealed like a lost one.
                s.decoder.conceal(timestamp, &mut s.frame)?;
                counters.concealments += 1;
            } else {
                counters.decodes += 1;
            }
        }
        Playout::RecoverFec { next_payload, .. } => {
            s.decoder.recover(next_payload, timestamp, &mut s.frame)?;
            counters.fec_recoveries += 1;
        }
        Playout::Conceal { .. } | Playout::Expand | Playout::Dtx => {
            s.decoder.conceal(timestamp, &mut s.frame)?;
            counters.concealments += 1;
        }
        Playout::Buffering => s.frame.samples_mut().fill(0),
    }
    Ok(())
}
