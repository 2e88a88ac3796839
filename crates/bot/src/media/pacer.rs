//! Outgoing audio pacing: the bot queues 20 ms frames whenever it likes; the media thread
//! takes one every 20 ms on a steady clock. Sans-IO: the time is passed in.
//!
//! A stream starts one frame after its first frame is queued, so a bot that produces frames
//! every 20 ms but late by up to (not quite) a frame never leaves a gap. When the queue runs
//! dry the stream stops; the next frame starts it again the same way, its RTP timestamp
//! advanced by the silence in between (receivers see a pause, not a loss).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_media::AudioFrame;

/// One frame's worth of time.
pub(crate) const FRAME: Duration = Duration::from_millis(20);
/// RTP ticks (48 kHz) per frame.
const FRAME_TICKS: u32 = 960;

/// The queue between the bot (any thread) and the media thread.
#[derive(Debug)]
pub(crate) struct AudioQueue {
    frames: Mutex<VecDeque<AudioFrame>>,
    capacity: usize,
    /// Free places, for bots that wait instead of failing when the queue is full.
    pub(crate) space: tokio::sync::Semaphore,
}

impl AudioQueue {
    pub(crate) fn new(capacity: usize) -> AudioQueue {
        AudioQueue {
            frames: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            space: tokio::sync::Semaphore::new(capacity),
        }
    }

    /// Queues a frame whose place was already taken from `space`.
    pub(crate) fn push_reserved(&self, frame: AudioFrame) {
        if let Ok(mut frames) = self.frames.lock() {
            frames.push_back(frame);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.lock().map_or(0, |f| f.len())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn pop(&self) -> Option<AudioFrame> {
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
    /// The low-queue event was given and not yet re-armed.
    low_signalled: bool,
    /// Frames sent.
    pub(crate) sent: u64,
    /// Times the queue ran dry while the stream was running.
    pub(crate) underruns: u64,
    /// Sends more than a frame behind their due time (the media thread was late).
    pub(crate) late: u64,
}

impl Pacer {
    /// When the pacer next needs [`poll`](Pacer::poll).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next_send
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

    /// Takes the next frame if one is due at `now`.
    pub(crate) fn poll(&mut self, queue: &AudioQueue, now: Instant) -> Paced {
        let Some(due) = self.next_send else {
            if queue.len() > 0 {
                // Start one frame from now: the margin for a bot that is a little late.
                self.next_send = Some(now + FRAME);
            }
            return Paced::Wait;
        };
        if now < due {
            return Paced::Wait;
        }
        let Some(frame) = queue.pop() else {
            self.underruns += 1;
            self.next_send = None;
            self.low_signalled = false;
            return Paced::Wait;
        };
        let timestamp = match self.last {
            // Running: the next frame's timestamp.
            Some((ts, _)) if self.sent > 0 && self.running_since(due) => {
                ts.wrapping_add(FRAME_TICKS)
            }
            // Restarting after a pause: advance by the pause, in whole frames.
            Some((ts, at)) => {
                let frames = (now.saturating_duration_since(at).as_millis() / 20).max(1) as u32;
                ts.wrapping_add(frames.wrapping_mul(FRAME_TICKS))
            }
            None => 0,
        };
        self.last = Some((timestamp, now));
        self.sent += 1;
        let mut next = due + FRAME;
        if now >= next {
            // More than a frame behind: count it and re-anchor rather than burst.
            self.late += 1;
            next = now + FRAME;
        }
        self.next_send = Some(next);
        Paced::Send(frame, timestamp)
    }

    /// Whether the frame due at `due` continues the previous one without a pause.
    fn running_since(&self, due: Instant) -> bool {
        self.last
            .is_some_and(|(_, at)| due.saturating_duration_since(at) < FRAME + FRAME / 2)
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
    /// pacer sends every frame, in order, exactly 20 ms apart, with consecutive timestamps.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn a_bot_late_by_less_than_a_frame_leaves_no_gap() {
        let queue = AudioQueue::new(50);
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
                queue.push_reserved(frame(produced));
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
        for (i, w) in sent.windows(2).enumerate() {
            assert_eq!(w[1].0 - w[0].0, 20, "frame {i}: steady 20 ms");
            assert_eq!(w[1].1, w[0].1 + 1, "in order, none skipped");
            assert_eq!(w[1].2, w[0].2.wrapping_add(960), "consecutive timestamps");
        }
        assert_eq!(sent[0].0, 20, "one frame of start-up margin");
    }

    /// After a pause the stream restarts, its timestamps advanced by the pause; the
    /// low-queue event fires once per dip.
    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    fn pauses_advance_timestamps_and_low_queue_is_reported_once() {
        let queue = AudioQueue::new(10);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        for n in 0..3 {
            queue.space.try_acquire().unwrap().forget();
            queue.push_reserved(frame(n));
        }
        let mut sent = Vec::new();
        let mut lows = 0;
        for ms in 0..2000u64 {
            let now = t0 + Duration::from_millis(ms);
            if ms == 1000 {
                queue.space.try_acquire().unwrap().forget();
                queue.push_reserved(frame(9));
            }
            if let Paced::Send(_, ts) = pacer.poll(&queue, now) {
                sent.push((ms, ts));
            }
            lows += usize::from(pacer.poll_low(&queue).is_some());
        }
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[2].1, 1920);
        // Restart at 1020 ms, 960 ms after the third frame went at 60 ms: 48 frames later.
        assert_eq!(sent[3], (1020, 1920 + 48 * 960));
        assert_eq!(lows, 2, "one dip before the pause, one after the restart");
        assert_eq!(
            queue.space.available_permits(),
            10,
            "every place given back"
        );
    }
}
