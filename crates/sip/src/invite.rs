//! What the gateway makes of a phone's INVITE before any dialog exists, without I/O: who
//! may call (the allow-list), where the called number goes (the routing table), who calls
//! (the From header's number), and what media the offer allows.

use std::net::SocketAddr;

use confab_signaling::{Identity, PhoneRoute};
use rsipstack::sip::{HeadersExt, Request, ToTypedHeader};

use crate::config::{Checked, number_digits};
use crate::metrics::request_source;
use crate::sdp::{self, Negotiated, SdpError};

/// An INVITE the gateway will put through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The caller: `4:+<number>`, or `4:anonymous` when the From header carries none.
    pub caller: Identity,
    /// The caller's display name (at most 64 characters).
    pub display_name: String,
    /// Where the call goes.
    pub route: PhoneRoute,
    /// The media the answer will use.
    pub negotiated: Negotiated,
}

/// Why an INVITE is refused, and with which status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Its source is not on the allow-list (403).
    #[error("source {0:?} not on the allow-list")]
    Stranger(Option<SocketAddr>),
    /// No route for the number called (404).
    #[error("no route for {0:?}")]
    NoRoute(String),
    /// No SDP offer: offer-less INVITEs are not supported (488).
    #[error("no SDP offer")]
    NoOffer,
    /// The offer cannot be answered (488).
    #[error("offer refused: {0}")]
    Offer(#[from] SdpError),
}

impl Refused {
    /// The final response that refuses it.
    pub fn status(&self) -> u16 {
        match self {
            Refused::Stranger(_) => 403,
            Refused::NoRoute(_) => 404,
            Refused::NoOffer | Refused::Offer(_) => 488,
        }
    }
}

/// Decides about a new INVITE; `trunk` are the trunk's addresses (always allowed).
pub fn decide(
    request: &Request,
    checked: &Checked,
    trunk: &[SocketAddr],
) -> Result<Accepted, Refused> {
    let source = request_source(request);
    if !source.is_some_and(|s| checked.allows(s.ip(), trunk)) {
        return Err(Refused::Stranger(source));
    }
    let called = request.uri.user().unwrap_or_default();
    let route = checked
        .route_for(called)
        .cloned()
        .ok_or_else(|| Refused::NoRoute(called.chars().take(32).collect()))?;
    if request.body.is_empty() {
        return Err(Refused::NoOffer);
    }
    let offer = String::from_utf8_lossy(&request.body);
    let negotiated = sdp::negotiate(&sdp::parse(&offer)?)?;
    let from = request.from_header().ok().and_then(|f| f.typed().ok());
    let display_name = from
        .as_ref()
        .and_then(|f| f.display_name.as_deref())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let caller = from
        .as_ref()
        .and_then(|f| f.uri.user())
        .and_then(number_digits)
        .and_then(|d: String| Identity::phone(&d))
        .unwrap_or_else(Identity::anonymous_phone);
    Ok(Accepted {
        caller,
        display_name,
        route,
        negotiated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SipConfig;
    use rsipstack::sip::SipMessage;

    fn checked() -> Checked {
        let config: SipConfig = serde_json::from_str(
            r#"{"allow":["192.0.2.0/24"],
                "routes":[{"number":"+4930555000","group":"6a1f7a2e-8f7b-4b8e-9a53-3d1c1e2f4a5b"}]}"#,
        )
        .unwrap();
        config.check().unwrap()
    }

    fn invite(from_ip: &str, called: &str, from_user: &str, body: &str) -> Request {
        let text = format!(
            "INVITE sip:{called}@198.51.100.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from_ip}:5060;branch=z9hG4bK1\r\n\
             From: \"Front\u{7}desk\" <sip:{from_user}@{from_ip}>;tag=1\r\n\
             To: <sip:{called}@198.51.100.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match SipMessage::try_from(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!(),
        }
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
                         m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn an_allowed_caller_to_a_routed_number() {
        let accepted = decide(
            &invite("192.0.2.5", "+4930555000", "+15551230001", OFFER),
            &checked(),
            &[],
        )
        .unwrap();
        assert_eq!(accepted.caller.to_string(), "4:+15551230001");
        assert_eq!(accepted.display_name, "Frontdesk");
        assert!(matches!(accepted.route, PhoneRoute::Group(_)));
        let anonymous = decide(
            &invite("192.0.2.5", "+4930555000", "anonymous", OFFER),
            &checked(),
            &[],
        )
        .unwrap();
        assert_eq!(anonymous.caller.to_string(), "4:anonymous");
    }

    #[test]
    fn refusals_and_their_statuses() {
        let stranger = decide(
            &invite("203.0.113.9", "+4930555000", "+1555", OFFER),
            &checked(),
            &[],
        );
        assert_eq!(stranger.as_ref().unwrap_err().status(), 403);
        let trunk: SocketAddr = "203.0.113.9:5060".parse().unwrap();
        assert!(
            decide(
                &invite("203.0.113.9", "+4930555000", "+1555", OFFER),
                &checked(),
                &[trunk]
            )
            .is_ok()
        );
        let unrouted = decide(
            &invite("192.0.2.5", "+4930555001", "+1555", OFFER),
            &checked(),
            &[],
        );
        assert_eq!(unrouted.unwrap_err().status(), 404);
        let no_offer = decide(
            &invite("192.0.2.5", "+4930555000", "+1555", ""),
            &checked(),
            &[],
        );
        assert_eq!(no_offer.unwrap_err(), Refused::NoOffer);
        let g729 = OFFER
            .replace("RTP/AVP 0", "RTP/AVP 18")
            .replace("0 PCMU", "18 G729");
        let bad = decide(
            &invite("192.0.2.5", "+4930555000", "+1555", &g729),
            &checked(),
            &[],
        );
        assert_eq!(bad.unwrap_err().status(), 488);
    }
}
