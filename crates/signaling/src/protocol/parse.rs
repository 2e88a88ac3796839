//! Envelopes, and turning text frames into typed messages with precise errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ClientMessage, ErrorCode, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMessage};

/// A client message with its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientEnvelope {
    /// Protocol version.
    pub v: u32,
    /// Request id; the answer carries it as `re`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The message.
    #[serde(flatten)]
    pub message: ClientMessage,
}

impl ClientEnvelope {
    /// `message` in the current version, with request id `id`.
    pub fn new(id: Option<u64>, message: ClientMessage) -> Self {
        ClientEnvelope {
            v: PROTOCOL_VERSION,
            id,
            message,
        }
    }

    /// The JSON text to send.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A server message with its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerEnvelope {
    /// Protocol version.
    pub v: u32,
    /// The request this answers, for `ok` and `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<u64>,
    /// The message.
    #[serde(flatten)]
    pub message: ServerMessage,
}

impl ServerEnvelope {
    /// An event (no `re`).
    pub fn event(message: ServerMessage) -> Self {
        ServerEnvelope {
            v: PROTOCOL_VERSION,
            re: None,
            message,
        }
    }

    /// An answer to request `re`.
    pub fn reply(re: Option<u64>, message: ServerMessage) -> Self {
        ServerEnvelope {
            v: PROTOCOL_VERSION,
            re,
            message,
        }
    }

    /// The JSON text to send.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A frame that could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    /// The stable code.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
    /// The request id, when it could still be read, so the error answers the request.
    pub re: Option<u64>,
}

impl ProtocolError {
    fn new(code: ErrorCode, message: impl Into<String>, re: Option<u64>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            re,
        }
    }
}

/// Checks size, JSON, version and type before the typed parse, so each failure gets its own
/// code. Returns the object, its request id and its type.
fn envelope<'a>(
    text: &str,
    id_field: &str,
    known: &'a [&'a str],
) -> Result<(Value, Option<u64>, &'a str), ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::MessageTooLarge,
            format!("{} bytes; the limit is {MAX_MESSAGE_BYTES}", text.len()),
            None,
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::InvalidJson, e.to_string(), None))?;
    let Some(object) = value.as_object() else {
        return Err(ProtocolError::new(
            ErrorCode::InvalidJson,
            "not a JSON object",
            None,
        ));
    };
    let id = object.get(id_field).and_then(Value::as_u64);
    match object.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedVersion,
                format!("version {v}; this server speaks {PROTOCOL_VERSION}"),
                id,
            ));
        }
        None => {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedVersion,
                "missing `v`",
                id,
            ));
        }
    }
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(kind) = known.iter().copied().find(|k| *k == kind) else {
        let shown: String = kind.chars().take(40).collect();
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown type {shown:?}"),
            id,
        ));
    };
    Ok((value, id, kind))
}

/// Parses one text frame from a client.
pub fn parse_client(text: &str) -> Result<ClientEnvelope, ProtocolError> {
    let (value, id, kind) = envelope(text, "id", ClientMessage::TYPES)?;
    serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::InvalidMessage, format!("{kind}: {e}"), id))
}

/// Parses one text frame from the server.
pub fn parse_server(text: &str) -> Result<ServerEnvelope, ProtocolError> {
    let (value, re, kind) = envelope(text, "re", ServerMessage::TYPES)?;
    serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::InvalidMessage, format!("{kind}: {e}"), re))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CallId;

    #[test]
    fn each_malformation_has_its_own_code() {
        let cases = [
            ("{not json", ErrorCode::InvalidJson),
            ("[1,2]", ErrorCode::InvalidJson),
            (r#"{"type":"ping"}"#, ErrorCode::UnsupportedVersion),
            (r#"{"v":2,"type":"ping"}"#, ErrorCode::UnsupportedVersion),
            (r#"{"v":1,"type":"teleport"}"#, ErrorCode::UnknownType),
            (r#"{"v":1}"#, ErrorCode::UnknownType),
            (r#"{"v":1,"type":"leave"}"#, ErrorCode::InvalidMessage),
            (
                r#"{"v":1,"type":"leave","call_id":"nope"}"#,
                ErrorCode::InvalidMessage,
            ),
            (
                r#"{"v":1,"type":"mute_self","call_id":"6a1f7a2e-8f7b-4b8e-9a53-3d1c1e2f4a5b","muted":"yes"}"#,
                ErrorCode::InvalidMessage,
            ),
        ];
        for (text, code) in cases {
            assert_eq!(parse_client(text).unwrap_err().code, code, "{text}");
        }
        let big = format!(
            r#"{{"v":1,"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(
            parse_client(&big).unwrap_err().code,
            ErrorCode::MessageTooLarge
        );
    }

    #[test]
    fn request_ids_survive_errors_and_round_trips() {
        let err = parse_client(r#"{"v":1,"id":42,"type":"leave"}"#).unwrap_err();
        assert_eq!(err.re, Some(42));
        let msg = ClientEnvelope::new(
            Some(7),
            ClientMessage::Leave {
                call_id: CallId::new(),
            },
        );
        assert_eq!(parse_client(&msg.to_json()).unwrap(), msg);
        let reply = ServerEnvelope::reply(Some(7), ServerMessage::Pong);
        assert_eq!(parse_server(&reply.to_json()).unwrap(), reply);
    }

    #[test]
    fn a_call_placed_to_resume_another_names_it_only_then() {
        let to = r#""to":"28:bob""#;
        let plain = parse_client(&format!(r#"{{"v":1,"type":"place_call",{to}}}"#)).unwrap();
        assert!(matches!(
            plain.message,
            ClientMessage::PlaceCall { resumes: None, .. }
        ));
        assert!(!plain.to_json().contains("resumes"), "{}", plain.to_json());
        let lost = CallId::new();
        let resuming = parse_client(&format!(
            r#"{{"v":1,"type":"place_call",{to},"resumes":"{}"}}"#,
            lost.0
        ))
        .unwrap();
        assert!(matches!(
            resuming.message,
            ClientMessage::PlaceCall { resumes: Some(c), .. } if c == lost
        ));
        assert_eq!(parse_client(&resuming.to_json()).unwrap(), resuming);
        let bad = format!(r#"{{"v":1,"type":"place_call",{to},"resumes":"yesterday"}}"#);
        assert_eq!(
            parse_client(&bad).unwrap_err().code,
            ErrorCode::InvalidMessage
        );
    }
}
