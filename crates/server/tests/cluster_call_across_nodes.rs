//! One call, three nodes: a bot speaking a 440 Hz tone connects to node a, a browser page
//! whose microphone plays 700 Hz (original sound: noise suppression would take a steady
//! tone for noise) to node b, the recorder to node c. The call lives on one
//! node; the page hears the bot's tone and the recorder records each of them, their own
//! tone in their own file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::browser::{open_page, result, tone_wav};
use common::cluster;
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::temp_dir;
use confab_bot::CallEvent;
use confab_testkit::signal;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_a_page_and_the_recorder_on_three_nodes_hear_each_other() {
    let (_redis, nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let speaker = join_tone_speaker(nodes[0].bot_config("speaker"), group, &seen, 30).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let recording = drops::join_recorder(nodes[2].bot_config("recorder"), group, &out).await;

    let page = open_page(
        &format!(
            "{}/?group={group}&name=Pat&seconds=6&expect=3&video=0&tones=440,700&sound=original",
            nodes[1].base_url()
        ),
        &tone_wav(700, 20),
        60,
    );
    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page: {page}");

    // One call on one node, all three in it.
    let hosts: Vec<(String, usize)> = nodes
        .iter()
        .flat_map(|n| {
            n.calls()
                .into_iter()
                .map(|c| (n.id.clone(), c["participants"].as_array().unwrap().len()))
                .collect::<Vec<_>>()
        })
        .collect();
    println!("calls: {hosts:?}");
    assert_eq!(hosts.len(), 1, "one call in the cluster: {hosts:?}");

    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();

    // The page (on node b) heard the bot (on node a) and not itself.
    let peak: Vec<f64> = page["toneMaxDb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        peak[0] >= peak[1] + 25.0,
        "the page hears 440 Hz at {:.0} dB, its own 700 Hz at {:.0} dB",
        peak[0],
        peak[1]
    );

    // The recorder (on node c) recorded each in their own file.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for (identity, hz) in [("28:speaker", 440.0), ("8:", 700.0)] {
        let entry = manifest["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["identity"].as_str().unwrap().starts_with(identity))
            .unwrap_or_else(|| panic!("{identity} in the manifest: {manifest}"));
        let samples = drops::wav(&out.join(entry["audio"]["file"].as_str().unwrap()));
        let voiced: Vec<i16> = samples
            .chunks(960)
            .filter(|w| w.len() == 960 && signal::rms_dbfs(w) > -30.0)
            .flatten()
            .copied()
            .collect();
        assert!(
            voiced.len() >= 48_000 * 2,
            "{identity}: {} s recorded",
            voiced.len() / 48_000
        );
        // Per 20 ms window: the voiced windows are cut out of the file, so one estimate
        // over them all would count the seams (CI once read 444.7 Hz that way).
        let found = signal::median_tone_frequency(&voiced, 48_000, 960).unwrap();
        println!(
            "{identity}: {found:.1} Hz over {:.1} s",
            voiced.len() as f64 / 48_000.0
        );
        assert!(
            (found - hz).abs() < 2.0,
            "{identity}: {found:.1} Hz, not {hz}"
        );
    }
}
