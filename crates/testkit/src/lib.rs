//! Test support shared by every confab crate's tests, benches and the demo: the committed
//! fixtures, and the signal analysis that lets tests assert that audio *arrived* — that
//! it correlates with what was sent, at which delay, at which level and pitch.
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

pub mod fixtures;
pub mod signal;
