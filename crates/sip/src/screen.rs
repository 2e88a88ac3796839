//! The first look at every datagram on the SIP port, before the SIP stack's: garbage is
//! counted and dropped, and a request too broken to handle gets `400 Bad Request` (RFC 3261
//! §8.2) when it names enough of itself to be answered — the stack would drop it silently.

use rsipstack::sip::{HeadersExt, SipMessage};

/// What to do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A SIP message (or a keep-alive): on to the stack.
    Pass,
    /// Not SIP, or a broken response or ACK: dropped.
    Drop,
    /// A broken request: send this 400 back to its source.
    BadRequest(Vec<u8>),
}

/// Most bytes of a header copied into a 400.
const MAX_ECHOED: usize = 512;

/// Looks at one datagram.
pub fn screen(datagram: &[u8]) -> Verdict {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        // Keep-alives (RFC 5626 CRLFs) are the stack's business.
        return if datagram.is_empty() {
            Verdict::Drop
        } else {
            Verdict::Pass
        };
    }
    match SipMessage::try_from(datagram) {
        Ok(SipMessage::Request(request)) => {
            let complete = request.via_header().is_ok()
                && request.call_id_header().is_ok()
                && request.from_header().is_ok()
                && request.to_header().is_ok()
                && request
                    .cseq_header()
                    .ok()
                    .and_then(|c| c.seq().ok())
                    .is_some();
            if complete {
                Verdict::Pass
            } else {
                bad_request(datagram)
            }
        }
        Ok(SipMessage::Response(response)) => {
            if response.via_header().is_ok() && response.cseq_header().is_ok() {
                Verdict::Pass
            } else {
                Verdict::Drop
            }
        }
        Err(_) => bad_request(datagram),
    }
}

/// A 400 for a datagram whose first line is a request line and which carries a Via (to
/// route the answer) and the other headers a response echoes; otherwise nothing.
fn bad_request(datagram: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(datagram);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let Some(first) = lines.next() else {
        return Verdict::Drop;
    };
    let mut parts = first.split(' ');
    let (Some(method), Some(_uri), Some("SIP/2.0")) = (parts.next(), parts.next(), parts.next())
    else {
        return Verdict::Drop;
    };
    if method == "ACK" || method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Verdict::Drop;
    }
    let mut echoed: Vec<(&str, &str)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let canonical = match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        let value = value.trim();
        if value.len() > MAX_ECHOED || value.chars().any(char::is_control) {
            continue;
        }
        echoed.push((canonical, value));
    }
    if !echoed.iter().any(|(n, _)| *n == "Via") {
        return Verdict::Drop;
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (_, value) in echoed.iter().filter(|(n, _)| *n == name) {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Verdict::BadRequest(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:confab@127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1928301774\r\n\
        To: <sip:confab@127.0.0.1>\r\nCall-ID: a84b4c76e66710@127.0.0.1\r\n\
        CSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn good_messages_and_keepalives_pass() {
        assert_eq!(screen(OPTIONS.as_bytes()), Verdict::Pass);
        assert_eq!(screen(b"\r\n\r\n"), Verdict::Pass);
        let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
            Content-Length: 0\r\n\r\n";
        assert_eq!(screen(response.as_bytes()), Verdict::Pass);
    }

    #[test]
    fn garbage_is_dropped() {
        for junk in [
            &b""[..],
            b"\x00\x01\x02",
            b"hello world",
            b"SIP/2.0 banana",
            &[0xFF; 300],
        ] {
            assert_eq!(screen(junk), Verdict::Drop, "{junk:?}");
        }
        // A broken ACK is never answered.
        let ack = OPTIONS
            .replace("OPTIONS sip", "ACK sip")
            .replace("CSeq: 63104 OPTIONS", "CSeq: x");
        assert_eq!(screen(ack.as_bytes()), Verdict::Drop);
    }

    #[test]
    fn a_broken_request_gets_a_400_that_echoes_its_headers() {
        let broken = OPTIONS.replace("CSeq: 63104 OPTIONS", "CSeq: many OPTIONS");
        let Verdict::BadRequest(reply) = screen(broken.as_bytes()) else {
            panic!("{:?}", screen(broken.as_bytes()));
        };
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("SIP/2.0 400 Bad Request\r\n"), "{reply}");
        assert!(reply.contains("Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK776asdhds\r\n"));
        assert!(reply.contains("Call-ID: a84b4c76e66710@127.0.0.1\r\n"));
        assert!(reply.ends_with("Content-Length: 0\r\n\r\n"));
        // The 400 is itself a message the stack reads.
        assert!(SipMessage::try_from(reply.as_bytes()).is_ok());
        // No Via: nowhere to send the answer.
        let no_via = broken.replace(
            "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK776asdhds\r\n",
            "",
        );
        assert_eq!(screen(no_via.as_bytes()), Verdict::Drop);
    }
}
