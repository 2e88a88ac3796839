//! The `8:echo123` echo test, hosted by `confab serve` by default: a participant (here a
//! bot speaking a fixture without pause) calls it, hears a prompt and a tone, then its own
//! speech played back, and the echo test hangs up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use confab_bot::{
    AudioFrame, Bot, BotClient, BotConfig, CallEvent, CallHandle, EndKind, EndReason, Identity,
};
use confab_signaling::Scope;
use confab_testkit::{fixtures, signal};

/// Speaks Alice on a loop from the moment media connects; keeps what it hears.
struct Caller {
    heard: Arc<Mutex<Vec<i16>>>,
    ended: Arc<Mutex<Option<EndReason>>>,
}

#[async_trait]
impl Bot for Caller {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            let call = call.clone();
            tokio::spawn(async move {
                for frame in fixtures::speech_frames(fixtures::Speaker::Alice)
                    .into_iter()
                    .cycle()
                {
                    if call.send_audio(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
    }

    async fn on_mixed_audio(&mut self, _call: &CallHandle, frame: &AudioFrame) {
        self.heard
            .lock()
            .unwrap()
            .extend_from_slice(frame.samples());
    }

    async fn on_left(&mut self, _call: &CallHandle, reason: &EndReason) {
        *self.ended.lock().unwrap() = Some(reason.clone());
    }
}

/// Every 6th sample, averaged: 48 kHz to 8 kHz, for a cheap wide search.
fn decimate(x: &[i16]) -> Vec<i16> {
    x.chunks_exact(6)
        .map(|c| (c.iter().map(|&v| i32::from(v)).sum::<i32>() / 6) as i16)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_test_plays_the_caller_back() {
    let server = server().await;
    let caller = Identity::new_user();
    let token = server
        .token_key()
        .mint(&caller, &[Scope::Voip], unix_now(), 600)
        .unwrap();
    let client = BotClient::connect(BotConfig::new(server.base_url(), caller, token))
        .await
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(Mutex::new(None));
    let bot = Caller {
        heard: heard.clone(),
        ended: ended.clone(),
    };
    let call = client.place_call(Identity::EchoService, bot).await.unwrap();
    let report = tokio::time::timeout(std::time::Duration::from_secs(40), call.finished())
        .await
        .expect("the echo test hangs up by itself")
        .unwrap();
    println!("caller: {report:?}");
    assert_eq!(report.reason.kind, EndKind::RemoteHangUp);
    assert!(ended.lock().unwrap().is_some());
    let heard = heard.lock().unwrap().clone();
    let seconds = heard.len() as f64 / 48_000.0;
    println!("heard {seconds:.1} s");
    // Prompt (~6 s), tone, then ~5 s of playback: the playback is the last loud stretch.
    let loud: Vec<bool> = heard
        .chunks(960)
        .map(|f| signal::rms_dbfs(f) > -45.0)
        .collect();
    let end = loud.iter().rposition(|&l| l).unwrap() * 960;
    // Where in what the caller said (Alice, looped) does the playback come from? Four probes
    // of 0.5 s from the last 3 s of playback, each found in the caller's speech (coarse at
    // 8 kHz, then fine); every codec pass and jitter buffer on the way stretches time a
    // little, so each probe is aligned on its own.
    let said: Vec<i16> = fixtures::speech(fixtures::Speaker::Alice)
        .iter()
        .copied()
        .cycle()
        .take(30 * 48_000)
        .collect();
    let said_8k = decimate(&said);
    let mut scores = Vec::new();
    for k in 0..4 {
        let from = end.saturating_sub(3 * 48_000) + k * 30_000;
        let probe = &heard[from..from + 24_000];
        if signal::rms_dbfs(probe) < -45.0 {
            continue;
        }
        let (lag, _) = signal::align(&decimate(probe), &said_8k, said_8k.len() - 4_000, 4_000);
        let fine_at = (lag * 6).saturating_sub(240);
        let (fine, corr) = signal::align(probe, &said[fine_at..], 480, 24_000);
        println!(
            "probe {k}: at {:.2} s of the caller's speech, correlation {corr:.3}",
            (fine_at + fine) as f64 / 48_000.0
        );
        scores.push(corr);
    }
    scores.sort_by(f64::total_cmp);
    assert!(scores.len() >= 2, "the playback is speech");
    let median = scores[scores.len() / 2];
    assert!(median >= 0.6, "the caller hears itself back: {scores:?}");
    // And the prompt came first: there is sound well before the playback.
    assert!(
        loud[..loud.len().saturating_sub(300)]
            .iter()
            .filter(|&&l| l)
            .count()
            > 150
    );
    server.shutdown().await;
}
