//! Abuse limits at the HTTP edge: token buckets keyed by source address (guest sign-ins,
//! WebSocket connects, wrong admin keys) or by identity (token issuing), and the 429 reply.
//! Time is passed in; the maps forget a key once its bucket has refilled, so a flood of
//! distinct addresses costs bounded memory.

use std::collections::HashMap;
use std::hash::Hash;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_signaling::RateLimiter;

/// Keys remembered before the refilled ones are forgotten.
const PRUNE_AT: usize = 10_000;
/// Keys remembered at most: past this even half-empty buckets are forgotten (a flood from
/// that many addresses at once is beyond what per-address limits can answer).
const MAX_KEYS: usize = 100_000;

/// One token bucket per key.
#[derive(Debug)]
pub(crate) struct KeyedLimiter<K> {
    per_second: u32,
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<K, RateLimiter>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `burst` at once, then `per_minute` sustained.
    pub(crate) fn per_minute(burst: u32, per_minute: u32) -> Self {
        KeyedLimiter {
            per_second: 0,
            per_minute,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `burst` at once, then `per_second` sustained.
    pub(crate) fn per_second(burst: u32, per_second: u32) -> Self {
        KeyedLimiter {
            per_second,
            per_minute: 0,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`, or says how long to wait.
    pub(crate) fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |bucket| match bucket.wait(now) {
            None => {
                bucket.allow(now);
                Ok(())
            }
            Some(wait) => Err(wait),
        })
    }

    /// Whether `key` has a token left at `now`, without taking it (for buckets that count
    /// failures, checked before the attempt).
    pub(crate) fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |bucket| bucket.wait(now).map_or(Ok(()), Err))
    }

    fn with_bucket<T>(&self, key: &K, now: Instant, f: impl FnOnce(&mut RateLimiter) -> T) -> T {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= MAX_KEYS {
                tracing::warn!(keys = buckets.len(), "rate-limit table full: forgetting it");
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert_with(|| self.bucket());
        f(bucket)
    }

    fn bucket(&self) -> RateLimiter {
        if self.per_minute > 0 {
            // A token every 60/per_minute seconds: a bucket in tokens per minute is the same
            // bucket with its clock running sixty times slower.
            RateLimiter::per_period(self.per_minute, self.burst, Duration::from_secs(60))
        } else {
            RateLimiter::new(self.per_second, self.burst)
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // a real instant as the origin
mod tests {
    use std::net::IpAddr;

    use super::super::ClientAddr;
    use super::*;

    #[test]
    fn each_key_has_its_own_bucket() {
        let now = Instant::now();
        let limiter = KeyedLimiter::per_minute(3, 60);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.take(&a, now).is_ok()));
        let wait = limiter.take(&a, now).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limiter.take(&b, now).is_ok(),
            "another address is not held up"
        );
        assert!(limiter.take(&a, now + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn check_takes_nothing() {
        let now = Instant::now();
        let limiter = KeyedLimiter::per_second(1, 1);
        assert!(limiter.check(&1u8, now).is_ok());
        assert!(limiter.check(&1u8, now).is_ok());
        assert!(limiter.take(&1u8, now).is_ok());
        assert!(limiter.check(&1u8, now).is_err());
    }

    #[test]
    fn a_flood_of_addresses_is_forgotten_once_refilled() {
        let now = Instant::now();
        let limiter = KeyedLimiter::per_second(5, 1);
        for i in 0..PRUNE_AT as u32 {
            limiter.take(&i, now).unwrap();
        }
        assert_eq!(limiter.len(), PRUNE_AT);
        // Five seconds later every bucket has refilled: the next new key prunes them all.
        limiter
            .take(&u32::MAX, now + Duration::from_secs(5))
            .unwrap();
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn ipv6_hosts_are_keyed_by_their_64() {
        let one = ClientAddr("[2001:db8:1:2:aaaa::1]:5000".parse().unwrap());
        let two = ClientAddr("[2001:db8:1:2:bbbb::9]:6000".parse().unwrap());
        let other = ClientAddr("[2001:db8:1:3::1]:5000".parse().unwrap());
        assert_eq!(one.key(), two.key());
        assert_ne!(one.key(), other.key());
        let mapped = ClientAddr("[::ffff:192.0.2.7]:1".parse().unwrap());
        assert_eq!(mapped.key(), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
