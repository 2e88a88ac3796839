//! Signal analysis for assertions: correlation, delay alignment, level, tone frequency and
//! discontinuities.

/// Normalised cross-correlation at zero lag over the common length: 1 for identical
/// shapes (whatever their gain), 0 for unrelated signals. 0 if either is silent.
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// Correlation of `reference` with `delayed` when `delayed` lags by `lag` samples.
pub fn correlation_at(reference: &[i16], delayed: &[i16], lag: usize) -> f64 {
    if lag >= delayed.len() {
        return 0.0;
    }
    correlation(reference, &delayed[lag..])
}

/// The lag in `0..=max_lag` at which `delayed` best matches `reference`, and the
/// correlation there. The search uses the first `window` samples; the returned
/// correlation covers the whole common length.
pub fn align(reference: &[i16], delayed: &[i16], max_lag: usize, window: usize) -> (usize, f64) {
    let head = &reference[..reference.len().min(window)];
    let mut best = (0, f64::MIN);
    for lag in 0..=max_lag.min(delayed.len().saturating_sub(1)) {
        let c = correlation_at(head, delayed, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    (best.0, correlation_at(reference, delayed, best.0))
}

/// 48 kHz to 8 kHz by averaging six samples (a crude low-pass: for searching, not listening).
pub fn decimate_6(x: &[i16]) -> Vec<i16> {
    x.chunks_exact(6)
        .map(|c| (c.iter().map(|&v| i32::from(v)).sum::<i32>() / 6) as i16)
        .collect()
}

/// Where `probe` (48 kHz) best occurs in `haystack` (48 kHz), searched everywhere: first
/// at 8 kHz, then at full rate around that place. Returns the position and the correlation
/// there.
pub fn locate(probe: &[i16], haystack: &[i16]) -> (usize, f64) {
    let (p8, h8) = (decimate_6(probe), decimate_6(haystack));
    if p8.is_empty() || h8.len() <= p8.len() {
        return (0, 0.0);
    }
    let (coarse, _) = align(&p8, &h8, h8.len() - p8.len(), p8.len());
    let from = (coarse * 6).saturating_sub(48);
    let (fine, corr) = align(probe, &haystack[from..], 96, probe.len());
    (from + fine, corr)
}

/// RMS level in dBFS (0 dB = full-scale sine's peak squared / 2 is −3 dB), −inf for silence.
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    10.0 * (energy / samples.len() as f64 / (32768.0 * 32768.0)).log10()
}

/// Energy of the difference between two signals relative to the energy of `reference`,
/// in dB (lower is closer; −inf if identical).
pub fn error_db(reference: &[i16], other: &[i16]) -> f64 {
    let (mut err, mut sig) = (0f64, 0f64);
    for (&r, &o) in reference.iter().zip(other) {
        err += (f64::from(r) - f64::from(o)).powi(2);
        sig += f64::from(r).powi(2);
    }
    10.0 * (err / sig.max(1.0)).log10()
}

/// The frequency of a steady tone, from its interpolated zero crossings (upward) — precise
/// to a small fraction of a hertz over a second or more of signal.
pub fn tone_frequency(samples: &[i16], rate_hz: u32) -> Option<f64> {
    let mut crossings = Vec::new();
    for (i, pair) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + a / (a - b));
        }
    }
    let (first, last) = (crossings.first()?, crossings.last()?);
    if crossings.len() < 3 {
        return None;
    }
    let periods = (crossings.len() - 1) as f64;
    Some(periods * f64::from(rate_hz) / (last - first))
}

/// The tone most windows of `window` samples carry: the median of each window's own
/// [`tone_frequency`]. Unlike one estimate over a whole recording, a few glitched or
/// concealed windows (or seams where quiet stretches were cut out) do not shift it.
pub fn median_tone_frequency(samples: &[i16], rate_hz: u32, window: usize) -> Option<f64> {
    let mut each: Vec<f64> = samples
        .chunks_exact(window.max(2))
        .filter_map(|w| tone_frequency(w, rate_hz))
        .collect();
    if each.is_empty() {
        return None;
    }
    each.sort_by(f64::total_cmp);
    Some(each[each.len() / 2])
}

/// Residual of a least-squares fit of `a·cos + b·sin + c` at `freq_hz` to the samples:
/// what is left when the tone is removed. Clicks and discontinuities show up in it.
#[allow(clippy::needless_range_loop)]
pub fn tone_residual(samples: &[i16], rate_hz: u32, freq_hz: f64) -> Vec<f64> {
    let w = 2.0 * std::f64::consts::PI * freq_hz / f64::from(rate_hz);
    // Normal equations of the 3-parameter fit.
    let mut m = [[0f64; 3]; 3];
    let mut v = [0f64; 3];
    for (n, &s) in samples.iter().enumerate() {
        let basis = [(w * n as f64).cos(), (w * n as f64).sin(), 1.0];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += basis[i] * basis[j];
            }
            v[i] += basis[i] * f64::from(s);
        }
    }
    let coef = solve3(m, v);
    samples
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let fit = coef[0] * (w * n as f64).cos() + coef[1] * (w * n as f64).sin() + coef[2];
            f64::from(s) - fit
        })
        .collect()
}

#[allow(clippy::needless_range_loop)] // Gaussian elimination reads best with indices.
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let pivot = (col..3)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap_or(col);
        m.swap(col, pivot);
        v.swap(col, pivot);
        let d = m[col][col];
        if d.abs() < 1e-12 {
            continue;
        }
        for row in 0..3 {
            if row != col {
                let f = m[row][col] / d;
                for k in 0..3 {
                    m[row][k] -= f * m[col][k];
                }
                v[row] -= f * v[col];
            }
        }
    }
    [v[0] / m[0][0], v[1] / m[1][1], v[2] / m[2][2]]
}

/// The largest absolute second difference `|x[n] - 2x[n-1] + x[n-2]|` over `n` in
/// `positions`: a measure of how sharply a signal bends there (a click bends sharply).
pub fn max_bend_at(samples: &[i16], positions: impl IntoIterator<Item = usize>) -> f64 {
    positions
        .into_iter()
        .filter(|&n| n >= 2 && n < samples.len())
        .map(|n| {
            (f64::from(samples[n]) - 2.0 * f64::from(samples[n - 1]) + f64::from(samples[n - 2]))
                .abs()
        })
        .fold(0.0, f64::max)
}

/// Joined audio of stamped `frames` (`rate` Hz), from the first frame, gaps filled with
/// silence: each frame placed by its stamp, snapped to the frame grid (a stream's frames are
/// stamped a frame apart), a later frame overwriting an overlap.
pub fn on_clock(frames: &[(confab_media::MediaTime, Vec<i16>)], rate: u32) -> Vec<i16> {
    let Some((first, _)) = frames.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (at, samples) in frames {
        let offset =
            (at.saturating_since(*first).as_micros() as u64 * u64::from(rate) / 1_000_000) as usize;
        let frame = samples.len().max(1);
        let slot = (offset + frame / 2) / frame * frame;
        if out.len() < slot {
            out.resize(slot, 0);
        }
        out.truncate(slot);
        out.extend_from_slice(samples);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_a_piece_of_speech_anywhere() {
        let speech = crate::fixtures::speech(crate::fixtures::Speaker::Bob);
        let probe = &speech[150_007..150_007 + 24_000];
        let (at, corr) = locate(probe, &speech);
        assert_eq!(at, 150_007);
        assert!(corr > 0.999);
    }

    fn tone(freq: f64, amplitude: f64, len: usize, rate: u32) -> Vec<i16> {
        (0..len)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn correlation_finds_a_delay() {
        let a = tone(440.0, 8000.0, 4800, 48_000);
        let noise: Vec<i16> = (0..4800u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 20) as i16) - 2048)
            .collect();
        let mixed: Vec<i16> = a.iter().zip(&noise).map(|(&x, &n)| x / 2 + n).collect();
        let mut delayed = vec![0i16; 37];
        delayed.extend_from_slice(&mixed);
        let (lag, c) = align(&mixed, &delayed, 100, 4800);
        assert_eq!(lag, 37);
        assert!(c > 0.999);
        assert!(correlation(&a, &noise).abs() < 0.1);
    }

    #[test]
    fn tone_frequency_and_residual() {
        let t = tone(1000.0, 10_000.0, 48_000, 48_000);
        let f = tone_frequency(&t, 48_000).unwrap();
        assert!((f - 1000.0).abs() < 0.01, "{f}");
        let residual = tone_residual(&t, 48_000, f);
        assert!(residual.iter().all(|r| r.abs() < 2.0));
        let mut clicked = t.clone();
        clicked[1000] = clicked[1000].saturating_add(3000);
        assert!(tone_residual(&clicked, 48_000, f)[1000].abs() > 2000.0);
        assert!(max_bend_at(&clicked, [1000]) > max_bend_at(&t, 2..t.len()) * 10.0);
        assert!((rms_dbfs(&t) - (20.0 * (10_000.0f64 / 32768.0).log10() - 3.0103)).abs() < 0.01);
    }

    #[test]
    fn the_median_tone_ignores_seams_and_glitches() {
        // 2 s of 440 Hz cut into 20 ms windows with every third window's phase jumped
        // and one window of noise: one whole-span estimate is thrown off, the median not.
        let t = tone(440.0, 8000.0, 96_000, 48_000);
        let mut seamed: Vec<i16> = Vec::new();
        for (i, w) in t.chunks(960).enumerate() {
            let skip = if i % 3 == 0 { 37 } else { 0 };
            seamed.extend_from_slice(&w[skip..]);
        }
        seamed.splice(
            4800..4800,
            (0..960u32).map(|i| ((i * 7919) % 4001) as i16 - 2000),
        );
        let whole = tone_frequency(&seamed, 48_000).unwrap();
        let median = median_tone_frequency(&seamed, 48_000, 960).unwrap();
        assert!((whole - 440.0).abs() > 2.0, "whole {whole}");
        assert!((median - 440.0).abs() < 0.5, "median {median}");
        assert_eq!(median_tone_frequency(&[0; 100], 48_000, 960), None);
    }
}
