//! WebRTC peers: one [`Peer`] per connection, and the [`PeerServer`] that runs many of them
//! on one UDP port (ICE-lite), routing datagrams by STUN username and remote address.

mod bandwidth;
mod connection;
mod keyframe_requests;
mod layout;
mod lean;
mod lean_ingress;
mod outgoing;
mod reception;
mod retransmissions;
pub mod rtcp_view;
pub mod rtp_view;
mod server;
mod setup;
mod srtcp_gcm;
mod srtp_gcm;
pub mod stun;
mod timers;

pub use bandwidth::{INITIAL_BITS_PER_SECOND, MAX_BITS_PER_SECOND, MIN_BITS_PER_SECOND};
pub use connection::Peer;
pub use layout::{LayoutError, MAX_UNMIXED_SLOTS, MAX_VIDEO_SLOTS, MediaLayout, Section};
pub use server::{PeerId, PeerServer, ServerStats};
pub use setup::{AUDIO_LEVEL_URI, IceMode, MAX_SEND_LAYERS, PeerOptions, SrtpPolicy};

/// How a forwarded packet is re-stamped (see [`Peer::forward_from`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// The source named in the packet's CSRC list (RFC 3550 §5.1, the contributing
    /// source): a receiver of a slot that changes hands tells whose each packet is from the
    /// packet itself, not from a notice that may overtake it or lag behind.
    pub csrc: Option<u32>,
    /// The packet's timestamp on the forwarder's clock (the call service's room clock, on
    /// which it also stamps the mix), so a receiver places every stream on one timeline.
    /// `None`: the source's own timestamps, shifted to continue smoothly after the
    /// previous source's.
    pub timestamp: Option<u32>,
}

/// An RTP header (webrtc-rs's type).
pub use rtc::rtp::Header as RtpHeader;
/// An RTP packet as peers deliver and forward it (webrtc-rs's type).
pub use rtc::rtp::Packet as RtpPacket;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus audio.
    Audio,
    /// H.264 video.
    Video,
}

/// What a peer reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerEvent {
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// Connectivity is interrupted (may come back).
    Disconnected,
    /// The connection failed for good.
    Failed,
    /// The connection closed.
    Closed,
    /// An RTP packet arrived (decrypted).
    Rtp {
        /// Which section of the layout it came on.
        section: Section,
        /// The packet.
        packet: rtc::rtp::Packet,
        /// Its RFC 6464 audio level (−dBov), when the sender included one.
        audio_level: Option<u8>,
    },
    /// A padding-only packet arrived (a sender probing bandwidth): no media, but it used
    /// up sequence number `seq` of stream `ssrc`. A forwarder that leaves it out calls
    /// [`Peer::skip_forwarded`] so its receivers see no loss.
    Padding {
        /// Which section of the layout it came on.
        section: Section,
        /// The stream (simulcast layer) it belongs to.
        ssrc: u32,
        /// Its sequence number.
        seq: u16,
    },
    /// The receiver of our video on `section` asks for a keyframe (PLI or FIR).
    KeyframeRequest {
        /// Which of our video sections.
        section: Section,
    },
}

/// What can go wrong with a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The SDP could not be used.
    #[error("SDP: {0}")]
    Sdp(String),
    /// The WebRTC core refused something.
    #[error("{context}: {message}")]
    Rtc {
        /// What we were doing.
        context: &'static str,
        /// What it said.
        message: String,
    },
    /// Media cannot be sent before the connection is up.
    #[error("not connected yet")]
    NotConnected,
    /// This peer does not send on that section.
    #[error("this peer does not send on {0:?}")]
    NotSending(Section),
    /// The offer does not follow confab's media layout.
    #[error("media layout: {0}")]
    Layout(String),
    /// No such peer.
    #[error("unknown peer")]
    UnknownPeer,
}
