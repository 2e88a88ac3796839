//! Media transport for confab: how audio and video cross the network.
//!
//! This crate owns:
//! - [`peer`]: WebRTC peers on webrtc-rs's sans-IO `rtc` core. [`peer::PeerServer`] runs many
//!   ICE-lite peers on one UDP port (routed by the ufrag in STUN USERNAME, then by address;
//!   peer-reflexive remotes accepted, mDNS never used); a bot's [`peer::Peer`] is a full-ICE
//!   offerer. DTLS-SRTP always (AES-GCM preferred). Opus with RFC 6464 levels, H.264, PLI/FIR
//!   surfaced as keyframe requests, NACK and sender reports from the core's interceptors;
//!   audio sealed and opened in place by confab (the lean paths, AES-GCM), and receiver
//!   reports for every stream written by the peer itself.
//! - [`payload`]: RTP payload formats — H.264 per RFC 6184 (single NAL unit, STAP-A, FU-A,
//!   packetization-mode 1) both ways, and Opus per RFC 7587 (TOC parsing, frame durations).
//! - [`jitter`]: the adaptive audio [`JitterBuffer`](jitter::JitterBuffer): reorders, drops
//!   duplicates and late packets, reports each loss once as "conceal" or "recover from the
//!   next packet's FEC", and tracks a high percentile of observed jitter as its target delay
//!   (shrinking again when the jitter stops), in bounded memory.
//! - [`slab`]: packet buffers cut from one allocation, so the media path allocates nothing
//!   per packet.
//! - [`udp`]: the thin driver that runs any of these sans-IO transports on a real socket.
//!
//! It must not know about rooms, calls or mixing. Everything but [`udp`] is sans-IO: packets
//! and `now` go in, decisions come out; nothing else reads a clock or touches a socket.
//!
//! ```
//! use bytes::Bytes;
//! use confab_transport::payload::h264::{H264Depacketizer, H264Packetizer};
//!
//! // An access unit: SPS, PPS and a big IDR slice.
//! let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65];
//! au.extend(std::iter::repeat_n(0xAB, 3000));
//! let packets = H264Packetizer::new(1200).packetize(&au);
//! assert!(packets.len() >= 3 && packets.last().unwrap().marker);
//! let mut depacketizer = H264Depacketizer::new();
//! let mut out = None;
//! for (seq, p) in packets.iter().enumerate() {
//!     out = depacketizer.push(seq as u16, &p.payload, p.marker)?.or(out);
//! }
//! assert_eq!(out.unwrap().data.as_ref(), &au[..]);
//! # Ok::<(), confab_transport::payload::h264::DepacketizeError>(())
//! ```

pub mod jitter;
pub mod payload;
pub mod peer;
pub mod simulcast;
pub mod slab;
pub mod udp;
