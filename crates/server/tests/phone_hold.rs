//! A phone holds the call by re-INVITE (`a=sendonly`) and resumes it (`a=sendrecv`): the
//! gateway answers `recvonly` then `sendrecv`, the roster shows the phone OnHold and then
//! Connected again, and the call goes on to a BYE.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{ParticipantState, Scope};

const DID: &str = "+4930555000";

fn invite(cseq: u32, version: u32, direction: &str, first: bool) -> String {
    let to_tag = if first { "" } else { "[peer_tag_param]" };
    format!(
        r#"  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230003@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:+15551230003@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 1 {version} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a={direction}
]]></send>
"#
    )
}

fn ack(cseq: u32) -> String {
    format!(
        r#"  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230003@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
"#
    )
}

fn answer_says(direction: &str) -> String {
    format!(
        r#"  <recv response="100" optional="true"/>
  <recv response="200" rtd="true">
    <action><ereg regexp="a={direction}" search_in="body" check_it="true" assign_to="seen"/></action>
  </recv>
"#
    )
}

fn scenario() -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"hold and resume\">\n",
    );
    s += &invite(1, 1, "sendrecv", true);
    s += &answer_says("sendrecv");
    s += &ack(1);
    s += "  <pause milliseconds=\"1500\"/>\n";
    s += &invite(2, 2, "sendonly", false);
    s += &answer_says("recvonly");
    s += &ack(2);
    s += "  <pause milliseconds=\"1500\"/>\n";
    s += &invite(3, 3, "sendrecv", false);
    s += &answer_says("sendrecv");
    s += &ack(3);
    s += "  <pause milliseconds=\"1500\"/>\n";
    s += r#"  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230003@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 4 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"#;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_holds_and_resumes_by_reinvite() {
    let group = uuid::Uuid::new_v4();
    let server = phone_server(vec![group_route(DID, group)], None, 30).await;
    let sip = server.sip_addr().unwrap();
    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("host".into()),
        "Host bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.join_group(group, bot).await.unwrap();
    let sipp = Sipp::start(&scenario(), &["-s", DID, &sip.to_string()]);
    let holder: Identity = "4:+15551230003".parse().unwrap();
    let state_of = |h: &Heard| {
        h.events.iter().rev().find_map(|e| match e {
            CallEvent::Joined(p) | CallEvent::Changed(p) if p.identity == holder => Some(p.state),
            _ => None,
        })
    };
    wait_until(&heard, Duration::from_secs(5), "on hold", |h| {
        state_of(h) == Some(ParticipantState::OnHold)
    })
    .await;
    wait_until(&heard, Duration::from_secs(5), "resumed", |h| {
        state_of(h) == Some(ParticipantState::Connected)
            && h.events.iter().any(|e| matches!(e, CallEvent::Changed(p) if p.identity == holder && p.state == ParticipantState::OnHold))
    })
    .await;
    let (passed, log) = sipp.finish(Duration::from_secs(10)).await;
    assert!(passed, "{log}");
    wait_until(&heard, Duration::from_secs(5), "the phone's BYE", |h| {
        h.events.iter().any(
            |e| matches!(e, CallEvent::Left { participant, .. } if participant.identity == holder),
        )
    })
    .await;
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
