//! Dial-outs that do not connect, against sipp as the trunk: a busy number (486: the bot
//! sees the phone leave `busy` with subcode 486), a number that rings until the ring
//! timeout (confab CANCELs it: `ring_timeout`), and a caller who gives up while the number
//! rings (confab CANCELs it: `cancelled`). Each trunk scenario checks the SIP it got.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, EndReason, Identity};
use confab_signaling::{EndKind, Scope};

const BUSY: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"#;

/// Rings until cancelled; the CANCEL is answered and the INVITE ends 487.
const RINGS_UNTIL_CANCELLED: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="rings until cancelled">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <recv request="CANCEL" timeout="20000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [cseq] INVITE
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"#;

/// A group call with a host bot; returns the bot's task and what it saw.
async fn host(
    server: &confab_server::ServerHandle,
) -> (
    confab_bot::CallTask,
    std::sync::Arc<std::sync::Mutex<Heard>>,
    BotClient,
) {
    let client = BotClient::connect(bot_config(
        server,
        Identity::Bot("host".into()),
        "Host bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.join_group(uuid::Uuid::new_v4(), bot).await.unwrap();
    (call, heard, client)
}

fn phone_left(heard: &Heard) -> Option<EndReason> {
    heard.events.iter().find_map(|e| match e {
        CallEvent::Left {
            participant,
            reason,
        } if participant.identity == phone_identity() => Some(reason.clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_number() {
    let sipp = Sipp::start(BUSY, &[]);
    let server = phone_server(Vec::new(), Some(sipp.port), 30).await;
    let (call, heard, _client) = host(&server).await;
    call.handle().dial_out(phone_identity()).await.unwrap();
    wait_until(
        &heard,
        Duration::from_secs(5),
        "the phone's departure",
        |h| phone_left(h).is_some(),
    )
    .await;
    let reason = phone_left(&heard.lock().unwrap()).unwrap();
    println!("{reason:?}");
    assert_eq!(
        (reason.kind, reason.code, reason.subcode),
        (EndKind::Busy, 486, 486)
    );
    let (passed, log) = sipp.finish(Duration::from_secs(5)).await;
    assert!(passed, "{log}");
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_never_answers() {
    let sipp = Sipp::start(RINGS_UNTIL_CANCELLED, &[]);
    let server = phone_server(Vec::new(), Some(sipp.port), 3).await;
    let (call, heard, _client) = host(&server).await;
    call.handle().dial_out(phone_identity()).await.unwrap();
    wait_until(
        &heard,
        Duration::from_secs(8),
        "the phone's departure",
        |h| phone_left(h).is_some(),
    )
    .await;
    let reason = phone_left(&heard.lock().unwrap()).unwrap();
    assert_eq!(reason.kind, EndKind::RingTimeout);
    let (passed, log) = sipp.finish(Duration::from_secs(5)).await;
    assert!(passed, "the trunk saw a CANCEL: {log}");
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_gives_up_while_it_rings() {
    let sipp = Sipp::start(RINGS_UNTIL_CANCELLED, &[]);
    let server = phone_server(Vec::new(), Some(sipp.port), 30).await;
    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("caller".into()),
        "Caller bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.place_call(phone_identity(), bot).await.unwrap();
    wait_until(&heard, Duration::from_secs(5), "ringing", |h| {
        h.events
            .contains(&CallEvent::State(confab_signaling::CallState::Ringing))
    })
    .await;
    call.handle().hang_up().await.unwrap();
    let report = call.finished().await.unwrap();
    assert_eq!(report.reason.kind, EndKind::HangUp);
    let (passed, log) = sipp.finish(Duration::from_secs(5)).await;
    assert!(passed, "the trunk saw a CANCEL: {log}");
    server.shutdown().await;
}
