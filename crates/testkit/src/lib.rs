//! Test support shared by every confab crate's tests, benches and the demo: the committed
//! fixtures; the signal analysis that lets tests assert that audio *arrived* — that it
//! correlates with what was sent, at which delay, at which level and pitch; a
//! [`VirtualClock`]; and a seeded [`NetworkEmulator`] (loss, bursts, jitter, reordering,
//! duplication) for driving sans-IO cores through bad networks deterministically.
//!
//! It must not be a dependency of production code paths (only of tests, benches and
//! demos), and it never generates fixtures: `fixtures/make-fixtures.sh` does, with tools
//! nobody in this project wrote.
//!
//! ```
//! use confab_testkit::{fixtures, signal};
//!
//! let alice = fixtures::speech(fixtures::Speaker::Alice);
//! assert!(alice.len() > 48_000 * 5);
//! assert!((signal::correlation(&alice, &alice) - 1.0).abs() < 1e-9);
//! ```

mod clock;
pub mod fixtures;
pub mod netem;
pub mod relay;
pub mod signal;

pub use clock::VirtualClock;
pub use netem::{NetemConfig, NetemStats, NetworkEmulator, Rng};
pub use relay::{Relay, RelayConfig, RelayStats};
