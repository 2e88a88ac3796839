//! Media timestamps: a position on a stream's own clock, never a wall-clock reading.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A position on a media clock in microseconds from the stream's origin.
///
/// Frames carry one so that later stages (jitter buffer, mixer, recorder) can line streams
/// up without reading a clock themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaTime(u64);

impl MediaTime {
    /// The stream's origin.
    pub const ZERO: MediaTime = MediaTime(0);

    /// A time `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        MediaTime(micros)
    }

    /// A time `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        MediaTime(millis * 1000)
    }

    /// The time at which sample number `samples` starts on a `rate_hz` clock.
    pub const fn from_samples(samples: u64, rate_hz: u32) -> Self {
        MediaTime(samples * 1_000_000 / rate_hz as u64)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since the origin as a [`Duration`].
    pub const fn since_origin(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: MediaTime) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for MediaTime {
    type Output = MediaTime;
    fn add(self, rhs: Duration) -> MediaTime {
        MediaTime(self.0.saturating_add(rhs.as_micros() as u64))
    }
}

impl Sub<Duration> for MediaTime {
    type Output = MediaTime;
    fn sub(self, rhs: Duration) -> MediaTime {
        MediaTime(self.0.saturating_sub(rhs.as_micros() as u64))
    }
}

impl fmt::Display for MediaTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_positions_map_to_micros() {
        assert_eq!(
            MediaTime::from_samples(960, 48_000),
            MediaTime::from_millis(20)
        );
        assert_eq!(
            MediaTime::from_samples(160, 8_000),
            MediaTime::from_millis(20)
        );
        assert_eq!(
            MediaTime::from_millis(20) + Duration::from_millis(20),
            MediaTime::from_millis(40)
        );
        assert_eq!(
            MediaTime::from_millis(5).saturating_since(MediaTime::from_millis(9)),
            Duration::ZERO
        );
        assert_eq!(MediaTime::from_micros(1_500_000).to_string(), "1.500000s");
    }
}
