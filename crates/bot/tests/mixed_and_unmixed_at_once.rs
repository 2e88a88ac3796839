//! Two bots speak fixtures into a group call; a third bot, in the same call, receives the
//! mix and each speaker's own audio at the same time, tagged with who spoke. Each unmixed
//! stream is that speaker's speech (correlation after alignment), the mix holds both, and
//! nothing the listener got was dropped or late.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_testkit::{fixtures, signal};

const SECONDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_gets_the_mix_and_every_speaker_alone() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let listener_client = BotClient::connect(config(
        &server,
        Identity::Bot("listener".into()),
        "Listener",
    ))
    .await
    .unwrap();
    let listener = listener_client
        .join_group(
            group,
            Listener {
                heard: heard.clone(),
            },
        )
        .await
        .unwrap();
    let mut speakers = Vec::new();
    for (app, speaker) in [
        ("alice", fixtures::Speaker::Alice),
        ("bob", fixtures::Speaker::Bob),
    ] {
        let client = BotClient::connect(config(&server, Identity::Bot(app.into()), app))
            .await
            .unwrap();
        let bot = Speaker {
            frames: fixtures::speech_frames(speaker)
                .into_iter()
                .take(SECONDS * 50)
                .collect(),
            started: Arc::default(),
        };
        let task = client.join_group(group, bot).await.unwrap();
        speakers.push((client, task));
    }
    tokio::time::sleep(Duration::from_secs(SECONDS as u64 + 2)).await;
    for (_, task) in &speakers {
        task.handle().hang_up().await.unwrap();
    }
    listener.handle().hang_up().await.unwrap();
    let report = listener.finished().await.unwrap();
    println!("listener: {report:?}");
    for (_, task) in speakers {
        let report = task.finished().await.unwrap();
        println!("speaker: {report:?}");
        assert_eq!(
            report.stats.audio_sent,
            (SECONDS * 50) as u64,
            "every frame sent"
        );
        assert_eq!(report.stats.audio_late, 0);
    }

    server.shutdown().await;
    let heard = heard.lock().unwrap();
    assert_eq!(report.stats.frames_dropped, 0, "the listener kept up");
    assert!(
        heard
            .events
            .iter()
            .any(|e| matches!(e, CallEvent::Joined(p) if p.display_name == "alice")),
        "roster events name the speakers"
    );
    for (app, speaker) in [
        ("alice", fixtures::Speaker::Alice),
        ("bob", fixtures::Speaker::Bob),
    ] {
        let identity = Identity::Bot(app.into());
        let frames = heard
            .unmixed
            .get(&identity)
            .expect("unmixed audio of each speaker");
        assert_eq!(heard.names[&identity], app);
        let pcm = on_clock(frames, 48_000);
        let reference = fixtures::speech(speaker);
        let (lag, corr) = signal::align(&reference, &pcm, 4_800, 2 * 48_000);
        println!(
            "{app}: {} unmixed frames, correlation {corr:.3} at {} ms",
            frames.len(),
            lag / 48
        );
        assert!(corr >= 0.8, "{app}'s own audio: {corr:.3}");
        // The mix from where this speaker's own stream starts: both are stamped on the
        // call's clock. (Taking the mix's first sound instead assumed both speakers start
        // together; on a loaded machine one joined 0.6 s after the other and the search
        // window missed it.)
        let mix = on_clock(&heard.mixed, 48_000);
        let (mix_origin, own_origin) = (heard.mixed[0].0, frames[0].0);
        let start =
            (own_origin.saturating_since(mix_origin).as_micros() as u64 * 48 / 1_000) as usize;
        // Aligned on two seconds of it at a time, from its start, 2 s and 4 s on: on a
        // loaded machine the mix's delay for a speaker can move while its jitter buffer
        // settles, and the first seconds then align poorly with the rest (measured in a full
        // suite: 0.23 aligned on the first two seconds, 0.61 and 0.55 on the later ones).
        // The speaker is in the mix if some window finds it there.
        let windows: Vec<(f64, f64)> = [0usize, 2, 4]
            .iter()
            .map(|&second| {
                let from = (start + second * 48_000)
                    .saturating_sub(9_600)
                    .min(mix.len());
                let (lag, corr) = signal::align(
                    &reference[second * 48_000..],
                    &mix[from..],
                    24_000,
                    2 * 48_000,
                );
                ((lag as f64 - 9_600.0) / 48.0, corr)
            })
            .collect();
        println!(
            "{app} in the mix, aligned from 0, 2, 4 s: {}",
            windows
                .iter()
                .map(|(lag_ms, corr)| format!("{corr:.3} at {lag_ms:+.0} ms"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let in_mix = windows.iter().map(|w| w.1).fold(f64::MIN, f64::max);
        assert!(in_mix >= 0.3, "{app} is in the mix: {windows:?}");
    }
    let first = heard
        .first_mixed_at
        .unwrap()
        .saturating_since(heard.joined_at.unwrap());
    println!("join → first mixed frame: {first:?}");
    assert!(first < Duration::from_secs(2));
}
