//! A node dies with a 1:1 call on it: three nodes, a bot speaking a tone on node a calls the
//! recorder on node b (each knowing the other nodes); the call lives on a, which is killed.
//! Both bots reconnect elsewhere; the caller places the call again naming the lost one, the
//! recorder answers it by itself: a live node hosts the two of them within 10 s, and the
//! recording has one gap, then the tone again — not an end.

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
use common::temp_dir;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_recorder::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_to_one_call_moves_to_a_live_node() {
    let (_redis, mut nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let others = |i: usize, nodes: &[cluster::Node]| -> Vec<String> {
        (1..nodes.len())
            .map(|k| nodes[(i + k) % nodes.len()].base_url())
            .collect()
    };
    let mut recorder_config = nodes[1].bot_config("recorder");
    recorder_config.fallback_servers = others(1, &nodes);
    Recorder::configure(&mut recorder_config);
    let recorder = BotClient::connect(recorder_config).await.unwrap();
    let mut speaker_config = nodes[0].bot_config("speaker");
    speaker_config.fallback_servers = others(0, &nodes);
    let speaker = BotClient::connect(speaker_config).await.unwrap();

    let seen = Seen::default();
    let call = speaker
        .place_call(
            Identity::Bot("recorder".into()),
            ToneSpeaker {
                seen: seen.clone(),
                seconds: 60,
            },
        )
        .await
        .unwrap();
    let ringing = tokio::time::timeout(Duration::from_secs(10), recorder.next_incoming())
        .await
        .expect("the call rings")
        .unwrap();
    assert!(!ringing.group);
    let out = temp_dir();
    let recording = recorder
        .answer(ringing, Recorder::new(&out).unwrap())
        .await
        .unwrap();
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let host = nodes
        .iter()
        .position(|n| !n.calls().is_empty())
        .expect("a node hosts the call");
    assert_eq!(host, 0, "a 1:1 call lives on its caller's node");
    let old_call = call.call_id();
    let killed = Instant::now();
    nodes[host].kill();

    // A live node hosts a call with both bots in it.
    let moved = loop {
        let live: Vec<(String, usize)> = nodes[1..]
            .iter()
            .flat_map(|n| {
                n.calls()
                    .into_iter()
                    .map(|c| (n.id.clone(), c["participants"].as_array().unwrap().len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if live.iter().any(|(_, n)| *n == 2) {
            println!("call on {live:?} {:?} after the kill", killed.elapsed());
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the call did not move: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(moved < Duration::from_secs(10), "moved in {moved:?}");
    assert_ne!(call.call_id(), old_call, "a new call");
    assert_eq!(
        call.call_id(),
        recording.call_id(),
        "both sides in the new call"
    );
    let rejoined = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(e, CallEvent::Rejoined { .. }))
        .count();
    assert_eq!(rejoined, 1, "the caller went on in a new call once");
    let back = wait_for(&seen, CallEvent::Reconnected, Duration::from_secs(10)).await;
    println!("the caller's media back {:?} after the kill", back - killed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.handle().hang_up().await.unwrap();
    let report = recording.finished().await.unwrap();
    println!("recorder: {report:?}");
    // The other side left a 1:1 call: it ends for the caller too.
    let caller = tokio::time::timeout(Duration::from_secs(10), call.finished())
        .await
        .expect("the caller's call ends with the recorder's leaving")
        .unwrap();
    println!("caller: {:?}", caller.reason);

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    println!("events: {}", manifest["events"]);
    assert_eq!(manifest["ended"]["reason"]["code"], 0, "{manifest}");
    let windows = drops::tone_windows(&drops::wav(&out.join("mixed.wav")));
    let first = windows
        .iter()
        .position(|&w| w)
        .expect("the tone in the recording");
    let mut runs: Vec<(bool, usize)> = Vec::new();
    for &w in &windows[first..] {
        match runs.last_mut() {
            Some((kind, n)) if *kind == w => *n += 1,
            _ => runs.push((w, 1)),
        }
    }
    let long: Vec<&(bool, usize)> = runs.iter().filter(|(_, n)| *n >= 5).collect();
    println!("recording: {long:?} (tone, 20 ms windows)");
    let gaps: Vec<usize> = long
        .iter()
        .filter(|(tone, _)| !tone)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(gaps.len(), 1, "one gap in the recording: {gaps:?}");
    assert!(gaps[0] <= 500, "the gap lasted {} s", gaps[0] / 50);
    let gap_at = runs.iter().position(|(tone, n)| !tone && *n >= 5).unwrap();
    let after: usize = runs[gap_at + 1..]
        .iter()
        .filter(|(tone, _)| *tone)
        .map(|(_, n)| n)
        .sum();
    assert!(
        after >= 100,
        "the tone went on after the gap: {after} windows"
    );
}
