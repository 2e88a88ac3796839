//! The adaptive audio jitter buffer.

mod buffer;
mod delay;
mod unwrap;

pub use buffer::{AudioPacket, JitterBuffer, JitterConfig, JitterStats, Playout};
pub use delay::DelayEstimator;
pub use unwrap::Unwrapper;
