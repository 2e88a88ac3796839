//! The trait a robot implements.

use async_trait::async_trait;
use confab_media::{AudioFrame, VideoFrame};
use confab_signaling::EndReason;

use crate::{CallEvent, CallHandle, EncodedPicture, Participant, VideoSource};

/// A robot in one call. Every method has a no-op default: implement what you need.
///
/// Methods run on the call's task, one at a time, in the order things happened. Media is
/// decoded and queued for you on the call's media thread; if a method takes longer than the
/// media keeps coming, frames queue up to [`BotConfig::delivery_queue`](crate::BotConfig)
/// and are then dropped and counted ([`CallStats::frames_dropped`](crate::CallStats)) —
/// your slowness never stalls the call.
#[async_trait]
pub trait Bot: Send + 'static {
    /// The bot is in the call and its media is being connected; `call` is its handle.
    async fn on_joined(&mut self, _call: &CallHandle) {}

    /// 20 ms of the call's mixed audio (everyone but the bot).
    async fn on_mixed_audio(&mut self, _call: &CallHandle, _frame: &AudioFrame) {}

    /// 20 ms of one participant's own audio, from an unmixed slot.
    async fn on_participant_audio(
        &mut self,
        _call: &CallHandle,
        _who: &Participant,
        _frame: &AudioFrame,
    ) {
    }

    /// A decoded picture of someone's camera or screen share (needs
    /// [`VideoReception::Decoded`](crate::VideoReception)).
    async fn on_video(
        &mut self,
        _call: &CallHandle,
        _who: &Participant,
        _source: VideoSource,
        _frame: &VideoFrame,
    ) {
    }

    /// An H.264 access unit of someone's camera or screen share (needs
    /// [`VideoReception::Encoded`](crate::VideoReception)).
    async fn on_encoded_video(
        &mut self,
        _call: &CallHandle,
        _who: &Participant,
        _source: VideoSource,
        _picture: &EncodedPicture,
    ) {
    }

    /// Something happened in the call.
    async fn on_event(&mut self, _call: &CallHandle, _event: &CallEvent) {}

    /// The call is over for the bot; `reason` says why.
    async fn on_left(&mut self, _call: &CallHandle, _reason: &EndReason) {}
}
