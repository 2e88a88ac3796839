//! How many bots this machine carries: runs the service in-process and many bots against it,
//! then reports late frames, join-to-first-audio times and the service's mixer tick times.
//!
//!   cargo run --release -p confab-server --example bot_load -- recorder --calls 20
//!   cargo run --release -p confab-server --example bot_load -- echo --calls 20
//!   cargo run --release -p confab-server --example bot_load -- room --participants 350
//!
//! `recorder`: N calls, each with one speaking participant and a recorder bot writing WAVs
//! and a manifest. `echo`: N calls, each with one speaking participant and a live echo bot.
//! `room`: one call with P participants (SDK bots), 3 of them speaking.
//! A frame is late when the bot's media thread ran its 20 ms tick (receive) or its paced
//! send more than a frame behind schedule.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_bot::{
    AudioFrame, Bot, BotClient, BotConfig, CallEvent, CallHandle, CallStats, CallTask, Identity,
    MediaTime, Participant, async_trait,
};
use confab_media::AudioFormat;
use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::Scope;

/// Speaks a fixture on a loop, one frame when due.
struct Speaker {
    speech: Arc<Vec<i16>>,
}

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event != CallEvent::MediaConnected {
            return;
        }
        let (call, speech) = (call.clone(), self.speech.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for (k, chunk) in speech.chunks_exact(960).cycle().enumerate() {
                tick.tick().await;
                let frame = AudioFrame::new(
                    AudioFormat::MONO_48K,
                    MediaTime::from_millis(k as u64 * 20),
                    chunk.to_vec(),
                )
                .unwrap();
                if matches!(
                    call.try_send_audio(frame),
                    Err(confab_bot::SendError::Ended)
                ) {
                    break;
                }
            }
        });
    }
}

/// Notes when the first mixed (or unmixed) audio frame arrived, and passes everything on.
struct Probe<B> {
    inner: B,
    joined: Instant,
    first_audio: Arc<Mutex<Option<Duration>>>,
}

#[async_trait]
impl<B: Bot> Bot for Probe<B> {
    async fn on_joined(&mut self, call: &CallHandle) {
        self.inner.on_joined(call).await;
    }
    async fn on_mixed_audio(&mut self, call: &CallHandle, frame: &AudioFrame) {
        {
            let mut first = self.first_audio.lock().unwrap();
            if first.is_none() {
                *first = Some(self.joined.elapsed());
            }
        }
        self.inner.on_mixed_audio(call, frame).await;
    }
    async fn on_participant_audio(
        &mut self,
        call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        self.inner.on_participant_audio(call, who, frame).await;
    }
    async fn on_encoded_video(
        &mut self,
        call: &CallHandle,
        who: &Participant,
        source: confab_bot::VideoSource,
        picture: &confab_bot::EncodedPicture,
    ) {
        self.inner
            .on_encoded_video(call, who, source, picture)
            .await;
    }
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        self.inner.on_event(call, event).await;
    }
    async fn on_left(&mut self, call: &CallHandle, reason: &confab_bot::EndReason) {
        self.inner.on_left(call, reason).await;
    }
}

struct Silent;
impl Bot for Silent {}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bot(
    server: &ServerHandle,
    identity: Identity,
    configure: impl FnOnce(&mut BotConfig),
) -> BotClient {
    let scope = if identity.is_bot() {
        Scope::Bot
    } else {
        Scope::Voip
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = server
        .token_key()
        .mint(&identity, &[scope], now, 3600)
        .unwrap();
    let mut config = BotConfig::new(server.base_url(), identity, token);
    config.request_timeout = Duration::from_secs(60);
    configure(&mut config);
    BotClient::connect(config).await.unwrap()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v.get(((p / 100.0) * (v.len().max(1) - 1) as f64).round() as usize)
        .copied()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "recorder".into());
    let calls = arg("--calls", 10) as usize;
    let participants = arg("--participants", 350) as usize;
    let seconds = arg("--seconds", 20);
    let speech: Arc<Vec<i16>> = Arc::new(
        hound::WavReader::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/speech-alice.wav"
        ))
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect(),
    );
    let out = std::env::temp_dir().join(format!("confab-load-{}", uuid::Uuid::new_v4()));
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: out.join("data"),
        echo_service: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();

    let mut measured: Vec<(CallTask, Arc<Mutex<Option<Duration>>>)> = Vec::new();
    let mut others: Vec<CallTask> = Vec::new();
    let mut clients = Vec::new();
    let started = Instant::now();
    match mode.as_str() {
        "recorder" | "echo" => {
            for n in 0..calls {
                let group = uuid::Uuid::new_v4();
                let talker = bot(&server, Identity::new_user(), |_| {}).await;
                others.push(
                    talker
                        .join_group(
                            group,
                            Speaker {
                                speech: speech.clone(),
                            },
                        )
                        .await
                        .unwrap(),
                );
                clients.push(talker);
                let first = Arc::new(Mutex::new(None));
                let client = if mode == "recorder" {
                    let c = bot(
                        &server,
                        Identity::Bot(format!("recorder-{n}")),
                        confab_recorder::Recorder::configure,
                    )
                    .await;
                    let recorder =
                        confab_recorder::Recorder::new(out.join(format!("call-{n}"))).unwrap();
                    let probe = Probe {
                        inner: recorder,
                        joined: Instant::now(),
                        first_audio: first.clone(),
                    };
                    measured.push((c.join_group(group, probe).await.unwrap(), first));
                    c
                } else {
                    let c = bot(&server, Identity::Bot(format!("echo-{n}")), |c| {
                        c.unmixed_slots = 0;
                        c.video_slots = 1;
                    })
                    .await;
                    let echo = confab_echo::LiveEcho::new(Duration::from_millis(500));
                    let probe = Probe {
                        inner: echo,
                        joined: Instant::now(),
                        first_audio: first.clone(),
                    };
                    measured.push((c.join_group(group, probe).await.unwrap(), first));
                    c
                };
                clients.push(client);
            }
        }
        "room" => {
            let group = uuid::Uuid::new_v4();
            for n in 0..participants {
                let first = Arc::new(Mutex::new(None));
                // Listeners take the mix at 16 kHz (speech-recognition bots); speakers send 48 kHz.
                let c = bot(&server, Identity::new_user(), |c| {
                    c.unmixed_slots = 0;
                    c.video_slots = 1;
                    if n >= 3 {
                        c.audio_rate = confab_bot::AudioRate::Hz16000;
                    }
                })
                .await;
                let joined = Instant::now();
                let task = if n < 3 {
                    c.join_group(
                        group,
                        Probe {
                            inner: Speaker {
                                speech: speech.clone(),
                            },
                            joined,
                            first_audio: first.clone(),
                        },
                    )
                    .await
                } else {
                    c.join_group(
                        group,
                        Probe {
                            inner: Silent,
                            joined,
                            first_audio: first.clone(),
                        },
                    )
                    .await
                };
                measured.push((task.unwrap(), first));
                clients.push(c);
                if n % 50 == 49 {
                    println!(
                        "{} participants joined ({:.1} s)",
                        n + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        other => panic!("unknown mode {other}: recorder, echo or room"),
    }
    println!(
        "all joined in {:.1} s; running {seconds} s",
        started.elapsed().as_secs_f64()
    );
    let before: Vec<CallStats> = measured.iter().map(|(t, _)| t.handle().stats()).collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after: Vec<CallStats> = measured.iter().map(|(t, _)| t.handle().stats()).collect();
    let (mut ticks, mut late, mut sent, mut sent_late, mut dropped, mut mixed) = (0, 0, 0, 0, 0, 0);
    for (a, b) in after.iter().zip(&before) {
        ticks += a.ticks - b.ticks;
        late += a.ticks_late - b.ticks_late;
        sent += a.audio_sent - b.audio_sent;
        sent_late += a.audio_late - b.audio_late;
        dropped += a.frames_dropped - b.frames_dropped;
        mixed += a.mixed_frames - b.mixed_frames;
    }
    let firsts: Vec<Duration> = measured
        .iter()
        .filter_map(|(_, f)| *f.lock().unwrap())
        .collect();
    let text = {
        let addr = server.http_addr();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut t = String::new();
            s.read_to_string(&mut t).unwrap();
            t
        })
        .await
        .unwrap()
    };
    let metric = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let tick_mean_us = metric("confab_mixer_tick_seconds_sum")
        / metric("confab_mixer_tick_seconds_count").max(1.0)
        * 1e6;
    println!(
        "\nmode {mode}: {} measured bots over {seconds} s (machine: {} cores)",
        measured.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  receive ticks {ticks}, late {late} ({:.3} %)",
        late as f64 * 100.0 / ticks.max(1) as f64
    );
    println!(
        "  frames sent {sent}, late {sent_late} ({:.3} %)",
        sent_late as f64 * 100.0 / sent.max(1) as f64
    );
    println!(
        "  mixed frames delivered {mixed} (expected ~{}), dropped for slowness {dropped}",
        measured.len() as u64 * seconds * 50
    );
    println!(
        "  join → first audio frame: p50 {:?}, p95 {:?}, max {:?} (n={})",
        percentile(firsts.clone(), 50.0),
        percentile(firsts.clone(), 95.0),
        percentile(firsts.clone(), 100.0),
        firsts.len()
    );
    println!(
        "  service: mixer tick mean {tick_mean_us:.0} µs, tick overruns {}, datagrams in {} out {}",
        metric("confab_media_tick_overruns_total"),
        metric("confab_media_datagrams_received_total"),
        metric("confab_media_datagrams_sent_total")
    );
    for (task, _) in &measured {
        let _ = task.handle().hang_up().await;
    }
    for task in &others {
        let _ = task.handle().hang_up().await;
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&out);
}
