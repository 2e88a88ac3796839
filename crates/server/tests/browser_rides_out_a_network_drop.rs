//! F9 in the browser: a headless-Chromium participant (speaking a fixture) whose network
//! drops out for 3 s — the relay in front of the service swallows everything it sends and
//! receives, new ports included — is recorded by the recorder bot, whose own network is
//! fine. The page notices the media stop, offers new peer connections until one comes up
//! once the network is back, and stays the same participant: its recorded voice has one
//! gap of about the drop and goes on after it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use common::browser::{open_page, result};
use common::drops;
use common::*;
use confab_bot::ParticipantState;
use confab_testkit::{NetemConfig, fixtures, signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)]
async fn a_browser_rides_out_a_three_second_network_drop() {
    if std::env::var_os("CONFAB_PAGE_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,rtc=debug,rtc_ice=debug")
            .try_init();
    }
    let (server, relay) = drops::server_behind_relay(NetemConfig::default(), 1, false).await;
    let out = temp_dir();
    let group = uuid::Uuid::new_v4();
    let recording = drops::join_recorder(drops::bot_config(&server, "recorder"), group, &out).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while relay.clients().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the recorder's media goes through the relay"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The recorder's network stays up; everyone else's (the page) will drop.
    relay.spare(relay.clients()[0]);

    let page = open_page(
        &format!(
            "{}/?group={group}&name=Pat&seconds=12&expect=2&video=0",
            server.base_url()
        ),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        90,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connected = recording
            .handle()
            .participants()
            .iter()
            .any(|p| p.display_name == "Pat" && p.state == ParticipantState::Connected);
        if connected {
            break;
        }
        assert!(Instant::now() < deadline, "the page joins");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.cut(true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    relay.cut(false);
    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page: {page}\nrelay: {:?}", relay.stats());
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    server.shutdown().await;

    assert!(
        relay.stats().blackholed > 100,
        "the drop swallowed the page's media"
    );
    assert_eq!(page["reconnects"], 1, "one drop, one recovery");
    assert_eq!(page["connection"], "connected");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let pats: Vec<&serde_json::Value> = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["display_name"] == "Pat")
        .collect();
    assert_eq!(pats.len(), 1, "one participant, not two: {manifest}");
    let recorded = drops::wav(&out.join(pats[0]["audio"]["file"].as_str().unwrap()));
    // 20 ms windows with speech; the longest silence is the drop, speech follows it.
    let loud: Vec<bool> = recorded
        .chunks(960)
        .map(|w| signal::rms_dbfs(w) > -45.0)
        .collect();
    let first = loud.iter().position(|l| *l).unwrap();
    let (mut longest, mut longest_end, mut run) = (0, 0, 0);
    for (i, &l) in loud.iter().enumerate().skip(first) {
        if l {
            if run > longest {
                (longest, longest_end) = (run, i);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    let after = loud[longest_end..].iter().filter(|l| **l).count();
    println!(
        "longest silence {} ms, then {:.1} s of speech",
        longest * 20,
        after as f64 * 0.02
    );
    assert!(
        (2_800..=5_000).contains(&(longest * 20)),
        "one gap of about the drop: {} ms",
        longest * 20
    );
    assert!(
        after * 20 >= 3_000,
        "the page's voice goes on after the drop"
    );
}
