//! DTMF digits as phones carry them: RFC 4733 telephone-event payloads in RTP, and SIP INFO
//! bodies (`application/dtmf-relay`, `application/dtmf`) where a peer does not do RFC 4733.

use std::fmt;

/// One DTMF key: `0`–`9`, `*`, `#`, `A`–`D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

/// Not a DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a DTMF digit: {0:?}")]
pub struct NotADigit(pub char);

impl Digit {
    /// The key for a character (letters in either case).
    pub fn new(c: char) -> Result<Digit, NotADigit> {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
            Ok(Digit(c))
        } else {
            Err(NotADigit(c))
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }

    /// The RFC 4733 event code (0–9, `*` 10, `#` 11, A–D 12–15).
    pub fn event(self) -> u8 {
        match self.0 {
            '*' => 10,
            '#' => 11,
            'A'..='D' => self.0 as u8 - b'A' + 12,
            d => d as u8 - b'0',
        }
    }

    /// The key of an RFC 4733 event code (other events, like flash, are not keys).
    pub fn from_event(event: u8) -> Option<Digit> {
        let c = match event {
            0..=9 => char::from(b'0' + event),
            10 => '*',
            11 => '#',
            12..=15 => char::from(b'A' + event - 12),
            _ => return None,
        };
        Some(Digit(c))
    }

    /// Parses a string of keys (at most `max`), refusing anything else.
    pub fn parse_all(digits: &str, max: usize) -> Result<Vec<Digit>, NotADigit> {
        let keys: Vec<Digit> = digits.chars().map(Digit::new).collect::<Result<_, _>>()?;
        if keys.len() > max {
            return Err(NotADigit('…'));
        }
        Ok(keys)
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One RFC 4733 telephone-event payload (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code.
    pub event: u8,
    /// The last packet(s) of the event.
    pub end: bool,
    /// Power level, 0 to −63 dBm0 (as a positive number).
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first four bytes of a payload (later bytes would be redundant events).
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let b = payload.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The four payload bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A digit and how long it was held, read from a SIP INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    /// The key.
    pub digit: Digit,
    /// How long, in milliseconds, when the body says.
    pub duration_ms: Option<u32>,
}

/// Reads a SIP INFO body: `application/dtmf-relay` (`Signal=5` / `Duration=160` lines) or
/// `application/dtmf` (the bare key). `None` when the body carries no key.
pub fn parse_info(content_type: &str, body: &str) -> Option<InfoDigit> {
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration_ms = None;
            for line in body.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                let value = value.trim();
                match key.trim().to_ascii_lowercase().as_str() {
                    "signal" => {
                        let mut chars = value.chars();
                        digit = match (chars.next(), chars.next()) {
                            (Some(c), None) => Digit::new(c).ok(),
                            // Some phones send the event code for * and #.
                            _ => value.parse().ok().and_then(Digit::from_event),
                        };
                    }
                    "duration" => duration_ms = value.parse().ok(),
                    _ => {}
                }
            }
            Some(InfoDigit {
                digit: digit?,
                duration_ms,
            })
        }
        "application/dtmf" => {
            let value = body.trim();
            let mut chars = value.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(c), None) => Digit::new(c).ok(),
                _ => value.parse().ok().and_then(Digit::from_event),
            }?;
            Some(InfoDigit {
                digit,
                duration_ms: None,
            })
        }
        _ => None,
    }
}

/// The `application/dtmf-relay` body for one key.
pub fn info_body(digit: Digit, duration_ms: u32) -> String {
    format!("Signal={digit}\r\nDuration={duration_ms}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_event_codes() {
        for (c, code) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('d', 15),
        ] {
            let d = Digit::new(c).unwrap();
            assert_eq!(d.event(), code);
            assert_eq!(Digit::from_event(code), Some(d));
        }
        assert_eq!(Digit::from_event(16), None); // flash
        assert!(Digit::new('e').is_err());
        assert!(Digit::new(' ').is_err());
        assert_eq!(Digit::parse_all("12#", 32).unwrap().len(), 3);
        assert!(Digit::parse_all("12x", 32).is_err());
        assert!(Digit::parse_all("1234", 3).is_err());
    }

    #[test]
    fn telephone_event_payloads() {
        // RFC 4733 §2.3: event 5, end bit, volume 10, duration 1280.
        let bytes = [5, 0x8A, 0x05, 0x00];
        let e = TelephoneEvent::parse(&bytes).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 1280
            }
        );
        assert_eq!(e.to_bytes(), bytes);
        assert_eq!(TelephoneEvent::parse(&[5, 0x8A, 0x05]), None);
    }

    #[test]
    fn info_bodies() {
        let d = parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n").unwrap();
        assert_eq!((d.digit.as_char(), d.duration_ms), ('5', Some(160)));
        let star = parse_info("Application/DTMF-Relay; x=y", "Signal= *\nDuration= 250").unwrap();
        assert_eq!(star.digit.as_char(), '*');
        let hash_code = parse_info("application/dtmf-relay", "Signal=11\r\n").unwrap();
        assert_eq!(hash_code.digit.as_char(), '#');
        assert_eq!(
            parse_info("application/dtmf", "7\r\n")
                .unwrap()
                .digit
                .as_char(),
            '7'
        );
        assert_eq!(parse_info("application/dtmf-relay", "Duration=100"), None);
        assert_eq!(parse_info("application/dtmf-relay", "Signal=x"), None);
        assert_eq!(parse_info("text/plain", "Signal=5"), None);
        assert_eq!(parse_info("application/dtmf", ""), None);
        let body = info_body(Digit::new('#').unwrap(), 100);
        assert_eq!(
            parse_info("application/dtmf-relay", &body)
                .unwrap()
                .digit
                .as_char(),
            '#'
        );
    }
}
