//! The lean egress path: one outgoing audio stream protected and queued by confab itself
//! instead of webrtc-rs's per-packet write pipeline.
//!
//! A packet through `RTCRtpSender::write_rtp` walks the interceptor chain (each interceptor
//! queues and hands it on by value), the SRTP, DTLS, ICE and demuxer handlers, and statistics
//! keyed by strings: about half of the media I/O thread's time in a 300-party room
//! (docs/capacity.md). The mix goes to every listener every 20 ms, so for that one stream the
//! service builds the RTP packet, seals it with the connection's own SRTP keys (the DTLS-SRTP
//! export, RFC 5764 4.2, which the vendored `rtc-dtls` parks for us) and queues the datagram
//! for the selected candidate pair's address. webrtc-rs never sends on that SSRC, so the two
//! SRTP contexts never protect the same packet index.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::dtls::srtp_export::SrtpExport;
use rtc::shared::marshal::{Marshal, MarshalSize};
use rtc::srtp::config::Config;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

use super::srtcp_gcm::GcmRtcpSealer;
use super::srtp_gcm::{self, GcmSealer, SealError};
use crate::slab::PacketSlab;

/// Outgoing SRTP of one connection, for the streams confab protects itself: sealed in
/// place with AES-GCM (`srtp_gcm.rs`, no allocation), or through rtc-srtp's context for the
/// AES-CM profile (a new buffer per packet; only peers without GCM).
pub(super) enum LeanSender {
    Gcm(GcmSealer, GcmRtcpSealer),
    Context {
        context: Context,
        plaintext: BytesMut,
    },
}

impl std::fmt::Debug for LeanSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeanSender").finish_non_exhaustive()
    }
}

/// Why a connection's keys could not be used (the stream then stays on webrtc-rs's path).
#[derive(Debug, thiserror::Error)]
pub(super) enum LeanError {
    #[error("SRTP profile {0:?} is not supported")]
    Profile(SrtpProtectionProfile),
    #[error("SRTP: {0}")]
    Srtp(String),
    #[error("SRTP: {0}")]
    Seal(#[from] SealError),
}

impl LeanSender {
    /// The local half of a handshake's exported keys.
    pub(super) fn new(export: &SrtpExport) -> Result<LeanSender, LeanError> {
        if export.profile == SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm {
            let config = session_keys(export, ProtectionProfile::AeadAes128Gcm)?;
            let provider =
                rtc::crypto::default_provider().map_err(|e| LeanError::Srtp(e.to_string()))?;
            let keys = &config.keys;
            let (key, salt) = (&keys.local_master_key, &keys.local_master_salt);
            return Ok(LeanSender::Gcm(
                GcmSealer::new(provider.crypto(), key, salt)?,
                GcmRtcpSealer::new(provider.crypto(), key, salt)
                    .map_err(|e| LeanError::Srtp(e.to_string()))?,
            ));
        }
        Ok(LeanSender::Context {
            context: srtp_context(export, true)?,
            plaintext: BytesMut::with_capacity(1500),
        })
    }

    /// One RTP packet, SRTP-protected and ready for the wire, in a buffer from `slab`.
    pub(super) fn seal(
        &mut self,
        header: &rtc::rtp::Header,
        payload: &[u8],
        slab: &mut PacketSlab,
    ) -> Result<BytesMut, LeanError> {
        match self {
            LeanSender::Gcm(sealer, _) => {
                let len = header.marshal_size() + payload.len() + srtp_gcm::TAG_LEN;
                sealer.seal(header, payload, slab.writer(len))?;
                Ok(slab.take())
            }
            LeanSender::Context { context, plaintext } => {
                let srtp = |e: rtc::shared::error::Error| LeanError::Srtp(e.to_string());
                plaintext.clear();
                plaintext.resize(header.marshal_size() + payload.len(), 0);
                let n = header.marshal_to(plaintext).map_err(srtp)?;
                plaintext[n..n + payload.len()].copy_from_slice(payload);
                plaintext.truncate(n + payload.len());
                context
                    .encrypt_rtp_with_header(plaintext, header)
                    .map_err(srtp)
            }
        }
    }

    /// The RTCP compound `plain` as one SRTCP packet ready for the wire.
    fn seal_rtcp(&mut self, plain: &[u8]) -> Result<BytesMut, LeanError> {
        match self {
            LeanSender::Gcm(_, sealer) => {
                let mut out = BytesMut::with_capacity(plain.len() + 32);
                sealer
                    .seal(plain, &mut out)
                    .map_err(|e| LeanError::Srtp(e.to_string()))?;
                Ok(out)
            }
            LeanSender::Context { context, .. } => context
                .encrypt_rtcp(plain)
                .map_err(|e| LeanError::Srtp(e.to_string())),
        }
    }
}

fn srtp_profile(export: &SrtpExport) -> Result<ProtectionProfile, LeanError> {
    Ok(match export.profile {
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm => ProtectionProfile::AeadAes256Gcm,
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
            ProtectionProfile::Aes128CmHmacSha1_80
        }
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => {
            ProtectionProfile::Aes128CmHmacSha1_32
        }
        other => return Err(LeanError::Profile(other)),
    })
}

/// Both halves' master keys and salts of a handshake's export (RFC 5764 4.2).
pub(super) fn session_keys(
    export: &SrtpExport,
    profile: ProtectionProfile,
) -> Result<Config, LeanError> {
    let mut config = Config {
        profile,
        ..Default::default()
    };
    config
        .set_session_keys_from_keying_material(export.keying_material.as_ref(), export.is_client)
        .map_err(|e| LeanError::Srtp(e.to_string()))?;
    Ok(config)
}

/// An SRTP context for one half of a handshake's exported keys: the local half protects
/// what this side sends, the remote half opens what it receives.
fn srtp_context(export: &SrtpExport, local: bool) -> Result<Context, LeanError> {
    let profile = srtp_profile(export)?;
    let config = session_keys(export, profile)?;
    let keys = &config.keys;
    let (key, salt) = if local {
        (&keys.local_master_key, &keys.local_master_salt)
    } else {
        (&keys.remote_master_key, &keys.remote_master_salt)
    };
    let srtp = |e: rtc::shared::error::Error| LeanError::Srtp(e.to_string());
    let provider = rtc::crypto::default_provider().map_err(|e| LeanError::Srtp(e.to_string()))?;
    Context::new(key, salt, profile, None, None, provider.crypto()).map_err(srtp)
}

/// The RTP header of one outgoing audio packet of ours (RFC 3550 5.1: no CSRC, no
/// marker), with its RFC 6464 level in a one-byte-header extension (RFC 8285 4.2) when
/// negotiated. Written straight into the datagram: the mix to every listener needs no
/// `rtc::rtp::Header` with its extension and CSRC vectors (their cold heap memory, touched
/// once per listener per tick, showed up in profiles of a 350-party room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AudioHeader {
    pub(super) payload_type: u8,
    pub(super) seq: u16,
    pub(super) timestamp: u32,
    pub(super) ssrc: u32,
    /// The extension's id and the level byte (voice bit and −dBov).
    pub(super) level: Option<(u8, u8)>,
}

impl AudioHeader {
    /// The longest header: 12 bytes, and 8 of extension.
    pub(super) const MAX_LEN: usize = 20;

    /// Writes the header into `out`; returns its length.
    pub(super) fn write(&self, out: &mut [u8; Self::MAX_LEN]) -> usize {
        let x = if self.level.is_some() { 0x10 } else { 0 };
        out[0] = 0x80 | x; // version 2, no padding, extension bit, no CSRC
        out[1] = self.payload_type & 0x7F;
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let Some((id, byte)) = self.level else {
            return 12;
        };
        // 0xBEDE, one 32-bit word: the element (id, length 1) and two bytes of padding.
        out[12..20].copy_from_slice(&[0xBE, 0xDE, 0x00, 0x01, (id & 0x0F) << 4, byte, 0, 0]);
        20
    }

    /// The same header for webrtc-rs's marshalling (the AES-CM profile's context).
    fn to_rtc(self) -> rtc::rtp::Header {
        let mut header = rtc::rtp::Header {
            version: 2,
            payload_type: self.payload_type,
            sequence_number: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            ..Default::default()
        };
        if let Some((id, byte)) = self.level {
            header.extension = true;
            header.extension_profile = 0xBEDE;
            let _ = header.set_extension(id, Bytes::copy_from_slice(&[byte]));
        }
        header
    }
}

/// A connection's lean path: its keys once known, where to send, and what waits to go.
#[derive(Debug)]
pub(super) struct LeanPath {
    sender: Option<LeanSender>,
    /// Where webrtc-rs last sent DTLS or SRTP: the selected candidate pair's remote.
    media_to: Option<SocketAddr>,
    out: VecDeque<(SocketAddr, BytesMut)>,
    /// The sealed datagrams' buffers: each lives until the I/O loop has sent it, so one
    /// small slab serves every tick without allocating.
    slab: PacketSlab,
}

/// A peer's lean datagrams of one tick (a mix and a few unmixed slots) fit many times.
const SLAB_BYTES: usize = 4096;
/// A round of lean datagrams to one peer: a mix and unmixed slots, well under this.
const ROUND_BYTES: usize = 2048;

impl Default for LeanPath {
    fn default() -> Self {
        LeanPath {
            sender: None,
            media_to: None,
            out: VecDeque::new(),
            slab: PacketSlab::new(SLAB_BYTES),
        }
    }
}

impl LeanPath {
    /// Takes a completed handshake's keys (see `rtc::dtls::srtp_export`).
    pub(super) fn keys(&mut self, export: &SrtpExport) {
        match LeanSender::new(export) {
            Ok(sender) => self.sender = Some(sender),
            Err(e) => tracing::debug!("lean egress off for this peer: {e}"),
        }
    }

    /// Notes where the core sent a datagram.
    pub(super) fn core_sent(&mut self, datagram: &[u8], to: SocketAddr) {
        if let Some(to) = media_destination(datagram, to) {
            self.media_to = Some(to);
        }
    }

    /// Whether packets can take this path.
    pub(super) fn ready(&self) -> bool {
        self.sender.is_some() && self.media_to.is_some()
    }

    /// Seals and queues one packet; `false` if the path is not ready (nothing done).
    pub(super) fn send(
        &mut self,
        header: &rtc::rtp::Header,
        payload: &Bytes,
    ) -> Result<bool, LeanError> {
        let (Some(sender), Some(to)) = (self.sender.as_mut(), self.media_to) else {
            return Ok(false);
        };
        if self.out.is_empty() {
            // A new round: the last one's datagrams have been sent and dropped.
            self.slab.make_room(ROUND_BYTES);
        }
        let datagram = sender.seal(header, payload, &mut self.slab)?;
        self.out.push_back((to, datagram));
        Ok(true)
    }

    /// Seals and queues one audio packet of ours in a buffer from `slab` (the caller's,
    /// shared by many peers so a tick's datagrams sit side by side in memory; `None`: this
    /// path's own); `false` if the path is not ready (nothing done).
    pub(super) fn send_audio(
        &mut self,
        header: &AudioHeader,
        payload: &[u8],
        slab: Option<&mut PacketSlab>,
    ) -> Result<bool, LeanError> {
        let (Some(sender), Some(to)) = (self.sender.as_mut(), self.media_to) else {
            return Ok(false);
        };
        let datagram = match sender {
            LeanSender::Gcm(sealer, _) => {
                let slab = match slab {
                    Some(shared) => shared,
                    None => {
                        if self.out.is_empty() {
                            self.slab.make_room(ROUND_BYTES);
                        }
                        &mut self.slab
                    }
                };
                let mut head = [0u8; AudioHeader::MAX_LEN];
                let header_len = header.write(&mut head);
                let len = header_len + payload.len() + srtp_gcm::TAG_LEN;
                let out = slab.writer(len);
                out.extend_from_slice(&head[..header_len]);
                out.extend_from_slice(payload);
                out.extend_from_slice(&[0; srtp_gcm::TAG_LEN]);
                sealer.seal_in_place(out, header_len, header.ssrc, header.seq)?;
                slab.take()
            }
            LeanSender::Context { .. } => {
                if self.out.is_empty() {
                    self.slab.make_room(ROUND_BYTES);
                }
                sender.seal(&header.to_rtc(), payload, &mut self.slab)?
            }
        };
        self.out.push_back((to, datagram));
        Ok(true)
    }

    /// Seals and queues one RTCP compound of ours (its first packet's sender SSRC one that
    /// only this path sends on); `false` if the path is not ready (nothing done).
    pub(super) fn send_rtcp(&mut self, plain: &[u8]) -> Result<bool, LeanError> {
        let (Some(sender), Some(to)) = (self.sender.as_mut(), self.media_to) else {
            return Ok(false);
        };
        let datagram = sender.seal_rtcp(plain)?;
        self.out.push_back((to, datagram));
        Ok(true)
    }

    /// The next queued datagram.
    pub(super) fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.out.pop_front()
    }
}

/// The address webrtc-rs sends media and DTLS to (the selected candidate pair's remote), as
/// seen from one of its datagrams: STUN replies go wherever a check came from, so they do not
/// count.
fn media_destination(datagram: &[u8], to: SocketAddr) -> Option<SocketAddr> {
    // RFC 7983: 0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP.
    match datagram.first() {
        Some(20..=63 | 128..=191) => Some(to),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::crypto::SecretVec;
    use rtc::shared::marshal::Unmarshal;

    fn export(is_client: bool, profile: SrtpProtectionProfile) -> SrtpExport {
        // 2 × 16-byte keys + 2 × 12-byte (GCM) or 14-byte (AES-CM) salts.
        let len = match profile {
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => 56,
            _ => 60,
        };
        SrtpExport {
            keying_material: SecretVec::new((0..len).map(|i: u32| (i * 7 + 3) as u8).collect()),
            is_client,
            profile,
        }
    }

    /// What the other side of the handshake decrypts with: its remote half of the same keys.
    fn receiver(profile: SrtpProtectionProfile) -> Context {
        srtp_context(&export(false, profile), false).unwrap()
    }

    #[test]
    fn what_the_lean_path_seals_the_remote_opens_with_both_profiles() {
        for profile in [
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ] {
            let mut lean = LeanPath::default();
            lean.keys(&export(true, profile));
            assert!(!lean.ready(), "{profile:?}: no destination yet");
            let to: SocketAddr = "192.0.2.1:5000".parse().unwrap();
            lean.core_sent(&[0x00, 0x01], to); // a STUN reply does not name it
            assert!(!lean.ready());
            lean.core_sent(&[22, 254, 253], to); // DTLS does
            assert!(lean.ready());
            let mut opener = receiver(profile);
            for seq in [65_534u16, 65_535, 0, 1] {
                let header = rtc::rtp::Header {
                    version: 2,
                    payload_type: 111,
                    sequence_number: seq,
                    timestamp: u32::from(seq) * 960,
                    ssrc: 0x0BAD_CAFE,
                    ..Default::default()
                };
                let payload = Bytes::from(vec![seq as u8; 80]);
                assert!(lean.send(&header, &payload).unwrap());
                let (dest, datagram) = lean.poll_transmit().unwrap();
                assert_eq!(dest, to);
                assert_ne!(&datagram[12..], &payload[..], "{profile:?}: encrypted");
                let mut opened = opener.decrypt_rtp(&datagram).unwrap();
                let packet = rtc::rtp::Packet::unmarshal(&mut opened).unwrap();
                assert_eq!(packet.header.sequence_number, seq);
                assert_eq!(packet.payload, payload, "{profile:?}: seq {seq}");
            }
        }
    }

    #[test]
    fn an_audio_header_is_written_as_webrtc_rs_marshals_it() {
        for level in [None, Some((1, 0x80 | 30)), Some((14, 127))] {
            let header = AudioHeader {
                payload_type: 111,
                seq: 65_535,
                timestamp: 0xDEAD_BEEF,
                ssrc: 0x0BAD_CAFE,
                level,
            };
            let mut raw = [0u8; AudioHeader::MAX_LEN];
            let len = header.write(&mut raw);
            let marshalled = header.to_rtc().marshal().unwrap();
            assert_eq!(&raw[..len], &marshalled[..], "{level:?}");
            let parsed = rtc::rtp::Header::unmarshal(&mut &raw[..len]).unwrap();
            assert_eq!(parsed.sequence_number, 65_535);
            assert_eq!(
                level.map(|(id, _)| parsed.get_extension(id).unwrap().to_vec()),
                level.map(|(_, byte)| vec![byte])
            );
        }
    }

    #[test]
    fn audio_sealed_in_a_shared_slab_opens_with_both_profiles() {
        let mut shared = PacketSlab::new(4096);
        for profile in [
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ] {
            let mut lean = LeanPath::default();
            lean.keys(&export(true, profile));
            let to: SocketAddr = "192.0.2.1:5000".parse().unwrap();
            lean.core_sent(&[22, 254, 253], to);
            let mut opener = receiver(profile);
            for seq in [65_535u16, 0, 1] {
                let header = AudioHeader {
                    payload_type: 111,
                    seq,
                    timestamp: u32::from(seq) * 960,
                    ssrc: 0x0BAD_CAFE,
                    level: Some((1, 0x80 | 40)),
                };
                let payload = vec![seq as u8; 80];
                assert!(
                    lean.send_audio(&header, &payload, Some(&mut shared))
                        .unwrap()
                );
                let (dest, datagram) = lean.poll_transmit().unwrap();
                assert_eq!(dest, to);
                let mut opened = opener.decrypt_rtp(&datagram).unwrap();
                let packet = rtc::rtp::Packet::unmarshal(&mut opened).unwrap();
                assert_eq!(packet.header.sequence_number, seq, "{profile:?}");
                assert_eq!(
                    packet.header.get_extension(1).unwrap().to_vec(),
                    [0x80 | 40]
                );
                assert_eq!(&packet.payload[..], &payload[..], "{profile:?}: seq {seq}");
            }
        }
    }

    #[test]
    fn without_keys_nothing_is_sent() {
        let mut lean = LeanPath::default();
        lean.core_sent(&[128, 111], "192.0.2.1:5000".parse().unwrap());
        let header = rtc::rtp::Header::default();
        assert!(!lean.send(&header, &Bytes::from_static(b"x")).unwrap());
        let audio = AudioHeader {
            payload_type: 111,
            seq: 1,
            timestamp: 960,
            ssrc: 1,
            level: None,
        };
        assert!(!lean.send_audio(&audio, b"x", None).unwrap());
        assert!(lean.poll_transmit().is_none());
    }
}
