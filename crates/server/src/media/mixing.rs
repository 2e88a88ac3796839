//! One call's mixer as a room of the [`MediaScheduler`]: it ticks on a media thread of its
//! own (not the I/O thread), and hands each tick's packets and events back to the media
//! plane, which owns the peers and sends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use bytes::Bytes;
use confab_mixer::{AudioMixer, MixerConfig, MixerEvent, SourceId, Tick};
use confab_signaling::protocol::{CallId, ParticipantId};

use crate::metrics::Metrics;
use confab_transport::jitter::AudioPacket;
use confab_transport::udp::Waker;

/// Where mixed frames go: the I/O thread's queue, and a wake-up for it, so a frame goes out
/// the moment it is mixed rather than at the I/O loop's next look (up to 2 ms later).
#[derive(Debug, Clone)]
pub(crate) struct MixedOut {
    tx: SyncSender<Mixed>,
    wake: Arc<MixWake>,
}

/// The I/O thread's wake-up: one datagram per batch of frames, not one per frame.
#[derive(Debug)]
pub(crate) struct MixWake {
    waker: Option<Waker>,
    pending: AtomicBool,
}

impl MixWake {
    /// The I/O thread is about to take what is queued: the next frame wakes it again.
    pub(crate) fn taking(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

impl MixedOut {
    pub(crate) fn new(tx: SyncSender<Mixed>, waker: Option<Waker>) -> (MixedOut, Arc<MixWake>) {
        let wake = Arc::new(MixWake {
            waker,
            pending: AtomicBool::new(false),
        });
        (
            MixedOut {
                tx,
                wake: wake.clone(),
            },
            wake,
        )
    }

    /// Queues a frame and wakes the I/O thread (an error: the queue is full).
    fn send(&self, mixed: Mixed) -> Result<(), ()> {
        self.tx.try_send(mixed).map_err(|_| ())?;
        if !self.wake.pending.swap(true, Ordering::AcqRel)
            && let Some(waker) = &self.wake.waker
        {
            waker.wake();
        }
        Ok(())
    }
}

/// Every this many ticks a room reports each participant's losses.
const LOSS_REPORT_TICKS: u64 = 25;

/// What one tick of a room produced.
#[derive(Debug)]
pub(crate) struct Mixed {
    pub(crate) call_id: CallId,
    /// RTP timestamp (48 kHz) of this frame.
    pub(crate) timestamp: u32,
    /// RFC 6464 level of the shared mix.
    pub(crate) level: u8,
    /// Each participant's packet (the shared mix, or its mix-minus).
    pub(crate) payloads: Vec<(ParticipantId, Bytes)>,
    pub(crate) events: Vec<MixerEvent>,
    /// Packets lost per participant so far (every few ticks).
    pub(crate) lost: Option<Vec<(ParticipantId, u64)>>,
    /// Phones' own voices in Opus, with their levels, for unmixed slots.
    pub(crate) own: Vec<(ParticipantId, Bytes, u8)>,
    /// The tick's instant (the fan-out measures its own delay from it).
    pub(crate) ticked: Instant,
}

pub(crate) struct MixRoom {
    call_id: CallId,
    pub(crate) mixer: AudioMixer,
    pub(crate) participants: Vec<ParticipantId>,
    timestamp: u32,
    ticks: u64,
    /// Frames the I/O thread had no room for.
    dropped: u64,
    /// Loss and concealment totals already added to the service's metrics.
    reported: (u64, u64),
    metrics: Arc<Metrics>,
    out: MixedOut,
}

pub(crate) fn source(participant: ParticipantId) -> SourceId {
    SourceId(participant.0)
}

impl MixRoom {
    pub(crate) fn new(
        call_id: CallId,
        metrics: Arc<Metrics>,
        out: MixedOut,
    ) -> Result<MixRoom, confab_mixer::MixerError> {
        Ok(MixRoom {
            call_id,
            mixer: AudioMixer::new(MixerConfig::default())?,
            participants: Vec::new(),
            timestamp: 0,
            ticks: 0,
            dropped: 0,
            reported: (0, 0),
            metrics,
            out,
        })
    }

    pub(crate) fn add(&mut self, participant: ParticipantId) {
        if self.participants.contains(&participant) {
            return;
        }
        match self.mixer.add_source(source(participant)) {
            Ok(()) => self.participants.push(participant),
            Err(e) => tracing::error!(call_id = %self.call_id, %participant, "mixer: {e}"),
        }
    }

    /// The participant's audio starts over as a new RTP stream (a new connection): its
    /// source restarts with nothing buffered.
    pub(crate) fn restart(&mut self, participant: ParticipantId) {
        if self.participants.contains(&participant) {
            self.mixer.restart_source(source(participant));
        }
    }

    pub(crate) fn remove(&mut self, participant: ParticipantId) {
        self.mixer.remove_source(source(participant));
        self.participants.retain(|p| *p != participant);
    }

    /// A participant speaks and hears `codec` from now on (a phone: G.711).
    pub(crate) fn set_codec(
        &mut self,
        participant: ParticipantId,
        codec: confab_codecs::AudioCodec,
    ) {
        self.mixer.remove_source(source(participant));
        if let Err(e) = self.mixer.add_source_with_codec(source(participant), codec) {
            tracing::error!(call_id = %self.call_id, %participant, "mixer: {e}");
            self.participants.retain(|p| *p != participant);
        } else if !self.participants.contains(&participant) {
            self.participants.push(participant);
        }
    }

    /// Whether a participant's own voice is wanted in Opus (for bots' unmixed slots).
    pub(crate) fn set_own_audio(&mut self, participant: ParticipantId, on: bool) {
        if let Err(e) = self.mixer.set_own_audio(source(participant), on) {
            tracing::error!(call_id = %self.call_id, %participant, "mixer: {e}");
        }
    }
}

impl Tick for MixRoom {
    fn packet(&mut self, source: SourceId, packet: AudioPacket, now: Instant) {
        self.mixer.insert(source, packet, now);
    }

    #[allow(clippy::disallowed_methods)] // ticks are timed for the metrics
    fn tick(&mut self, now: Instant) {
        let started = Instant::now();
        if let Err(e) = self.mixer.tick(now) {
            tracing::error!(call_id = %self.call_id, "mixer tick: {e}");
            return;
        }
        self.metrics
            .observe_tick(started.elapsed().as_micros() as u64);
        for wait in self.mixer.played_waits() {
            self.metrics.mix_wait.observe(wait.as_micros() as u64);
        }
        if let Some(wait) = self.mixer.followed_wait() {
            self.metrics
                .mix_followed_wait
                .observe(wait.as_micros() as u64);
        }
        let counters = self.mixer.counters();
        let (lost, concealed) = (
            self.mixer.packets_lost(),
            counters.fec_recoveries + counters.concealments,
        );
        self.metrics
            .jitter_lost
            .fetch_add(lost.saturating_sub(self.reported.0), Ordering::Relaxed);
        self.metrics
            .jitter_concealed
            .fetch_add(concealed.saturating_sub(self.reported.1), Ordering::Relaxed);
        self.reported = (lost.max(self.reported.0), concealed);
        let output = self.mixer.output();
        let payloads = self
            .participants
            .iter()
            .map(|&p| (p, output.payload_for(source(p)).clone()))
            .collect();
        let level = output.shared_level;
        let own = output
            .own
            .iter()
            .map(|(id, payload, level)| (ParticipantId(id.0), payload.clone(), *level))
            .collect();
        let mut events = Vec::new();
        while let Some(event) = self.mixer.poll_event() {
            events.push(event);
        }
        self.ticks += 1;
        let lost = self.ticks.is_multiple_of(LOSS_REPORT_TICKS).then(|| {
            self.participants
                .iter()
                .map(|&p| (p, self.mixer.source_packets_lost(source(p)).unwrap_or(0)))
                .collect()
        });
        let mixed = Mixed {
            call_id: self.call_id,
            timestamp: self.timestamp,
            level,
            payloads,
            events,
            lost,
            own,
            ticked: now,
        };
        self.timestamp = self.timestamp.wrapping_add(960);
        if self.out.send(mixed).is_err() {
            // The I/O thread is this far behind: the frame is lost like a late packet.
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(call_id = %self.call_id, dropped = self.dropped, "media plane behind: mixed frames dropped");
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.mixer.is_idle()
    }

    fn phase_error_micros(&self) -> Option<i64> {
        self.mixer.phase_error_micros()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
