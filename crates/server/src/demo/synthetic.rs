//! A synthetic participant: a bot that speaks part of a speech fixture in real time (one
//! 20 ms frame when it is due, as a microphone would) and sends a moving test pattern as its
//! camera, 15 pictures a second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_bot::{AudioFrame, Bot, CallEvent, CallHandle, MediaTime, VideoSource, async_trait};
use confab_media::{AudioFormat, TestPattern};

/// What a synthetic participant did, for the summary.
#[derive(Debug, Default)]
pub(crate) struct Spoken {
    /// When its first frame was due.
    pub(crate) spoke_at: Option<Instant>,
    /// What it said (48 kHz).
    pub(crate) samples: Vec<i16>,
    /// Frames handed to the SDK, and refused.
    pub(crate) frames: u64,
    pub(crate) refused: u64,
    /// Pictures sent.
    pub(crate) pictures: u64,
}

pub(crate) struct Synthetic {
    /// The speech to say, and when to start saying it (after media is up).
    pub(crate) speech: Vec<i16>,
    pub(crate) start_after: Duration,
    /// Camera size.
    pub(crate) size: (u32, u32),
    /// How long to keep the camera on.
    pub(crate) video_for: Duration,
    pub(crate) spoken: Arc<Mutex<Spoken>>,
}

impl Synthetic {
    async fn speak(
        call: CallHandle,
        speech: Vec<i16>,
        start_after: Duration,
        spoken: Arc<Mutex<Spoken>>,
    ) {
        tokio::time::sleep(start_after).await;
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        #[allow(clippy::disallowed_methods)] // a synthetic microphone: real time
        let start = Instant::now();
        if let Ok(mut s) = spoken.lock() {
            s.spoke_at = Some(start);
            s.samples.clone_from(&speech);
        }
        for (k, chunk) in speech.chunks_exact(960).enumerate() {
            ticker.tick().await;
            let frame = AudioFrame::new(
                AudioFormat::MONO_48K,
                MediaTime::from_millis(k as u64 * 20),
                chunk.to_vec(),
            );
            let Ok(frame) = frame else { break };
            let refused = call.try_send_audio(frame).is_err();
            if let Ok(mut s) = spoken.lock() {
                s.frames += 1;
                s.refused += u64::from(refused);
            }
        }
    }

    async fn film(
        call: CallHandle,
        size: (u32, u32),
        duration: Duration,
        spoken: Arc<Mutex<Spoken>>,
    ) {
        let pattern = TestPattern::new(size.0, size.1);
        let mut ticker = tokio::time::interval(Duration::from_micros(66_667));
        let pictures = (duration.as_millis() / 66) as u32;
        for n in 0..pictures {
            ticker.tick().await;
            let frame = pattern.frame(n, call.now());
            if call.send_video(VideoSource::Camera, frame).is_ok()
                && let Ok(mut s) = spoken.lock()
            {
                s.pictures += 1;
            }
        }
        let _ = call.video(false).await;
    }
}

#[async_trait]
impl Bot for Synthetic {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event != CallEvent::MediaConnected {
            return;
        }
        let _ = call.video(true).await;
        tokio::spawn(Synthetic::speak(
            call.clone(),
            std::mem::take(&mut self.speech),
            self.start_after,
            self.spoken.clone(),
        ));
        tokio::spawn(Synthetic::film(
            call.clone(),
            self.size,
            self.video_for,
            self.spoken.clone(),
        ));
    }
}
