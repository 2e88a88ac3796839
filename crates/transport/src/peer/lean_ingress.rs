//! The lean ingress path: incoming audio opened by confab itself instead of webrtc-rs's
//! per-packet read pipeline.
//!
//! A datagram through `handle_read` is copied, opened by rtc-srtp into a new buffer, parsed
//! into an owned header with an extension list, walked through the receive interceptors and
//! queued as a message: nine allocations and most of the I/O thread's cost per incoming
//! packet. Audio needs none of the interceptors' work (no NACK or transport-wide feedback is
//! negotiated for it; the [`Peer`](super::Peer) writes every receiver report itself), so
//! once the core has delivered a stream's first packet — binding its SSRC to a section —
//! the rest of that stream is opened here: checked and decrypted in place in a slab buffer
//! with the connection's remote SRTP keys (AES-GCM only), and its payload handed on as a
//! slice of that buffer.
//!
//! The remote's RTCP takes this path too when a compound holds nothing but sender and
//! receiver reports and source descriptions (what an audio participant sends, once a
//! second): the [`Peer`](super::Peer) reads those itself, and no interceptor needs them.
//! Anything else (feedback for video: NACK, PLI, FIR, transport-wide, REMB; BYE) goes to
//! the core as it came.

use bytes::Bytes;
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::dtls::srtp_export::SrtpExport;
use rtc::srtp::protection_profile::ProtectionProfile;

use super::Section;
use super::lean::session_keys;
use super::rtcp_view::reports_only;
use super::rtp_view::{RtpView, RtpViewError};
use super::srtcp_gcm::{GcmRtcpOpener, RtcpOpenError};
use super::srtp_gcm::{GcmOpener, OpenError, TAG_LEN};
use crate::slab::PacketSlab;

/// Room for a couple of hundred audio packets: they live in jitter buffers for a while, so
/// a slab is reused once the last of its packets is played.
const SLAB_BYTES: usize = 16 * 1024;

/// Incoming SRTP of one connection, for the audio streams confab opens itself.
#[derive(Debug)]
pub(super) struct LeanIngress {
    opener: Option<GcmOpener>,
    rtcp: Option<GcmRtcpOpener>,
    /// Where an SRTCP packet is opened (reports are parsed into owned packets).
    rtcp_buf: Vec<u8>,
    /// The streams that take this path: SSRC, section, audio-level extension id.
    streams: Vec<(u32, Section, Option<u8>)>,
    slab: PacketSlab,
    /// Media packets opened here so far.
    pub(super) opened: u64,
    /// RTCP compounds of reports opened here so far.
    pub(super) reports_opened: u64,
}

impl Default for LeanIngress {
    fn default() -> Self {
        LeanIngress {
            opener: None,
            rtcp: None,
            rtcp_buf: Vec::new(),
            streams: Vec::new(),
            slab: PacketSlab::new(SLAB_BYTES),
            opened: 0,
            reports_opened: 0,
        }
    }
}

/// What became of a datagram offered to the lean path.
#[derive(Debug)]
pub(super) enum Ingress {
    /// Not a packet of a lean stream: the core takes it.
    NotLean,
    /// A packet of a lean stream that did not open (forged, replayed, malformed): dropped,
    /// as the core would drop it.
    Dropped(DropReason),
    /// An opened media packet.
    Packet {
        section: Section,
        packet: rtc::rtp::Packet,
        audio_level: Option<u8>,
    },
    /// An opened RTCP compound of sender and receiver reports and source descriptions.
    Reports(Vec<Box<dyn rtc::rtcp::Packet>>),
    /// An opened packet with padding only: it took sequence number `seq`.
    Padding {
        section: Section,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
    },
}

/// Why a lean stream's packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum DropReason {
    #[error("SRTP: {0}")]
    Srtp(#[from] OpenError),
    #[error("RTP: {0}")]
    Rtp(#[from] RtpViewError),
    #[error("SRTCP: {0}")]
    Srtcp(#[from] RtcpOpenError),
    #[error("RTCP: a report that does not parse")]
    Rtcp,
}

impl LeanIngress {
    /// Takes the remote half of a completed handshake's keys; only AES-GCM takes this path.
    pub(super) fn keys(&mut self, export: &SrtpExport) {
        if export.profile != SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm {
            return;
        }
        let openers = session_keys(export, ProtectionProfile::AeadAes128Gcm)
            .map_err(|e| e.to_string())
            .and_then(|config| {
                let provider = rtc::crypto::default_provider().map_err(|e| e.to_string())?;
                let (key, salt) = (
                    &config.keys.remote_master_key,
                    &config.keys.remote_master_salt,
                );
                let rtp = GcmOpener::new(provider.crypto(), key, salt);
                let rtcp = GcmRtcpOpener::new(provider.crypto(), key, salt);
                rtp.and_then(|rtp| Ok((rtp, rtcp?)))
                    .map_err(|e| e.to_string())
            });
        match openers {
            Ok((rtp, rtcp)) => {
                self.opener = Some(rtp);
                self.rtcp = Some(rtcp);
                // New keys, new session: streams are adopted again.
                self.streams.clear();
            }
            Err(e) => tracing::debug!("lean ingress off for this peer: {e}"),
        }
    }

    /// Takes the rest of stream `ssrc` (audio on `section`, its level in extension
    /// `level_id`) off the core, if the keys allow.
    pub(super) fn adopt(&mut self, ssrc: u32, section: Section, level_id: Option<u8>) {
        if self.opener.is_some() && !self.streams.iter().any(|(s, ..)| *s == ssrc) {
            self.streams.push((ssrc, section, level_id));
        }
    }

    /// Opens `datagram` if it is a packet of a lean stream.
    pub(super) fn open(&mut self, datagram: &[u8]) -> Ingress {
        // RFC 7983: RTP and RTCP start 128–191; RFC 5761: RTCP packet types 192–223.
        if datagram.len() < 12 || !(128..=191).contains(&datagram[0]) {
            return Ingress::NotLean;
        }
        if (192..=223).contains(&datagram[1]) {
            return self.open_rtcp(datagram);
        }
        let Some(opener) = self.opener.as_mut() else {
            return Ingress::NotLean;
        };
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        let Some(&(_, section, level_id)) = self.streams.iter().find(|(s, ..)| *s == ssrc) else {
            return Ingress::NotLean;
        };
        let mut view = match RtpView::parse(datagram, TAG_LEN) {
            Ok(view) => view,
            Err(e) => return Ingress::Dropped(e.into()),
        };
        let buffer = self.slab.writer(datagram.len());
        buffer.extend_from_slice(datagram);
        if let Err(e) = opener.open(buffer, view.header_len, ssrc, view.sequence_number) {
            buffer.clear();
            return Ingress::Dropped(e.into());
        }
        buffer.truncate(datagram.len() - TAG_LEN);
        if let Err(e) = view.read_padding(buffer) {
            buffer.clear();
            return Ingress::Dropped(e.into());
        }
        let audio_level = level_id.and_then(|id| view.audio_level(buffer, id));
        self.opened += 1;
        let plain: Bytes = self.slab.take().freeze();
        let payload_end = plain.len() - view.padding;
        if view.header_len >= payload_end {
            return Ingress::Padding {
                section,
                ssrc,
                seq: view.sequence_number,
                timestamp: view.timestamp,
            };
        }
        let header = rtc::rtp::Header {
            version: 2,
            padding: view.padding > 0,
            marker: view.marker,
            payload_type: view.payload_type,
            sequence_number: view.sequence_number,
            timestamp: view.timestamp,
            ssrc,
            csrc: view.first_csrc.map(|c| vec![c]).unwrap_or_default(),
            ..Default::default()
        };
        Ingress::Packet {
            section,
            packet: rtc::rtp::Packet {
                header,
                payload: plain.slice(view.header_len..payload_end),
            },
            audio_level,
        }
    }

    /// Opens an SRTCP packet if it holds reports only (see the module's documentation).
    fn open_rtcp(&mut self, datagram: &[u8]) -> Ingress {
        let Some(opener) = self.rtcp.as_mut() else {
            return Ingress::NotLean;
        };
        self.rtcp_buf.clear();
        self.rtcp_buf.extend_from_slice(datagram);
        let plain_len = match opener.open(&mut self.rtcp_buf) {
            Ok(n) => n,
            // Authenticated only (no encryption): rare, and the core's to judge.
            Err(RtcpOpenError::NotEncrypted) => return Ingress::NotLean,
            Err(e) => return Ingress::Dropped(e.into()),
        };
        let plain = &self.rtcp_buf[..plain_len];
        if !reports_only(plain) {
            return Ingress::NotLean;
        }
        match rtc::rtcp::packet::unmarshal(&mut &plain[..]) {
            Ok(packets) => {
                self.reports_opened += 1;
                Ingress::Reports(packets)
            }
            Err(_) => Ingress::Dropped(DropReason::Rtcp),
        }
    }
}
