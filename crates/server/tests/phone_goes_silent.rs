//! A phone whose RTP stops (a dead trunk call) does not live for ever: after the silence
//! timeout the gateway hangs it up with a BYE and it leaves the call as network-lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{EndKind, Scope};

const DID: &str = "+4930555000";

/// Calls in, sends no RTP at all, and waits for the gateway's BYE.
const SILENT: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone that goes silent">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230004@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15551230004@[local_ip]:[local_port]>
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
From: <sip:+15551230004@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv request="BYE" timeout="10000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_phone_is_hung_up() {
    let group = uuid::Uuid::new_v4();
    let mut config = phone_config(vec![group_route(DID, group)], None, 30);
    config.sip.rtp_timeout_secs = 2;
    let server = confab_server::start(config).await.unwrap();
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
    let sipp = Sipp::start(SILENT, &["-s", DID, &sip.to_string()]);
    let (passed, log) = sipp.finish(Duration::from_secs(10)).await;
    assert!(passed, "the gateway hung up the silent phone: {log}");
    let silent: Identity = "4:+15551230004".parse().unwrap();
    wait_until(
        &heard,
        Duration::from_secs(3),
        "the phone's departure",
        |h| {
            h.events.iter().any(|e| {
                matches!(e, CallEvent::Left { participant, reason }
            if participant.identity == silent && reason.kind == EndKind::NetworkLost)
            })
        },
    )
    .await;
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
