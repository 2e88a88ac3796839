//! A phone calls a number routed to an identity (here the bot `28:reception`): the bot's
//! devices ring with the phone's number as caller, the bot answers, and they hear each
//! other; a second caller is declined and gets 603.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{CallState, Scope};
use confab_testkit::fixtures;

const DID: &str = "+4930555001";

const DECLINED: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a caller who is declined">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230009@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15551230009@[local_ip]:[local_port]>
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
  <recv response="180" optional="true"/>
  <recv response="603"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15551230009@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_calls_a_bot_that_answers_then_one_it_declines() {
    let reception = Identity::Bot("reception".into());
    let server = phone_server(vec![identity_route(DID, reception.clone())], None, 30).await;
    let sip = server.sip_addr().unwrap();
    let client = BotClient::connect(bot_config(&server, reception, "Reception", &[Scope::Bot]))
        .await
        .unwrap();
    let alice = fixtures::speech(fixtures::Speaker::Alice);

    let phone = Baresip::start(&[], 30.0, true);
    phone.command("dial", &format!("sip:{DID}@{sip}"));
    let incoming = tokio::time::timeout(Duration::from_secs(5), client.next_incoming())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incoming.from, phone_identity());
    assert!(!incoming.group);
    assert!(
        !phone.events().iter().any(|(k, _)| k == "CALL_ESTABLISHED"),
        "not answered before the bot answers"
    );
    let (bot, heard) = PhoneCallBot::new(alice[..48_000 * 6].to_vec());
    let call = client.answer(incoming, bot).await.unwrap();
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(5))
        .await;
    wait_until(&heard, Duration::from_secs(5), "connected", |h| {
        h.events.contains(&CallEvent::State(CallState::Connected))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    phone.command("hangup", "");
    let report = call.finished().await.unwrap();
    println!("bot: {:?}", report.reason);
    assert_eq!(report.reason.kind, confab_signaling::EndKind::RemoteHangUp);
    let (at, phone_hears_bot) =
        correlation_8k(&to_8k(&alice[..48_000 * 6]), &phone.recording(), 0.5, 4.0);
    println!(
        "phone hears the bot: {phone_hears_bot:.3} (at {} ms of its speech)",
        at / 8
    );
    assert!(phone_hears_bot >= 0.8, "{phone_hears_bot:.3}");

    // A second caller: the bot declines; the phone gets 603.
    let sipp = Sipp::start(DECLINED, &["-s", DID, &sip.to_string()]);
    let incoming = tokio::time::timeout(Duration::from_secs(5), client.next_incoming())
        .await
        .unwrap()
        .unwrap();
    client.reject(&incoming).await.unwrap();
    let (passed, log) = sipp.finish(Duration::from_secs(5)).await;
    assert!(passed, "declined with 603: {log}");
    server.shutdown().await;
}
