//! H.264 in RTP (RFC 6184), packetization-mode 1: single NAL unit packets, STAP-A
//! aggregation of small NAL units (parameter sets ahead of a keyframe, as browsers send
//! them) and FU-A fragmentation of large ones — both ways.

use bytes::{BufMut, Bytes, BytesMut};
use confab_codecs::annexb::{self, NalType};

pub(super) const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// Largest access unit the depacketizer assembles (a 4K keyframe fits comfortably).
const MAX_ACCESS_UNIT: usize = 4 << 20;

/// One RTP payload and the marker bit its packet carries (set on an access unit's last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPayload {
    /// The payload bytes.
    pub payload: Bytes,
    /// The RTP marker bit.
    pub marker: bool,
}

/// Splits Annex-B access units into RTP payloads of at most `mtu` bytes.
#[derive(Debug, Clone)]
pub struct H264Packetizer {
    mtu: usize,
}

impl H264Packetizer {
    /// A packetizer for payloads of at most `mtu` bytes (at least 64).
    pub fn new(mtu: usize) -> Self {
        H264Packetizer { mtu: mtu.max(64) }
    }

    /// The RTP payloads for one access unit, in order; the last carries the marker.
    pub fn packetize(&self, access_unit: &[u8]) -> Vec<RtpPayload> {
        let mut out: Vec<Bytes> = Vec::new();
        let mut stap: Vec<&[u8]> = Vec::new();
        let nals: Vec<&[u8]> = annexb::nal_units(access_unit)
            .filter(|n| !n.is_empty() && NalType::of(n) != Some(NalType::Aud))
            .collect();
        for nal in nals {
            if nal.len() > self.mtu {
                self.flush_stap(&mut stap, &mut out);
                self.fragment(nal, &mut out);
            } else if stap_size(&stap) + 2 + nal.len() <= self.mtu {
                stap.push(nal);
            } else {
                self.flush_stap(&mut stap, &mut out);
                stap.push(nal);
            }
        }
        self.flush_stap(&mut stap, &mut out);
        let last = out.len().saturating_sub(1);
        out.into_iter()
            .enumerate()
            .map(|(i, payload)| RtpPayload {
                payload,
                marker: i == last,
            })
            .collect()
    }

    fn flush_stap(&self, stap: &mut Vec<&[u8]>, out: &mut Vec<Bytes>) {
        match stap.len() {
            0 => {}
            1 => out.push(Bytes::copy_from_slice(stap[0])),
            _ => {
                let mut b = BytesMut::with_capacity(stap_size(stap));
                // F and NRI of the aggregate: the highest NRI of its units.
                let nri = stap.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                b.put_u8(nri | STAP_A);
                for nal in stap.iter() {
                    b.put_u16(nal.len() as u16);
                    b.put_slice(nal);
                }
                out.push(b.freeze());
            }
        }
        stap.clear();
    }

    fn fragment(&self, nal: &[u8], out: &mut Vec<Bytes>) {
        let header = nal[0];
        let indicator = (header & 0xE0) | FU_A;
        let body = &nal[1..];
        let chunk = self.mtu - 2;
        let count = body.len().div_ceil(chunk);
        for (i, piece) in body.chunks(chunk).enumerate() {
            let mut fu_header = header & 0x1F;
            if i == 0 {
                fu_header |= 0x80;
            }
            if i == count - 1 {
                fu_header |= 0x40;
            }
            let mut b = BytesMut::with_capacity(piece.len() + 2);
            b.put_u8(indicator);
            b.put_u8(fu_header);
            b.put_slice(piece);
            out.push(b.freeze());
        }
    }
}

fn stap_size(stap: &[&[u8]]) -> usize {
    if stap.is_empty() {
        0
    } else {
        1 + stap.iter().map(|n| 2 + n.len()).sum::<usize>()
    }
}

/// A payload the depacketizer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DepacketizeError {
    /// Empty payload.
    #[error("empty H.264 payload")]
    Empty,
    /// A NAL unit type packetization-mode 1 does not allow (STAP-B, MTAP, FU-B, 0, 30, 31).
    #[error("unsupported H.264 payload type {0}")]
    UnsupportedType(u8),
    /// A STAP-A whose unit lengths run past its end (or are zero).
    #[error("malformed STAP-A")]
    MalformedStap,
    /// A FU-A shorter than its two header bytes, or with both start and end set on a
    /// fragment that is not whole.
    #[error("malformed FU-A")]
    MalformedFu,
    /// The access unit grew past the size limit.
    #[error("access unit over {MAX_ACCESS_UNIT} bytes")]
    TooLarge,
}

/// One reassembled picture, as Annex-B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// NAL units with 4-byte start codes.
    pub data: Bytes,
    /// Whether it holds an IDR slice.
    pub keyframe: bool,
    /// False if packets of it (or before it, since the last keyframe) were lost: the
    /// decoder may show artefacts, and the receiver should request a keyframe.
    pub intact: bool,
}

/// Reassembles RTP payloads (in sequence order) into access units.
///
/// A gap in sequence numbers marks the access unit being built as damaged; fragments of a
/// NAL unit whose start was lost are dropped rather than passed on as garbage.
#[derive(Debug, Default)]
pub struct H264Depacketizer {
    buffer: BytesMut,
    fu_open: bool,
    keyframe: bool,
    damaged: bool,
    last_seq: Option<u16>,
}

impl H264Depacketizer {
    /// An empty depacketizer.
    pub fn new() -> Self {
        H264Depacketizer::default()
    }

    /// Feeds one payload; returns the access unit it completes (on the marker bit).
    /// A malformed payload is an error and marks the unit damaged; feeding can go on.
    pub fn push(
        &mut self,
        seq: u16,
        payload: &[u8],
        marker: bool,
    ) -> Result<Option<AccessUnit>, DepacketizeError> {
        if let Some(last) = self.last_seq
            && seq != last.wrapping_add(1)
        {
            self.damaged = true;
            self.fu_open = false;
        }
        self.last_seq = Some(seq);
        let result = self.parse(payload);
        if result.is_err() {
            self.damaged = true;
            self.fu_open = false;
        }
        if self.buffer.len() > MAX_ACCESS_UNIT {
            self.reset_unit();
            self.damaged = true;
            return Err(DepacketizeError::TooLarge);
        }
        result?;
        if !marker {
            return Ok(None);
        }
        let unit = AccessUnit {
            data: self.buffer.split().freeze(),
            keyframe: self.keyframe,
            intact: !self.damaged && !self.fu_open,
        };
        self.reset_unit();
        Ok(if unit.data.is_empty() {
            None
        } else {
            Some(unit)
        })
    }

    fn reset_unit(&mut self) {
        self.buffer.clear();
        self.fu_open = false;
        self.keyframe = false;
        self.damaged = false;
    }

    fn nal(&mut self, nal: &[u8]) {
        if NalType::of(nal) == Some(NalType::Idr) {
            self.keyframe = true;
        }
        self.buffer.put_slice(&START_CODE);
        self.buffer.put_slice(nal);
    }

    fn parse(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        let &header = payload.first().ok_or(DepacketizeError::Empty)?;
        match header & 0x1F {
            1..=23 => {
                self.fu_open = false;
                self.nal(payload);
                Ok(())
            }
            STAP_A => {
                self.fu_open = false;
                let mut rest = &payload[1..];
                let mut units = Vec::new();
                while !rest.is_empty() {
                    let [hi, lo, tail @ ..] = rest else {
                        return Err(DepacketizeError::MalformedStap);
                    };
                    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                    if len == 0 || len > tail.len() {
                        return Err(DepacketizeError::MalformedStap);
                    }
                    units.push(&tail[..len]);
                    rest = &tail[len..];
                }
                if units.is_empty() {
                    return Err(DepacketizeError::MalformedStap);
                }
                for unit in units {
                    self.nal(unit);
                }
                Ok(())
            }
            FU_A => {
                let [indicator, fu_header, body @ ..] = payload else {
                    return Err(DepacketizeError::MalformedFu);
                };
                let (start, end) = (fu_header & 0x80 != 0, fu_header & 0x40 != 0);
                if start {
                    if self.fu_open {
                        // The previous unit never ended.
                        self.damaged = true;
                    }
                    let nal_header = (indicator & 0xE0) | (fu_header & 0x1F);
                    if NalType::from_header(nal_header) == NalType::Idr {
                        self.keyframe = true;
                    }
                    self.buffer.put_slice(&START_CODE);
                    self.buffer.put_u8(nal_header);
                    self.fu_open = true;
                } else if !self.fu_open {
                    // A middle or end whose start was lost: drop it.
                    self.damaged = true;
                    return Ok(());
                }
                self.buffer.put_slice(body);
                if end {
                    self.fu_open = false;
                }
                Ok(())
            }
            other => Err(DepacketizeError::UnsupportedType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access_unit(sizes: &[(u8, usize)]) -> Vec<u8> {
        let mut au = Vec::new();
        for (i, (header, len)) in sizes.iter().enumerate() {
            au.extend_from_slice(&START_CODE);
            au.push(*header);
            au.extend((0..len - 1).map(|k| (k as u8).wrapping_mul(31).wrapping_add(i as u8) | 1));
        }
        au
    }

    fn round_trip(au: &[u8], mtu: usize) -> (Vec<RtpPayload>, AccessUnit) {
        let packets = H264Packetizer::new(mtu).packetize(au);
        let mut d = H264Depacketizer::new();
        let mut out = None;
        for (seq, p) in packets.iter().enumerate() {
            assert!(p.payload.len() <= mtu);
            out = d.push(seq as u16, &p.payload, p.marker).unwrap().or(out);
        }
        (packets, out.expect("marker completes the unit"))
    }

    #[test]
    fn parameter_sets_aggregate_and_big_slices_fragment() {
        let au = access_unit(&[(0x67, 12), (0x68, 4), (0x65, 5000)]);
        let (packets, out) = round_trip(&au, 1200);
        assert_eq!(
            packets[0].payload[0] & 0x1F,
            STAP_A,
            "SPS+PPS share one STAP-A"
        );
        assert!(packets[1..].iter().all(|p| p.payload[0] & 0x1F == FU_A));
        assert_eq!(packets.len(), 1 + 5);
        assert_eq!(out.data.as_ref(), &au[..]);
        assert!(out.keyframe && out.intact);
    }

    #[test]
    fn small_slices_go_alone_or_aggregated() {
        let au = access_unit(&[(0x41, 300)]);
        let (packets, out) = round_trip(&au, 1200);
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].payload[0], 0x41, "single NAL unit packet");
        assert!(!out.keyframe);
    }

    #[test]
    fn a_lost_fragment_damages_the_unit_and_drops_orphans() {
        let au = access_unit(&[(0x65, 4000)]);
        let packets = H264Packetizer::new(1200).packetize(&au);
        let mut d = H264Depacketizer::new();
        let mut out = None;
        for (seq, p) in packets.iter().enumerate() {
            if seq == 1 {
                continue; // lost
            }
            out = d.push(seq as u16, &p.payload, p.marker).unwrap().or(out);
        }
        let out = out.unwrap();
        assert!(!out.intact);
        // The next unit is clean again.
        let next = access_unit(&[(0x41, 100)]);
        let p = &H264Packetizer::new(1200).packetize(&next)[0];
        let clean = d
            .push(packets.len() as u16, &p.payload, true)
            .unwrap()
            .unwrap();
        assert!(clean.intact);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        let mut d = H264Depacketizer::new();
        assert_eq!(d.push(0, &[], true), Err(DepacketizeError::Empty));
        assert_eq!(
            d.push(1, &[STAP_A, 0, 5, 1], true),
            Err(DepacketizeError::MalformedStap)
        );
        assert_eq!(
            d.push(2, &[STAP_A, 0], true),
            Err(DepacketizeError::MalformedStap)
        );
        assert_eq!(
            d.push(3, &[STAP_A], true),
            Err(DepacketizeError::MalformedStap)
        );
        assert_eq!(d.push(4, &[FU_A], true), Err(DepacketizeError::MalformedFu));
        assert_eq!(
            d.push(5, &[25, 1, 2], true),
            Err(DepacketizeError::UnsupportedType(25))
        );
        assert_eq!(
            d.push(6, &[0], true),
            Err(DepacketizeError::UnsupportedType(0))
        );
        // Odd trailing byte after a STAP-A unit (a known panic elsewhere).
        assert_eq!(
            d.push(7, &[STAP_A, 0, 1, 0x67, 9], true),
            Err(DepacketizeError::MalformedStap)
        );
    }
}
