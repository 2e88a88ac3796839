//! The wire protocol: versioned JSON messages over WebSocket, one message per text frame.
//!
//! Every message is an object with `v` (the protocol version), `type`, and the type's
//! fields. Client requests may carry an `id`; the server's `ok` or `error` answer carries
//! it back as `re`. Events from the server carry no `re`. `docs/protocol.md` shows one
//! example of every message; a test parses them all.

mod client;
mod error_code;
mod parse;
mod server;
mod types;

pub use client::ClientMessage;
pub use error_code::{ErrorCode, MAX_ERROR_MESSAGE_CHARS, bounded_message};
pub use parse::{ClientEnvelope, ProtocolError, ServerEnvelope, parse_client, parse_server};
pub use server::ServerMessage;
pub use types::{
    CallId, Departure, IceCandidate, ParticipantId, RosterEntry, SlotAssignment, SlotKind,
};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest message accepted, in bytes of JSON text.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
