//! How media leaves a [`Peer`]: RTP headers for our own and forwarded packets, and the
//! choice between webrtc-rs's sender and the lean path for each packet.

use std::time::Instant;

use bytes::Bytes;
use rtc::peer_connection::RTCPeerConnection;

use super::{Peer, rtc_error};
use crate::peer::lean::{AudioHeader, LeanPath};
use crate::peer::outgoing::{Outgoing, Streams};
use crate::peer::setup::AUDIO_LEVEL_URI;
use crate::peer::{Forwarded, MediaKind, PeerError, Section};
use crate::slab::PacketSlab;

impl Peer {
    pub(super) fn negotiated(
        pc: &mut RTCPeerConnection,
        out: &mut Outgoing,
        mime: &str,
    ) -> Option<(u8, Option<u8>)> {
        if out.negotiated.is_none() {
            let mut sender = pc.rtp_sender(out.sender)?;
            let params = &sender.get_parameters().rtp_parameters;
            let pt = params
                .codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))?
                .payload_type;
            let level = params
                .header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok());
            out.negotiated = Some((pt, level));
        }
        out.negotiated
    }

    /// The stream of `section`, ready to send on: this side sends it, the connection is
    /// up, and its negotiated payload type (and audio-level extension id) are known.
    pub(super) fn sendable<'a>(
        pc: &'a mut RTCPeerConnection,
        outgoing: &'a mut Streams,
        connected: bool,
        section: Section,
    ) -> Result<(&'a mut RTCPeerConnection, &'a mut Outgoing, u8, Option<u8>), PeerError> {
        let mime = match section.kind() {
            MediaKind::Audio => "audio/opus",
            MediaKind::Video => "video/h264",
        };
        let out = outgoing
            .get_mut(&section)
            .ok_or(PeerError::NotSending(section))?;
        if !connected {
            return Err(PeerError::NotConnected);
        }
        let (pt, level_id) =
            Peer::negotiated(pc, out, mime).ok_or(PeerError::NotSending(section))?;
        Ok((pc, out, pt, level_id))
    }

    /// Hands one packet of `section` to its RTP sender, or for audio that never went
    /// through the core, to the lean path when it is ready (one SSRC is only ever protected
    /// by one of the two SRTP contexts).
    pub(super) fn write(
        pc: &mut RTCPeerConnection,
        lean: &mut LeanPath,
        out: &mut Outgoing,
        section: Section,
        now: Instant,
        packet: rtc::rtp::Packet,
    ) -> Result<(), PeerError> {
        if section.kind() == MediaKind::Audio && !out.via_core {
            let sent = lean
                .send(&packet.header, &packet.payload)
                .map_err(|e| PeerError::Rtc {
                    context: "lean srtp",
                    message: e.to_string(),
                })?;
            if sent {
                out.lean_sent
                    .note(packet.header.timestamp, packet.payload.len(), now);
                out.spare_extensions = packet.header.extensions;
                out.spare_csrc = packet.header.csrc;
                return Ok(());
            }
        }
        out.via_core = true;
        let mut sender = pc
            .rtp_sender(out.sender)
            .ok_or(PeerError::NotSending(section))?;
        sender
            .write_rtp(now, packet)
            .map_err(rtc_error("write rtp"))
    }

    /// A header for a packet of `out`'s: the vectors its extensions and CSRCs go in are the
    /// ones the lean path handed back after the last packet (no allocation per packet).
    fn reuse_lists(out: &mut Outgoing, header: &mut rtc::rtp::Header) {
        header.extensions = std::mem::take(&mut out.spare_extensions);
        header.extensions.clear();
        header.csrc = std::mem::take(&mut out.spare_csrc);
        header.csrc.clear();
    }

    /// Puts an RFC 6464 level on an audio header, when the extension was negotiated.
    pub(super) fn set_level(
        header: &mut rtc::rtp::Header,
        level_id: Option<u8>,
        level: Option<u8>,
    ) {
        if let (Some(id), Some(level)) = (level_id, level) {
            header.extension = true;
            header.extension_profile = 0xBEDE;
            let _ = header.set_extension(id, level_byte(level));
        }
    }

    /// Sends one Opus packet on an audio `section` with RTP timestamp `timestamp` (48 kHz)
    /// and its RFC 6464 level.
    pub fn send_audio(
        &mut self,
        section: Section,
        now: Instant,
        payload: Bytes,
        timestamp: u32,
        level: Option<u8>,
    ) -> Result<(), PeerError> {
        self.send_audio_in(section, now, payload, timestamp, level, None)
    }

    /// [`send_audio`](Peer::send_audio), sealed (on the lean path) into `slab`: a server
    /// sending one tick's mix to many peers keeps their datagrams side by side in one warm
    /// buffer instead of one per peer.
    pub fn send_audio_in(
        &mut self,
        section: Section,
        now: Instant,
        payload: Bytes,
        timestamp: u32,
        level: Option<u8>,
        slab: Option<&mut PacketSlab>,
    ) -> Result<(), PeerError> {
        let connected = self.is_connected();
        let (pc, out, pt, level_id) =
            Peer::sendable(&mut self.pc, &mut self.outgoing, connected, section)?;
        if section.kind() == MediaKind::Audio && !out.via_core {
            let header = AudioHeader {
                payload_type: pt,
                seq: out.seq,
                timestamp,
                ssrc: out.ssrc,
                level: level_id.zip(level.map(level_value)),
            };
            let sent =
                self.lean
                    .send_audio(&header, &payload, slab)
                    .map_err(|e| PeerError::Rtc {
                        context: "lean srtp",
                        message: e.to_string(),
                    })?;
            if sent {
                out.seq = out.seq.wrapping_add(1);
                out.lean_sent.note(timestamp, payload.len(), now);
                return Ok(());
            }
        }
        let mut header = out.next_header(pt, timestamp, false);
        Peer::reuse_lists(out, &mut header);
        Peer::set_level(&mut header, level_id, level);
        let packet = rtc::rtp::Packet { header, payload };
        Peer::write(pc, &mut self.lean, out, section, now, packet)
    }

    /// Sends one H.264 access unit (Annex-B) on a video `section` with RTP timestamp
    /// `timestamp` (90 kHz); on a simulcast section, as its largest layer.
    pub fn send_video(
        &mut self,
        section: Section,
        now: Instant,
        access_unit: &[u8],
        timestamp: u32,
    ) -> Result<(), PeerError> {
        if let Some(layers) = self.outgoing.get(&section).map(|o| o.layers.len())
            && layers > 0
        {
            return self.send_video_layer(section, layers - 1, now, access_unit, timestamp);
        }
        let payloads = self.packetizer.packetize(access_unit);
        let connected = self.is_connected();
        let (pc, out, pt, _) =
            Peer::sendable(&mut self.pc, &mut self.outgoing, connected, section)?;
        for payload in payloads {
            let header = out.next_header(pt, timestamp, payload.marker);
            let packet = rtc::rtp::Packet {
                header,
                payload: payload.payload,
            };
            Peer::write(pc, &mut self.lean, out, section, now, packet)?;
        }
        Ok(())
    }

    /// Sends one H.264 access unit of simulcast layer `layer` (0 the smallest, as set up
    /// with [`PeerOptions::camera_layers`](crate::peer::PeerOptions::camera_layers)) on a
    /// video `section`. Each packet names its section and layer in the `sdes:mid` and
    /// `sdes:rtp-stream-id` extensions, so the receiver can bind the layer's SSRC.
    pub fn send_video_layer(
        &mut self,
        section: Section,
        layer: usize,
        now: Instant,
        access_unit: &[u8],
        timestamp: u32,
    ) -> Result<(), PeerError> {
        let mid = self.mid(section).map(|m| Bytes::from(m.to_owned()));
        let payloads = self.packetizer.packetize(access_unit);
        let connected = self.is_connected();
        let (pc, out, pt, _) =
            Peer::sendable(&mut self.pc, &mut self.outgoing, connected, section)?;
        let (mid_id, rid_id) = Peer::stream_id_extensions(pc, out);
        let Some(send) = out.layers.get_mut(layer) else {
            return Err(PeerError::NotSending(section));
        };
        let (ssrc, rid) = (send.ssrc, Bytes::from(send.rid.clone()));
        let mut packets = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let mut header = rtc::rtp::Header {
                version: 2,
                marker: payload.marker,
                payload_type: pt,
                sequence_number: send.seq,
                timestamp,
                ssrc,
                ..Default::default()
            };
            send.seq = send.seq.wrapping_add(1);
            for (id, value) in [(mid_id, &mid), (rid_id, &Some(rid.clone()))] {
                if let (Some(id), Some(value)) = (id, value) {
                    header.extension = true;
                    header.extension_profile = 0xBEDE;
                    let _ = header.set_extension(id, value.clone());
                }
            }
            packets.push(rtc::rtp::Packet {
                header,
                payload: payload.payload,
            });
        }
        for packet in packets {
            Peer::write(pc, &mut self.lean, out, section, now, packet)?;
        }
        Ok(())
    }

    /// The ids the `sdes:mid` and `sdes:rtp-stream-id` extensions were negotiated with on
    /// `out`'s sender.
    fn stream_id_extensions(
        pc: &mut RTCPeerConnection,
        out: &Outgoing,
    ) -> (Option<u8>, Option<u8>) {
        let Some(mut sender) = pc.rtp_sender(out.sender) else {
            return (None, None);
        };
        let params = &sender.get_parameters().rtp_parameters;
        let id = |uri: &str| {
            params
                .header_extensions
                .iter()
                .find(|e| e.uri == uri)
                .and_then(|e| u8::try_from(e.id).ok())
        };
        (
            id(rtc::sdp::extmap::SDES_MID_URI),
            id(rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI),
        )
    }

    /// The current source's packet `source_seq` is left out of `section` on purpose (a
    /// padding-only probe, [`PeerEvent::Padding`](crate::peer::PeerEvent::Padding)): the packets
    /// forwarded after it close up, so the receiver sees no loss.
    pub fn skip_forwarded(&mut self, section: Section, source_seq: u16) {
        if let Some(out) = self.outgoing.get_mut(&section) {
            out.skip_forwarded(source_seq);
        }
    }

    /// Forwards a packet received from another peer into `section` (the SFU path, and
    /// unmixed audio): SSRC, payload type and sequence numbers become this stream's, header
    /// extensions are dropped (an audio `level` is written anew), and timestamps continue
    /// smoothly when `new_source` says the packet comes from a different sender than the
    /// previous one.
    pub fn forward(
        &mut self,
        section: Section,
        now: Instant,
        packet: &rtc::rtp::Packet,
        new_source: bool,
        level: Option<u8>,
    ) -> Result<(), PeerError> {
        self.forward_from(
            section,
            now,
            packet,
            new_source,
            level,
            Forwarded::default(),
        )
    }

    /// [`forward`](Peer::forward), with what [`Forwarded`] says: the packet's source named
    /// in its CSRC list, and its timestamp on the forwarder's clock.
    pub fn forward_from(
        &mut self,
        section: Section,
        now: Instant,
        packet: &rtc::rtp::Packet,
        new_source: bool,
        level: Option<u8>,
        forwarded: Forwarded,
    ) -> Result<(), PeerError> {
        // A new source continues after the last timestamp sent by the time that passed
        // since (at least one frame: 20 ms of audio, a 30 fps picture), so receivers see a
        // pause, not a jump.
        let (step, ticks_per_ms): (u32, u64) = match section.kind() {
            MediaKind::Audio => (960, 48),
            MediaKind::Video => (3000, 90),
        };
        let connected = self.is_connected();
        let (pc, out, pt, level_id) =
            Peer::sendable(&mut self.pc, &mut self.outgoing, connected, section)?;
        let offset = match out.forwarded {
            Some((last, _, at)) if new_source => {
                let elapsed = now.saturating_duration_since(at).as_millis() as u64 * ticks_per_ms;
                last.wrapping_add((elapsed as u32).max(step))
                    .wrapping_sub(packet.header.timestamp)
            }
            Some((_, offset, _)) => offset,
            None => 0,
        };
        let (timestamp, offset) = match forwarded.timestamp {
            Some(timestamp) => (timestamp, timestamp.wrapping_sub(packet.header.timestamp)),
            None => (packet.header.timestamp.wrapping_add(offset), offset),
        };
        let mut header = out.forwarded_header(
            pt,
            packet.header.sequence_number,
            new_source,
            timestamp,
            packet.header.marker,
        );
        out.forwarded = Some((timestamp, offset, now));
        if section.kind() == MediaKind::Audio {
            Peer::reuse_lists(out, &mut header);
        }
        if let Some(csrc) = forwarded.csrc {
            header.csrc.push(csrc);
        }
        Peer::set_level(&mut header, level_id, level);
        let packet = rtc::rtp::Packet {
            header,
            payload: packet.payload.clone(),
        };
        Peer::write(pc, &mut self.lean, out, section, now, packet)
    }
}

/// The RFC 6464 audio-level byte for `level` (−dBov; 127 is silence, not voice): the voice
/// bit and the level, as a static slice (no allocation per packet).
fn level_byte(level: u8) -> Bytes {
    static BYTES: [u8; 256] = {
        let mut all = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            all[i] = i as u8;
            i += 1;
        }
        all
    };
    let byte = usize::from(level_value(level));
    Bytes::from_static(&BYTES[byte..=byte])
}

/// The RFC 6464 audio-level byte's value for `level` (−dBov): the voice bit set unless
/// it is 127 (silence).
fn level_value(level: u8) -> u8 {
    let level = level.min(127);
    level | if level < 127 { 0x80 } else { 0 }
}

#[cfg(test)]
mod tests {
    use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
    use rtc::shared::marshal::Marshal;

    #[test]
    fn level_bytes_are_what_the_extension_marshals() {
        for level in 0..=255u8 {
            let ext = AudioLevelExtension {
                level: level.min(127),
                voice: level < 127,
            };
            let marshalled = ext.marshal().map(|b| b.to_vec()).unwrap_or_default();
            assert_eq!(
                super::level_byte(level).to_vec(),
                marshalled,
                "level {level}"
            );
        }
    }
}
