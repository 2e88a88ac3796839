//! C1: a bot places a 1:1 call to a phone number. The gateway dials it through the trunk
//! (here the phone itself, baresip, answering on its own); the bot sees the call ring and
//! connect, both hear each other, and the bot's hang-up reaches the phone as a BYE.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{CallState, Scope};
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_calls_a_phone() {
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
    // The phone answers by itself and speaks Bob for 7 s (then silence).
    let phone = Baresip::start(&bob_8k[..8000 * 7], 20.0, true);
    let server = phone_server(Vec::new(), Some(phone.sip.port()), 30).await;
    let alice = fixtures::speech(fixtures::Speaker::Alice);

    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("caller".into()),
        "Caller bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(alice[..48_000 * 7].to_vec());
    let call = client.place_call(phone_identity(), bot).await.unwrap();
    phone
        .wait_for("CALL_ESTABLISHED", Duration::from_secs(10))
        .await;
    wait_until(&heard, Duration::from_secs(5), "connected", |h| {
        h.events.contains(&CallEvent::State(CallState::Connected))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    call.handle().hang_up().await.unwrap();
    phone.wait_for("CALL_CLOSED", Duration::from_secs(5)).await;
    let report = call.finished().await.unwrap();
    println!("bot: {report:?}");

    {
        let heard = heard.lock().unwrap();
        let states: Vec<CallState> = heard
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::State(s) => Some(*s),
                _ => None,
            })
            .collect();
        println!("call states: {states:?}");
        assert!(states.contains(&CallState::Ringing), "{states:?}");
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
        let mixed = on_clock(&heard.mixed, 48_000);
        let (_, in_mix) = correlation_8k(&bob_8k, &to_8k(&mixed), 0.5, 4.0);
        println!("the phone in the bot's mix: {in_mix:.3}");
        assert!(bot_hears_phone >= 0.8, "{bot_hears_phone:.3}");
        assert!(in_mix >= 0.8, "{in_mix:.3}");
    }
    let (at, phone_hears_bot) =
        correlation_8k(&to_8k(&alice[..48_000 * 7]), &phone.recording(), 0.5, 4.0);
    println!(
        "phone hears the bot: {phone_hears_bot:.3} (at {} ms of its speech)",
        at / 8
    );
    assert!(phone_hears_bot >= 0.8, "{phone_hears_bot:.3}");
    let (_, metrics) = common::http(server.http_addr(), "GET", "/metrics", None, None);
    assert!(
        metrics.contains(
            "confab_sip_transactions_total{side=\"out\",method=\"INVITE\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    server.shutdown().await;
}
