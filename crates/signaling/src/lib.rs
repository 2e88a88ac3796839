//! Call signaling for confab: what clients and the call service say to each other, and the
//! rules calls follow.
//!
//! This crate owns:
//! - [`protocol`]: the versioned JSON wire protocol (documented with an example of every
//!   message in `docs/protocol.md`), with parsing that gives each malformation its own
//!   [`ErrorCode`](protocol::ErrorCode).
//! - The [`CallState`] and [`ParticipantState`] machines, and [`EndReason`]s.
//! - [`Identity`] (users, bots, phones, the echo service), signed expiring tokens
//!   ([`TokenKey`]) with [`Scope`]s, call [`Role`]s and [`authorize`], the one place every
//!   action is checked.
//! - [`Switchboard`]: the sans-IO core of the signaling service — sessions, calls, rosters,
//!   ringing, lobby — fed messages and the time, drained of messages to send.
//! - [`client`]: a WebSocket client for bots, the CLI and tests.
//!
//! It must not do media: SDP and candidates pass through it to the media plane as
//! [`MediaCommand`]s. The switchboard reads no clock and owns no socket.
//!
//! ```
//! use confab_signaling::{Identity, Scope, TokenKey};
//!
//! let key = TokenKey::from_secret(&[42; 32])?;
//! let bot: Identity = "28:recorder".parse()?;
//! let token = key.mint(&bot, &[Scope::Bot], 1_700_000_000, 3600)?;
//! let claims = key.authenticate(&token, &bot, &[Scope::Bot], 1_700_000_100)?;
//! assert_eq!(claims.sub, bot);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
mod identity;
pub mod protocol;
mod rate_limit;
mod roles;
mod state;
mod switchboard;
pub mod tls;
mod token;

pub use identity::{Identity, IdentityError};
pub use rate_limit::RateLimiter;
pub use roles::{Action, Role, authorize};
pub use state::call_state::{CallEvent, CallState, InvalidCallTransition};
pub use state::end_reason::{EndKind, EndReason};
pub use state::participant_state::{
    InvalidParticipantTransition, ParticipantEvent, ParticipantState,
};
pub use switchboard::{
    CallSummary, ConnectionId, MAX_DTMF_DIGITS, MediaCommand, Output, PhoneCommand, PhoneRefusal,
    PhoneRoute, Switchboard, SwitchboardConfig,
};
pub use token::{Claims, ISSUER, Scope, TokenError, TokenKey, token_identity};
