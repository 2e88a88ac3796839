//! Extending wrapping RTP counters (16-bit sequence numbers, 32-bit timestamps) to u64.

/// Turns a wrapping counter of `BITS` bits into a monotonic-ish u64: each value is placed
/// closest to the previous one, so wraps forwards and small steps backwards both work.
#[derive(Debug, Clone, Default)]
pub struct Unwrapper<const BITS: u32> {
    last: Option<u64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    const MODULUS: u64 = 1 << BITS;

    /// A fresh unwrapper; the first value is placed one full cycle up, so that values just
    /// before it remain representable.
    pub fn new() -> Self {
        Unwrapper { last: None }
    }

    /// The extended value of `value` (only its low `BITS` bits are used).
    pub fn unwrap(&mut self, value: u64) -> u64 {
        let value = value & (Self::MODULUS - 1);
        let extended = match self.last {
            None => Self::MODULUS + value,
            Some(last) => {
                let base = last & !(Self::MODULUS - 1);
                [base.wrapping_sub(Self::MODULUS), base, base + Self::MODULUS]
                    .into_iter()
                    .map(|b| b.wrapping_add(value))
                    .min_by_key(|&c| c.abs_diff(last))
                    .unwrap_or(base + value)
            }
        };
        if self.last.is_none_or(|last| extended > last) {
            self.last = Some(extended);
        }
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_wrap_forwards_and_step_back() {
        let mut u = Unwrapper::<16>::new();
        let a = u.unwrap(65_534);
        assert_eq!(u.unwrap(65_535), a + 1);
        assert_eq!(u.unwrap(0), a + 2);
        assert_eq!(u.unwrap(1), a + 3);
        assert_eq!(
            u.unwrap(65_535),
            a + 1,
            "a late packet from before the wrap"
        );
        assert_eq!(u.unwrap(2), a + 4);
    }

    #[test]
    fn timestamps_wrap() {
        let mut u = Unwrapper::<32>::new();
        let a = u.unwrap(u64::from(u32::MAX - 959));
        assert_eq!(u.unwrap(0), a + 960);
    }
}
