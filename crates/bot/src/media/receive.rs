//! One incoming Opus stream (the mix, or an unmixed slot): jitter buffer, then decoding at
//! the bot's rate, one 20 ms frame per tick.

use std::time::{Duration, Instant};

use confab_codecs::{AudioDecoder, OpusDecoder};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig, Playout};

/// A stream that has sent nothing for this long stops producing frames.
const QUIET_AFTER: Duration = Duration::from_millis(500);
/// Frames stretched while waiting for a late packet; past this the sender has stopped
/// (bots send nothing when they have nothing to say), and frames stop too.
const MAX_EXPAND: u32 = 3;

pub(crate) struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    format: AudioFormat,
    last_packet: Option<Instant>,
    /// Frames decoded from packets, recovered by FEC, concealed (a packet lost), stretched
    /// (a packet late), and comfort noise (the sender in DTX).
    pub(crate) decoded: u64,
    pub(crate) recovered: u64,
    pub(crate) concealed: u64,
    pub(crate) expanded: u64,
    pub(crate) dtx: u64,
    /// Consecutive stretched frames.
    expanding: u32,
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
            last_packet: None,
            decoded: 0,
            recovered: 0,
            concealed: 0,
            expanded: 0,
            dtx: 0,
            expanding: 0,
        })
    }

    pub(crate) fn insert(&mut self, packet: AudioPacket, now: Instant) {
        self.last_packet = Some(now);
        self.jitter.insert(packet, now);
    }

    /// Packets lost on the way (never arrived in time).
    pub(crate) fn lost(&self) -> u64 {
        self.jitter.stats().lost()
    }

    /// The frame to play at this tick, stamped `at`; `None` before the stream starts and
    /// once it has gone quiet.
    pub(crate) fn tick(&mut self, now: Instant, at: MediaTime) -> Option<AudioFrame> {
        let decision = self.jitter.pop(now);
        let quiet = self
            .last_packet
            .is_none_or(|t| now.saturating_duration_since(t) > QUIET_AFTER);
        let mut frame = AudioFrame::silence(self.format, FrameDuration::Ms20, at);
        if decision == Playout::Expand {
            self.expanding += 1;
        } else {
            self.expanding = 0;
        }
        match decision {
            Playout::Buffering => return None,
            Playout::Packet { payload, .. } => {
                if self.decoder.decode_into(&payload, at, &mut frame).is_ok() {
                    self.decoded += 1;
                } else {
                    self.conceal(at, &mut frame)?;
                }
            }
            Playout::RecoverFec { next_payload, .. } => {
                if self
                    .decoder
                    .recover_into(&next_payload, at, &mut frame)
                    .is_ok()
                {
                    self.recovered += 1;
                } else {
                    self.conceal(at, &mut frame)?;
                }
            }
            Playout::Conceal { .. } => {
                if quiet {
                    return None;
                }
                self.concealed += 1;
                self.decoder.conceal_into(at, &mut frame).ok()?;
            }
            Playout::Expand => {
                // Nothing to play: a late packet is stretched over; a sender that stopped
                // is not (no frames until it speaks again, and nothing counted as lost).
                if quiet || self.expanding > MAX_EXPAND {
                    return None;
                }
                self.expanded += 1;
                self.decoder.conceal_into(at, &mut frame).ok()?;
            }
            Playout::Dtx => {
                if quiet {
                    return None;
                }
                self.dtx += 1;
                self.decoder.conceal_into(at, &mut frame).ok()?;
            }
        }
        // Always exactly 20 ms at the bot's rate.
        (frame.duration() == FrameDuration::Ms20).then_some(frame)
    }

    fn conceal(&mut self, at: MediaTime, frame: &mut AudioFrame) -> Option<()> {
        self.concealed += 1;
        self.decoder.conceal_into(at, frame).ok()
    }
}
