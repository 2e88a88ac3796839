//! RTP packets on phone legs (RFC 3550 §5.1): the fixed header, CSRCs, a header extension
//! and padding, read strictly; confab writes the plain 12-byte header.

use bytes::{BufMut, Bytes, BytesMut};

/// A datagram that is not an RTP packet confab can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than its headers say.
    #[error("truncated RTP packet")]
    Truncated,
    /// Version other than 2.
    #[error("RTP version {0} (expected 2)")]
    Version(u8),
    /// Padding longer than the payload.
    #[error("bad RTP padding")]
    Padding,
}

/// The header fields a phone leg uses, and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Marker bit (first packet of a talk spurt, or of a DTMF event).
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp (the codec's clock: 8 kHz for G.711 and telephone events).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, padding removed.
    pub payload: Bytes,
}

impl RtpPacket {
    /// Reads one packet.
    pub fn parse(data: &[u8]) -> Result<RtpPacket, RtpError> {
        if data.len() < 12 {
            return Err(RtpError::Truncated);
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = data[0] & 0x20 != 0;
        let extension = data[0] & 0x10 != 0;
        let csrcs = usize::from(data[0] & 0x0F);
        let mut start = 12 + 4 * csrcs;
        if extension {
            let words = data.get(start + 2..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        if start > data.len() {
            return Err(RtpError::Truncated);
        }
        let mut end = data.len();
        if padding {
            let pad = usize::from(data[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::Padding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            seq: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: Bytes::copy_from_slice(&data[start..end]),
        })
    }

    /// Writes the packet with a plain 12-byte header.
    pub fn write(&self, out: &mut BytesMut) {
        out.reserve(12 + self.payload.len());
        out.put_u8(0x80);
        out.put_u8(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.put_u16(self.seq);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        out.put_slice(&self.payload);
    }
}

/// Whether a datagram is RTCP rather than RTP (RFC 5761 §4: types 192–223 there).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> RtpPacket {
        RtpPacket {
            marker: true,
            payload_type: 0,
            seq: 65_535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
            payload: Bytes::from_static(&[0xFF; 160]),
        }
    }

    #[test]
    fn writes_and_reads_back() {
        let mut out = BytesMut::new();
        packet().write(&mut out);
        assert_eq!(out.len(), 172);
        assert_eq!(&out[..4], &[0x80, 0x80, 0xFF, 0xFF]);
        assert_eq!(RtpPacket::parse(&out).unwrap(), packet());
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut data = vec![0x80 | 0x20 | 0x10 | 0x02, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        data.extend_from_slice(&[0; 8]); // two CSRCs
        data.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-word extension
        data.extend_from_slice(&[7; 160]);
        data.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!((p.payload_type, p.seq, p.timestamp, p.ssrc), (8, 1, 160, 9));
        assert_eq!(p.payload.len(), 160);
        assert!(p.payload.iter().all(|&b| b == 7));
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        // Sixteen CSRCs announced, none present.
        assert_eq!(RtpPacket::parse(&[0x8F; 20]), Err(RtpError::Truncated));
        // An extension header cut short.
        let mut ext = vec![0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE];
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::Truncated));
        ext.extend_from_slice(&[0xDE, 0xFF, 0xFF]);
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::Truncated));
        // Padding of zero, or longer than the payload.
        let mut pad = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding));
        pad[13] = 5;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding));
    }

    #[test]
    fn tells_rtcp_apart() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0, 0, 6]));
        assert!(!is_rtcp(&[0x80]));
    }
}
