//! The media plane: one dedicated thread (never a tokio worker) owning the shared UDP port,
//! every peer on it, and every room's mixer. It takes [`MediaCommand`]s from the signaling
//! task and answers with [`MediaReply`]s (SDP answers, media up or lost).

mod mixing;
mod phones;
mod plane;
mod room;
mod slots;
mod video;
mod video_budget;

use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;

use confab_signaling::MediaCommand;
use confab_signaling::protocol::{CallId, ParticipantId, ServerMessage};
use tokio::sync::mpsc;

/// What the media plane tells the signaling task.
#[derive(Debug)]
pub(crate) enum MediaReply {
    /// Send this message to a participant (SDP answers, later slot assignments).
    Deliver(CallId, ParticipantId, ServerMessage),
    /// The participant's media flows.
    Connected(CallId, ParticipantId),
    /// The participant's media failed for good.
    Lost(CallId, ParticipantId),
    /// The room's dominant speakers changed.
    DominantSpeakers(CallId, Vec<ParticipantId>),
    /// A phone pressed a key (RFC 4733 in its RTP).
    Dtmf(CallId, ParticipantId, char, u32),
}

pub(crate) enum MediaRequest {
    Command(MediaCommand),
    Stats(CallId, tokio::sync::oneshot::Sender<Vec<ParticipantMedia>>),
    /// A phone's RTP leg joins its participant.
    AttachPhone(CallId, ParticipantId, confab_sip::PhoneMedia),
    /// A phone's media was renegotiated (re-INVITE).
    UpdatePhone(CallId, ParticipantId, confab_sip::sdp::Negotiated),
    /// Keys to play to a phone (RFC 4733).
    PhoneDtmf(CallId, ParticipantId, Vec<confab_sip::dtmf::Digit>),
    Stop,
}

/// One participant's media as the service sees it (`GET /v1/calls/{id}/media`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParticipantMedia {
    /// The participant.
    pub participant: ParticipantId,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Audio packets received from it.
    pub audio_packets: u64,
    /// Of those, the packets the lean ingress path opened (all but each stream's first,
    /// with AES-GCM): the ones webrtc-rs's read pipeline never saw.
    pub audio_packets_lean: u64,
    /// Camera packets received from it.
    pub video_packets: u64,
    /// Screen-share packets received from it.
    pub screen_packets: u64,
    /// Its audio packets lost on the way in.
    pub audio_lost: u64,
    /// Whose camera each of its video slots carries.
    pub video_slots: Vec<Option<ParticipantId>>,
    /// The picture size (width, height) of the stream each video slot carries: with
    /// simulcast, the layer chosen for this viewer; `None` until a keyframe told it.
    pub video_slot_sizes: Vec<Option<(u32, u32)>>,
    /// The bit rate of the stream each video slot carries (its source's layer, measured
    /// over the last second as it arrives).
    pub video_slot_rates: Vec<Option<u64>>,
    /// Whose screen its screen slot carries.
    pub screen_slot: Option<ParticipantId>,
    /// Whose audio each of its unmixed slots carries.
    pub unmixed_slots: Vec<Option<ParticipantId>>,
    /// The service's estimate of its downlink for video (bits/s), from congestion control
    /// over its transport-wide feedback; `None` until it reported.
    pub bandwidth_estimate: Option<u64>,
    /// Its video slots the link has no room for now.
    pub video_slots_paused: usize,
    /// Times a slot of its moved to another simulcast layer.
    pub video_layer_switches: u64,
    /// Times its video stepped down (a smaller layer or a slot paused) for its bandwidth.
    pub video_bandwidth_downgrades: u64,
    /// Times one of its slots forwarded nothing for a second while the source sent.
    pub video_freezes: u64,
}

/// A handle to the media thread.
pub(crate) struct MediaPlane {
    requests: SyncSender<MediaRequest>,
    thread: Option<JoinHandle<()>>,
    pub(crate) local_addr: SocketAddr,
}

impl MediaPlane {
    /// Binds the media port and starts the thread; replies go to `replies`.
    pub(crate) fn start(
        bind: SocketAddr,
        advertised_ip: Option<std::net::IpAddr>,
        replies: mpsc::Sender<MediaReply>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        srtp: confab_transport::peer::SrtpPolicy,
    ) -> std::io::Result<MediaPlane> {
        let socket = std::net::UdpSocket::bind(bind)?;
        let bound = socket.local_addr()?;
        let local_addr = SocketAddr::new(advertised_ip.unwrap_or(bound.ip()), bound.port());
        let (requests, inbox) = std::sync::mpsc::sync_channel(8192);
        let thread = std::thread::Builder::new()
            .name("confab-media-plane".into())
            .spawn(move || plane::run(&socket, local_addr, &inbox, replies, metrics, srtp))?;
        Ok(MediaPlane {
            requests,
            thread: Some(thread),
            local_addr,
        })
    }

    /// Hands a command to the media thread without blocking; a full queue drops it.
    pub(crate) fn send(&self, command: MediaCommand) {
        self.request(MediaRequest::Command(command));
    }

    /// Hands any request to the media thread without blocking; a full queue drops it.
    pub(crate) fn request(&self, request: MediaRequest) {
        if let Err(TrySendError::Full(_)) = self.requests.try_send(request) {
            tracing::warn!("media plane queue full: request dropped");
        }
    }

    /// Asks for a call's per-participant media statistics (answered on `reply`).
    pub(crate) fn stats(
        &self,
        call_id: CallId,
        reply: tokio::sync::oneshot::Sender<Vec<ParticipantMedia>>,
    ) {
        let _ = self.requests.try_send(MediaRequest::Stats(call_id, reply));
    }

    /// Stops the thread.
    pub(crate) fn stop(mut self) {
        let _ = self.requests.send(MediaRequest::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
