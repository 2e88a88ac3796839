//! A bot wrapper that notes when each participant's audio reached the bot (for the
//! mouth-to-bot latency) and passes everything on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use confab_bot::{
    AudioFrame, Bot, CallEvent, CallHandle, EncodedPicture, EndReason, Identity, Participant,
    VideoFrame, VideoSource, async_trait,
};

/// Per identity: each unmixed frame's arrival instant and samples.
pub(crate) type Arrivals = Arc<Mutex<HashMap<Identity, Vec<(Instant, Vec<i16>)>>>>;
/// Each mixed frame's arrival instant and samples.
pub(crate) type MixArrivals = Arc<Mutex<Vec<(Instant, Vec<i16>)>>>;

pub(crate) struct Tap<B> {
    pub(crate) inner: B,
    pub(crate) arrivals: Arrivals,
    pub(crate) mixed: MixArrivals,
}

#[async_trait]
impl<B: Bot> Bot for Tap<B> {
    async fn on_joined(&mut self, call: &CallHandle) {
        self.inner.on_joined(call).await;
    }

    #[allow(clippy::disallowed_methods)] // the tap is a measuring instrument: real time
    async fn on_mixed_audio(&mut self, call: &CallHandle, frame: &AudioFrame) {
        if let Ok(mut mixed) = self.mixed.lock() {
            mixed.push((Instant::now(), frame.samples().to_vec()));
        }
        self.inner.on_mixed_audio(call, frame).await;
    }

    #[allow(clippy::disallowed_methods)] // the tap is a measuring instrument: real time
    async fn on_participant_audio(
        &mut self,
        call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals
                .entry(who.identity.clone())
                .or_default()
                .push((Instant::now(), frame.samples().to_vec()));
        }
        self.inner.on_participant_audio(call, who, frame).await;
    }

    async fn on_video(
        &mut self,
        call: &CallHandle,
        who: &Participant,
        source: VideoSource,
        frame: &VideoFrame,
    ) {
        self.inner.on_video(call, who, source, frame).await;
    }

    async fn on_encoded_video(
        &mut self,
        call: &CallHandle,
        who: &Participant,
        source: VideoSource,
        picture: &EncodedPicture,
    ) {
        self.inner
            .on_encoded_video(call, who, source, picture)
            .await;
    }

    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        self.inner.on_event(call, event).await;
    }

    async fn on_left(&mut self, call: &CallHandle, reason: &EndReason) {
        self.inner.on_left(call, reason).await;
    }
}
