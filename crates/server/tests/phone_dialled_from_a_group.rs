//! C4: the service dials a phone into a running group call (`POST
//! /v1/calls/{id}/participants` with a `4:+…` identity); the phone answers, hears the bot
//! and is heard by it, and when the organizer bot removes it the phone gets a BYE and the
//! roster says it was removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{EndKind, ParticipantState, Scope};
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_dials_a_phone_into_a_group_call() {
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
    let phone = Baresip::start(&bob_8k[..8000 * 7], 30.0, true);
    let server = phone_server(Vec::new(), Some(phone.sip.port()), 30).await;
    let alice = fixtures::speech(fixtures::Speaker::Alice);
    let mut speech = vec![0i16; 48_000 * 2];
    speech.extend_from_slice(&alice[..48_000 * 7]);

    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("host".into()),
        "Host bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(speech);
    let call = client.join_group(uuid::Uuid::new_v4(), bot).await.unwrap();
    wait_until(&heard, Duration::from_secs(5), "media", |h| {
        h.events.contains(&CallEvent::MediaConnected)
    })
    .await;

    let path = format!("/v1/calls/{}/participants", call.call_id());
    let body = format!("{{\"identity\":\"4:{PHONE_NUMBER}\"}}");
    let (status, reply) = common::http(
        server.http_addr(),
        "POST",
        &path,
        Some(server.admin_key()),
        Some(&body),
    );
    assert_eq!(status, 201, "{reply}");
    let (status, _) = common::http(server.http_addr(), "POST", &path, None, Some(&body));
    assert_eq!(status, 401, "the admin key is needed");
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(10))
        .await;
    wait_until(&heard, Duration::from_secs(5), "the phone connected", |h| {
        phone_in(h).is_some_and(|p| p.state == ParticipantState::Connected)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let pid = phone_in(&heard.lock().unwrap()).unwrap().id;
    call.handle().remove(pid).await.unwrap();
    phone.wait_for("CALL_CLOSED", Duration::from_secs(5)).await;
    wait_until(
        &heard,
        Duration::from_secs(5),
        "the phone's departure",
        |h| {
            h.events.iter().any(|e| {
                matches!(e, CallEvent::Left { participant, reason }
            if participant.identity == phone_identity() && reason.kind == EndKind::Removed)
            })
        },
    )
    .await;
    call.handle().hang_up().await.unwrap();
    let _ = call.finished().await.unwrap();

    {
        let heard = heard.lock().unwrap();
        let phone_pcm = on_clock(
            heard
                .unmixed
                .get(&phone_identity())
                .expect("the phone's own audio"),
            48_000,
        );
        let (at, bot_hears_phone) = correlation_8k(&bob_8k, &to_8k(&phone_pcm), 0.5, 4.0);
        println!(
            "bot hears the phone: {bot_hears_phone:.3} (at {} ms of its speech)",
            at / 8
        );
        assert!(bot_hears_phone >= 0.8, "{bot_hears_phone:.3}");
    }
    if let Ok(dir) = std::env::var("CONFAB_TEST_DUMP") {
        write_wav_8k(
            &std::path::Path::new(&dir).join("c4-phone-heard.wav"),
            &phone.recording(),
            0.0,
        );
    }
    let (at, phone_hears_bot) =
        correlation_8k(&to_8k(&alice[..48_000 * 7]), &phone.recording(), 0.5, 4.0);
    println!(
        "phone hears the bot: {phone_hears_bot:.3} (at {} ms of its speech)",
        at / 8
    );
    assert!(phone_hears_bot >= 0.8, "{phone_hears_bot:.3}");
    server.shutdown().await;
}
