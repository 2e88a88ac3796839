//! Any datagram on a phone's paths: the SIP port's screen, the SIP parser and the INVITE
//! decision (allow-list, route, caller, SDP offer), SDP answers, SIP INFO bodies, and the
//! phone's RTP leg. Errors and refusals, never a panic.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use confab_sip::config::{Checked, SipConfig, number_digits};
use confab_sip::leg::{LegConfig, Latching, PlainRtpLeg};
use confab_sip::rtp::RtpPacket;
use confab_sip::{dtmf, invite, screen, sdp};
use libfuzzer_sys::fuzz_target;
use rsipstack::sip::SipMessage;

static CHECKED: LazyLock<Checked> = LazyLock::new(|| {
    let config: SipConfig = serde_json::from_str(
        r#"{"allow":["0.0.0.0/0"],"routes":[
            {"number":"+4930555000","group":"6a1f7a2e-8f7b-4b8e-9a53-3d1c1e2f4a5b"},
            {"number":"+4930555001","identity":"28:reception"}]}"#,
    )
    .unwrap();
    config.check().unwrap()
});

fuzz_target!(|data: &[u8]| {
    let _ = screen::screen(data);
    if let Ok(SipMessage::Request(request)) = SipMessage::try_from(data) {
        if let Ok(accepted) = invite::decide(&request, &CHECKED, &[]) {
            assert!(accepted.caller.is_phone());
            assert!(accepted.display_name.chars().count() <= 64);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(offer) = sdp::parse(text) {
            let _ = sdp::negotiate(&offer);
        }
        let _ = sdp::accept_answer(text);
        let _ = dtmf::parse_info("application/dtmf-relay", text);
        let _ = dtmf::parse_info("application/dtmf", text);
        let _ = number_digits(text);
    }
    let _ = RtpPacket::parse(data);
    let now = Instant::now();
    let config = LegConfig {
        negotiated: sdp::Negotiated {
            codec: confab_codecs::AudioCodec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            remote: "127.0.0.1:4000".parse().unwrap(),
            remote_direction: sdp::Direction::SendRecv,
        },
        ssrc: 1,
        initial_seq: 0,
        initial_timestamp: 0,
        inactivity: Duration::from_secs(5),
        latching: Latching::FirstSource,
    };
    let mut leg = PlainRtpLeg::new(config, now);
    for chunk in data.chunks(200) {
        leg.handle_datagram(now, "127.0.0.1:4000".parse().unwrap(), chunk);
    }
    leg.handle_timeout(now + Duration::from_secs(2));
    while leg.poll_event().is_some() {}
});
