//! What a bot hears about: participants and call events.

use confab_signaling::protocol::{ParticipantId, RosterEntry};
use confab_signaling::{EndReason, Identity, ParticipantState, Role};

/// One participant as the bot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Their id in this call.
    pub id: ParticipantId,
    /// Who they are.
    pub identity: Identity,
    /// The name to show.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// Their state.
    pub state: ParticipantState,
    /// Microphone muted.
    pub muted: bool,
    /// Sending camera video.
    pub video: bool,
    /// Sharing the screen.
    pub screen_sharing: bool,
}

impl From<&RosterEntry> for Participant {
    fn from(e: &RosterEntry) -> Self {
        Participant {
            id: e.participant,
            identity: e.identity.clone(),
            display_name: e.display_name.clone(),
            role: e.role,
            state: e.state,
            muted: e.muted,
            video: e.video,
            screen_sharing: e.screen_sharing,
        }
    }
}

/// One H.264 access unit as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPicture {
    /// NAL units with start codes (Annex-B).
    pub data: bytes::Bytes,
    /// Whether it is an IDR picture.
    pub keyframe: bool,
    /// When it arrived, on the call clock.
    pub at: confab_media::MediaTime,
}

/// Which of a participant's videos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoSource {
    /// The camera.
    Camera,
    /// The screen share.
    Screen,
}

/// Something that happened in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// Media flows (ICE and DTLS are up).
    MediaConnected,
    /// The network dropped (the signaling connection closed, or media stopped arriving):
    /// the SDK is re-establishing what was lost. The bot stays in the call meanwhile; audio
    /// it sends goes nowhere until [`CallEvent::Reconnected`].
    Reconnecting,
    /// Back after [`CallEvent::Reconnecting`]: the same participant in the same call, its
    /// roster and slots as the service sees them now.
    Reconnected,
    /// The node hosting this call was lost and the call goes on in a new one on a live
    /// node: a group call joined afresh by its group, a 1:1 call placed again by its caller
    /// (this SDK, if it placed it) and answered by its callee's device without asking the
    /// bot. The call goes on under a new id ([`CallHandle::call_id`]) with its own roster
    /// (everyone of the lost call left first). [`CallEvent::Reconnected`] follows once media
    /// flows again.
    ///
    /// [`CallHandle::call_id`]: crate::CallHandle::call_id
    Rejoined {
        /// The new call id.
        call_id: confab_signaling::protocol::CallId,
    },
    /// Someone joined (or was first seen).
    Joined(Participant),
    /// Someone's state, mute or video flags changed (the new view).
    Changed(Participant),
    /// Someone left, and why.
    Left {
        /// Who.
        participant: Participant,
        /// Why.
        reason: EndReason,
    },
    /// Mute state changed.
    Muted {
        /// Who.
        participant: Participant,
        /// Now muted or not.
        muted: bool,
    },
    /// A new dominant speaker.
    DominantSpeaker(Participant),
    /// Someone started or stopped sharing the screen.
    ScreenShare {
        /// Who.
        participant: Participant,
        /// Sharing now or not.
        active: bool,
    },
    /// Someone muted the bot.
    MutedBy(Participant),
    /// The outgoing audio queue is nearly empty: send more soon or there will be a gap.
    AudioQueueLow {
        /// Frames still queued.
        queued: usize,
    },
    /// A viewer asked for a keyframe of the bot's video (bots sending pre-encoded H.264
    /// should send one).
    KeyframeRequested(VideoSource),
    /// A phone participant pressed a key (DTMF).
    Dtmf {
        /// The phone.
        participant: Participant,
        /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How long it was held, in milliseconds.
        duration_ms: u32,
    },
    /// The call as the bot sees it moved (ringing, early media from a phone, connected,
    /// held...). The end of the call comes to `on_left` instead.
    State(confab_signaling::CallState),
}

/// How a call went, from the bot's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    /// Why it ended.
    pub reason: EndReason,
    /// Counters at the end.
    pub stats: crate::CallStats,
}
