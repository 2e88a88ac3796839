//! A headless-Chromium participant (its fake microphone plays a speech fixture, original
//! sound) is recorded by the recorder bot: the WAV of its own audio is that speech, waveform
//! for waveform.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::browser::{open_page, result};
use common::*;
use confab_bot::{BotClient, BotConfig, Identity};
use confab_recorder::Recorder;
use confab_signaling::Scope;
use confab_testkit::{fixtures, signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_records_a_browser() {
    let server = server().await;
    let out = temp_dir();
    let recorder_id = Identity::Bot("recorder".into());
    let token = server
        .token_key()
        .mint(&recorder_id, &[Scope::Bot], unix_now(), 600)
        .unwrap();
    let mut config = BotConfig::new(server.base_url(), recorder_id, token);
    config.display_name = "Recorder".into();
    Recorder::configure(&mut config);
    let client = BotClient::connect(config).await.unwrap();
    let group = uuid::Uuid::new_v4();
    let recording = client
        .join_group(group, Recorder::new(&out).unwrap())
        .await
        .unwrap();
    let page = open_page(
        &format!(
            "{}/?group={group}&name=Pat&seconds=5&expect=2&sound=original",
            server.base_url()
        ),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page: {page}");
    recording.handle().hang_up().await.unwrap();
    let report = recording.finished().await.unwrap();
    println!("recorder: {report:?}");

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let pat = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Pat")
        .expect("the page is in the manifest");
    assert_eq!(pat["identity"], page["identity"]);
    let file = pat["audio"]["file"]
        .as_str()
        .expect("its audio was recorded");
    let recorded: Vec<i16> = hound::WavReader::open(out.join(file))
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    // Chromium loops the fixture from whenever capture started: find each 0.5 s of speech
    // in the looped fixture.
    let fixture = fixtures::speech(fixtures::Speaker::Bob);
    let looped: Vec<i16> = fixture.iter().chain(&fixture).copied().collect();
    let mut scores = Vec::new();
    for probe in recorded.chunks_exact(24_000) {
        if signal::rms_dbfs(probe) < -40.0 {
            continue;
        }
        let (at, corr) = signal::locate(probe, &looped);
        println!(
            "window found at {:.2} s of the fixture: {corr:.3}",
            at as f64 / 48_000.0
        );
        scores.push(corr);
    }
    scores.sort_by(f64::total_cmp);
    assert!(scores.len() >= 4, "speech in {} windows", scores.len());
    let median = scores[scores.len() / 2];
    println!("median correlation {median:.3}");
    // Original sound (no voice processing): the recorded voice is the fixture's waveform
    // (0.96–0.99 per half second measured; with the processing on, the old bound of 0.6
    // could not tell the two apart — browser_original_sound scores both with PESQ-WB).
    assert!(median >= 0.9, "{scores:?}");
    server.shutdown().await;
}
