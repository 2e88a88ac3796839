//! Estimating how much delay the network's jitter needs, NetEq-style: a high percentile of
//! recent relative transit times.

use std::collections::VecDeque;
use std::time::Duration;

/// Tracks `percentile` of the relative transit delay over the last `window` packets.
///
/// Relative transit = arrival time − media time of the packet (both from the stream's
/// first packet). Its minimum over the window is the fastest path; the spread above it
/// is jitter. The estimate drops again once jittered packets leave the window.
#[derive(Debug, Clone)]
pub struct DelayEstimator {
    window: usize,
    percentile: f64,
    transits: VecDeque<i64>,
    sorted: Vec<i64>,
}

impl DelayEstimator {
    /// An estimator over the last `window` packets at `percentile` (e.g. 0.95).
    pub fn new(window: usize, percentile: f64) -> Self {
        DelayEstimator {
            window: window.max(2),
            percentile: percentile.clamp(0.5, 1.0),
            transits: VecDeque::with_capacity(window),
            sorted: Vec::with_capacity(window),
        }
    }

    /// Records one packet: arrival and media time, in microseconds since the stream began.
    pub fn record(&mut self, arrival_us: i64, media_us: i64) {
        let transit = arrival_us - media_us;
        if self.transits.len() == self.window
            && let Some(old) = self.transits.pop_front()
            && let Ok(at) = self.sorted.binary_search(&old)
        {
            self.sorted.remove(at);
        }
        self.transits.push_back(transit);
        let at = self.sorted.partition_point(|&t| t < transit);
        self.sorted.insert(at, transit);
    }

    /// The jitter the window saw: `percentile` transit above the minimum.
    pub fn jitter(&self) -> Duration {
        let (Some(&min), false) = (self.sorted.first(), self.sorted.is_empty()) else {
            return Duration::ZERO;
        };
        let rank = ((self.sorted.len() - 1) as f64 * self.percentile).round() as usize;
        let high = self.sorted[rank.min(self.sorted.len() - 1)];
        Duration::from_micros((high - min).max(0) as u64)
    }

    /// The fastest relative transit in the window (µs): when a packet would arrive by the
    /// quickest path seen, relative to the stream's first packet.
    pub fn fastest_transit_us(&self) -> Option<i64> {
        self.sorted.first().copied()
    }

    /// Forgets everything (a new stream).
    pub fn reset(&mut self) {
        self.transits.clear();
        self.sorted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_over_a_sliding_window() {
        let mut e = DelayEstimator::new(100, 0.95);
        for i in 0..100 {
            // Every tenth packet 50 ms late.
            let late = if i % 10 == 0 { 50_000 } else { 0 };
            e.record(i * 20_000 + 30_000 + late, i * 20_000);
        }
        assert_eq!(e.jitter(), Duration::from_millis(50));
        for i in 100..200 {
            e.record(i * 20_000 + 30_000, i * 20_000);
        }
        assert_eq!(e.jitter(), Duration::ZERO, "the window forgot the jitter");
    }
}
