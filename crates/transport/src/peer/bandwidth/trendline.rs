//! The delay half of congestion control: whether the queue on the path is growing, from the
//! trend of one-way delay variation across groups of packets (the trendline filter of
//! draft-ietf-rmcat-gcc and libwebrtc, written afresh here).
//!
//! webrtc-rs's `Gcc` filters the same signal with a Kalman filter whose gain, once the
//! measurement variance has grown with real jitter, falls to a few thousandths: measured
//! against Chromium behind a 300 kbit/s link carrying 600 kbit/s, it never signalled
//! overuse, and only loss (seconds later, with audio lost in the overflowing queue) brought
//! the estimate down. The trendline reacts within a few groups of a queue starting to grow.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{InterGroupDelay, Usage};

/// Groups the slope is fitted over.
const WINDOW: usize = 20;
/// Smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by this and by the number of deltas seen (up to `MAX_DELTAS`).
const GAIN: f64 = 4.0;
const MAX_DELTAS: u32 = 60;
/// Overuse must last this long (and grow) before it counts.
const OVERUSE_MS: f64 = 10.0;
/// The adaptive threshold: where it starts, its bounds, how fast it follows the trend up
/// and down, and how far outside it a trend may be and still move it.
const THRESHOLD_MS: f64 = 12.5;
const THRESHOLD_MIN_MS: f64 = 6.0;
const THRESHOLD_MAX_MS: f64 = 600.0;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
const MAX_ADAPT_MS: f64 = 15.0;

/// Overuse detection from inter-group delay variation.
#[derive(Debug, Clone)]
pub(crate) struct Trendline {
    first: Option<Instant>,
    deltas: u32,
    accumulated_ms: f64,
    smoothed_ms: f64,
    /// (ms since the first group, smoothed accumulated delay).
    history: VecDeque<(f64, f64)>,
    previous_trend: f64,
    threshold_ms: f64,
    threshold_updated: Option<Instant>,
    over_for_ms: Option<f64>,
    over_count: u32,
    last_at: Option<Instant>,
    usage: Usage,
}

impl Default for Trendline {
    fn default() -> Self {
        Trendline {
            first: None,
            deltas: 0,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            history: VecDeque::with_capacity(WINDOW + 1),
            previous_trend: 0.0,
            threshold_ms: THRESHOLD_MS,
            threshold_updated: None,
            over_for_ms: None,
            over_count: 0,
            last_at: None,
            usage: Usage::Normal,
        }
    }
}

impl Trendline {
    /// The path's state after one more group's delay variation.
    pub(crate) fn update(&mut self, delay: &InterGroupDelay) -> Usage {
        let ms_since = |from: Instant| delay.at.saturating_duration_since(from).as_secs_f64() * 1e3;
        let first = *self.first.get_or_insert(delay.at);
        let x = ms_since(first);
        let since_last_ms = self.last_at.map_or(0.0, ms_since);
        self.last_at = Some(delay.at);
        self.deltas = (self.deltas + 1).min(1000);
        self.accumulated_ms += delay.delta_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        self.history.push_back((x, self.smoothed_ms));
        if self.history.len() > WINDOW {
            self.history.pop_front();
        }
        let trend = if self.history.len() == WINDOW {
            slope(&self.history).unwrap_or(self.previous_trend)
        } else {
            self.previous_trend
        };
        let modified = f64::from(self.deltas.min(MAX_DELTAS)) * trend * GAIN;
        self.detect(modified, trend, since_last_ms);
        self.adapt_threshold(modified, delay.at);
        self.usage
    }

    fn detect(&mut self, modified: f64, trend: f64, since_last_ms: f64) {
        if modified > self.threshold_ms {
            let over = match self.over_for_ms {
                None => since_last_ms / 2.0,
                Some(ms) => ms + since_last_ms,
            };
            self.over_for_ms = Some(over);
            self.over_count += 1;
            if over > OVERUSE_MS && self.over_count > 1 && trend >= self.previous_trend {
                self.over_for_ms = Some(0.0);
                self.over_count = 0;
                self.usage = Usage::Over;
            }
        } else if modified < -self.threshold_ms {
            self.over_for_ms = None;
            self.over_count = 0;
            self.usage = Usage::Under;
        } else {
            self.over_for_ms = None;
            self.over_count = 0;
            self.usage = Usage::Normal;
        }
        self.previous_trend = trend;
    }

    fn adapt_threshold(&mut self, modified: f64, now: Instant) {
        let elapsed_ms = self.threshold_updated.map_or(0.0, |t| {
            now.saturating_duration_since(t).as_secs_f64() * 1e3
        });
        self.threshold_updated = Some(now);
        let magnitude = modified.abs();
        if magnitude > self.threshold_ms + MAX_ADAPT_MS {
            return;
        }
        let k = if magnitude < self.threshold_ms {
            K_DOWN
        } else {
            K_UP
        };
        self.threshold_ms += k * (magnitude - self.threshold_ms) * elapsed_ms.min(100.0);
        self.threshold_ms = self.threshold_ms.clamp(THRESHOLD_MIN_MS, THRESHOLD_MAX_MS);
    }
}

/// Least-squares slope of `points`; `None` when they have no spread in x.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sum_x, sum_y) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mean_x, mean_y) = (sum_x / n, sum_y / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        let dx = x - mean_x;
        (num + dx * (y - mean_y), den + dx * dx)
    });
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use super::*;
    use std::time::Duration;

    fn group(at: Instant, delta_ms: f64) -> InterGroupDelay {
        InterGroupDelay {
            delta_ms,
            at,
            size: 5000,
        }
    }

    /// Jitter of ±8 ms around a flat delay reads normal; a queue growing by 10 ms per
    /// 33-ms group (a link at three quarters of the rate sent) reads overuse within ten
    /// groups; a draining queue reads underuse.
    #[test]
    fn a_growing_queue_is_overuse_within_a_few_groups_and_jitter_is_not() {
        let start = Instant::now();
        let mut trend = Trendline::default();
        let mut at = start;
        for i in 0..200 {
            at += Duration::from_millis(33);
            let jitter = if i % 2 == 0 { 8.0 } else { -8.0 };
            assert_ne!(trend.update(&group(at, jitter)), Usage::Over, "group {i}");
        }
        let over_after = (0..30).find(|_| {
            at += Duration::from_millis(33);
            trend.update(&group(at, 10.0)) == Usage::Over
        });
        let over_after = over_after.expect("overuse detected");
        assert!(over_after <= 10, "after {over_after} groups");
        let under = (0..30).any(|_| {
            at += Duration::from_millis(33);
            trend.update(&group(at, -15.0)) == Usage::Under
        });
        assert!(under, "a draining queue reads underuse");
    }
}
