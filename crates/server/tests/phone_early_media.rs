//! C5, early media: a dialled number answers `183 Session Progress` with SDP and plays an
//! announcement for three seconds before it answers (sipp as the trunk). The phone shows as
//! EarlyMedia in the roster, the bot hears the announcement before the answer, then the
//! phone is Connected; removing it ends its leg with a BYE the trunk accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{ParticipantState, Scope};
use confab_testkit::fixtures;

const SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="early media, then answer">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 183 Session Progress
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=trunk 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <nop><action><exec rtp_stream="announcement.wav,1,0"/></action></nop>
  <pause milliseconds="3500"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=trunk 1 2 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
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
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialled_number_plays_an_announcement_before_it_answers() {
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
    let announcement = &bob_8k[..8000 * 3];
    let trunk_dir = common::temp_dir();
    std::fs::create_dir_all(&trunk_dir).unwrap();
    let sipp = Sipp::start_in(&trunk_dir, SCENARIO, &[], |dir| {
        write_ulaw_wav(&dir.join("announcement.wav"), announcement);
    });
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
    wait_until(&heard, Duration::from_secs(5), "media", |h| {
        h.events.contains(&CallEvent::MediaConnected)
    })
    .await;
    call.handle().dial_out(phone_identity()).await.unwrap();
    wait_until(&heard, Duration::from_secs(5), "early media", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::EarlyMedia)
    })
    .await;
    wait_until(&heard, Duration::from_secs(8), "the answer", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected)
    })
    .await;
    let pid = phone_in(&heard.lock().unwrap()).unwrap().id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.handle().remove(pid).await.unwrap();
    let (passed, log) = sipp.finish(Duration::from_secs(10)).await;
    assert!(passed, "the trunk's scenario: {log}");
    call.handle().hang_up().await.unwrap();
    let _ = call.finished().await.unwrap();

    {
        let heard = heard.lock().unwrap();
        // When the phone answered, on the call clock.
        let answered_at = heard
            .events
            .iter()
            .zip(&heard.event_times)
            .find_map(|(e, at)| match e {
                CallEvent::Changed(p)
                    if p.identity == phone_identity() && p.state == ParticipantState::Connected =>
                {
                    Some(*at)
                }
                _ => None,
            })
            .unwrap();
        let before: Vec<_> = heard
            .unmixed
            .get(&phone_identity())
            .expect("the phone's audio")
            .iter()
            .filter(|(at, _)| *at < answered_at)
            .cloned()
            .collect();
        let early = to_8k(&on_clock(&before, 48_000));
        println!(
            "{:.2} s of the phone's audio before its answer",
            early.len() as f64 / 8000.0
        );
        let (at, corr) = correlation_8k(announcement, &early, 0.2, 1.5);
        println!(
            "the announcement before the answer: {corr:.3} (at {} ms)",
            at / 8
        );
        assert!(
            early.len() >= 8000 * 2,
            "at least 2 s heard before the answer"
        );
        assert!(corr >= 0.8, "{corr:.3}");
    }
    server.shutdown().await;
}
