//! One incoming Opus stream (the mix, or an unmixed slot): jitter buffer, then decoding,
//! each frame handed on the moment it can be (a bot has no sound card's clock to wait for).
//! Frames are stamped on the SDK's clock from their RTP timestamps, so a pause in the
//! stream is a gap in the stamps and a burst after a late packet keeps its true times. Each
//! frame carries the source its packet named (CSRC), so a slot that changes hands credits
//! every frame to its speaker.

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

pub(crate) struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    format: AudioFormat,
    /// The SDK-clock time of one RTP timestamp: every frame is stamped from it.
    anchor: Option<(MediaTime, u64)>,
    last_at: Option<MediaTime>,
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
            anchor: None,
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
        out: &mut Vec<(AudioFrame, Option<u32>)>,
    ) {
        while let Some((ts, decision)) = self.jitter.poll_arrived(now) {
            let source = self.source_of(ts as u32);
            let at = self.stamp(ts, clock);
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

    /// The SDK-clock time of RTP timestamp `ts`: from the anchor, unless that would go
    /// backwards, overlap the last frame, or stray far from the clock.
    fn stamp(&mut self, ts: u64, clock: MediaTime) -> MediaTime {
        let resets = self.jitter.stats().resets;
        if resets != self.resets_seen {
            self.resets_seen = resets;
            self.anchor = None;
        }
        let from_anchor = self.anchor.and_then(|(at, ts0)| {
            let since = ts.checked_sub(ts0)?;
            Some(at + Duration::from_micros(since * 1_000_000 / CLOCK_HZ))
        });
        let next_free = self.last_at.map(|l| l + FRAME);
        let fits = |at: MediaTime| {
            next_free.is_none_or(|n| at >= n)
                && at.saturating_since(clock).max(clock.saturating_since(at)) <= MAX_SKEW
        };
        let at = match from_anchor {
            Some(at) if fits(at) => at,
            _ => {
                let at = next_free.map_or(clock, |n| n.max(clock));
                self.anchor = Some((at, ts));
                at
            }
        };
        self.last_at = Some(at);
        at
    }
}
