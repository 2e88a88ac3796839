//! C2: a phone (baresip) dials a number routed to a group call where a bot speaks. The
//! phone hears the bot (its recording correlates with the bot's speech at 8 kHz), the bot
//! hears the phone as that participant's own PCM, the roster names the phone by number,
//! and when the phone hangs up (BYE) it leaves with a plain hang-up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{EndKind, ParticipantState, Scope};
use confab_testkit::fixtures;

const DID: &str = "+4930555000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_a_group_call_hears_and_is_heard() {
    let group = uuid::Uuid::new_v4();
    let server = phone_server(vec![group_route(DID, group)], None, 30).await;
    let sip = server.sip_addr().unwrap();
    let alice = fixtures::speech(fixtures::Speaker::Alice);
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));

    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("alice".into()),
        "Alice bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(alice[..48_000 * 8].to_vec());
    let call = client.join_group(group, bot).await.unwrap();
    wait_until(&heard, Duration::from_secs(5), "media", |h| {
        h.events.contains(&CallEvent::MediaConnected)
    })
    .await;

    // The phone speaks Bob for 8 s, then its file ends and it hangs up.
    let phone = Baresip::start(&bob_8k[..8000 * 8], 8.0, true);
    phone.command("dial", &format!("sip:{DID}@{sip}"));
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(5))
        .await;
    wait_until(
        &heard,
        Duration::from_secs(5),
        "the phone in the roster",
        |h| phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected),
    )
    .await;
    // Per-leg media counters: packets in, none lost on loopback.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = phone_in(&heard.lock().unwrap()).unwrap().id;
    let (status, media) = common::http(
        server.http_addr(),
        "GET",
        &format!("/v1/calls/{}/media", call.call_id()),
        Some(server.admin_key()),
        None,
    );
    assert_eq!(status, 200, "{media}");
    let media: serde_json::Value = serde_json::from_str(&media).unwrap();
    let leg = media
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant"] == pid.0)
        .unwrap();
    println!("the phone's leg: {leg}");
    assert!(leg["audio_packets"].as_u64().unwrap() > 100, "{leg}");
    assert_eq!(leg["audio_lost"], 0, "{leg}");
    phone.wait_for("CALL_CLOSED", Duration::from_secs(15)).await;
    wait_until(&heard, Duration::from_secs(5), "the phone's departure", |h| {
        h.events.iter().any(|e| matches!(e, CallEvent::Left { participant, .. } if participant.identity == phone_identity()))
    })
    .await;
    call.handle().hang_up().await.unwrap();
    call.finished().await.unwrap();

    {
        let heard = heard.lock().unwrap();
        let joined = phone_in(&heard).unwrap();
        assert_eq!(
            joined.identity.to_string(),
            format!("4:{DID_CALLER}", DID_CALLER = PHONE_NUMBER)
        );
        let reason = heard
            .events
            .iter()
            .find_map(|e| match e {
                CallEvent::Left {
                    participant,
                    reason,
                } if participant.identity == phone_identity() => Some(reason.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(reason.kind, EndKind::HangUp);

        // The bot hears the phone alone: Bob, at 8 kHz.
        let phone_pcm = on_clock(
            heard
                .unmixed
                .get(&phone_identity())
                .expect("the phone's own audio"),
            48_000,
        );
        let phone_8k = to_8k(&phone_pcm);
        if let Ok(dir) = std::env::var("CONFAB_TEST_DUMP") {
            let dir = std::path::Path::new(&dir);
            write_wav_8k(&dir.join("bot-heard-phone.wav"), &phone_8k, 0.0);
            write_wav_8k(&dir.join("phone-heard.wav"), &phone.recording(), 0.0);
            write_wav_8k(&dir.join("bob8k.wav"), &bob_8k, 0.0);
            let mix = on_clock(&heard.mixed, 48_000);
            write_wav_8k(&dir.join("bot-heard-mix.wav"), &to_8k(&mix), 0.0);
        }
        let (at, bot_hears_phone) = correlation_8k(&bob_8k, &phone_8k, 0.5, 4.0);
        println!(
            "bot hears the phone: {bot_hears_phone:.3} (at {} ms of its speech)",
            at / 8
        );

        // The phone hears the bot: Alice, at 8 kHz.
        let recording = phone.recording();
        let alice_8k = to_8k(&alice[..48_000 * 8]);
        let (at, phone_hears_bot) = correlation_8k(&alice_8k, &recording, 0.5, 4.0);
        println!(
            "phone hears the bot: {phone_hears_bot:.3} (at {} ms of its speech)",
            at / 8
        );
        assert!(
            bot_hears_phone >= 0.8,
            "the bot hears the phone: {bot_hears_phone:.3}"
        );
        assert!(
            phone_hears_bot >= 0.8,
            "the phone hears the bot: {phone_hears_bot:.3}"
        );
    }
    let (_, metrics) = common::http(server.http_addr(), "GET", "/metrics", None, None);
    assert!(
        metrics.contains(
            "confab_sip_transactions_total{side=\"in\",method=\"INVITE\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("confab_pstn_legs_total 1"), "{metrics}");
    server.shutdown().await;
}
