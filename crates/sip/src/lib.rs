//! confab's SIP trunk gateway: how phone numbers (`4:+E.164`) take part in calls.
//!
//! This crate owns:
//! - [`sdp`]: offer/answer for one plain-RTP audio stream (G.711 µ-law and A-law, RFC 4733
//!   telephone events, hold by direction).
//! - [`rtp`]: RTP packets as phone legs carry them, read strictly.
//! - [`dtmf`]: DTMF keys, RFC 4733 event payloads and SIP INFO bodies.
//! - [`leg`]: [`PlainRtpLeg`](leg::PlainRtpLeg), one phone's media, sans-IO: symmetric RTP
//!   (the far end's address learned from its first packet), audio handed on, DTMF both ways,
//!   loss counted, silence detected.
//! - [`config`]: the trunk, the allow-list of who may call in, and where calls to each
//!   number go; [`invite`]: the decision about a phone's INVITE (allowed? routed? which
//!   media?); [`outcome`]: SIP statuses to and from confab's end reasons.
//! - The gateway itself ([`start`], [`SipGateway`]): rsipstack's transactions and dialogs on
//!   the SIP port — every datagram [`screen`]ed first (garbage counted, broken requests
//!   answered 400) — turned into [`GatewayRequest`]s for the call service, and the
//!   service's `PhoneCommand`s into SIP: calls in, dial-outs with digest auth, early media,
//!   CANCEL, BYE, hold by re-INVITE, DTMF by SIP INFO; [`metrics`] counts it all.
//!
//! It must not mix, decode or resample audio (the mixer does, at 48 kHz), nor know about
//! WebRTC. SIP messages are parsed by a kept SIP stack, never by hand.
//!
//! ```
//! use confab_sip::sdp;
//!
//! let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
//!              m=audio 31000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
//!              a=rtpmap:101 telephone-event/8000\r\n";
//! let chosen = sdp::negotiate(&sdp::parse(offer)?)?;
//! assert_eq!(chosen.codec, confab_codecs::AudioCodec::Pcma);
//! assert_eq!(chosen.telephone_event, Some(101));
//! # Ok::<(), sdp::SdpError>(())
//! ```

pub mod config;
pub mod dtmf;
mod gateway;
pub mod invite;
pub mod leg;
pub mod metrics;
pub mod outcome;
pub mod rtp;
pub mod screen;
pub mod sdp;
mod sockets;

pub use config::{SipConfig, SipConfigError};
pub use gateway::{GatewayError, GatewayRequest, PhoneMedia, SipGateway, ToGateway, start};
