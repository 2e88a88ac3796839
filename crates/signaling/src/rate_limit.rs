//! A token bucket for per-connection message rates, with time passed in.

use std::time::{Duration, Instant};

/// Allows bursts of `burst` messages and a sustained `per_second`; sans-IO.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Takes one token at `now`; `false` if the bucket is empty (the message is refused).
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant as the origin of a virtual timeline
mod tests {
    use super::*;

    #[test]
    fn bursts_then_sustained_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(50, 100);
        // 1 000 messages in one second: the burst plus ~50 more get through.
        let allowed = (0..1000)
            .filter(|i| limiter.allow(start + Duration::from_millis(*i)))
            .count();
        assert!((145..=155).contains(&allowed), "{allowed}");
        // After a quiet second the bucket has refilled by 50.
        let later = start + Duration::from_secs(2);
        assert_eq!((0..100).filter(|_| limiter.allow(later)).count(), 50);
    }
}
