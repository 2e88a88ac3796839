//! A node dies with a call on it: three nodes, a bot speaking a tone connected to node a
//! and the recorder to node b (each knowing the other nodes); the node hosting their call
//! is killed. Both bots reconnect (through the node they were on if it lives, else another)
//! and join the group afresh: a live node hosts the call within 10 s, and the recorder's
//! mix has one gap, then the tone again — not an end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::cluster;
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::temp_dir;
use confab_bot::CallEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_moves_to_a_live_node() {
    let (redis, mut nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let others = |i: usize, nodes: &[cluster::Node]| -> Vec<String> {
        (1..nodes.len())
            .map(|k| nodes[(i + k) % nodes.len()].base_url())
            .collect()
    };
    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let mut speaker_config = nodes[0].bot_config("speaker");
    speaker_config.fallback_servers = others(0, &nodes);
    let speaker = join_tone_speaker(speaker_config, group, &seen, 60).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let mut recorder_config = nodes[1].bot_config("recorder");
    recorder_config.fallback_servers = others(1, &nodes);
    let recording = drops::join_recorder(recorder_config, group, &out).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let host = nodes
        .iter()
        .position(|n| !n.calls().is_empty())
        .expect("a node hosts the call");
    let old_call = speaker.call_id();
    println!(
        "the call is on node {}; the speaker is on a, the recorder on b",
        nodes[host].id
    );
    let killed = Instant::now();
    nodes[host].kill();

    // A live node hosts the call again, with both bots in it.
    let moved = loop {
        let live: Vec<(String, usize)> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != host)
            .flat_map(|(_, n)| {
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
    assert_ne!(speaker.call_id(), old_call, "a fresh instance of the call");
    let rejoined = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(e, CallEvent::Rejoined { .. }))
        .count();
    assert_eq!(rejoined, 1, "the speaker rejoined once");
    // The media comes back on the new node, then a few seconds of the tone.
    let back = wait_for(&seen, CallEvent::Reconnected, Duration::from_secs(10)).await;
    println!("speaker reconnected {:?} after the kill", back - killed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.handle().hang_up().await.unwrap();
    let report = recording.finished().await.unwrap();
    println!("recorder: {report:?}");
    speaker.handle().hang_up().await.unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    println!("events: {}", manifest["events"]);
    assert_eq!(manifest["ended"]["reason"]["code"], 0, "{manifest}");
    let windows = drops::tone_windows(&drops::wav(&out.join("mixed.wav")));
    // Runs of tone and of silence in the mix, after the tone first came.
    let first = windows
        .iter()
        .position(|&w| w)
        .expect("the tone in the mix");
    let mut runs: Vec<(bool, usize)> = Vec::new();
    for &w in &windows[first..] {
        match runs.last_mut() {
            Some((kind, n)) if *kind == w => *n += 1,
            _ => runs.push((w, 1)),
        }
    }
    let gaps: Vec<usize> = runs
        .iter()
        .filter(|(tone, n)| !tone && *n >= 5)
        .map(|(_, n)| *n)
        .collect();
    println!(
        "mix: {:?} (tone, 20 ms windows)",
        runs.iter().filter(|(_, n)| *n >= 5).collect::<Vec<_>>()
    );
    assert_eq!(gaps.len(), 1, "one gap in the mix: {gaps:?}");
    assert!(gaps[0] <= 500, "the gap lasted {} s", gaps[0] / 50);
    // The tone after the gap (brief dips of a few windows while media settles count as tone).
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

    // Nothing in Redis names the dead node any more (its entries expired with it).
    let dead = nodes[host].id.clone();
    let keys = redis.keys();
    assert!(!keys.is_empty());
    for (key, value) in &keys {
        let names_it = key.ends_with(&format!(":{dead}"))
            || value == &dead
            || value.split(' ').any(|member| member == dead)
            || value.contains(&format!("\"id\":\"{dead}\""));
        assert!(
            !names_it,
            "{key} = {value} still names the dead node {dead}"
        );
    }
    println!("{} keys in Redis, none naming node {dead}", keys.len());
}
