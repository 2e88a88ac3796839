//! [`JitterBuffer`]: turns packets arriving early, late, twice, out of order or never into
//! exactly one playout decision per frame.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{DelayEstimator, Unwrapper};

/// Tuning of the jitter buffer. Defaults suit 20 ms Opus at 48 kHz.
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// RTP timestamp ticks per second.
    pub clock_rate: u32,
    /// RTP ticks per frame (one `pop` plays one frame).
    pub frame_ticks: u32,
    /// The delay never goes below this, counting the frame being played: the wait from a
    /// packet's arrival to its playout is at least a frame less.
    pub min_delay: Duration,
    /// Nor above this.
    pub max_delay: Duration,
    /// Packets the jitter estimate looks back over.
    pub window: usize,
    /// Which percentile of transit jitter the delay must cover.
    pub percentile: f64,
    /// Slots (frames) the buffer holds at most: its memory bound.
    pub capacity: usize,
    /// Audio level (−dBov, RFC 6464) at or above which a frame counts as silence and may be
    /// dropped to shrink the delay.
    pub silence_level: u8,
    /// A quieter bar (−dBov) for a buffer that has held a frame too many for over a second
    /// with no silent frame to drop (a voice that never pauses): a frame at or below this
    /// loudness may go then.
    pub quiet_level: u8,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 48_000,
            frame_ticks: 960,
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(500),
            window: 100,
            percentile: 0.95,
            capacity: 128,
            silence_level: 50,
            quiet_level: 35,
        }
    }
}

/// One audio packet as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPacket {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// The codec payload.
    pub payload: Bytes,
    /// RFC 6464 level (−dBov) if the sender included it.
    pub level: Option<u8>,
}

/// What to play for one frame. Exactly one per [`JitterBuffer::pop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The stream has not started (or restarted): play silence, nothing is lost.
    Buffering,
    /// Decode this packet.
    Packet {
        /// Its extended sequence number.
        seq: u64,
        /// The payload.
        payload: Bytes,
        /// Its RFC 6464 level (−dBov), if the sender included one.
        level: Option<u8>,
    },
    /// Packet `lost` is gone but the next one is here: decode the lost frame from the next
    /// packet's in-band FEC.
    RecoverFec {
        /// The lost packet's extended sequence number.
        lost: u64,
        /// The payload of the packet after it.
        next_payload: Bytes,
        /// The level of the packet after it (the best guess for the lost one).
        level: Option<u8>,
    },
    /// Packet `lost` is gone and nothing can rebuild it: conceal (PLC).
    Conceal {
        /// The lost packet's extended sequence number.
        lost: u64,
    },
    /// Nothing has arrived to play yet (the network is late): stretch the signal with one
    /// concealed frame. Nothing is lost; the delay grows by a frame.
    Expand,
    /// The sender is in discontinuous transmission: play comfort noise (decoder PLC).
    Dtx,
}

/// Counters and the current delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Copies of packets already held or played.
    pub duplicates: u64,
    /// Packets that arrived after their frame had been played (or declared lost).
    pub late: u64,
    /// Losses concealed.
    pub concealed: u64,
    /// Losses recovered from the next packet's FEC.
    pub recovered: u64,
    /// Frames stretched because nothing had arrived.
    pub expanded: u64,
    /// Frames dropped to bring the delay down.
    pub accelerated: u64,
    /// Comfort-noise frames during DTX gaps.
    pub dtx: u64,
    /// Times the buffer restarted on a jump in the stream.
    pub resets: u64,
    /// Delay of the audio in the buffer now, in milliseconds.
    pub current_delay_ms: u32,
    /// The delay the buffer aims for now, in milliseconds.
    pub target_delay_ms: u32,
    /// The most packets held at once.
    pub max_held: u32,
}

impl JitterStats {
    /// Every loss, reported once: concealed plus recovered.
    pub fn lost(&self) -> u64 {
        self.concealed + self.recovered
    }
}

#[derive(Debug, Clone)]
struct Held {
    seq: u64,
    ts: u64,
    payload: Bytes,
    level: Option<u8>,
    arrived: Instant,
}

/// The adaptive jitter buffer. Sans-IO: [`insert`](JitterBuffer::insert) packets as they
/// arrive, [`pop`](JitterBuffer::pop) one decision per frame on the playout clock.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    slots: Vec<Option<Held>>,
    held: usize,
    seqs: Unwrapper<16>,
    timestamps: Unwrapper<32>,
    /// How long the packet the last `pop` played had waited since it arrived.
    played_wait: Option<Duration>,
    /// The extended timestamp of the packet the last `pop` played.
    played_ts: Option<u64>,
    delay: DelayEstimator,
    /// First arrival and its media time: the origin of transit measurements.
    origin: Option<(Instant, u64)>,
    started: bool,
    next_seq: u64,
    next_ts: u64,
    newest_seq: Option<u64>,
    newest_ts: u64,
    lowest_seq: u64,
    pops_since_accelerate: u32,
    /// Consecutive pops that found a frame too many buffered.
    excess_pops: u32,
    /// Consecutive frames stretched because nothing had arrived.
    expand_run: u64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        let capacity = config.capacity.max(8);
        JitterBuffer {
            delay: DelayEstimator::new(config.window, config.percentile),
            slots: vec![None; capacity],
            config,
            held: 0,
            seqs: Unwrapper::new(),
            timestamps: Unwrapper::new(),
            played_wait: None,
            played_ts: None,
            origin: None,
            started: false,
            next_seq: 0,
            next_ts: 0,
            newest_seq: None,
            newest_ts: 0,
            lowest_seq: u64::MAX,
            pops_since_accelerate: 0,
            excess_pops: 0,
            expand_run: 0,
            stats: JitterStats::default(),
        }
    }

    /// The stream starts over as a new one (a new SSRC after a reconnect: its numbers bear
    /// no relation to the old ones): what is held goes, numbering and timing are learnt
    /// afresh; the counters stay.
    pub fn restart(&mut self) {
        self.reset();
        self.seqs = Unwrapper::new();
        self.timestamps = Unwrapper::new();
        self.expand_run = 0;
        self.pops_since_accelerate = 0;
        self.excess_pops = 0;
    }

    /// How long the packet the last [`pop`](JitterBuffer::pop) played had waited in the
    /// buffer (`None` if it played no packet: loss, stretch, silence).
    pub fn played_wait(&self) -> Option<Duration> {
        self.played_wait
    }

    /// How much later than it needed to the last [`pop`](JitterBuffer::pop) played its
    /// packet, in microseconds (negative: earlier): the pop's time against when that packet
    /// would have arrived by the fastest path seen plus the [target
    /// delay](JitterBuffer::target_delay). `None` if it played no packet. A scheduler that
    /// moves its ticks by this (folded within a frame: whole frames of excess are the
    /// buffer's to shed) plays each packet one target delay after it arrives instead of up
    /// to a frame more; a packet that is then late is stretched over, as always.
    pub fn played_margin_micros(&self, now: Instant) -> Option<i64> {
        self.margin_micros(self.played_ts?, now)
    }

    /// `now` against the fastest arrival of the packet with (extended) timestamp `ts` plus
    /// the target delay, in µs.
    fn margin_micros(&self, ts: u64, now: Instant) -> Option<i64> {
        let (t0, due_us) = self.fastest_arrival(ts)?;
        let target_us = self.target_delay().as_micros() as i64;
        let since_origin = now.saturating_duration_since(t0).as_micros() as i64;
        Some(since_origin - (due_us + target_us))
    }

    /// When the packet with (extended) timestamp `ts` arrives by the fastest path seen: the
    /// stream's first arrival and the µs after it.
    fn fastest_arrival(&self, ts: u64) -> Option<(Instant, i64)> {
        let (t0, ts0) = self.origin?;
        let clock = i64::from(self.config.clock_rate.max(1));
        let media_us = (ts as i64 - ts0 as i64) * 1_000_000 / clock;
        Some((t0, media_us + self.delay.fastest_transit_us()?))
    }

    /// How long a packet should wait from its arrival by the fastest path seen to its
    /// playout: one and a half times the window's jitter percentile plus half a frame (a
    /// guard for what the percentile does not cover), within the configured bounds. The
    /// configured minimum counts the frame being played, so the wait's floor is a frame
    /// less than it.
    pub fn target_delay(&self) -> Duration {
        let frame = self.frame();
        let jitter = self.delay.jitter();
        (jitter + jitter / 2 + frame / 2).clamp(
            self.config.min_delay.saturating_sub(frame),
            self.config.max_delay,
        )
    }

    fn frame(&self) -> Duration {
        Duration::from_millis(u64::from(self.frame_ms().max(1)))
    }

    /// Packets lost on the way in so far (as [`JitterStats::lost`]), without working out
    /// the delays: a mixer sums this over every source each tick.
    pub fn lost(&self) -> u64 {
        self.stats.lost()
    }

    /// Counters and delays.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.current_delay_ms = self.buffered_frames() * self.frame_ms();
        s.target_delay_ms = self.target_frames() * self.frame_ms();
        s
    }

    /// Packets held now.
    pub fn held(&self) -> usize {
        self.held
    }

    fn frame_ms(&self) -> u32 {
        self.config.frame_ticks * 1000 / self.config.clock_rate.max(1)
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % self.slots.len() as u64) as usize
    }

    /// Frames the buffer holds at its target delay, the one being played included.
    fn target_frames(&self) -> u32 {
        let frame = self.frame();
        (self.target_delay() + frame)
            .as_millis()
            .div_ceil(frame.as_millis()) as u32
    }

    /// Frames of audio from the playout point to the newest packet.
    fn buffered_frames(&self) -> u32 {
        if !self.started || self.newest_seq.is_none() || self.newest_ts < self.next_ts {
            return 0;
        }
        ((self.newest_ts - self.next_ts) / u64::from(self.config.frame_ticks) + 1) as u32
    }

    /// A packet arrived at `now`.
    pub fn insert(&mut self, packet: AudioPacket, now: Instant) {
        let seq = self.seqs.unwrap(u64::from(packet.seq));
        let ts = self.timestamps.unwrap(u64::from(packet.timestamp));
        if self.started && seq < self.next_seq {
            // Too late to play, but the best evidence of jitter there is.
            self.record_transit(now, ts);
            self.stats.late += 1;
            return;
        }
        let span = self.slots.len() as u64;
        let floor = if self.started {
            self.next_seq
        } else {
            self.lowest_seq.min(seq)
        };
        if seq >= floor + span {
            // Far beyond what the buffer can hold: the stream jumped. Start over from here.
            self.reset();
            self.stats.resets += 1;
        }
        let index = self.slot(seq);
        if let Some(existing) = &self.slots[index] {
            if existing.seq == seq {
                self.stats.duplicates += 1;
                return;
            }
        } else {
            self.held += 1;
        }
        self.slots[index] = Some(Held {
            seq,
            ts,
            payload: packet.payload,
            level: packet.level,
            arrived: now,
        });
        self.stats.received += 1;
        self.stats.max_held = self.stats.max_held.max(self.held as u32);
        if !self.started {
            self.lowest_seq = self.lowest_seq.min(seq);
        }
        if self.newest_seq.is_none_or(|n| seq > n) {
            self.newest_seq = Some(seq);
            self.newest_ts = ts;
        }
        self.origin.get_or_insert((now, ts));
        self.record_transit(now, ts);
    }

    /// Feeds the delay estimate: arrival against media time, from the stream's first packet.
    fn record_transit(&mut self, now: Instant, ts: u64) {
        let Some((t0, ts0)) = self.origin else {
            return;
        };
        let arrival_us = now.saturating_duration_since(t0).as_micros() as i64;
        let media_us =
            (ts as i64 - ts0 as i64) * 1_000_000 / i64::from(self.config.clock_rate.max(1));
        self.delay.record(arrival_us, media_us);
    }

    fn reset(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.held = 0;
        self.started = false;
        self.newest_seq = None;
        self.lowest_seq = u64::MAX;
        self.origin = None;
        self.delay.reset();
    }

    fn take(&mut self, seq: u64) -> Option<Held> {
        let index = self.slot(seq);
        match &self.slots[index] {
            Some(h) if h.seq == seq => {
                self.held -= 1;
                self.slots[index].take()
            }
            _ => None,
        }
    }

    fn peek(&self, seq: u64) -> Option<&Held> {
        self.slots[self.slot(seq)].as_ref().filter(|h| h.seq == seq)
    }

    /// The decision for the next frame, at playout time `now`.
    pub fn pop(&mut self, now: Instant) -> Playout {
        self.played_wait = None;
        self.played_ts = None;
        if !self.started && !self.try_start(now) {
            return Playout::Buffering;
        }
        self.maybe_accelerate(now);
        let frame = u64::from(self.config.frame_ticks);
        let expanded = std::mem::take(&mut self.expand_run);
        if let Some(next_held_ts) = self.peek(self.next_seq).map(|h| h.ts)
            && next_held_ts > self.next_ts
            && expanded > 0
        {
            // The sender paused (sent nothing) while we stretched, and resumes later in
            // media time: the frames stretched already stood for that pause. Skip them, or
            // the pause would be played again, delaying everything after it.
            let gap = (next_held_ts - self.next_ts) / frame;
            self.next_ts += gap.min(expanded) * frame;
        }
        if let Some(held) = self.peek(self.next_seq) {
            if held.ts > self.next_ts {
                // A timestamp gap with no sequence gap: DTX. Comfort noise until it.
                self.next_ts += frame;
                self.stats.dtx += 1;
                return Playout::Dtx;
            }
            if let Some(held) = self.take(self.next_seq) {
                self.advance();
                self.played_wait = Some(now.saturating_duration_since(held.arrived));
                self.played_ts = Some(held.ts);
                return Playout::Packet {
                    seq: held.seq,
                    payload: held.payload,
                    level: held.level,
                };
            }
        }
        if self.newest_seq.is_some_and(|n| n > self.next_seq) {
            // Something newer is here, so this one is lost (late ones count as late).
            return self.give_up_next();
        }
        self.stats.expanded += 1;
        self.expand_run = expanded + 1;
        Playout::Expand
    }

    /// Playout on arrival, for a consumer with no sound card's clock to keep (a bot): the
    /// next frame in order as soon as it is here, with its extended RTP timestamp. A missing
    /// frame that newer ones have overtaken is given up (FEC from the next packet, else
    /// concealment) only at its [`deadline`](JitterBuffer::deadline): when the fastest path
    /// seen would have brought it, plus the jitter allowance. A sender that pauses (nothing
    /// newer) is waited for, never stretched; its next packet plays at once, its timestamp
    /// telling how long the pause was. Call after every insert and at the deadline, until
    /// it returns `None`. Use either this or [`pop`](JitterBuffer::pop) on one buffer.
    pub fn poll_arrived(&mut self, now: Instant) -> Option<(u64, Playout)> {
        if !self.started {
            (self.next_seq, self.next_ts) = self.peek(self.lowest_seq).map(|h| (h.seq, h.ts))?;
            self.started = true;
        }
        if let Some(held) = self.take(self.next_seq) {
            self.next_seq += 1;
            self.next_ts = held.ts + u64::from(self.config.frame_ticks);
            let playout = Playout::Packet {
                seq: held.seq,
                payload: held.payload,
                level: held.level,
            };
            return Some((held.ts, playout));
        }
        if self.deadline().is_none_or(|d| now < d) {
            return None;
        }
        let lost_ts = self.next_ts;
        Some((lost_ts, self.give_up_next()))
    }

    /// Declares the next frame lost and moves past it: rebuilt from the following packet's
    /// FEC when that one is here, else concealed.
    fn give_up_next(&mut self) -> Playout {
        let lost = self.next_seq;
        self.advance();
        let next = self
            .peek(self.next_seq)
            .map(|next| (next.payload.clone(), next.level));
        match next {
            Some((next_payload, level)) => {
                self.stats.recovered += 1;
                Playout::RecoverFec {
                    lost,
                    next_payload,
                    level,
                }
            }
            None => {
                self.stats.concealed += 1;
                Playout::Conceal { lost }
            }
        }
    }

    /// When [`poll_arrived`](JitterBuffer::poll_arrived) gives up the missing next frame, if
    /// newer ones are waiting behind it; `None` while nothing is overdue or held.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.started || self.newest_seq.is_none_or(|n| n <= self.next_seq) {
            return None;
        }
        let (t0, due_us) = self.fastest_arrival(self.next_ts)?;
        let frame = self.frame();
        let allowance =
            (self.delay.jitter() + frame / 2).clamp(self.config.min_delay, self.config.max_delay);
        let due_us = u64::try_from(due_us).unwrap_or(0);
        // The packet after the missing one carries its FEC: while that one is not here
        // either, wait for it as long as for itself (one frame more), so the loss is rebuilt
        // rather than concealed whenever it comes in time.
        let rebuild = if self.peek(self.next_seq + 1).is_some() {
            Duration::ZERO
        } else {
            frame
        };
        Some(t0 + Duration::from_micros(due_us) + allowance + rebuild)
    }

    fn advance(&mut self) {
        self.next_seq += 1;
        self.next_ts += u64::from(self.config.frame_ticks);
    }

    /// Starts playout once the first packet has waited the target delay.
    fn try_start(&mut self, now: Instant) -> bool {
        let Some((first_arrival, _)) = self.origin else {
            return false;
        };
        if now.saturating_duration_since(first_arrival) < self.target_delay() {
            return false;
        }
        let Some(first) = self.peek(self.lowest_seq).map(|h| (h.seq, h.ts)) else {
            return false;
        };
        (self.next_seq, self.next_ts) = first;
        self.started = true;
        true
    }

    /// Drops a frame when the buffer holds a frame more than its target delay needs (the
    /// next frame would play over a frame and a quarter late) and the next frame is silent
    /// — or, once that has lasted a second, merely quiet —, or any frame when it holds over
    /// twice its target. At most every other frame, so it
    /// stays smooth.
    fn maybe_accelerate(&mut self, now: Instant) {
        self.pops_since_accelerate = self.pops_since_accelerate.saturating_add(1);
        if self.pops_since_accelerate < 2 {
            return;
        }
        let Some((next_ts, next_level)) = self.peek(self.next_seq).map(|h| (h.ts, h.level)) else {
            return;
        };
        if next_ts != self.next_ts {
            return;
        }
        let frame_us = self.frame().as_micros() as i64;
        let excess = self
            .margin_micros(self.next_ts, now)
            .is_some_and(|m| m >= frame_us + frame_us / 4);
        self.excess_pops = if excess { self.excess_pops + 1 } else { 0 };
        // After a second of excess with no silence, a quiet frame will do.
        let bar = if self.excess_pops > 1_000 / self.frame_ms().max(1) {
            self.config.quiet_level
        } else {
            self.config.silence_level
        };
        let droppable = next_level.is_some_and(|l| l >= bar);
        let backlog = self.buffered_frames() > 2 * self.target_frames().max(2);
        if (droppable && excess) || backlog {
            self.excess_pops = 0;
            let _ = self.take(self.next_seq);
            self.advance();
            self.stats.accelerated += 1;
            self.pops_since_accelerate = 0;
        }
    }
}
