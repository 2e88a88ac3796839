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

    /// A full bucket of `burst` refilled at `count` tokens every `period` (e.g. 20 a
    /// minute).
    pub fn per_period(count: u32, burst: u32, period: Duration) -> Self {
        RateLimiter {
            per_second: f64::from(count) / period.as_secs_f64().max(f64::MIN_POSITIVE),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Takes one token at `now`; `false` if the bucket is empty (the message is refused).
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is free at `now`, without taking one: `None` if one is free
    /// now (a bucket that counts failures is checked with this before the attempt).
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            None
        } else if self.per_second > 0.0 {
            Some(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        } else {
            Some(Duration::MAX)
        }
    }

    /// Whether the bucket would be full at `now` (nothing left to remember about its user).
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::MAX, |last| now.saturating_duration_since(last));
        self.tokens + elapsed.as_secs_f64() * self.per_second >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
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

    #[test]
    fn wait_says_when_the_next_token_comes_without_taking_one() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2, 3);
        assert_eq!(limiter.wait(start), None);
        assert_eq!(limiter.wait(start), None, "waiting takes nothing");
        assert!((0..3).all(|_| limiter.allow(start)));
        assert!(!limiter.is_full(start));
        let wait = limiter.wait(start).unwrap();
        assert!(
            wait > Duration::from_millis(490) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert_eq!(limiter.wait(start + wait), None);
        assert!(limiter.is_full(start + Duration::from_millis(1500)));
        assert_eq!(RateLimiter::new(0, 1).wait(start), None);
        let mut never = RateLimiter::new(0, 1);
        assert!(never.allow(start));
        assert_eq!(never.wait(start), Some(Duration::MAX));
    }
}
