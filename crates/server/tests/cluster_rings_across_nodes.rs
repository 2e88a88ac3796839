//! Ringing across nodes: a 1:1 call placed on node a to someone whose two devices are
//! signed in on nodes b and c rings both; one answers and the other hears it was answered
//! elsewhere; the caller (the recorder) hears the answering device's tone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::cluster;
use common::drops::{self, Seen, ToneSpeaker, wait_for};
use common::{temp_dir, unix_now};
use confab_bot::{BotClient, CallEvent, Identity};
use confab_recorder::Recorder;
use confab_signaling::client::{ClientConfig, SignalingClient};
use confab_signaling::protocol::ServerMessage;
use confab_signaling::{EndKind, Scope};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_devices_on_other_nodes_ring() {
    let (_redis, nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let callee = Identity::Bot("callee".into());
    // Device 1: an SDK bot on node b.
    let device1 = BotClient::connect(nodes[1].bot_config("callee"))
        .await
        .unwrap();
    // Device 2: a plain signaling client on node c.
    let token = nodes[2]
        .token_key()
        .mint(&callee, &[Scope::Bot], unix_now(), 600)
        .unwrap();
    let mut config = ClientConfig::new(format!("ws://{}/ws", nodes[2].http), callee.clone(), token);
    config.endpoint = Some("device-2".into());
    let (_device2, mut device2_events) = SignalingClient::connect(&config).await.unwrap();

    // The caller, on node a: the recorder.
    let out = temp_dir();
    let mut caller_config = nodes[0].bot_config("caller");
    Recorder::configure(&mut caller_config);
    let caller = BotClient::connect(caller_config).await.unwrap();
    let placed = Instant::now();
    let call = caller
        .place_call(callee.clone(), Recorder::new(&out).unwrap())
        .await
        .unwrap();

    let incoming = tokio::time::timeout(Duration::from_secs(5), device1.next_incoming())
        .await
        .expect("device 1 (node b) rings")
        .unwrap();
    println!(
        "device 1 rang {:?} after the call was placed",
        placed.elapsed()
    );
    assert_eq!(incoming.call_id, call.call_id());
    let rang_on_c = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = device2_events.recv().await {
            if let ServerMessage::IncomingCall { call_id, .. } = message {
                return Some(call_id);
            }
        }
        None
    })
    .await
    .expect("device 2 (node c) rings");
    assert_eq!(rang_on_c, Some(call.call_id()));

    let seen = Seen::default();
    let answered = device1
        .answer(
            incoming,
            ToneSpeaker {
                seen: seen.clone(),
                seconds: 20,
            },
        )
        .await
        .unwrap();
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let elsewhere = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = device2_events.recv().await {
            if let ServerMessage::IncomingCallEnded { reason, .. } = message {
                return Some(reason.kind);
            }
        }
        None
    })
    .await
    .expect("device 2 stops ringing");
    assert_eq!(elsewhere, Some(EndKind::AnsweredElsewhere));

    tokio::time::sleep(Duration::from_secs(3)).await;
    call.handle().hang_up().await.unwrap();
    call.finished().await.unwrap();
    let _ = answered.finished().await;

    let windows = drops::tone_windows(&drops::wav(&out.join("mixed.wav")));
    let tone = windows.iter().filter(|&&w| w).count();
    println!("the caller heard the tone for {:.1} s", tone as f64 / 50.0);
    assert!(tone >= 100, "the caller heard the answering device");
}
