//! Speech through the service over an impaired network, written out for objective scoring
//! (scripts/quality.py runs PESQ and STOI on the files).
//!
//!   cargo run --release -p confab-server --example quality -- --out q --loss 0.1 --jitter-ms 50
//!
//! Runs the service in-process advertising 127.0.0.2 as its media address, with a
//! `confab_testkit::Relay` there in front of it, so both bots' media crosses the emulated
//! network: towards the service (the speaker's path), and with `--both 1` back as well. A speaker bot says the Alice fixture in real time; a
//! listener bot keeps what it hears: the speaker's own (unmixed, forwarded) stream and the
//! mix. Written at 48 kHz: `reference.wav` (the fixture), `codec.wav` (the fixture through
//! the SDK's Opus encoder and decoder only: the codec's own limit), `unmixed.wav`,
//! `mixed.wav`, and `report.json` (network and receiver counters).

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_bot::{
    AudioFrame, Bot, BotClient, BotConfig, CallEvent, CallHandle, Identity, MediaTime, Participant,
    async_trait,
};
use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, FrameDuration};
use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::Scope;
use confab_testkit::{NetemConfig, Relay, RelayConfig, fixtures, signal};

/// Says its frames in real time once its media and the listener's are up.
struct Speaker {
    frames: Vec<AudioFrame>,
    listening: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event != CallEvent::MediaConnected {
            return;
        }
        let frames = std::mem::take(&mut self.frames);
        let call = call.clone();
        let listening = self.listening.clone();
        tokio::spawn(async move {
            listening.notified().await;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for frame in frames {
                tick.tick().await;
                if call.send_audio(frame).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[derive(Default)]
struct Heard {
    unmixed: Vec<(MediaTime, Vec<i16>)>,
    mixed: Vec<(MediaTime, Vec<i16>)>,
}

struct Listener {
    heard: Arc<Mutex<Heard>>,
    listening: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Bot for Listener {
    async fn on_event(&mut self, _call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            self.listening.notify_one();
        }
    }

    async fn on_mixed_audio(&mut self, _call: &CallHandle, frame: &AudioFrame) {
        let mut heard = self.heard.lock().unwrap();
        heard
            .mixed
            .push((frame.timestamp(), frame.samples().to_vec()));
    }

    async fn on_participant_audio(&mut self, _: &CallHandle, _: &Participant, frame: &AudioFrame) {
        let mut heard = self.heard.lock().unwrap();
        heard
            .unmixed
            .push((frame.timestamp(), frame.samples().to_vec()));
    }
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn out_dir() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from("quality-out"), PathBuf::from)
}

async fn bot(server: &ServerHandle, name: &str) -> BotClient {
    let identity = Identity::Bot(name.into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = server
        .token_key()
        .mint(&identity, &[Scope::Bot], now, 3600)
        .unwrap();
    BotClient::connect(BotConfig::new(server.base_url(), identity, token))
        .await
        .unwrap()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// The fixture through the SDK's encoder settings and a decoder, nothing else.
fn codec_only(frames: &[AudioFrame]) -> Vec<i16> {
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let mut out = Vec::new();
    let mut packet = Vec::new();
    for frame in frames {
        packet.clear();
        encoder.encode(frame, &mut packet).unwrap();
        let mut decoded = AudioFrame::silence(
            AudioFormat::MONO_48K,
            FrameDuration::Ms20,
            frame.timestamp(),
        );
        decoder
            .decode_into(&packet, frame.timestamp(), &mut decoded)
            .unwrap();
        out.extend_from_slice(decoded.samples());
    }
    out
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let out = out_dir();
    std::fs::create_dir_all(&out).unwrap();
    let net = NetemConfig {
        base_delay: Duration::from_millis(arg("--delay-ms", 10.0) as u64),
        jitter: Duration::from_millis(arg("--jitter-ms", 0.0) as u64),
        loss: arg("--loss", 0.0),
        burst_enter: arg("--burst-enter", 0.0),
        burst_exit: arg("--burst-exit", 1.0),
        ..NetemConfig::default()
    };
    let data = std::env::temp_dir().join(format!("confab-quality-{}", uuid::Uuid::new_v4()));
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        public_ip: Some("127.0.0.2".parse().unwrap()),
        data_dir: data.clone(),
        echo_service: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    // The service binds 127.0.0.1 and advertises 127.0.0.2, where the relay listens.
    let port = server.media_addr().port();
    let relay = Relay::start(RelayConfig {
        listen: ([127, 0, 0, 2], port).into(),
        upstream: ([127, 0, 0, 1], port).into(),
        // The speaker's path to the service; with `--both 1` also the way back to the
        // listener (every packet then crosses the emulated network twice).
        up: net.clone(),
        down: if arg("--both", 0.0) > 0.0 {
            net
        } else {
            NetemConfig {
                base_delay: net.base_delay,
                ..NetemConfig::default()
            }
        },
        seed: arg("--seed", 1.0) as u64,
        // The media is what is measured; rtc's DTLS handshake does not always survive 10 %
        // loss with reordering (see docs/quality.md), so handshakes pass unimpaired.
        media_only: arg("--media-only", 1.0) > 0.0,
    })
    .expect("the relay binds 127.0.0.2 (loopback)");
    let frames = fixtures::speech_frames(fixtures::Speaker::Alice);
    let group = uuid::Uuid::new_v4();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let listening = Arc::new(tokio::sync::Notify::new());
    let listener = bot(&server, "listener")
        .await
        .join_group(
            group,
            Listener {
                heard: heard.clone(),
                listening: listening.clone(),
            },
        )
        .await
        .unwrap();
    let speaker = bot(&server, "speaker")
        .await
        .join_group(
            group,
            Speaker {
                frames: frames.clone(),
                listening,
            },
        )
        .await
        .unwrap();
    // Until the speaker has said everything (it starts once both are connected), and a
    // second for the tail to arrive.
    let said_all = frames.len() as u64;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if speaker.handle().stats().audio_sent >= said_all {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    speaker.handle().hang_up().await.unwrap();
    listener.handle().hang_up().await.unwrap();
    let said = speaker.finished().await.unwrap();
    let got = listener.finished().await.unwrap();
    let network = relay.stats();
    drop(relay);
    let stage = |h: &confab_server::LatencyHistogram| {
        serde_json::json!({
            "p50_ms": h.quantile_micros(0.5).map(|us| us / 1000),
            "p99_ms": h.quantile_micros(0.99).map(|us| us / 1000),
            "count": h.count(),
        })
    };
    let service = serde_json::json!({
        "mix_jitter_wait": stage(&server.metrics().mix_wait),
        "mix_followed_wait": stage(&server.metrics().mix_followed_wait),
        "mix_tick_to_socket": stage(&server.metrics().mix_out),
    });
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&data);

    let reference = fixtures::concat(&frames);
    let heard = heard.lock().unwrap();
    write_wav(&out.join("reference.wav"), &reference);
    write_wav(&out.join("codec.wav"), &codec_only(&frames));
    write_wav(
        &out.join("unmixed.wav"),
        &signal::on_clock(&heard.unmixed, 48_000),
    );
    write_wav(
        &out.join("mixed.wav"),
        &signal::on_clock(&heard.mixed, 48_000),
    );
    let gaps = |f: &[(MediaTime, Vec<i16>)]| -> Vec<u64> {
        f.windows(2)
            .map(|w| w[1].0.saturating_since(w[0].0).as_millis() as u64)
            .filter(|g| *g != 20)
            .collect()
    };
    let report = serde_json::json!({
        "gaps": {"unmixed": gaps(&heard.unmixed), "mixed": gaps(&heard.mixed)},
        // Where each file starts on the listener's clock (µs): their offset, after
        // alignment to the reference, is what the mix adds to the forwarded path.
        "first_us": {
            "unmixed": heard.unmixed.first().map(|f| f.0.as_micros()),
            "mixed": heard.mixed.first().map(|f| f.0.as_micros()),
        },
        "network": {
            "up": {"sent": network.up.sent, "dropped": network.up.dropped},
            "down": {"sent": network.down.sent, "dropped": network.down.dropped},
        },
        "speaker": {
            "audio_sent": said.stats.audio_sent,
            "late": said.stats.audio_late,
            "ended": said.reason.text,
        },
        "service": service,
        "listener": {
            "unmixed_frames": heard.unmixed.len(),
            "mixed_frames": heard.mixed.len(),
            "packets_lost": got.stats.packets_lost,
            "sdk": format!("{:?}", got.stats),
            "concealed": got.stats.concealed,
        },
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("{report}");
}
