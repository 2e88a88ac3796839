//! Sample-format and channel-layout conversion on plain slices, allocation-free.

use crate::FrameError;

/// Scale i16 samples to f32 in [-1, 1). `out` must be as long as `input`.
pub fn i16_to_f32(input: &[i16], out: &mut [f32]) {
    for (o, &s) in out.iter_mut().zip(input) {
        *o = f32::from(s) / 32768.0;
    }
}

/// Scale f32 samples in [-1, 1] to i16, rounding and saturating out-of-range values.
/// `out` must be as long as `input`.
pub fn f32_to_i16(input: &[f32], out: &mut [i16]) {
    for (o, &s) in out.iter_mut().zip(input) {
        // `as` saturates for floats, and maps NaN to 0.
        *o = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
    }
}

/// Average interleaved stereo into mono. `out` must hold `stereo.len() / 2` samples.
pub fn stereo_to_mono(stereo: &[i16], out: &mut [i16]) -> Result<(), FrameError> {
    if !stereo.len().is_multiple_of(2) || out.len() != stereo.len() / 2 {
        return Err(FrameError::ShapeMismatch(
            "stereo input must be twice the mono output",
        ));
    }
    for (o, pair) in out.iter_mut().zip(stereo.chunks_exact(2)) {
        // The sum of two i16 fits in i32; the halved sum fits in i16.
        *o = ((i32::from(pair[0]) + i32::from(pair[1])) >> 1) as i16;
    }
    Ok(())
}

/// Duplicate mono into both channels of interleaved stereo.
/// `out` must hold `2 * mono.len()` samples.
pub fn mono_to_stereo(mono: &[i16], out: &mut [i16]) -> Result<(), FrameError> {
    if out.len() != mono.len() * 2 {
        return Err(FrameError::ShapeMismatch(
            "stereo output must be twice the mono input",
        ));
    }
    for (pair, &s) in out.chunks_exact_mut(2).zip(mono) {
        pair[0] = s;
        pair[1] = s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i16_f32_round_trip_is_exact() {
        let input: Vec<i16> = vec![i16::MIN, -12345, -1, 0, 1, 12345, i16::MAX];
        let mut f = vec![0.0; input.len()];
        let mut back = vec![0; input.len()];
        i16_to_f32(&input, &mut f);
        f32_to_i16(&f, &mut back);
        assert_eq!(input, back);
        assert_eq!(f[0], -1.0);
    }

    #[test]
    fn f32_out_of_range_saturates() {
        let mut out = [0i16; 3];
        f32_to_i16(&[2.0, -2.0, f32::NAN], &mut out);
        assert_eq!(out, [i16::MAX, i16::MIN, 0]);
    }

    #[test]
    fn stereo_mono_conversions() {
        let mut mono = [0i16; 3];
        stereo_to_mono(&[100, 200, i16::MAX, i16::MAX, -4, 2], &mut mono).unwrap();
        assert_eq!(mono, [150, i16::MAX, -1]);
        let mut stereo = [0i16; 6];
        mono_to_stereo(&mono, &mut stereo).unwrap();
        assert_eq!(stereo, [150, 150, i16::MAX, i16::MAX, -1, -1]);
        assert!(stereo_to_mono(&[1, 2, 3], &mut [0; 1]).is_err());
        assert!(mono_to_stereo(&[1, 2], &mut [0; 3]).is_err());
    }
}
