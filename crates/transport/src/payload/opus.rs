//! Opus in RTP (RFC 7587): the payload is one Opus packet; its TOC byte (RFC 6716 §3.1)
//! says how long it plays. The RTP clock is always 48 kHz.

/// RTP timestamp ticks per second for Opus, whatever the coded bandwidth.
pub const RTP_CLOCK_RATE: u32 = 48_000;

/// An Opus packet that breaks RFC 6716's framing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpusPayloadError {
    /// Empty payload (RFC 6716 §3.4 R1: at least one byte).
    #[error("empty Opus packet")]
    Empty,
    /// A code-3 packet without its frame-count byte.
    #[error("code 3 packet without a frame count byte")]
    MissingFrameCount,
    /// Zero frames, or more than 120 ms of audio (RFC 6716 §3.4 R5).
    #[error("{frames} frames of {frame_samples} samples exceed 120 ms")]
    TooLong {
        /// Frames in the packet.
        frames: u32,
        /// Samples per frame at 48 kHz.
        frame_samples: u32,
    },
}

/// What an Opus packet's TOC byte says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusToc {
    /// Configuration number 0..=31 (mode, bandwidth, frame size).
    pub config: u8,
    /// Stereo flag.
    pub stereo: bool,
    /// Frames in the packet.
    pub frames: u32,
    /// Samples per frame at 48 kHz.
    pub frame_samples: u32,
}

impl OpusToc {
    /// Parses the TOC (and frame count) of a packet.
    pub fn parse(packet: &[u8]) -> Result<OpusToc, OpusPayloadError> {
        let &toc = packet.first().ok_or(OpusPayloadError::Empty)?;
        let config = toc >> 3;
        // Frame sizes per RFC 6716 table 2, in 48 kHz samples.
        let frame_samples = match config {
            0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
            12..=15 => [480, 960][usize::from(config % 2)],
            _ => [120, 240, 480, 960][usize::from(config % 4)],
        };
        let frames = match toc & 0x03 {
            0 => 1,
            1 | 2 => 2,
            _ => u32::from(packet.get(1).ok_or(OpusPayloadError::MissingFrameCount)? & 0x3F),
        };
        if frames == 0 || frames * frame_samples > 5760 {
            return Err(OpusPayloadError::TooLong {
                frames,
                frame_samples,
            });
        }
        Ok(OpusToc {
            config,
            stereo: toc & 0x04 != 0,
            frames,
            frame_samples,
        })
    }

    /// Samples (per channel, at 48 kHz) the packet plays: the RTP timestamp step after it.
    pub fn duration_samples(&self) -> u32 {
        self.frames * self.frame_samples
    }

    /// Whether the packet is SILK-only or hybrid (the modes that can carry in-band FEC).
    pub fn may_carry_fec(&self) -> bool {
        self.config < 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_from_toc() {
        // Config 1 (SILK NB 20 ms), code 0.
        assert_eq!(OpusToc::parse(&[1 << 3]).unwrap().duration_samples(), 960);
        // Config 31 (CELT FB 20 ms), stereo, code 1: two frames.
        let toc = OpusToc::parse(&[(31 << 3) | 0x04 | 1]).unwrap();
        assert_eq!(
            (toc.duration_samples(), toc.stereo, toc.may_carry_fec()),
            (1920, true, false)
        );
        // Config 15 (hybrid FB 20 ms), code 3 with 3 frames: 60 ms.
        assert_eq!(
            OpusToc::parse(&[(15 << 3) | 3, 3])
                .unwrap()
                .duration_samples(),
            2880
        );
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(OpusToc::parse(&[]), Err(OpusPayloadError::Empty));
        assert_eq!(
            OpusToc::parse(&[3]),
            Err(OpusPayloadError::MissingFrameCount)
        );
        assert!(matches!(
            OpusToc::parse(&[3, 0]),
            Err(OpusPayloadError::TooLong { .. })
        ));
        // 60 ms frames x 3 = 180 ms > 120 ms.
        assert!(matches!(
            OpusToc::parse(&[(3 << 3) | 3, 3]),
            Err(OpusPayloadError::TooLong { .. })
        ));
        for b in 0..=255u8 {
            let _ = OpusToc::parse(&[b]);
            let _ = OpusToc::parse(&[b, b]);
        }
    }
}
