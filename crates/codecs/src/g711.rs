//! G.711 (ITU-T, 1988): 8 kHz companded PCM, one byte per sample, as phone networks carry it.
//!
//! Encoding follows the recommendation's segment rules (µ-law on 14-bit magnitudes with a
//! bias of 33, A-law on 13-bit magnitudes, even bits inverted), after rounding the 16-bit
//! input to the nearest 14- or 13-bit value (as sox does); decoding returns the
//! centre of each quantisation interval, scaled to 16 bits. Both directions are branch-light
//! and table-free on encode, a 256-entry table on decode.

use confab_media::{AudioFormat, AudioFrame, MediaTime};

use crate::{AudioCodec, AudioDecoder, AudioEncoder, CodecError, G711Error};

mod plc;

pub use plc::PitchConcealer;

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law (PCMU): North America and Japan.
    MuLaw,
    /// A-law (PCMA): everywhere else.
    ALaw,
}

impl G711Law {
    /// The matching [`AudioCodec`].
    pub const fn codec(self) -> AudioCodec {
        match self {
            G711Law::MuLaw => AudioCodec::Pcmu,
            G711Law::ALaw => AudioCodec::Pcma,
        }
    }
}

/// µ-law magnitudes are clipped here (in 14-bit units) before the bias is added.
const ULAW_CLIP: i32 = 8159;
const ULAW_BIAS: i32 = 33;

/// Encodes one 16-bit linear sample to µ-law (rounded to the nearest 14-bit value first).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let pcm = (i32::from(sample) + 2) >> 2;
    let (magnitude, mask) = if pcm < 0 { (-pcm, 0x7F) } else { (pcm, 0xFF) };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // Segment: how many places above bit 5 the highest set bit of the biased value sits.
    let segment = (31 - biased.leading_zeros() as i32 - 5).max(0);
    if segment >= 8 {
        // Only the clip value itself lands here: the top code of the sign.
        return (0x7F ^ mask) as u8;
    }
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    (((segment << 4) | mantissa) ^ mask) as u8
}

/// Encodes one 16-bit linear sample to A-law (rounded to the nearest 13-bit value first).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let pcm = (i32::from(sample) + 4) >> 3;
    let (magnitude, mask) = if pcm >= 0 {
        (pcm, 0xD5)
    } else {
        (-pcm - 1, 0x55)
    };
    let segment = (31 - (magnitude | 1).leading_zeros() as i32 - 4).max(0);
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if segment < 2 {
        (magnitude >> 1) & 0x0F
    } else {
        (magnitude >> segment) & 0x0F
    };
    (((segment << 4) | mantissa) ^ mask) as u8
}

const fn ulaw_to_linear_const(code: u8) -> i16 {
    let u = !code;
    let mantissa = (u & 0x0F) as i32;
    let segment = ((u & 0x70) >> 4) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << segment) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

const fn alaw_to_linear_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mantissa = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    let magnitude = match segment {
        0 => mantissa + 8,
        1 => mantissa + 0x108,
        _ => (mantissa + 0x108) << (segment - 1),
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

const fn table(law: G711Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            G711Law::MuLaw => ulaw_to_linear_const(i as u8),
            G711Law::ALaw => alaw_to_linear_const(i as u8),
        };
        i += 1;
    }
    t
}

static ULAW_TO_LINEAR: [i16; 256] = table(G711Law::MuLaw);
static ALAW_TO_LINEAR: [i16; 256] = table(G711Law::ALaw);

/// Decodes one µ-law byte to 16-bit linear.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one A-law byte to 16-bit linear.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes `samples` into `out` (same length) with `law`.
pub fn encode(law: G711Law, samples: &[i16], out: &mut [u8]) {
    let f = match law {
        G711Law::MuLaw => linear_to_ulaw,
        G711Law::ALaw => linear_to_alaw,
    };
    for (o, &s) in out.iter_mut().zip(samples) {
        *o = f(s);
    }
}

/// Decodes `codes` into `out` (same length) with `law`.
pub fn decode(law: G711Law, codes: &[u8], out: &mut [i16]) {
    let t = match law {
        G711Law::MuLaw => &ULAW_TO_LINEAR,
        G711Law::ALaw => &ALAW_TO_LINEAR,
    };
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = t[usize::from(c)];
    }
}

/// Encodes 8 kHz mono frames to G.711 payloads.
#[derive(Debug, Clone)]
pub struct G711Encoder {
    law: G711Law,
}

impl G711Encoder {
    /// An encoder for `law`.
    pub fn new(law: G711Law) -> Self {
        G711Encoder { law }
    }
}

impl AudioEncoder for G711Encoder {
    fn codec(&self) -> AudioCodec {
        self.law.codec()
    }

    fn input_format(&self) -> AudioFormat {
        AudioFormat::MONO_8K
    }

    fn encode(&mut self, frame: &AudioFrame, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        if frame.format() != AudioFormat::MONO_8K {
            return Err(G711Error::Format(frame.format()).into());
        }
        out.resize(frame.samples().len(), 0);
        encode(self.law, frame.samples(), out);
        Ok(true)
    }
}

/// Decodes G.711 payloads to 8 kHz mono frames; conceals a lost frame by repeating the
/// signal's last pitch periods, fading out over 60 ms (a [`PitchConcealer`], after G.711
/// Appendix I), and cross-fades the first good frame after a loss back in.
#[derive(Debug, Clone)]
pub struct G711Decoder {
    law: G711Law,
    plc: PitchConcealer,
    /// Samples per frame, as the last payload had them (a loss conceals as much).
    frame_len: usize,
}

impl G711Decoder {
    /// A decoder for `law`.
    pub fn new(law: G711Law) -> Self {
        G711Decoder {
            law,
            plc: PitchConcealer::new(),
            frame_len: 160,
        }
    }
}

impl AudioDecoder for G711Decoder {
    fn codec(&self) -> AudioCodec {
        self.law.codec()
    }

    fn output_format(&self) -> AudioFormat {
        AudioFormat::MONO_8K
    }

    fn decode_into(
        &mut self,
        payload: &[u8],
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError> {
        let duration = AudioFormat::MONO_8K
            .duration_of(payload.len())
            .ok_or(G711Error::PayloadLength(payload.len()))?;
        if out.format() != AudioFormat::MONO_8K || out.duration() != duration {
            *out = AudioFrame::silence(AudioFormat::MONO_8K, duration, timestamp);
        }
        out.set_timestamp(timestamp);
        decode(self.law, payload, out.samples_mut());
        self.plc.good_frame(out.samples_mut());
        self.frame_len = payload.len();
        Ok(())
    }

    fn conceal_into(
        &mut self,
        timestamp: MediaTime,
        out: &mut AudioFrame,
    ) -> Result<(), CodecError> {
        let len = self.frame_len;
        if out.format() != AudioFormat::MONO_8K || out.samples().len() != len {
            let duration = AudioFormat::MONO_8K
                .duration_of(len)
                .ok_or(G711Error::PayloadLength(len))?;
            *out = AudioFrame::silence(AudioFormat::MONO_8K, duration, timestamp);
        }
        out.set_timestamp(timestamp);
        self.plc.conceal(out.samples_mut());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        // Silence: µ-law 0xFF, A-law 0xD5 (positive zero).
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        // Full scale clips to the top codes.
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xD5), 8);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            let u = ulaw_to_linear(code);
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes to 0xFF.
            if u != 0 {
                assert_eq!(linear_to_ulaw(u), code, "µ-law {code:#04x} -> {u}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn encoding_is_monotonic_over_all_samples() {
        let mut previous = (
            i16::MIN,
            ulaw_to_linear(linear_to_ulaw(i16::MIN)),
            alaw_to_linear(linear_to_alaw(i16::MIN)),
        );
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= previous.1 && a >= previous.2, "not monotonic at {s}");
            // The quantisation error stays within half of the largest step (1024 / 2).
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= 1024,
                "µ-law error at {s}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= 1024,
                "A-law error at {s}"
            );
            previous = (s, u, a);
        }
    }

    #[test]
    fn frames_round_trip_and_bad_payloads_are_refused() {
        let samples: Vec<i16> = (0..160)
            .map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16)
            .collect();
        let frame = AudioFrame::new(AudioFormat::MONO_8K, MediaTime::ZERO, samples).unwrap();
        for law in [G711Law::MuLaw, G711Law::ALaw] {
            let mut payload = Vec::new();
            assert!(G711Encoder::new(law).encode(&frame, &mut payload).unwrap());
            assert_eq!(payload.len(), 160);
            let mut decoder = G711Decoder::new(law);
            let decoded = decoder
                .decode(&payload, MediaTime::from_millis(20))
                .unwrap();
            for (&a, &b) in decoded.samples().iter().zip(frame.samples()) {
                assert!((i32::from(a) - i32::from(b)).abs() <= 256);
            }
            // A loss continues the signal (a sine of period 20.9 samples) at full level.
            let concealed = decoder.conceal(MediaTime::from_millis(40)).unwrap();
            let level = |s: &[i16]| s.iter().map(|&x| i64::from(x).abs()).sum::<i64>();
            assert!(level(concealed.samples()) > level(decoded.samples()) * 8 / 10);
            assert!(matches!(
                decoder.decode(&payload[..100], MediaTime::ZERO),
                Err(CodecError::G711(G711Error::PayloadLength(100)))
            ));
        }
        let wideband = AudioFrame::silence(
            AudioFormat::MONO_16K,
            confab_media::FrameDuration::Ms20,
            MediaTime::ZERO,
        );
        assert!(
            G711Encoder::new(G711Law::ALaw)
                .encode(&wideband, &mut Vec::new())
                .is_err()
        );
    }
}
