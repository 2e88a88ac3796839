//! The recorder's files on one call clock: two bots speak speech fixtures, the recorder's
//! media comes through a relay that delays each of its packets by 0–40 ms at random. Each
//! participant's WAV holds its fixture at one offset over the whole file (correlation
//! ≥ 0.9 from its first word to its last, nothing stretched), and the two files sit apart
//! by how far apart the two bots started speaking, within 6 ms (the service stamps both on
//! its room clock, so the recorder's own network jitter cannot move them: measured 0.8–3.7
//! ms off, most of it the test's own reading of when each bot started; stamped by their
//! arrival at the recorder as before, 1.3–19 ms off).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drops::{bot_config, join_recorder, server_behind_relay, wav};
use confab_bot::{AudioFrame, Bot, BotClient, CallEvent, CallHandle, async_trait};
use confab_testkit::{NetemConfig, fixtures, signal};

const SECONDS: usize = 8;

/// Speaks its frames once its media is up; notes when it started.
struct Speaker {
    frames: Vec<AudioFrame>,
    started: Arc<Mutex<Option<Instant>>>,
}

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            let frames = std::mem::take(&mut self.frames);
            let call = call.clone();
            let started = self.started.clone();
            tokio::spawn(async move {
                *started.lock().unwrap() = Some(Instant::now());
                for frame in frames {
                    if call.send_audio(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_files_line_up_on_the_call_clock() {
    let (server, relay) = server_behind_relay(NetemConfig::default(), 11, true).await;
    let group = uuid::Uuid::new_v4();
    let out = common::temp_dir();
    let recorder = join_recorder(bot_config(&server, "recorder"), group, &out).await;
    let mut waited = Duration::ZERO;
    while relay.clients().is_empty() {
        assert!(
            waited < Duration::from_secs(10),
            "the recorder never sent media"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    relay.set_client_down(
        relay.clients()[0],
        NetemConfig {
            base_delay: Duration::from_millis(5),
            jitter: Duration::from_millis(40),
            ..NetemConfig::default()
        },
    );
    let mut speakers = Vec::new();
    for (app, speaker) in [
        ("alice", fixtures::Speaker::Alice),
        ("bob", fixtures::Speaker::Bob),
    ] {
        let started = Arc::new(Mutex::new(None));
        let bot = Speaker {
            frames: fixtures::speech_frames(speaker)
                .into_iter()
                .take(SECONDS * 50)
                .collect(),
            started: started.clone(),
        };
        let task = BotClient::connect(bot_config(&server, app))
            .await
            .unwrap()
            .join_group(group, bot)
            .await
            .unwrap();
        speakers.push((app, speaker, started, task));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(SECONDS as u64 + 1)).await;
    for (_, _, _, task) in &speakers {
        task.handle().hang_up().await.unwrap();
    }
    recorder.handle().hang_up().await.unwrap();
    recorder.finished().await.unwrap();
    server.shutdown().await;

    let mut placed = Vec::new();
    for (app, speaker, started, _) in &speakers {
        let file = wav(&out.join(format!("participants/28_{app}.wav")));
        let fixture = fixtures::speech(*speaker);
        let spoken = &fixture[..(SECONDS * 48_000).min(fixture.len())];
        // Where the fixture starts in the file: near its first loud 20 ms.
        let loud = file
            .chunks(960)
            .position(|f| signal::rms_dbfs(f) > -40.0)
            .expect("speech in the file")
            * 960;
        let rough = spoken
            .chunks(960)
            .position(|f| signal::rms_dbfs(f) > -40.0)
            .unwrap_or(0)
            * 960;
        let from = loud.saturating_sub(rough + 9_600);
        let (lag, _) = signal::align(spoken, &file[from..], 19_200, 2 * 48_000);
        let at = from + lag;
        // The whole file from there: one offset, nothing stretched.
        let n = spoken.len().min(file.len() - at) - 4_800;
        let whole = signal::correlation(&spoken[..n], &file[at..at + n]);
        println!(
            "{app}: fixture at sample {at}, whole-file correlation {whole:.3} over {n} samples"
        );
        assert!(whole >= 0.9, "{app}: {whole:.3} over the whole file");
        placed.push((app, at as i64, started.lock().unwrap().expect("it spoke")));
    }
    let (a, b) = (&placed[0], &placed[1]);
    let in_files = b.1 - a.1;
    let sent = (b.2.duration_since(a.2).as_micros() as i64) * 48 / 1000;
    println!(
        "{} starts {in_files} samples after {} in the files; it started speaking {sent} samples later",
        b.0, a.0
    );
    assert!(
        (in_files - sent).abs() <= 288,
        "the files are {} samples ({:.1} ms) off the speakers' own timing",
        in_files - sent,
        (in_files - sent) as f64 / 48.0
    );
}
