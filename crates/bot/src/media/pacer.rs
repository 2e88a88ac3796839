//! Outgoing audio pacing: the bot queues 20 ms frames whenever it likes; the media thread
//! takes one every 20 ms on a steady clock. Sans-IO: the time is passed in.
//!
//! A stream starts the moment its first frame is queued (the queue wakes the media thread),
//! then keeps a 20 ms schedule. A frame queued after its due time is sent the moment it is
//! queued, if within a frame of it: a bot producing live audio a little late loses no time
//! and leaves no gap. When the queue stays dry a whole frame past the due time the stream
//! stops; the next frame starts it again, its RTP timestamp advanced by the silence in
//! between (receivers see a pause, not a loss).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_media::{AudioFrame, MediaTime};
use confab_transport::udp::Waker;

/// One frame's worth of time.
pub(crate) const FRAME: Duration = Duration::from_millis(20);
/// The furthest behind its own clock a bot may be and still catch up (beyond: a pause).
const MAX_CATCH_UP: Duration = Duration::from_millis(500);
/// RTP ticks (48 kHz) per frame.
const FRAME_TICKS: u32 = 960;

/// The queue between the bot (any thread) and the media thread.
#[derive(Debug)]
pub(crate) struct AudioQueue {
    /// Frames, with when each was queued.
    frames: Mutex<VecDeque<(Instant, AudioFrame)>>,
    capacity: usize,
    /// Free places, for bots that wait instead of failing when the queue is full.
    pub(crate) space: tokio::sync::Semaphore,
    /// Wakes the media thread when a frame lands in an empty queue (it may be waiting for
    /// it to start or continue a stream).
    waker: Option<Waker>,
}

impl AudioQueue {
    pub(crate) fn new(capacity: usize, waker: Option<Waker>) -> AudioQueue {
        AudioQueue {
            frames: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            space: tokio::sync::Semaphore::new(capacity),
            waker,
        }
    }

    /// Queues a frame whose place was already taken from `space`.
    #[allow(clippy::disallowed_methods)] // when it was queued: tells a late bot from a late thread
    pub(crate) fn push_reserved(&self, frame: AudioFrame) {
        self.push_reserved_at(frame, Instant::now());
    }

    /// Queues a frame queued at `at`.
    pub(crate) fn push_reserved_at(&self, frame: AudioFrame, at: Instant) {
        let was_empty = self.frames.lock().is_ok_and(|mut frames| {
            frames.push_back((at, frame));
            frames.len() == 1
        });
        if was_empty {
            self.wake();
        }
    }

    /// Wakes the media thread now (new audio, or a command for it).
    pub(crate) fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.lock().map_or(0, |f| f.len())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The media time of the frame at the front of the queue.
    fn front_time(&self) -> Option<MediaTime> {
        self.frames.lock().ok()?.front().map(|(_, f)| f.timestamp())
    }

    fn pop(&self) -> Option<(Instant, AudioFrame)> {
        let frame = self.frames.lock().ok()?.pop_front();
        if frame.is_some() {
            self.space.add_permits(1);
        }
        frame
    }
}

/// What the pacer wants done now.
#[derive(Debug, PartialEq)]
pub(crate) enum Paced {
    /// Encode and send this frame with this RTP timestamp.
    Send(AudioFrame, u32),
    /// Nothing to send now.
    Wait,
}

/// The 20 ms clock of one outgoing stream.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// When the next frame is due; `None` while the stream is stopped.
    next_send: Option<Instant>,
    /// RTP timestamp of the last frame sent, and when it was sent.
    last: Option<(u32, Instant)>,
    /// When the stream (re)started and the media time of its first frame: the bot's own
    /// clock, by which a frame can be seen to be overdue.
    anchor: Option<(Instant, MediaTime)>,
    /// Media time of the last frame sent.
    last_time: Option<MediaTime>,
    /// The low-queue event was given and not yet re-armed.
    low_signalled: bool,
    /// Frames sent.
    pub(crate) sent: u64,
    /// Times the queue ran dry while the stream was running.
    pub(crate) underruns: u64,
    /// Sends more than a frame behind their due time of frames that were waiting (the media
    /// thread was late, not the bot).
    pub(crate) late: u64,
}

impl Pacer {
    /// When the pacer next needs [`poll`](Pacer::poll): the next due time, or while the
    /// queue is dry, when the stream will count as stopped (a frame queued before then wakes
    /// the thread itself).
    pub(crate) fn deadline(&self, queue: &AudioQueue) -> Option<Instant> {
        let due = self.next_send?;
        Some(if queue.len() == 0 { due + FRAME } else { due })
    }

    /// Whether the queue just ran low (≤ 1 frame while running): report it once per dip.
    pub(crate) fn poll_low(&mut self, queue: &AudioQueue) -> Option<usize> {
        let queued = queue.len();
        if queued >= 2 {
            self.low_signalled = false;
            return None;
        }
        if self.next_send.is_some() && !self.low_signalled {
            self.low_signalled = true;
            return Some(queued);
        }
        None
    }

    /// Takes the next frame if one is due at `now`: by the bot's own clock (the frames'
    /// media times from the stream's start) when its stamps make one, else by the steady
    /// 20 ms schedule. Frames already due by their own clock go at once, so a bot that fell
    /// behind catches up instead of keeping the lag as latency.
    pub(crate) fn poll(&mut self, queue: &AudioQueue, now: Instant) -> Paced {
        let Some(front) = queue.front_time() else {
            if let Some(due) = self.next_send
                && now >= due + FRAME
            {
                // Dry for a whole frame past the due time: the bot has stopped.
                self.underruns += 1;
                self.next_send = None;
                self.low_signalled = false;
            }
            return Paced::Wait;
        };
        let own = self.own_due(front, now);
        let due = own.or(self.next_send).unwrap_or(now);
        if now < due {
            return Paced::Wait;
        }
        let Some((queued_at, frame)) = queue.pop() else {
            return Paced::Wait;
        };
        let timestamp = match (self.last, self.last_time) {
            // By the bot's own clock: its media time since the last frame.
            (Some((ts, _)), Some(last_time)) if own.is_some() => {
                let ticks = frame.timestamp().saturating_since(last_time).as_micros() * 48 / 1000;
                ts.wrapping_add(ticks as u32)
            }
            // Running: the next frame's timestamp.
            (Some((ts, _)), _) if self.next_send.is_some() => ts.wrapping_add(FRAME_TICKS),
            // Restarting after a pause: advance by the pause, in whole frames.
            (Some((ts, at)), _) => {
                let frames = (now.saturating_duration_since(at).as_millis() / 20).max(1) as u32;
                ts.wrapping_add(frames.wrapping_mul(FRAME_TICKS))
            }
            (None, _) => 0,
        };
        if own.is_none() {
            // The first frame, or stamps that are no clock: the clock starts here.
            self.anchor = Some((now, frame.timestamp()));
        }
        self.last = Some((timestamp, now));
        self.last_time = Some(frame.timestamp());
        self.sent += 1;
        let mut next = due + FRAME;
        if now >= next {
            // More than a frame behind its due time: counted when the frame waited that long
            // in the queue (the media thread was late; a bot that queued it late was not).
            if now >= queued_at.max(due) + FRAME {
                self.late += 1;
            }
            if own.is_none() {
                // No clock to catch up by: re-anchor rather than burst.
                next = now + FRAME;
            }
        }
        self.next_send = Some(next);
        Paced::Send(frame, timestamp)
    }

    /// When a frame of media time `at` is due by the bot's own clock: the anchor plus its
    /// media time since. `None` when the time does not move forward from the last frame or
    /// strays more than [`MAX_CATCH_UP`] from `now` (the bot paused, or its stamps are not
    /// a clock).
    fn own_due(&self, at: MediaTime, now: Instant) -> Option<Instant> {
        let (t0, m0) = self.anchor?;
        if self.last_time.is_some_and(|last| at <= last) || at < m0 {
            return None;
        }
        let due = t0 + at.saturating_since(m0);
        let skew = due.max(now).saturating_duration_since(due.min(now));
        (skew <= MAX_CATCH_UP).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_media::{AudioFormat, FrameDuration, MediaTime};

    fn frame(n: u64) -> AudioFrame {
        let mut f = AudioFrame::silence(
            AudioFormat::MONO_16K,
            FrameDuration::Ms20,
            MediaTime::from_millis(n * 20),
        );
        f.samples_mut()[0] = n as i16;
        f
    }

    /// A bot producing a frame every 20 ms, each late by a pseudo-random 0–19 ms: the
    /// pacer sends every frame, in order, the moment it comes (never before its 20 ms
    /// slot), with consecutive timestamps and no start-up wait.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn a_bot_late_by_less_than_a_frame_leaves_no_gap() {
        let queue = AudioQueue::new(50, None);
        let mut pacer = Pacer::default();
        let start = Instant::now();
        let mut sent = Vec::new();
        let mut produced = 0u64;
        let mut seed = 7u64;
        let mut next_production = start;
        for ms in 0..4000u64 {
            let now = start + Duration::from_millis(ms);
            while produced < 190 && now >= next_production {
                queue.space.try_acquire().unwrap().forget();
                queue.push_reserved_at(frame(produced), now);
                produced += 1;
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let lateness = (seed >> 33) % 20;
                next_production = start + Duration::from_millis(produced * 20 + lateness);
            }
            if let Paced::Send(f, ts) = pacer.poll(&queue, now) {
                sent.push((ms, f.samples()[0], ts));
            }
        }
        assert_eq!(sent.len(), 190);
        assert_eq!(pacer.underruns, 1, "only when the bot stopped");
        for (k, &(ms, n, _)) in sent.iter().enumerate() {
            let slot = k as u64 * 20;
            assert!((slot..slot + 20).contains(&ms), "frame {k} sent at {ms} ms");
            assert_eq!(u64::from(n as u16), k as u64, "in order, none skipped");
        }
        for w in sent.windows(2) {
            assert_eq!(w[1].2, w[0].2.wrapping_add(960), "consecutive timestamps");
        }
        assert_eq!(sent[0].0, 0, "no start-up wait");
        assert_eq!(pacer.late, 0);
    }

    /// A live bot that fell 100 ms behind (its frames queued late, all at once) catches up:
    /// the overdue frames go at once instead of standing in the queue as latency, and the
    /// stream is back on its 20 ms schedule after.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn a_late_live_bot_catches_up_instead_of_queueing_latency() {
        let queue = AudioQueue::new(50, None);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        let mut sent = Vec::new();
        for ms in 0..400u64 {
            let now = t0 + Duration::from_millis(ms);
            // Frames 0..=20 are produced on time, except 1..=5, held up until 100 ms.
            for n in 0..20u64 {
                let produced = if (1..=5).contains(&n) { 100 } else { n * 20 };
                if produced == ms {
                    queue.space.try_acquire().unwrap().forget();
                    queue.push_reserved_at(frame(n), now);
                }
            }
            while let Paced::Send(f, ts) = pacer.poll(&queue, now) {
                sent.push((ms, f.samples()[0], ts));
            }
        }
        let at: Vec<u64> = sent.iter().map(|s| s.0).collect();
        assert_eq!(
            &at[..7],
            &[0, 100, 100, 100, 100, 100, 120],
            "caught up at once"
        );
        assert_eq!(pacer.late, 0, "the bot was late, not the media thread");
        for (k, &ms) in at.iter().enumerate().skip(6) {
            assert_eq!(ms, k as u64 * 20, "frame {k} back on time");
        }
        for w in sent.windows(2) {
            assert_eq!(w[1].1, w[0].1 + 1, "in order");
            assert_eq!(w[1].2, w[0].2.wrapping_add(960), "consecutive timestamps");
        }
    }

    /// Frames queued ahead but sent more than a frame late count as late: the media thread,
    /// not the bot, was behind.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn a_late_media_thread_is_counted() {
        let queue = AudioQueue::new(10, None);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        for n in 0..5 {
            queue.space.try_acquire().unwrap().forget();
            queue.push_reserved_at(frame(n), t0);
        }
        assert!(matches!(pacer.poll(&queue, t0), Paced::Send(..)));
        // The thread looks again only 70 ms later: frames 1–3 were due at 20, 40, 60.
        let mut sent = 0;
        while let Paced::Send(..) = pacer.poll(&queue, t0 + Duration::from_millis(70)) {
            sent += 1;
        }
        assert_eq!(sent, 3, "what was due goes at once");
        assert_eq!(
            pacer.late, 2,
            "frames 1 and 2 waited more than a frame past due"
        );
    }

    /// After a pause the stream restarts, its timestamps advanced by the pause; the
    /// low-queue event fires once per dip.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn pauses_advance_timestamps_and_low_queue_is_reported_once() {
        let queue = AudioQueue::new(10, None);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        for n in 0..3 {
            queue.space.try_acquire().unwrap().forget();
            queue.push_reserved_at(frame(n), t0);
        }
        let mut sent = Vec::new();
        let mut lows = 0;
        for ms in 0..2000u64 {
            let now = t0 + Duration::from_millis(ms);
            if ms == 1000 {
                queue.space.try_acquire().unwrap().forget();
                queue.push_reserved_at(frame(9), now);
            }
            if let Paced::Send(_, ts) = pacer.poll(&queue, now) {
                sent.push((ms, ts));
            }
            lows += usize::from(pacer.poll_low(&queue).is_some());
        }
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[2], (40, 1920));
        // Restart at once at 1000 ms, 960 ms after the third frame went: 48 frames later.
        assert_eq!(sent[3], (1000, 1920 + 48 * 960));
        assert_eq!(lows, 2, "one dip before the pause, one after the restart");
        assert_eq!(
            queue.space.available_permits(),
            10,
            "every place given back"
        );
    }
}
