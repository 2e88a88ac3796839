//! Dialling out through a trunk that demands digest authentication: the trunk (sipp)
//! answers the first INVITE with 401, checks the credentials of the second against the
//! configured username and password, and only then answers; the phone connects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, Identity};
use confab_signaling::{ParticipantState, Scope};

const CHALLENGING_TRUNK: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="digest challenge">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="trunk.example", nonce="6c3b2b1e0f", algorithm=MD5, qop="auth"
Content-Length: 0
]]></send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="confab" password="trunk-secret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
  <send next="refused"><![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="good"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=trunk 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE" timeout="20000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <label id="refused"/>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trunk_challenges_and_the_gateway_answers_with_its_credentials() {
    let sipp = Sipp::start(CHALLENGING_TRUNK, &[]);
    let server = phone_server(Vec::new(), Some(sipp.port), 30).await;
    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("host".into()),
        "Host bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.join_group(uuid::Uuid::new_v4(), bot).await.unwrap();
    call.handle().dial_out(phone_identity()).await.unwrap();
    wait_until(&heard, Duration::from_secs(8), "the phone connected", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected)
    })
    .await;
    let pid = phone_in(&heard.lock().unwrap()).unwrap().id;
    call.handle().remove(pid).await.unwrap();
    let (passed, log) = sipp.finish(Duration::from_secs(5)).await;
    assert!(passed, "{log}");
    assert!(log.contains("Authorization: Digest"), "{log}");
    assert!(log.contains("PCMA"), "the trunk's codec choice: {log}");
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
