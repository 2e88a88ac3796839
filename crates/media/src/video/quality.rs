//! Objective picture quality: PSNR between two pictures of the same size.

use crate::{FrameError, VideoFrame};

/// Peak signal-to-noise ratio in dB over all three planes (weighted by their sample
/// counts), 8-bit peak. Identical pictures give `f64::INFINITY`.
pub fn psnr(reference: &VideoFrame, distorted: &VideoFrame) -> Result<f64, FrameError> {
    if reference.width() != distorted.width() || reference.height() != distorted.height() {
        return Err(FrameError::ShapeMismatch("pictures differ in size"));
    }
    let mut squared_error = 0u64;
    let mut samples = 0u64;
    let mut add = |a: &[u8], b: &[u8]| {
        for (&x, &y) in a.iter().zip(b) {
            let d = i64::from(x) - i64::from(y);
            squared_error += (d * d) as u64;
        }
        samples += a.len() as u64;
    };
    for row in 0..reference.height() as usize {
        add(reference.y_row(row), distorted.y_row(row));
    }
    for row in 0..reference.chroma_size().1 {
        let (ru, rv) = reference.uv_rows(row);
        let (du, dv) = distorted.uv_rows(row);
        add(ru, du);
        add(rv, dv);
    }
    if squared_error == 0 {
        return Ok(f64::INFINITY);
    }
    let mse = squared_error as f64 / samples as f64;
    Ok(10.0 * (255.0 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MediaTime, TestPattern};

    #[test]
    fn identical_is_infinite_and_noise_lowers_it() {
        let a = TestPattern::new(64, 48).frame(1, MediaTime::ZERO);
        assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
        let mut b = a.clone();
        // An error of 2 on every luma sample: MSE = 4 * (3072 / 4608).
        for px in b.planes_mut().0.iter_mut() {
            *px = px.saturating_add(2);
        }
        let expected = 10.0 * (255.0f64 * 255.0 / (4.0 * 3072.0 / 4608.0)).log10();
        assert!((psnr(&a, &b).unwrap() - expected).abs() < 1e-9);
        let small = TestPattern::new(32, 48).frame(1, MediaTime::ZERO);
        assert!(psnr(&a, &small).is_err());
    }
}
