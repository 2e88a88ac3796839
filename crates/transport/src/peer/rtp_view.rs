//! A borrowed view of an RTP packet's fixed header, CSRCs and header extensions (RFC 3550
//! 5.1, RFC 8285): what the lean ingress path needs to open an SRTP packet in place and hand
//! its payload on, without building webrtc-rs's owned `Header` (whose extension list is a
//! heap allocation per packet). Malformed input is an error, never a panic.

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpViewError {
    /// Shorter than the 12-byte fixed header.
    #[error("shorter than an RTP header")]
    TooShort,
    /// Not RTP version 2.
    #[error("RTP version {0}, not 2")]
    Version(u8),
    /// The CSRC list or the extension block runs past the end.
    #[error("the header runs past the end of the packet")]
    Truncated,
    /// The padding count is zero or larger than the payload.
    #[error("bad padding length")]
    Padding,
}

/// The header fields of one RTP packet, and where its parts lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView {
    /// The marker bit.
    pub marker: bool,
    /// The payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The first CSRC, if any.
    pub first_csrc: Option<u32>,
    /// Bytes of header: fixed part, CSRCs and the extension block.
    pub header_len: usize,
    /// Where the extension block's elements lie, and whether they are two-byte ones.
    extensions: Option<(usize, usize, bool)>,
    /// Padding bytes at the end (the P bit's count, 0 without it).
    pub padding: usize,
}

impl RtpView {
    /// Reads the header of `packet`. `packet` may still be encrypted (SRTP encrypts only the
    /// payload) and may end in an authentication tag: `trailer` bytes at the end that are
    /// not RTP (then the padding is not checked, it lies under the encryption).
    pub fn parse(packet: &[u8], trailer: usize) -> Result<RtpView, RtpViewError> {
        if packet.len() < 12 + trailer {
            return Err(RtpViewError::TooShort);
        }
        let end = packet.len() - trailer;
        let version = packet[0] >> 6;
        if version != 2 {
            return Err(RtpViewError::Version(version));
        }
        let csrc_count = usize::from(packet[0] & 0x0F);
        let mut header_len = 12 + 4 * csrc_count;
        if header_len > end {
            return Err(RtpViewError::Truncated);
        }
        let word = |at: usize| {
            u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
        };
        let mut extensions = None;
        if packet[0] & 0x10 != 0 {
            if header_len + 4 > end {
                return Err(RtpViewError::Truncated);
            }
            let profile = u16::from_be_bytes([packet[header_len], packet[header_len + 1]]);
            let words = usize::from(u16::from_be_bytes([
                packet[header_len + 2],
                packet[header_len + 3],
            ]));
            let start = header_len + 4;
            header_len = start + 4 * words;
            if header_len > end {
                return Err(RtpViewError::Truncated);
            }
            extensions = match profile {
                0xBEDE => Some((start, header_len, false)),
                p if p & 0xFFF0 == 0x1000 => Some((start, header_len, true)),
                _ => None,
            };
        }
        Ok(RtpView {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7F,
            sequence_number: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: word(4),
            ssrc: word(8),
            first_csrc: (csrc_count > 0).then(|| word(12)),
            header_len,
            extensions,
            padding: 0,
        })
    }

    /// Reads the padding count of a decrypted packet (`packet` without any trailer): the
    /// last byte, if the P bit is set.
    pub fn read_padding(&mut self, packet: &[u8]) -> Result<(), RtpViewError> {
        if packet.first().is_some_and(|b| b & 0x20 != 0) {
            let count = usize::from(*packet.last().ok_or(RtpViewError::Padding)?);
            if count == 0 || self.header_len + count > packet.len() {
                return Err(RtpViewError::Padding);
            }
            self.padding = count;
        }
        Ok(())
    }

    /// The payload of `packet` (the bytes this view was read from, without trailer).
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet
            .get(self.header_len..packet.len().saturating_sub(self.padding))
            .unwrap_or(&[])
    }

    /// The value of header extension `id` (one- or two-byte form, RFC 8285), if present.
    pub fn extension<'a>(&self, packet: &'a [u8], id: u8) -> Option<&'a [u8]> {
        let (start, end, two_byte) = self.extensions?;
        let block = packet.get(start..end)?;
        let mut at = 0;
        while at < block.len() {
            let (element_id, len, value_at) = if two_byte {
                let element_id = block[at];
                if element_id == 0 {
                    at += 1; // padding
                    continue;
                }
                (element_id, usize::from(*block.get(at + 1)?), at + 2)
            } else {
                let b = block[at];
                if b == 0 {
                    at += 1; // padding
                    continue;
                }
                let element_id = b >> 4;
                if element_id == 15 {
                    return None; // reserved: stop reading (RFC 8285 4.2)
                }
                (element_id, usize::from(b & 0x0F) + 1, at + 1)
            };
            let value = block.get(value_at..value_at + len)?;
            if element_id == id {
                return Some(value);
            }
            at = value_at + len;
        }
        None
    }

    /// The RFC 6464 audio level (−dBov, 0–127) in extension `id`, if present.
    pub fn audio_level(&self, packet: &[u8], id: u8) -> Option<u8> {
        self.extension(packet, id)?.first().map(|b| b & 0x7F)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
    use rtc::shared::marshal::Marshal;

    fn packet(with_level: bool, csrc: Vec<u32>, payload: &[u8]) -> Vec<u8> {
        let mut header = rtc::rtp::Header {
            version: 2,
            marker: true,
            payload_type: 111,
            sequence_number: 4242,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
            csrc,
            ..Default::default()
        };
        if with_level {
            let level = AudioLevelExtension {
                level: 33,
                voice: true,
            };
            header
                .set_extension(1, level.marshal().unwrap().freeze())
                .unwrap();
            header
                .set_extension(3, bytes::Bytes::from_static(&[9, 9, 9]))
                .unwrap();
        }
        let packet = rtc::rtp::Packet {
            header,
            payload: bytes::Bytes::copy_from_slice(payload),
        };
        packet.marshal().unwrap().to_vec()
    }

    #[test]
    fn it_reads_what_webrtc_rs_writes() {
        let bytes = packet(true, vec![77], b"opus");
        let view = RtpView::parse(&bytes, 0).unwrap();
        assert!(view.marker);
        assert_eq!(view.payload_type, 111);
        assert_eq!(view.sequence_number, 4242);
        assert_eq!(view.timestamp, 0xDEAD_BEEF);
        assert_eq!(view.ssrc, 0x0102_0304);
        assert_eq!(view.first_csrc, Some(77));
        assert_eq!(view.audio_level(&bytes, 1), Some(33));
        assert_eq!(view.extension(&bytes, 3), Some(&[9, 9, 9][..]));
        assert_eq!(view.extension(&bytes, 2), None);
        assert_eq!(view.payload(&bytes), b"opus");
        let plain = RtpView::parse(&packet(false, vec![], b"x"), 0).unwrap();
        assert_eq!(plain.header_len, 12);
        assert_eq!(plain.audio_level(&packet(false, vec![], b"x"), 1), None);
    }

    #[test]
    fn a_trailer_is_not_payload() {
        let mut bytes = packet(true, vec![], b"payload");
        bytes.extend_from_slice(&[0xEE; 16]);
        let view = RtpView::parse(&bytes, 16).unwrap();
        assert_eq!(view.payload(&bytes[..bytes.len() - 16]), b"payload");
    }

    #[test]
    fn padding_is_left_out() {
        let mut bytes = packet(false, vec![], b"abc");
        bytes[0] |= 0x20;
        bytes.extend_from_slice(&[0, 0, 3]);
        let mut view = RtpView::parse(&bytes, 0).unwrap();
        view.read_padding(&bytes).unwrap();
        assert_eq!(view.payload(&bytes), b"abc");
        let last = bytes.len() - 1;
        bytes[last] = 0;
        assert_eq!(view.read_padding(&bytes), Err(RtpViewError::Padding));
        bytes[last] = 200;
        assert_eq!(view.read_padding(&bytes), Err(RtpViewError::Padding));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let good = packet(true, vec![1, 2], b"p");
        assert_eq!(RtpView::parse(&good[..11], 0), Err(RtpViewError::TooShort));
        assert_eq!(
            RtpView::parse(&good, good.len() - 11),
            Err(RtpViewError::TooShort)
        );
        let mut v1 = good.clone();
        v1[0] = (v1[0] & 0x3F) | 0x40;
        assert_eq!(RtpView::parse(&v1, 0), Err(RtpViewError::Version(1)));
        // CSRCs past the end.
        let mut csrcs = good[..12].to_vec();
        csrcs[0] = 0x8F;
        assert_eq!(RtpView::parse(&csrcs, 0), Err(RtpViewError::Truncated));
        // An extension block longer than the packet.
        let mut ext = good.clone();
        let at = 12 + 8 + 2;
        ext[at] = 0xFF;
        assert_eq!(RtpView::parse(&ext, 0), Err(RtpViewError::Truncated));
        // Every truncation of a good packet parses or errs, never panics.
        for n in 0..good.len() {
            if let Ok(view) = RtpView::parse(&good[..n], 0) {
                let _ = view.audio_level(&good[..n], 1);
                let _ = view.payload(&good[..n]);
            }
        }
    }

    #[test]
    fn elements_that_run_past_their_block_are_not_read() {
        // One-byte form: id 1 claims 16 bytes in a 4-byte block.
        let bytes = [
            0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xBE, 0xDE, 0, 1, 0x1F, 1, 2, 3, b'p',
        ];
        let view = RtpView::parse(&bytes, 0).unwrap();
        assert_eq!(view.extension(&bytes, 1), None);
        assert_eq!(view.payload(&bytes), b"p");
        // Two-byte form with a length past the block.
        let bytes = [
            0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x10, 0x00, 0, 1, 5, 9, 1, 2, b'p',
        ];
        let view = RtpView::parse(&bytes, 0).unwrap();
        assert_eq!(view.extension(&bytes, 5), None);
    }
}
