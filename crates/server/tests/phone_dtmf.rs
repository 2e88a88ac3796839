//! C5, DTMF both ways: keys pressed on a phone reach a bot as events, keys a bot sends reach
//! the phone — as RFC 4733 telephone events with a phone that offers them (baresip), and as
//! SIP INFO (`application/dtmf-relay`) with one that does not (sipp).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{ParticipantState, Scope};

const DID: &str = "+4930555000";

/// A caller without telephone-event in its offer: a key by INFO, then it waits for ours.
const INFO_PHONE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="keys by SIP INFO">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Info phone" <sip:+15551230002@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15551230002@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Info phone" <sip:+15551230002@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:+15551230002@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Info phone" <sip:+15551230002@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 INFO
Contact: <sip:+15551230002@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal=7
Duration=160
]]></send>
  <recv response="200"/>
  <recv request="INFO" timeout="10000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Info phone" <sip:+15551230002@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Contact: <sip:+15551230002@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"#;

fn digits(heard: &Heard) -> String {
    heard
        .events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_both_ways_by_rtp_events_and_by_sip_info() {
    let group = uuid::Uuid::new_v4();
    let server = phone_server(vec![group_route(DID, group)], None, 30).await;
    let sip = server.sip_addr().unwrap();
    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("ivr".into()),
        "IVR bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.join_group(group, bot).await.unwrap();

    // RFC 4733 with baresip.
    let phone = Baresip::start(&[], 30.0, true);
    phone.command("dial", &format!("sip:{DID}@{sip}"));
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(5))
        .await;
    wait_until(&heard, Duration::from_secs(5), "the phone", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected)
    })
    .await;
    for key in ["1", "#", "9"] {
        phone.command("sndcode", key);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    wait_until(&heard, Duration::from_secs(5), "three keys", |h| {
        digits(h).len() >= 3
    })
    .await;
    assert_eq!(digits(&heard.lock().unwrap()), "1#9");
    call.handle().send_dtmf("42*", None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while phone.heard_digits().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(phone.heard_digits(), "42*", "{:?}", phone.events());
    phone.command("hangup", "");
    phone.wait_for("CALL_CLOSED", Duration::from_secs(5)).await;

    // SIP INFO with sipp: its key in, ours out by INFO (it offered no telephone-event).
    let sipp = Sipp::start(INFO_PHONE, &["-s", DID, &sip.to_string()]);
    wait_until(&heard, Duration::from_secs(8), "the INFO key", |h| {
        digits(h).ends_with('7')
    })
    .await;
    let info_phone = {
        let heard = heard.lock().unwrap();
        heard
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                CallEvent::Dtmf {
                    participant, digit, ..
                } if *digit == '7' => Some(participant.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(info_phone.identity.to_string(), "4:+15551230002");
    call.handle()
        .send_dtmf("5", Some(info_phone.id))
        .await
        .unwrap();
    let (passed, log) = sipp.finish(Duration::from_secs(10)).await;
    assert!(passed, "the INFO phone's scenario: {log}");
    assert!(log.contains("Signal=5"), "our key went out by INFO: {log}");
    call.handle().hang_up().await.unwrap();
    let _ = call.finished().await.unwrap();
    server.shutdown().await;
}
