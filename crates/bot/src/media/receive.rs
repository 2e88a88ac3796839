//! One incoming Opus stream (the mix, or an unmixed slot): jitter buffer, then decoding,
//! each frame handed on the moment it can be (a bot has no sound card's clock to wait for).
//! Frames are stamped on the SDK's clock from their RTP timestamps, so a pause in the
//! stream is a gap in the stamps and a burst after a late packet keeps its true times. The
//! service stamps the mix and every unmixed slot on one clock (its room's), so all of a
//! call's streams share one anchor ([`CallClock`]): frames of the same moment get the same
//! stamp, to the sample. Each frame carries the source its packet named (CSRC), so a slot
//! that changes hands credits every frame to its speaker.

use std::collections::VecDeque;

use std::time::{Duration, Instant};

use confab_codecs::{AudioDecoder, OpusDecoder};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};

/// RTP clock of Opus.
const CLOCK_HZ: u64 = 48_000;
/// Stamps that would land further than this from the SDK's clock are re-anchored on it
/// (a sender whose timestamps jumped, or a stream that restarted).
const MAX_SKEW: Duration = Duration::from_secs(1);
const FRAME: Duration = Duration::from_millis(20);
/// Sources remembered by RTP timestamp for packets still in the jitter buffer (it holds a
/// few hundred milliseconds at most: 64 frames is over a second).
const SOURCES_KEPT: usize = 64;

/// The SDK-clock time of one RTP timestamp of the service's clock: every frame of every
/// stream of a call is stamped from it. Set by the first frame, kept across reconnects (the
/// service's room clock goes on), moved only when a stream's stamps stray over a second
/// from the SDK's clock (a new instance of the call, or a sender that jumped).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CallClock(Option<(MediaTime, u32)>);

impl CallClock {
    /// Where RTP timestamp `ts` falls on the SDK's clock.
    fn at(self, ts: u32) -> Option<MediaTime> {
        let (at, ts0) = self.0?;
        let since = i64::from(ts.wrapping_sub(ts0) as i32) * 1_000_000 / CLOCK_HZ as i64;
        let micros = at.as_micros() as i64 + since;
        (micros >= 0).then(|| MediaTime::from_micros(micros as u64))
    }
}

pub(crate) struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    format: AudioFormat,
    /// The stamp of the last frame and its source: the next frame of the same source goes
    /// after it.
    last_at: Option<(MediaTime, Option<u32>)>,
    resets_seen: u64,
    /// (RTP timestamp, CSRC) of the packets inserted lately; the source of the frame last
    /// played (concealment continues it).
    sources: VecDeque<(u32, u32)>,
    playing: Option<u32>,
    /// Frames decoded from packets, recovered by FEC, concealed (a packet lost).
    pub(crate) decoded: u64,
    pub(crate) recovered: u64,
    pub(crate) concealed: u64,
}

impl std::fmt::Debug for AudioReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioReceiver")
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

impl AudioReceiver {
    pub(crate) fn new(format: AudioFormat) -> Result<AudioReceiver, String> {
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(JitterConfig::default()),
            decoder: OpusDecoder::new(format).map_err(|e| e.to_string())?,
            format,
            last_at: None,
            resets_seen: 0,
            sources: VecDeque::new(),
            playing: None,
            decoded: 0,
            recovered: 0,
            concealed: 0,
        })
    }

    /// A packet in, with the source its CSRC named (unmixed slots name their speaker).
    pub(crate) fn insert(&mut self, packet: AudioPacket, source: Option<u32>, now: Instant) {
        if let Some(source) = source {
            if self.sources.len() == SOURCES_KEPT {
                self.sources.pop_front();
            }
            self.sources.push_back((packet.timestamp, source));
        }
        self.jitter.insert(packet, now);
    }

    /// The source of the frame at RTP timestamp `ts` (that of the frame before it if its
    /// packet named none or never came).
    fn source_of(&mut self, ts: u32) -> Option<u32> {
        if let Some(&(_, source)) = self.sources.iter().rev().find(|(t, _)| *t == ts) {
            self.playing = Some(source);
        }
        self.playing
    }

    /// Packets lost on the way (never arrived in time).
    pub(crate) fn lost(&self) -> u64 {
        self.jitter.stats().lost()
    }

    /// When a missing packet will be given up if it has not come (see [`JitterBuffer::deadline`]).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.jitter.deadline()
    }

    /// Every frame ready at `now` (the SDK clock reads `clock`), in order, into `out`, with
    /// its source where packets name one.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        clock: MediaTime,
        call_clock: &mut CallClock,
        out: &mut Vec<(AudioFrame, Option<u32>)>,
    ) {
        while let Some((ts, decision)) = self.jitter.poll_arrived(now) {
            let source = self.source_of(ts as u32);
            let at = self.stamp(ts as u32, source, clock, call_clock);
            let mut frame = AudioFrame::silence(self.format, FrameDuration::Ms20, at);
            let made = match decision {
                Playout::Packet { payload, .. } => {
                    let ok = self.decoder.decode_into(&payload, at, &mut frame).is_ok();
                    self.decoded += u64::from(ok);
                    ok
                }
                Playout::RecoverFec { next_payload, .. } => {
                    let ok = self
                        .decoder
                        .recover_into(&next_payload, at, &mut frame)
                        .is_ok();
                    self.recovered += u64::from(ok);
                    ok
                }
                _ => false,
            };
            if !made {
                self.concealed += 1;
                if self.decoder.conceal_into(at, &mut frame).is_err() {
                    continue;
                }
            }
            // Always exactly 20 ms at the bot's rate.
            if frame.duration() == FrameDuration::Ms20 {
                out.push((frame, source));
            }
        }
    }

    /// The SDK-clock time of RTP timestamp `ts` (of `source`): from the call's clock,
    /// unless that would overlap the last frame of the same source (then right after it)
    /// or stray over a second from the SDK's clock (then the call's clock moves).
    fn stamp(
        &mut self,
        ts: u32,
        source: Option<u32>,
        clock: MediaTime,
        call_clock: &mut CallClock,
    ) -> MediaTime {
        let resets = self.jitter.stats().resets;
        if resets != self.resets_seen {
            self.resets_seen = resets;
            self.last_at = None;
        }
        let next_free = self
            .last_at
            .filter(|(_, last_source)| *last_source == source)
            .map(|(at, _)| at + FRAME);
        let near =
            |at: MediaTime| at.saturating_since(clock).max(clock.saturating_since(at)) <= MAX_SKEW;
        let at = match call_clock.at(ts) {
            Some(at) if near(at) => match next_free {
                Some(free) if at < free => free,
                _ => at,
            },
            _ => {
                let at = next_free.map_or(clock, |n| n.max(clock));
                call_clock.0 = Some((at, ts));
                at
            }
        };
        self.last_at = Some((at, source));
        at
    }
}
