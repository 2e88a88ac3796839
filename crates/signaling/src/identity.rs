//! Who is who: users `8:confab:<uuid>`, bots `28:<app>`, phones `4:+<E.164>` and the echo
//! test service `8:echo123`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// An identity that can be called, join calls and hold tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// A person using the browser client or a native app: `8:confab:<uuid>`.
    User(Uuid),
    /// A bot application: `28:<app>` (lowercase letters, digits, `-`, `_`, `.`; 1–64).
    Bot(String),
    /// A phone number reached through the SIP trunk: `4:+<E.164 digits>`; a caller whose
    /// number is withheld is `4:anonymous` (empty digits).
    Phone(String),
    /// The echo test service: `8:echo123`.
    EchoService,
}

/// An identity string that is none of the four forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an identity: {0:?} (expected 8:confab:<uuid>, 28:<app>, 4:+<E.164> or 8:echo123)")]
pub struct IdentityError(pub String);

impl Identity {
    /// A new random user identity.
    pub fn new_user() -> Identity {
        Identity::User(Uuid::new_v4())
    }

    /// Whether this identity is a bot (or the echo service, which is one).
    pub fn is_bot(&self) -> bool {
        matches!(self, Identity::Bot(_) | Identity::EchoService)
    }

    /// Whether this identity is reached over the phone network.
    pub fn is_phone(&self) -> bool {
        matches!(self, Identity::Phone(_))
    }

    /// A phone caller whose number is withheld or not a telephone number: `4:anonymous`.
    /// It can call in but cannot be dialled.
    pub fn anonymous_phone() -> Identity {
        Identity::Phone(String::new())
    }

    /// A phone identity from digits, if they are an E.164 number (no `+`).
    pub fn phone(digits: &str) -> Option<Identity> {
        valid_e164(digits).then(|| Identity::Phone(digits.to_string()))
    }
}

fn valid_app(app: &str) -> bool {
    (1..=64).contains(&app.len())
        && app
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

fn valid_e164(digits: &str) -> bool {
    // E.164: at most 15 digits, the country code never starts with 0.
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

impl FromStr for Identity {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Identity, IdentityError> {
        let bad = || IdentityError(s.chars().take(80).collect());
        if s == "8:echo123" {
            return Ok(Identity::EchoService);
        }
        if s == "4:anonymous" {
            return Ok(Identity::anonymous_phone());
        }
        if let Some(uuid) = s.strip_prefix("8:confab:") {
            return Uuid::parse_str(uuid).map(Identity::User).map_err(|_| bad());
        }
        if let Some(app) = s.strip_prefix("28:") {
            return if valid_app(app) {
                Ok(Identity::Bot(app.to_string()))
            } else {
                Err(bad())
            };
        }
        if let Some(number) = s.strip_prefix("4:+") {
            return if valid_e164(number) {
                Ok(Identity::Phone(number.to_string()))
            } else {
                Err(bad())
            };
        }
        Err(bad())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::User(uuid) => write!(f, "8:confab:{}", uuid.hyphenated()),
            Identity::Bot(app) => write!(f, "28:{app}"),
            Identity::Phone(digits) if digits.is_empty() => f.write_str("4:anonymous"),
            Identity::Phone(digits) => write!(f, "4:+{digits}"),
            Identity::EchoService => f.write_str("8:echo123"),
        }
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Identity, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        for s in [
            "8:confab:3f1c2a9e-5b7d-4c1e-9a2b-0d6e8f7a1b2c",
            "28:recorder",
            "28:acme-notes.v2",
            "4:+14155550123",
            "4:anonymous",
            "8:echo123",
        ] {
            let id: Identity = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), id);
        }
        assert!("28:recorder".parse::<Identity>().unwrap().is_bot());
        assert!("4:+441632960961".parse::<Identity>().unwrap().is_phone());
    }

    #[test]
    fn malformed_identities_are_refused() {
        for s in [
            "",
            "8:confab:not-a-uuid",
            "28:",
            "28:Upper",
            "28:has space",
            "4:14155550123",
            "4:+0123",
            "4:+1234567890123456",
            "4:+12a",
            "9:someone",
            "8:echo1234",
        ] {
            assert!(s.parse::<Identity>().is_err(), "{s:?} was accepted");
        }
        assert!(serde_json::from_str::<Identity>("\"28:\"").is_err());
        assert!(serde_json::from_str::<Identity>("42").is_err());
    }
}
