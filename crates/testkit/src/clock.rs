//! A virtual clock: tests move time by hand and sans-IO cores see only what they are given.

use std::time::{Duration, Instant};

/// Time that only moves when told to. Starts at a real `Instant` (cores need one) and
/// never reads the system clock again.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    origin: Instant,
    now: Instant,
}

impl VirtualClock {
    /// A clock at its origin.
    #[allow(clippy::disallowed_methods)] // the one real reading, for an origin
    pub fn new() -> Self {
        let origin = Instant::now();
        VirtualClock {
            origin,
            now: origin,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time since the origin.
    pub fn elapsed(&self) -> Duration {
        self.now - self.origin
    }

    /// Moves time forward.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Moves time to `at` (never backwards).
    pub fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}
