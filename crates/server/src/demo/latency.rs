//! Mouth-to-bot latency from audio alone: what a speaker said (its samples, and when each
//! was due) against what a bot received (samples, and when each frame arrived). Short
//! windows of the received audio are found in the spoken audio by cross-correlation at
//! 8 kHz, near the previous window's delay; each found window gives one latency sample.

use std::time::{Duration, Instant};

/// 48 kHz to 8 kHz by averaging six samples.
fn decimate(x: &[i16]) -> Vec<f32> {
    x.chunks_exact(6)
        .map(|c| c.iter().map(|&v| f32::from(v)).sum::<f32>() / 6.0)
        .collect()
}

fn normalized_correlation(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (&x, &y) in a.iter().zip(b) {
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

/// Latency samples. `spoken`: 48 kHz samples, sample 0 due at `spoke_at`. `received`: 20 ms
/// frames (48 kHz) with the instant each reached the bot, in order.
pub(crate) fn latencies(
    spoken: &[i16],
    spoke_at: Instant,
    received: &[(Instant, Vec<i16>)],
) -> Vec<Duration> {
    const WINDOW: usize = 1600; // 200 ms at 8 kHz
    const STEP: usize = 5; // frames: one window every 100 ms
    const SEARCH: i64 = 1600; // ±200 ms around the expected place
    let said = decimate(spoken);
    let mut out = Vec::new();
    let mut i = 0;
    while i + 10 <= received.len() {
        let window: Vec<i16> = received[i..i + 10]
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let arrived = received[i].0;
        i += STEP;
        let energy =
            window.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / window.len() as f64;
        if energy < 1.0e5 {
            continue; // a pause: nothing to find
        }
        let probe = decimate(&window);
        if probe.len() < WINDOW {
            continue;
        }
        // Where the window would be if it arrived with no delay at all, at 8 kHz.
        let Some(since) = arrived.checked_duration_since(spoke_at) else {
            continue;
        };
        let zero_delay = (since.as_micros() as i64) * 8 / 1000;
        let mut best = (0i64, f32::MIN);
        // Delays from 0 up to 2 × SEARCH (0–400 ms).
        for delay in 0..=2 * SEARCH {
            let at = zero_delay - delay;
            if at < 0 || at as usize + WINDOW > said.len() {
                continue;
            }
            let c =
                normalized_correlation(&probe[..WINDOW], &said[at as usize..at as usize + WINDOW]);
            if c > best.1 {
                best = (delay, c);
            }
        }
        if best.1 >= 0.7 {
            out.push(Duration::from_micros(best.0 as u64 * 125));
        }
    }
    out
}

/// The `p`-th percentile (0–100) of samples.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // an origin for made-up arrival times
    fn finds_a_known_delay() {
        // Noise-like "speech": a deterministic pseudo-random signal.
        let mut seed = 1u32;
        let spoken: Vec<i16> = (0..48_000 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 16) as i16) / 4
            })
            .collect();
        let t0 = Instant::now();
        let delay = Duration::from_millis(85);
        // Frame k of the spoken audio arrives at t0 + 20k ms + 85 ms.
        let received: Vec<(Instant, Vec<i16>)> = spoken
            .chunks(960)
            .enumerate()
            .map(|(k, f)| {
                (
                    t0 + Duration::from_millis(20 * k as u64) + delay,
                    f.to_vec(),
                )
            })
            .collect();
        let found = latencies(&spoken, t0, &received);
        assert!(found.len() > 20, "{} windows", found.len());
        for d in &found {
            assert!(d.abs_diff(delay) <= Duration::from_millis(1), "{d:?}");
        }
        assert_eq!(percentile(&found, 50.0).map(|d| d.as_millis()), Some(85));
    }
}
