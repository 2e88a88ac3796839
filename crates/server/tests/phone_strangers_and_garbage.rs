//! Bad input on the SIP side while a phone call goes on: an INVITE from a source not on the
//! allow-list gets 403 (and is counted); garbage datagrams on the SIP port are counted and
//! dropped; a broken request that names itself gets 400. The call in progress never
//! notices: the bot hears the phone to the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{ParticipantState, Scope};
use confab_testkit::fixtures;

const DID: &str = "+4930555000";

const STRANGER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a stranger calls">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15550000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15550000000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=stranger 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="403"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+15550000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
</scenario>
"#;

const BROKEN_OPTIONS: &str = "OPTIONS sip:confab@127.0.0.1 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbroken\r\n\
    From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:confab@127.0.0.1>\r\n\
    Call-ID: broken-1@127.0.0.1\r\nCSeq: notanumber OPTIONS\r\nContent-Length: 0\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_garbage_do_not_disturb_a_call() {
    let group = uuid::Uuid::new_v4();
    let server = phone_server(vec![group_route(DID, group)], None, 30).await;
    let sip = server.sip_addr().unwrap();
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
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
    let phone = Baresip::start(&bob_8k[..8000 * 8], 8.0, true);
    phone.command("dial", &format!("sip:{DID}@{sip}"));
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(5))
        .await;
    wait_until(&heard, Duration::from_secs(5), "the phone", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected)
    })
    .await;

    // A stranger (127.0.0.3 is not on the allow-list).
    let stranger = Sipp::start(STRANGER, &["-i", "127.0.0.3", "-s", DID, &sip.to_string()]);
    // Garbage, and a broken request that can be answered.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for junk in [
        &b"\x00\x01\x02\x03"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[0xFF; 1200],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
    ] {
        socket.send_to(junk, sip).unwrap();
    }
    let broken = BROKEN_OPTIONS.replace("127.0.0.1:9", &socket.local_addr().unwrap().to_string());
    socket.send_to(broken.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = socket
        .recv_from(&mut buf)
        .expect("a 400 for the broken OPTIONS");
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(reply.starts_with("SIP/2.0 400 Bad Request"), "{reply}");
    let (passed, log) = stranger.finish(Duration::from_secs(5)).await;
    assert!(passed, "the stranger got 403: {log}");

    phone.wait_for("CALL_CLOSED", Duration::from_secs(15)).await;
    wait_until(&heard, Duration::from_secs(5), "the phone's departure", |h| {
        h.events.iter().any(
            |e| matches!(e, CallEvent::Left { participant, .. } if participant.identity == phone_identity()),
        )
    })
    .await;
    {
        let heard = heard.lock().unwrap();
        let pcm = to_8k(&on_clock(
            heard.unmixed.get(&phone_identity()).unwrap(),
            48_000,
        ));
        // The end of the call, after the garbage: still the phone's speech.
        let seconds = pcm.len() as f64 / 8000.0;
        let (_, corr) = correlation_8k_at(&bob_8k, &pcm, seconds - 3.5, 2.5);
        println!("the phone at the end of its call: {corr:.3} ({seconds:.1} s heard)");
        assert!(corr >= 0.8, "{corr:.3}");
    }
    let (_, metrics) = common::http(server.http_addr(), "GET", "/metrics", None, None);
    let samples = common::parse_prometheus(&metrics);
    assert_eq!(
        common::metric(&samples, "confab_sip_refused_sources_total"),
        1.0
    );
    let malformed = common::metric(&samples, "confab_sip_malformed_total");
    assert!(malformed >= 5.0, "{malformed}");
    assert!(
        metrics.contains(
            "confab_sip_transactions_total{side=\"in\",method=\"INVITE\",status=\"403\"} 1"
        ),
        "{metrics}"
    );
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
