//! Mixing primitives: sum many frames in i32, take one contribution back out (mix-minus),
//! and bring the sum back to i16 by hard or soft clipping.

use crate::FrameError;

/// Where [`soft_clip_sample`] leaves the linear region: −2.5 dBFS.
const SOFT_KNEE: i32 = 24_576;
const HEADROOM: f32 = (i16::MAX as i32 - SOFT_KNEE) as f32;

/// An i32 accumulator the size of one frame.
///
/// Sums of up to 65 536 full-scale i16 frames cannot overflow, so the order in which
/// contributions are added and removed never matters, and removing one is exact: the
/// mix-minus of a speaker is the shared mix with that speaker's samples subtracted.
#[derive(Debug, Clone, Default)]
pub struct MixBuffer {
    acc: Vec<i32>,
}

impl MixBuffer {
    /// A zeroed accumulator of `len` samples.
    pub fn new(len: usize) -> Self {
        MixBuffer { acc: vec![0; len] }
    }

    /// Zeroes the accumulator and sets its length (reuses the allocation).
    pub fn reset(&mut self, len: usize) {
        self.acc.clear();
        self.acc.resize(len, 0);
    }

    /// Samples in the accumulator.
    pub fn len(&self) -> usize {
        self.acc.len()
    }

    /// Whether the accumulator holds no samples.
    pub fn is_empty(&self) -> bool {
        self.acc.is_empty()
    }

    /// The raw i32 sums.
    pub fn sums(&self) -> &[i32] {
        &self.acc
    }

    /// Adds one contribution.
    pub fn add(&mut self, samples: &[i16]) -> Result<(), FrameError> {
        self.check(samples.len())?;
        for (a, &s) in self.acc.iter_mut().zip(samples) {
            *a += i32::from(s);
        }
        Ok(())
    }

    /// Removes a contribution added earlier.
    pub fn subtract(&mut self, samples: &[i16]) -> Result<(), FrameError> {
        self.check(samples.len())?;
        for (a, &s) in self.acc.iter_mut().zip(samples) {
            *a -= i32::from(s);
        }
        Ok(())
    }

    /// Writes the sum, hard-clipped to i16, into `out`.
    pub fn write_clipped(&self, out: &mut [i16]) -> Result<(), FrameError> {
        self.check(out.len())?;
        for (o, &a) in out.iter_mut().zip(&self.acc) {
            *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
        Ok(())
    }

    /// Writes the sum, soft-clipped (see [`soft_clip_sample`]), into `out`.
    pub fn write_soft_clipped(&self, out: &mut [i16]) -> Result<(), FrameError> {
        self.check(out.len())?;
        for (o, &a) in out.iter_mut().zip(&self.acc) {
            *o = soft_clip_sample(a);
        }
        Ok(())
    }

    /// Writes the sum minus one contribution, soft-clipped, into `out`, leaving the
    /// accumulator as it is: the mix a speaker hears, without themself.
    pub fn write_mix_minus(&self, contribution: &[i16], out: &mut [i16]) -> Result<(), FrameError> {
        self.check(contribution.len())?;
        self.check(out.len())?;
        for ((o, &a), &c) in out.iter_mut().zip(&self.acc).zip(contribution) {
            *o = soft_clip_sample(a - i32::from(c));
        }
        Ok(())
    }

    fn check(&self, len: usize) -> Result<(), FrameError> {
        if len == self.acc.len() {
            Ok(())
        } else {
            Err(FrameError::ShapeMismatch(
                "contribution length differs from the mix",
            ))
        }
    }
}

/// Maps an i32 sum to i16: identity up to the knee (−2.5 dBFS), then a tanh curve that
/// approaches full scale smoothly, so loud overlaps compress instead of cracking.
/// Continuous and monotonic, odd-symmetric.
pub fn soft_clip_sample(sum: i32) -> i16 {
    let magnitude = sum.unsigned_abs();
    if magnitude <= SOFT_KNEE as u32 {
        return sum as i16;
    }
    let over = (magnitude - SOFT_KNEE as u32) as f32 / HEADROOM;
    let compressed = SOFT_KNEE as f32 + HEADROOM * over.tanh();
    let clipped = compressed.min(f32::from(i16::MAX)) as i16;
    if sum < 0 { -clipped } else { clipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_mix_minus_are_exact() {
        let a = [1000i16, -2000, 3000];
        let b = [10i16, 20, -30];
        let c = [i16::MAX, i16::MIN, 0];
        let mut mix = MixBuffer::new(3);
        for f in [&a, &b, &c] {
            mix.add(f).unwrap();
        }
        assert_eq!(mix.sums(), &[33_777, -34_748, 2970]);
        let mut without_c = [0i16; 3];
        mix.write_mix_minus(&c, &mut without_c).unwrap();
        assert_eq!(without_c, [1010, -1980, 2970]);
        mix.subtract(&c).unwrap();
        mix.subtract(&b).unwrap();
        let mut only_a = [0i16; 3];
        mix.write_clipped(&mut only_a).unwrap();
        assert_eq!(only_a, a);
    }

    #[test]
    fn hard_clip_saturates() {
        let mut mix = MixBuffer::new(2);
        mix.add(&[30_000, -30_000]).unwrap();
        mix.add(&[30_000, -30_000]).unwrap();
        let mut out = [0i16; 2];
        mix.write_clipped(&mut out).unwrap();
        assert_eq!(out, [i16::MAX, i16::MIN]);
    }

    #[test]
    fn soft_clip_is_linear_below_knee_and_monotonic_above() {
        for s in [-SOFT_KNEE, -1, 0, 1, 1234, SOFT_KNEE] {
            assert_eq!(i32::from(soft_clip_sample(s)), s);
        }
        let mut previous = soft_clip_sample(SOFT_KNEE);
        for s in (SOFT_KNEE + 1..400_000).step_by(97) {
            let y = soft_clip_sample(s);
            assert!(y >= previous, "not monotonic at {s}");
            assert!(i32::from(y) - i32::from(previous) <= 97, "jumps at {s}");
            assert_eq!(soft_clip_sample(-s), -y);
            previous = y;
        }
        // Far beyond full scale the curve saturates near, never past, the rails.
        assert!(soft_clip_sample(1_000_000) > 32_700);
        let most_negative = soft_clip_sample(i32::MIN);
        assert!(
            (-i16::MAX..-32_700).contains(&most_negative),
            "{most_negative}"
        );
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let mut mix = MixBuffer::new(960);
        assert!(mix.add(&[0; 480]).is_err());
        assert!(mix.write_clipped(&mut [0; 10]).is_err());
        mix.reset(480);
        assert!(mix.add(&[0; 480]).is_ok());
        assert_eq!(mix.len(), 480);
    }
}
