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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_into_a_call_elsewhere_rings_once() {
    let (_redis, nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    // A group call started through node a, hosted wherever placement puts it.
    let seen = Seen::default();
    let group = uuid::Uuid::new_v4();
    let host_bot =
        drops::join_tone_speaker(nodes[0].bot_config("organizer"), group, &seen, 20).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let host = nodes
        .iter()
        .position(|n| !n.calls().is_empty())
        .expect("a node hosts the call");
    // The inviter joins through a second node, the invitee's one device is on the third:
    // the invitation is relayed to the host, and the device brought there to ring.
    let inviter_node = (0..3).find(|&i| i != host).unwrap();
    let device_node = (0..3).find(|&i| i != host && i != inviter_node).unwrap();
    let inviter_seen = Seen::default();
    let inviter = drops::join_tone_speaker(
        nodes[inviter_node].bot_config("inviter"),
        group,
        &inviter_seen,
        20,
    )
    .await;
    wait_for(
        &inviter_seen,
        CallEvent::MediaConnected,
        Duration::from_secs(10),
    )
    .await;
    let guest = Identity::Bot("guest".into());
    let token = nodes[device_node]
        .token_key()
        .mint(&guest, &[Scope::Bot], unix_now(), 600)
        .unwrap();
    let mut config = ClientConfig::new(
        format!("ws://{}/ws", nodes[device_node].http),
        guest.clone(),
        token,
    );
    config.endpoint = Some("guest-device".into());
    let (_device, mut events) = SignalingClient::connect(&config).await.unwrap();
    println!(
        "call on node {}, inviter on {}, invitee's device on {}",
        nodes[host].id, nodes[inviter_node].id, nodes[device_node].id
    );

    let invited = Instant::now();
    inviter.handle().invite(guest).await.unwrap();
    // Every ring the device hears within 2 s: exactly one, for this call.
    let mut rings = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(message) = events.recv().await {
            if let ServerMessage::IncomingCall { call_id, group, .. } = message {
                println!("rang {:?} after the invitation", invited.elapsed());
                rings.push((call_id, group));
            }
        }
    })
    .await;
    assert_eq!(
        rings,
        [(host_bot.call_id(), true)],
        "one ring, for the group call"
    );
    inviter.handle().hang_up().await.unwrap();
    host_bot.handle().hang_up().await.unwrap();
}
