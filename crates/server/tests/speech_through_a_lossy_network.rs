//! A bot's speech crosses an emulated bad network (10 % loss, 20 ms jitter on its way to the
//! service, through `confab_testkit::Relay`) to another bot: every 20 ms of it still
//! arrives — lost packets rebuilt from FEC or concealed, none a gap — and it is still the
//! speaker's speech. The full PESQ/STOI runs are scripts/quality.sh.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::drops;
use confab_bot::{
    AudioFrame, Bot, BotClient, CallEvent, CallHandle, MediaTime, Participant, async_trait,
};
use confab_server::ServerHandle;
use confab_testkit::{NetemConfig, fixtures, signal};
use tokio::sync::Notify;

const FRAMES: usize = 200;

struct Speaker {
    frames: Vec<AudioFrame>,
    go: Arc<Notify>,
}

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            let (frames, call, go) = (
                std::mem::take(&mut self.frames),
                call.clone(),
                self.go.clone(),
            );
            tokio::spawn(async move {
                go.notified().await;
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                for frame in frames {
                    tick.tick().await;
                    let _ = call.send_audio(frame).await;
                }
            });
        }
    }
}

/// Frames heard, with their stamps.
type Heard = Arc<Mutex<Vec<(MediaTime, Vec<i16>)>>>;

struct Listener {
    heard: Heard,
    go: Arc<Notify>,
}

#[async_trait]
impl Bot for Listener {
    async fn on_event(&mut self, _: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            self.go.notify_one();
        }
    }

    async fn on_participant_audio(&mut self, _: &CallHandle, _: &Participant, frame: &AudioFrame) {
        let mut heard = self.heard.lock().unwrap();
        heard.push((frame.timestamp(), frame.samples().to_vec()));
    }
}

async fn bot(server: &ServerHandle, name: &str) -> BotClient {
    BotClient::connect(drops::bot_config(server, name))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_survives_ten_percent_loss_and_jitter() {
    let up = NetemConfig {
        loss: 0.10,
        jitter: Duration::from_millis(20),
        ..NetemConfig::default()
    };
    let (server, relay) = drops::server_behind_relay(up, 5, true).await;
    let frames: Vec<AudioFrame> = fixtures::speech_frames(fixtures::Speaker::Alice)
        .into_iter()
        .take(FRAMES)
        .collect();
    let reference = fixtures::concat(&frames);
    let (group, go) = (uuid::Uuid::new_v4(), Arc::new(Notify::new()));
    let heard: Heard = Arc::new(Mutex::new(Vec::new()));
    let listener = bot(&server, "listener")
        .await
        .join_group(
            group,
            Listener {
                heard: heard.clone(),
                go: go.clone(),
            },
        )
        .await
        .unwrap();
    let speaker = bot(&server, "speaker")
        .await
        .join_group(group, Speaker { frames, go })
        .await
        .unwrap();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if speaker.handle().stats().audio_sent >= FRAMES as u64 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spoke = speaker.handle().stats();
    speaker.handle().hang_up().await.unwrap();
    listener.handle().hang_up().await.unwrap();
    let got = listener.finished().await.unwrap();
    let network = relay.stats();
    server.shutdown().await;

    let heard = heard.lock().unwrap();
    println!(
        "network {network:?}\nlistener {:?}, {} frames",
        got.stats,
        heard.len()
    );
    assert!(
        network.up.dropped >= 10,
        "the network did lose packets: {network:?}"
    );
    assert!(
        got.stats.packets_lost >= 10,
        "and the listener saw them as lost"
    );
    // The service's reception reports reach the speaker, whose FEC follows them.
    println!(
        "speaker: loss reported {} %, FEC planned for {} %",
        spoke.audio_loss_reported_percent, spoke.audio_fec_percent
    );
    assert!(
        (1..=30).contains(&spoke.audio_loss_reported_percent),
        "the service reported the speaker's loss: {spoke:?}"
    );
    assert!(
        spoke.audio_fec_percent > 10,
        "and the FEC got stronger than the default 10 %: {spoke:?}"
    );
    assert!(
        heard.len() >= FRAMES - 3,
        "every 20 ms arrived: {} of {FRAMES}",
        heard.len()
    );
    assert!(
        heard
            .windows(2)
            .all(|w| w[1].0.saturating_since(w[0].0) == Duration::from_millis(20)),
        "no gaps in time"
    );
    let pcm: Vec<i16> = heard.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    let (_, corr) = signal::align(&reference, &pcm, 4_800, 48_000);
    println!("correlation with what was said: {corr:.3}");
    assert!(corr >= 0.7, "still the speaker's speech: {corr:.3}");
}
