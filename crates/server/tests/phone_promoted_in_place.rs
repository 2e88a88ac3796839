//! C3: a bot's 1:1 call with a phone becomes a group call in place when the bot invites a
//! second bot: same call id, the phone's SIP leg untouched (one INVITE), and its media goes
//! on — it heard the first bot before the promotion and hears the second one after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{CallState, Scope};
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_call_is_promoted_to_a_group_in_place() {
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
    let phone = Baresip::start(&bob_8k[..8000 * 3], 30.0, true);
    let server = phone_server(Vec::new(), Some(phone.sip.port()), 30).await;
    // The first bot: 1.5 s of quiet (the phone answers), Alice for 4 s, then quiet.
    let alice = fixtures::speech(fixtures::Speaker::Alice);
    let mut first_speech = vec![0i16; 72_000];
    first_speech.extend_from_slice(&alice[..48_000 * 4]);
    let carol = fixtures::speech(fixtures::Speaker::Carol);

    let first = BotClient::connect(bot_config(
        &server,
        Identity::Bot("first".into()),
        "First bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let second = BotClient::connect(bot_config(
        &server,
        Identity::Bot("second".into()),
        "Second bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(first_speech);
    let call = first.place_call(phone_identity(), bot).await.unwrap();
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(10))
        .await;
    wait_until(&heard, Duration::from_secs(5), "connected", |h| {
        h.events.contains(&CallEvent::State(CallState::Connected))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Promotion: the second bot is invited and answers; it speaks Carol.
    call.handle()
        .invite(Identity::Bot("second".into()))
        .await
        .unwrap();
    let incoming = tokio::time::timeout(Duration::from_secs(5), second.next_incoming())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incoming.call_id, call.call_id(), "the same call");
    let (bot, _second_heard) = PhoneCallBot::new(carol[..48_000 * 6].to_vec());
    let joined = second.answer(incoming, bot).await.unwrap();
    assert_eq!(joined.call_id(), call.call_id());
    tokio::time::sleep(Duration::from_secs(7)).await;
    phone.command("hangup", "");
    phone.wait_for("CALL_CLOSED", Duration::from_secs(5)).await;
    joined.handle().hang_up().await.unwrap();
    call.handle().hang_up().await.unwrap();
    let _ = joined.finished().await.unwrap();
    let _ = call.finished().await.unwrap();

    // The first bot heard the phone alone (its first 3 s: Bob).
    {
        let heard = heard.lock().unwrap();
        let phone_pcm = on_clock(
            heard
                .unmixed
                .get(&phone_identity())
                .expect("the phone's own audio"),
            48_000,
        );
        let (at, bot_hears_phone) =
            correlation_8k(&bob_8k[..8000 * 3], &to_8k(&phone_pcm), 0.3, 2.0);
        println!(
            "the first bot hears the phone: {bot_hears_phone:.3} (at {} ms of its speech)",
            at / 8
        );
        assert!(bot_hears_phone >= 0.8, "{bot_hears_phone:.3}");
    }
    // What the phone heard: the first bot, then the second, on one leg.
    let recording = phone.recording();
    let seconds = recording.len() as f64 / 8000.0;
    let (at, heard_first) = correlation_8k(&to_8k(&alice[..48_000 * 4]), &recording, 0.5, 2.5);
    println!(
        "phone hears the first bot: {heard_first:.3} (at {} ms of Alice)",
        at / 8
    );
    let (at, heard_second) =
        correlation_8k_at(&to_8k(&carol[..48_000 * 6]), &recording, seconds - 4.5, 3.0);
    println!(
        "phone hears the second bot after the promotion: {heard_second:.3} (at {} ms of Carol); recording {seconds:.1} s",
        at / 8
    );
    assert!(heard_first >= 0.8, "{heard_first:.3}");
    assert!(heard_second >= 0.8, "{heard_second:.3}");
    let (_, metrics) = common::http(server.http_addr(), "GET", "/metrics", None, None);
    assert!(
        metrics.contains(
            "confab_sip_transactions_total{side=\"out\",method=\"INVITE\",status=\"200\"} 1"
        ),
        "one INVITE for the phone's whole call: {metrics}"
    );
    server.shutdown().await;
}
