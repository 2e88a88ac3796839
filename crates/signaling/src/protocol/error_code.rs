//! Stable error codes on the wire.

use serde::{Deserialize, Serialize};

use crate::TokenError;

/// Why a request failed. Serialised in snake_case; codes never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not JSON (or not a JSON object).
    InvalidJson,
    /// `v` is missing or not a version this server speaks.
    UnsupportedVersion,
    /// `type` is missing or names no message.
    UnknownType,
    /// A known type with missing or ill-typed fields.
    InvalidMessage,
    /// Over [`MAX_MESSAGE_BYTES`](crate::protocol::MAX_MESSAGE_BYTES).
    MessageTooLarge,
    /// Too many messages too fast; slow down.
    RateLimited,
    /// Anything but `hello` before `hello` succeeded.
    NotAuthenticated,
    /// A second `hello` on one connection.
    AlreadyAuthenticated,
    /// The token is not a well-formed confab JWT.
    TokenMalformed,
    /// The token's signature does not verify.
    TokenInvalidSignature,
    /// The token has expired.
    TokenExpired,
    /// The token lacks a scope this needs.
    TokenScope,
    /// The token names another identity than the one in `hello`.
    TokenIdentityMismatch,
    /// The token was issued by someone else.
    TokenIssuer,
    /// The caller's role in the call does not allow this.
    Forbidden,
    /// No such call (or it ended).
    CallNotFound,
    /// No such participant in that call.
    ParticipantNotFound,
    /// The caller is not in that call.
    NotInCall,
    /// Not possible in the current state (e.g. accepting a call already answered).
    InvalidState,
    /// The identity is signed in on as many connections as allowed already.
    TooManySessions,
    /// The connection did not sign in (`hello`) within the service's deadline.
    HelloTimeout,
    /// Something went wrong inside the service.
    Internal,
}

impl From<&TokenError> for ErrorCode {
    fn from(e: &TokenError) -> ErrorCode {
        match e {
            TokenError::Malformed(_) => ErrorCode::TokenMalformed,
            TokenError::BadSignature => ErrorCode::TokenInvalidSignature,
            TokenError::Expired { .. } => ErrorCode::TokenExpired,
            TokenError::WrongIssuer => ErrorCode::TokenIssuer,
            TokenError::MissingScope(_) => ErrorCode::TokenScope,
            TokenError::IdentityMismatch { .. } => ErrorCode::TokenIdentityMismatch,
        }
    }
}

/// The most characters of an error message sent to a client: messages may quote what the
/// client sent (an id, a kind), and a reply must never echo unbounded input back.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 200;

/// `message`, cut to [`MAX_ERROR_MESSAGE_CHARS`] (with "…" where it was cut).
pub fn bounded_message(message: String) -> String {
    match message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        None => message,
        Some((cut, _)) => {
            let mut bounded = message[..cut].to_owned();
            bounded.push('…');
            bounded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_short_ones_kept() {
        assert_eq!(bounded_message("no call x".into()), "no call x");
        let long = "é".repeat(10_000);
        let cut = bounded_message(long);
        assert_eq!(cut.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
