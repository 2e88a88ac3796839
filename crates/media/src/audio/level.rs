//! Audio level in −dBov as RFC 6464 (client-to-mixer audio level) defines it.

/// A frame's level in −dBov, `0` (full scale) to `127` (−127 dBov, and digital silence).
///
/// RFC 6464 §3: the level is the RMS of the frame relative to the overload point of the
/// format — for 16-bit linear PCM a full-scale square wave, ±32768 — and digital silence
/// MUST be 127 whatever the format's dynamic range. Lower values mean louder audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AudioLevel(u8);

impl AudioLevel {
    /// A full-scale square wave: 0 dBov.
    pub const LOUDEST: AudioLevel = AudioLevel(0);
    /// −127 dBov: digital silence, and anything quieter.
    pub const SILENCE: AudioLevel = AudioLevel(127);

    /// The level carried on the wire (the 7-bit field), if it is in range.
    pub const fn from_wire(value: u8) -> Option<Self> {
        if value <= 127 {
            Some(AudioLevel(value))
        } else {
            None
        }
    }

    /// The 7-bit value to put on the wire: −dBov, 0..=127.
    pub const fn wire_value(self) -> u8 {
        self.0
    }

    /// The level in dBov (0 or negative).
    pub fn dbov(self) -> f32 {
        -f32::from(self.0)
    }

    /// Measures the RMS level of `samples` (any channel layout: all samples count).
    pub fn measure(samples: &[i16]) -> AudioLevel {
        if samples.is_empty() {
            return AudioLevel::SILENCE;
        }
        let energy: u64 = samples
            .iter()
            .map(|&s| (i64::from(s) * i64::from(s)) as u64)
            .sum();
        if energy == 0 {
            return AudioLevel::SILENCE;
        }
        let mean_square = energy as f64 / samples.len() as f64;
        let dbov = 10.0 * (mean_square / (32768.0 * 32768.0)).log10();
        AudioLevel((-dbov).round().clamp(0.0, 127.0) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 48_000.0).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn full_scale_square_wave_is_zero_dbov() {
        let square: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        assert_eq!(AudioLevel::measure(&square), AudioLevel::LOUDEST);
    }

    #[test]
    fn full_scale_sine_is_minus_three_dbov() {
        // RMS of a sine is amplitude / sqrt(2): 3.01 dB below the square wave.
        assert_eq!(AudioLevel::measure(&sine(32767.0, 960)).wire_value(), 3);
        // Each halving of the amplitude is 6.02 dB.
        assert_eq!(
            AudioLevel::measure(&sine(32767.0 / 2.0, 960)).wire_value(),
            9
        );
        assert_eq!(
            AudioLevel::measure(&sine(32767.0 / 1024.0, 960)).wire_value(),
            63
        );
    }

    #[test]
    fn silence_and_tiny_signals_are_127() {
        assert_eq!(AudioLevel::measure(&[0; 960]), AudioLevel::SILENCE);
        assert_eq!(AudioLevel::measure(&[]), AudioLevel::SILENCE);
        // One LSB on one sample of 960 is about −120 dBov, still in range.
        let mut one = [0i16; 960];
        one[0] = 1;
        assert_eq!(AudioLevel::measure(&one).wire_value(), 120);
        assert_eq!(AudioLevel::SILENCE.dbov(), -127.0);
    }

    #[test]
    fn wire_values_above_127_are_refused() {
        assert_eq!(AudioLevel::from_wire(127), Some(AudioLevel::SILENCE));
        assert_eq!(AudioLevel::from_wire(128), None);
    }
}
