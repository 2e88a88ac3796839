//! A call's media thread (never a tokio worker): the peer connection and its socket, audio
//! receive (jitter buffer, decode) and send (pacing, encode), video receive and send.
//! It talks to the call task through bounded channels only.

mod fec;
mod pacer;
mod receive;
mod thread;
mod video;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use confab_media::{AudioFrame, MediaTime, VideoFrame};
use confab_transport::peer::Section;

pub(crate) use pacer::AudioQueue;
pub(crate) use thread::{MediaThread, MediaThreadConfig};

use crate::VideoSource;

/// What the call task asks of the media thread.
#[derive(Debug)]
pub(crate) enum ToMedia {
    /// Encode and send a picture.
    Video(VideoSource, VideoFrame),
    /// Send an H.264 access unit as it is.
    H264(VideoSource, Bytes),
    /// Carry on over this new connection (negotiated after the old one stopped carrying
    /// media): incoming streams start afresh, outgoing ones continue on it.
    Restart(Box<confab_transport::peer::Peer>),
    /// Stop (after sending what is queued).
    Stop,
}

/// Media for the bot.
#[derive(Debug)]
pub(crate) enum Frame {
    Mixed(AudioFrame),
    /// An unmixed slot's frame, with the speaker its packet named (CSRC), if it did.
    Unmixed(u8, AudioFrame, Option<u32>),
    Video(Section, VideoFrame),
    Encoded(Section, Bytes, bool, MediaTime),
}

/// Rare news for the call task (never dropped while the channel has room).
#[derive(Debug)]
pub(crate) enum Control {
    Connected,
    Failed,
    /// Nothing has arrived for the media timeout (sent again each timeout it lasts).
    Stalled,
    QueueLow(usize),
    KeyframeRequested(VideoSource),
}

/// Counters shared between the media thread and handles.
#[derive(Debug, Default)]
pub(crate) struct SharedStats {
    pub(crate) mixed_frames: AtomicU64,
    pub(crate) unmixed_frames: AtomicU64,
    pub(crate) video_frames: AtomicU64,
    pub(crate) frames_dropped: AtomicU64,
    pub(crate) audio_sent: AtomicU64,
    pub(crate) audio_underruns: AtomicU64,
    pub(crate) audio_late: AtomicU64,
    pub(crate) video_sent: AtomicU64,
    pub(crate) packets_lost: AtomicU64,
    pub(crate) concealed: AtomicU64,
    pub(crate) audio_loss_reported_percent: AtomicU64,
    pub(crate) audio_fec_percent: AtomicU64,
    pub(crate) ticks: AtomicU64,
    pub(crate) ticks_late: AtomicU64,
    /// Set when the call ends: the media thread stops at its next wake-up.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
}

impl SharedStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub(crate) type Stats = Arc<SharedStats>;
