//! The gateway's counters: datagrams and garbage on the SIP port, refused callers, legs,
//! and SIP transactions by direction, method and final status.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rsipstack::sip::{HeadersExt, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// Which side of a transaction confab was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The far end asked, confab answered (incoming requests).
    Server,
    /// Confab asked (outgoing requests).
    Client,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Server => "in",
            Side::Client => "out",
        }
    }
}

/// Recent final responses remembered, so a retransmission is counted once.
const REMEMBERED: usize = 512;

type TransactionKey = (Side, String, u16);

/// Counters of the SIP gateway, shared with the service's `/metrics`.
#[derive(Debug, Default)]
pub struct SipMetrics {
    /// Datagrams received on the SIP port.
    pub datagrams: AtomicU64,
    /// Datagrams that were not SIP (dropped) or broken requests (answered 400).
    pub malformed: AtomicU64,
    /// INVITEs refused because their source is not on the allow-list (403).
    pub refused_sources: AtomicU64,
    /// Phone legs now in calls.
    pub legs: AtomicU64,
    /// Phone legs set up since start (answered or early media).
    pub legs_total: AtomicU64,
    transactions: Mutex<Transactions>,
}

#[derive(Debug, Default)]
struct Transactions {
    counts: BTreeMap<TransactionKey, u64>,
    recent: VecDeque<(String, String, u16)>,
}

impl SipMetrics {
    /// Counts one final response (once per Call-ID, CSeq and status).
    pub fn final_response(&self, side: Side, method: &str, status: u16, call_id: &str, cseq: &str) {
        let mut t = self
            .transactions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = (call_id.to_string(), cseq.to_string(), status);
        if t.recent.contains(&id) {
            return;
        }
        if t.recent.len() == REMEMBERED {
            t.recent.pop_front();
        }
        t.recent.push_back(id);
        *t.counts
            .entry((side, method.to_string(), status))
            .or_default() += 1;
    }

    /// Transactions so far: side, method, status and how many.
    pub fn transactions(&self) -> Vec<(Side, String, u16, u64)> {
        let t = self
            .transactions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        t.counts
            .iter()
            .map(|((side, method, status), n)| (*side, method.clone(), *status, *n))
            .collect()
    }

    /// Writes the counters in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        gauge(
            out,
            "confab_sip_datagrams_total",
            "Datagrams received on the SIP port.",
            "counter",
            self.datagrams.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "confab_sip_malformed_total",
            "Datagrams on the SIP port that were not usable SIP (dropped, or answered 400).",
            "counter",
            self.malformed.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "confab_sip_refused_sources_total",
            "INVITEs refused (403) because their source is not on the allow-list.",
            "counter",
            self.refused_sources.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "confab_pstn_participants",
            "Phone legs in calls now.",
            "gauge",
            self.legs.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "confab_pstn_legs_total",
            "Phone legs set up since start.",
            "counter",
            self.legs_total.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP confab_sip_transactions_total SIP transactions by side (in: the far end asked), method and final status.\n# TYPE confab_sip_transactions_total counter"
        );
        for (side, method, status, n) in self.transactions() {
            let _ = writeln!(
                out,
                "confab_sip_transactions_total{{side=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                side.label()
            );
        }
    }
}

/// Watches every SIP message the stack sends and receives, to count transactions.
#[derive(Debug)]
pub(crate) struct Inspector(pub(crate) Arc<SipMetrics>);

impl Inspector {
    fn look(&self, message: &SipMessage, side: Side) {
        let SipMessage::Response(response) = message else {
            return;
        };
        let status = response.status_code.code();
        if status < 200 {
            return;
        }
        let (Ok(cseq), Ok(call_id)) = (response.cseq_header(), response.call_id_header()) else {
            return;
        };
        let Ok(method) = cseq.method() else {
            return;
        };
        self.0.final_response(
            side,
            &method.to_string(),
            status,
            call_id.value(),
            cseq.value(),
        );
    }
}

impl MessageInspector for Inspector {
    fn before_send(&self, message: SipMessage, _to: Option<&SipAddr>) -> SipMessage {
        // A response confab sends ends a transaction the far end started.
        self.look(&message, Side::Server);
        match message {
            SipMessage::Request(mut request) => {
                unquote_qop(&mut request.headers);
                SipMessage::Request(request)
            }
            response => response,
        }
    }

    fn after_received(&self, message: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        self.look(&message, Side::Client);
        message
    }
}

/// rsipstack 0.7 writes `qop="auth"` in digest answers; RFC 3261 §25.1 (and RFC 2617) has
/// the answer's qop as a bare token. Lenient servers take either; a strict one may refuse
/// the quoted form, so `Authorization` and `Proxy-Authorization` go out with `qop=auth`.
fn unquote_qop(headers: &mut rsipstack::sip::Headers) {
    use rsipstack::sip::Header;
    use rsipstack::sip::headers::untyped::{Authorization, ProxyAuthorization};
    let fix = |value: &str| -> Option<String> {
        (value.contains("qop=\"auth\"") || value.contains("qop=\"auth-int\"")).then(|| {
            value
                .replace("qop=\"auth-int\"", "qop=auth-int")
                .replace("qop=\"auth\"", "qop=auth")
        })
    };
    for header in headers.iter_mut() {
        match header {
            Header::Authorization(h) => {
                if let Some(fixed) = fix(h.value()) {
                    *h = Authorization::new(fixed);
                }
            }
            Header::ProxyAuthorization(h) => {
                if let Some(fixed) = fix(h.value()) {
                    *h = ProxyAuthorization::new(fixed);
                }
            }
            _ => {}
        }
    }
}

/// Where a request came from: its top Via, as the transport corrected it (`received`,
/// `rport`).
pub(crate) fn request_source(request: &rsipstack::sip::Request) -> Option<SocketAddr> {
    use rsipstack::sip::{Param, ToTypedHeader};
    let via = request.via_header().ok()?.typed().ok()?;
    let mut ip = match via.uri.host_with_port.host {
        rsipstack::sip::Host::IpAddr(ip) => Some(ip),
        rsipstack::sip::Host::Domain(_) => None,
    };
    let mut port = via.uri.host_with_port.port.map(u16::from).unwrap_or(5060);
    for param in via.params {
        match param {
            Param::Received(received) => ip = received.value().parse().ok().or(ip),
            Param::Rport(Some(p)) => port = p,
            _ => {}
        }
    }
    ip.map(|ip| SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_answers_carry_qop_as_a_token() {
        use rsipstack::sip::Header;
        use rsipstack::sip::headers::untyped::ProxyAuthorization;
        let mut headers =
            rsipstack::sip::Headers(vec![Header::ProxyAuthorization(ProxyAuthorization::new(
                "Digest username=\"u\", response=\"x\", qop=\"auth\", nc=00000001, cnonce=\"c\"",
            ))]);
        unquote_qop(&mut headers);
        let Header::ProxyAuthorization(h) = &headers.0[0] else {
            panic!()
        };
        assert_eq!(
            h.value(),
            "Digest username=\"u\", response=\"x\", qop=auth, nc=00000001, cnonce=\"c\""
        );
    }

    #[test]
    fn retransmitted_finals_count_once() {
        let m = SipMetrics::default();
        m.final_response(Side::Server, "INVITE", 200, "abc", "1 INVITE");
        m.final_response(Side::Server, "INVITE", 200, "abc", "1 INVITE");
        m.final_response(Side::Server, "BYE", 200, "abc", "2 BYE");
        m.final_response(Side::Client, "INVITE", 486, "def", "1 INVITE");
        let t = m.transactions();
        assert!(t.contains(&(Side::Server, "INVITE".into(), 200, 1)));
        assert!(t.contains(&(Side::Client, "INVITE".into(), 486, 1)));
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains(
            "confab_sip_transactions_total{side=\"out\",method=\"INVITE\",status=\"486\"} 1"
        ));
    }
}
