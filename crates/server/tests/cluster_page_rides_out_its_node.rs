//! A browser page whose node dies, and that node hosted its call: three nodes, a bot
//! speaking 440 Hz connected to node a, the page (700 Hz, original sound) loaded from and
//! connected to the node hosting the call, the recorder on the third. Killing that node,
//! the page reconnects through another node it learned from `GET /v1/cluster`, joins the
//! group's call afresh on a live node, offers new media and hears the bot again; the
//! recorder records the page again after one gap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::browser::{open_page, result, tone_wav};
use common::cluster;
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::temp_dir;
use confab_bot::CallEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_its_call_to_a_live_node() {
    let (_redis, mut nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let all: Vec<String> = nodes.iter().map(cluster::Node::base_url).collect();
    let others = |url: &str| -> Vec<String> { all.iter().filter(|u| *u != url).cloned().collect() };

    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let mut speaker_config = nodes[0].bot_config("speaker");
    speaker_config.fallback_servers = others(&nodes[0].base_url());
    let speaker = join_tone_speaker(speaker_config, group, &seen, 60).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let host = nodes
        .iter()
        .position(|n| !n.calls().is_empty())
        .expect("a node hosts the call");
    let recorder_node = (0..3).find(|&i| i != host).unwrap();
    println!(
        "the call is on node {}: the page goes there, the recorder to {}",
        nodes[host].id, nodes[recorder_node].id
    );
    let out = temp_dir();
    let mut recorder_config = nodes[recorder_node].bot_config("recorder");
    recorder_config.fallback_servers = others(&nodes[recorder_node].base_url());
    let recording = drops::join_recorder(recorder_config, group, &out).await;

    let page = open_page(
        &format!(
            "{}/?group={group}&name=Pat&seconds=20&expect=3&video=0&tones=440,700&sound=original",
            nodes[host].base_url()
        ),
        &tone_wav(700, 40),
        90,
    );
    // The page in the call with everyone, a few seconds: then its node dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[host]
        .calls()
        .first()
        .is_none_or(|c| c["participants"].as_array().unwrap().len() < 3)
    {
        assert!(Instant::now() < deadline, "the page did not join");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = Instant::now();
    nodes[host].kill();

    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!(
        "page {:?} after the kill: reconnects {}, rejoins {}, connection {}, sound since the \
         rejoin {} windows, 440 Hz at {} dB",
        killed.elapsed(),
        page["reconnects"],
        page["rejoins"],
        page["connection"],
        page["loudSinceRejoin"],
        page["toneMaxDb"][0]
    );
    assert_eq!(page["rejoins"], 1, "{page}");
    assert!(page["reconnects"].as_u64().unwrap() >= 1, "{page}");
    assert_eq!(page["connection"], "connected");
    // 100 ms windows: it heard the bot for at least 5 s in the new instance.
    assert!(page["loudSinceRejoin"].as_u64().unwrap() >= 50, "{page}");

    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();

    // The recorder heard the page (700 Hz) before and after the gap.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    println!("events: {}", manifest["events"]);
    let voiced: usize = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["display_name"] == "Pat")
        .map(|p| {
            drops::tone_windows(&drops::wav(&out.join(p["audio"]["file"].as_str().unwrap())))
                .iter()
                .filter(|&&w| w)
                .count()
        })
        .sum();
    println!("the page recorded for {:.1} s", voiced as f64 / 50.0);
    assert!(voiced >= 50 * 12, "the page recorded for {} s", voiced / 50);
}
