//! [`CallHandle`]: what a bot does to its call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use confab_media::{AudioFrame, FrameDuration, MediaTime, VideoFrame};
use confab_signaling::Identity;
use confab_signaling::client::SignalingClient;
use confab_signaling::protocol::{CallId, ClientMessage, ParticipantId};

use crate::media::{AudioQueue, SharedStats, Stats, ToMedia};
use crate::{AudioRate, BotError, Participant, SendError, VideoSource};

/// Counters of one call, from the bot's side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Mixed-audio frames delivered.
    pub mixed_frames: u64,
    /// Unmixed (per-participant) frames delivered.
    pub unmixed_frames: u64,
    /// Decoded pictures delivered.
    pub video_frames: u64,
    /// Frames dropped because the bot did not take them in time.
    pub frames_dropped: u64,
    /// Audio frames sent.
    pub audio_sent: u64,
    /// Times the outgoing audio queue ran dry while sending.
    pub audio_underruns: u64,
    /// Outgoing frames sent more than a frame late (the machine was overloaded).
    pub audio_late: u64,
    /// Video pictures sent.
    pub video_sent: u64,
    /// Incoming audio packets lost.
    pub packets_lost: u64,
    /// Incoming audio frames concealed because their packet was lost.
    pub concealed: u64,
    /// The share of the bot's own audio the service last reported lost (RTCP reception
    /// reports), in percent; 0 until a report came.
    pub audio_loss_reported_percent: u64,
    /// The loss the bot's Opus encoder plans its in-band FEC for now, in percent (it follows
    /// the reported loss).
    pub audio_fec_percent: u64,
    /// 20 ms housekeeping ticks run (audio is handed on as it arrives, not on ticks).
    pub ticks: u64,
    /// Ticks that ran more than a frame late.
    pub ticks_late: u64,
}

pub(crate) struct HandleInner {
    /// The call; a group call whose node died is joined afresh under a new id.
    pub(crate) call_id: Mutex<CallId>,
    pub(crate) client: SignalingClient,
    pub(crate) to_media: SyncSender<ToMedia>,
    pub(crate) queue: Arc<AudioQueue>,
    pub(crate) rate: AudioRate,
    pub(crate) stats: Stats,
    pub(crate) roster: Mutex<HashMap<ParticipantId, Participant>>,
    pub(crate) me: Mutex<Option<ParticipantId>>,
    pub(crate) origin: Instant,
    pub(crate) ended: AtomicBool,
    pub(crate) max_video: (u32, u32),
}

/// A bot's handle to its call: cheap to clone, usable from any task.
#[derive(Clone)]
pub struct CallHandle {
    pub(crate) inner: Arc<HandleInner>,
}

impl std::fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHandle")
            .field("call_id", &self.call_id())
            .finish_non_exhaustive()
    }
}

impl CallHandle {
    /// The call.
    pub fn call_id(&self) -> CallId {
        self.inner
            .call_id
            .lock()
            .map_or_else(|poisoned| *poisoned.into_inner(), |id| *id)
    }

    /// The bot's participant id, once the roster arrived.
    pub fn me(&self) -> Option<ParticipantId> {
        self.inner.me.lock().ok().and_then(|m| *m)
    }

    /// Everyone in the call now (the bot included).
    pub fn participants(&self) -> Vec<Participant> {
        let mut all: Vec<Participant> = self
            .inner
            .roster
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|p| p.id);
        all
    }

    /// One participant.
    pub fn participant(&self, id: ParticipantId) -> Option<Participant> {
        self.inner.roster.lock().ok()?.get(&id).cloned()
    }

    /// The call clock: time since the bot's call started (every frame is stamped with it).
    #[allow(clippy::disallowed_methods)] // the handle reads the clock for the bot
    pub fn now(&self) -> MediaTime {
        MediaTime::from_micros(self.inner.origin.elapsed().as_micros() as u64)
    }

    /// The PCM rate of the bot's audio.
    pub fn audio_rate(&self) -> AudioRate {
        self.inner.rate
    }

    /// Counters so far.
    pub fn stats(&self) -> CallStats {
        let s = &self.inner.stats;
        CallStats {
            mixed_frames: SharedStats::get(&s.mixed_frames),
            unmixed_frames: SharedStats::get(&s.unmixed_frames),
            video_frames: SharedStats::get(&s.video_frames),
            frames_dropped: SharedStats::get(&s.frames_dropped),
            audio_sent: SharedStats::get(&s.audio_sent),
            audio_underruns: SharedStats::get(&s.audio_underruns),
            audio_late: SharedStats::get(&s.audio_late),
            video_sent: SharedStats::get(&s.video_sent),
            packets_lost: SharedStats::get(&s.packets_lost),
            concealed: SharedStats::get(&s.concealed),
            audio_loss_reported_percent: SharedStats::get(&s.audio_loss_reported_percent),
            audio_fec_percent: SharedStats::get(&s.audio_fec_percent),
            ticks: SharedStats::get(&s.ticks),
            ticks_late: SharedStats::get(&s.ticks_late),
        }
    }

    fn check_frame(&self, frame: &AudioFrame) -> Result<(), SendError> {
        if self.inner.ended.load(Ordering::Relaxed) {
            return Err(SendError::Ended);
        }
        let want = self.inner.rate.format();
        if frame.format() != want || frame.duration() != FrameDuration::Ms20 {
            return Err(SendError::FrameShape(format!(
                "got {:?} {:?}, want {want:?} 20 ms",
                frame.format(),
                frame.duration()
            )));
        }
        Ok(())
    }

    /// Queues 20 ms of audio to send, waiting while the queue is full. The SDK sends one
    /// frame every 20 ms.
    pub async fn send_audio(&self, frame: AudioFrame) -> Result<(), SendError> {
        self.check_frame(&frame)?;
        let permit = self
            .inner
            .queue
            .space
            .acquire()
            .await
            .map_err(|_| SendError::Ended)?;
        permit.forget();
        self.inner.queue.push_reserved(frame);
        Ok(())
    }

    /// Queues 20 ms of audio without waiting: [`SendError::QueueFull`] when the bot is
    /// already a full queue ahead.
    pub fn try_send_audio(&self, frame: AudioFrame) -> Result<(), SendError> {
        self.check_frame(&frame)?;
        let permit = self
            .inner
            .queue
            .space
            .try_acquire()
            .map_err(|_| SendError::QueueFull)?;
        permit.forget();
        self.inner.queue.push_reserved(frame);
        Ok(())
    }

    /// Frames queued and not yet sent.
    pub fn audio_queued(&self) -> usize {
        self.inner.queue.len()
    }

    /// Room left in the outgoing audio queue.
    pub fn audio_queue_room(&self) -> usize {
        self.inner.queue.capacity() - self.inner.queue.len().min(self.inner.queue.capacity())
    }

    fn to_media(&self, command: ToMedia) -> Result<(), SendError> {
        match self.inner.to_media.try_send(command) {
            Ok(()) => {
                self.inner.queue.wake();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(SendError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(SendError::Ended),
        }
    }

    /// Encodes and sends a picture as the bot's camera (or screen share).
    pub fn send_video(&self, source: VideoSource, frame: VideoFrame) -> Result<(), SendError> {
        self.to_media(ToMedia::Video(source, frame))
    }

    /// Sends an H.264 access unit (Annex-B, constrained baseline) as it is.
    pub fn send_h264(&self, source: VideoSource, access_unit: Bytes) -> Result<(), SendError> {
        self.to_media(ToMedia::H264(source, access_unit))
    }

    async fn request(&self, message: ClientMessage) -> Result<(), BotError> {
        self.inner.client.request(message).await?;
        Ok(())
    }

    /// Mutes or unmutes the bot's audio for everyone.
    pub async fn mute(&self, muted: bool) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::MuteSelf { call_id, muted })
            .await
    }

    /// Holds or resumes the call.
    pub async fn hold(&self, on: bool) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::Hold { call_id, on }).await
    }

    /// Says whether the bot sends camera video (the roster shows it).
    pub async fn video(&self, on: bool) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::Video { call_id, on }).await
    }

    /// Says the bot shares (or stops sharing) a screen; send it with `VideoSource::Screen`.
    pub async fn screen_share(&self, active: bool) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::ScreenShare { call_id, active })
            .await
    }

    /// Rings someone into the call.
    pub async fn invite(&self, identity: Identity) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::Invite { call_id, identity })
            .await
    }

    /// Dials a phone number into the call (`4:+E.164`; needs organizer or presenter
    /// rights): the same as [`invite`](CallHandle::invite) with a phone identity.
    pub async fn dial_out(&self, number: Identity) -> Result<(), BotError> {
        self.invite(number).await
    }

    /// Presses DTMF keys toward the call's phones (`0`–`9`, `*`, `#`, `A`–`D`, at most 32):
    /// toward `phone` only, or every phone in the call.
    pub async fn send_dtmf(
        &self,
        digits: &str,
        phone: Option<ParticipantId>,
    ) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::SendDtmf {
            call_id,
            digits: digits.to_string(),
            participant: phone,
        })
        .await
    }

    /// Removes a participant (needs the right to).
    pub async fn remove(&self, participant: ParticipantId) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::RemoveParticipant {
            call_id,
            participant,
        })
        .await
    }

    /// Mutes another participant (needs the right to).
    pub async fn mute_participant(&self, participant: ParticipantId) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::MuteParticipant {
            call_id,
            participant,
        })
        .await
    }

    /// Asks for a participant's camera in one of the bot's video slots, ahead of others.
    pub async fn subscribe_video(&self, participant: ParticipantId) -> Result<(), BotError> {
        let call_id = self.call_id();
        let (max_width, max_height) = self.inner.max_video;
        self.request(ClientMessage::SubscribeVideo {
            call_id,
            participant,
            max_width,
            max_height,
        })
        .await
    }

    /// Stops asking for a participant's camera.
    pub async fn unsubscribe_video(&self, participant: ParticipantId) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::UnsubscribeVideo {
            call_id,
            participant,
        })
        .await
    }

    /// Leaves the call (a 1:1 call ends for both).
    pub async fn hang_up(&self) -> Result<(), BotError> {
        let call_id = self.call_id();
        self.request(ClientMessage::Leave { call_id }).await
    }
}
