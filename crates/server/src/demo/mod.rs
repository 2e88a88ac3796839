//! `confab demo`: the whole product in one command. It starts the call service in-process,
//! puts three synthetic participants in a group call (speech fixtures taking turns, moving
//! test-pattern cameras), the recorder bot and a live echo bot; runs for a while; then prints
//! who spoke when, what the recorder received, loss, mouth-to-bot latency and the files it
//! wrote.

mod latency;
mod synthetic;
mod tap;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_bot::{BotClient, BotConfig, Identity};
use confab_echo::LiveEcho;
use confab_recorder::{Recorder, file_stem};
use confab_signaling::Scope;

use self::synthetic::{Spoken, Synthetic};
use self::tap::{Arrivals, MixArrivals, Tap};
use crate::{ServerConfig, ServerHandle};

const ALICE_WAV: &[u8] = include_bytes!("../../../../fixtures/speech-alice.wav");
const BOB_WAV: &[u8] = include_bytes!("../../../../fixtures/speech-bob.wav");
const CAROL_WAV: &[u8] = include_bytes!("../../../../fixtures/speech-carol.wav");

/// A synthetic participant to run: name, fixture file, fixture bytes, camera size.
type Person = (&'static str, &'static str, &'static [u8], (u32, u32));

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Length of the call (the speakers' turns are spread over it).
    pub seconds: u32,
    /// Where the recorder writes.
    pub out: PathBuf,
}

/// The demo failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The service did not start.
    #[error("service: {0}")]
    Server(#[from] crate::ServerError),
    /// A bot failed.
    #[error("bot: {0}")]
    Bot(#[from] confab_bot::BotError),
    /// The recorder could not write.
    #[error("recorder: {0}")]
    Recorder(#[from] confab_recorder::RecorderError),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

/// One synthetic participant, as the demo ran it.
#[derive(Debug, Clone)]
pub struct DemoSpeaker {
    /// Display name.
    pub name: String,
    /// Identity.
    pub identity: Identity,
    /// The fixture it spoke from (file name in `fixtures/`).
    pub fixture: &'static str,
    /// Camera size sent.
    pub size: (u32, u32),
    /// Audio frames and pictures it sent.
    pub frames_sent: u64,
    /// Pictures sent.
    pub pictures_sent: u64,
    /// The recorder's WAV and H.264 of it (relative to the output directory).
    pub wav: String,
    /// Its camera file.
    pub h264: String,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The readable summary.
    pub summary: String,
    /// The synthetic participants.
    pub speakers: Vec<DemoSpeaker>,
    /// Mouth-to-bot latency percentiles (p50, p99), when measurable.
    pub latency: Option<(Duration, Duration)>,
    /// The same through the service's mix (p50, p99), when measurable.
    pub mix_latency: Option<(Duration, Duration)>,
}

/// When a participant's recorded audio is speech: 100 ms windows above −40 dBFS, merged
/// across pauses under 0.6 s, kept if at least 0.3 s long (seconds on the recording clock).
fn speaking_intervals(path: &Path) -> Vec<(f64, f64)> {
    let Ok(reader) = hound::WavReader::open(path) else {
        return Vec::new();
    };
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .filter_map(Result::ok)
        .collect();
    let mut intervals: Vec<(f64, f64)> = Vec::new();
    for (i, window) in samples.chunks(4800).enumerate() {
        let power = window.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / window.len() as f64;
        let db = 10.0 * (power / f64::from(i16::MAX).powi(2) + 1e-12).log10();
        if db < -40.0 {
            continue;
        }
        let (start, end) = (i as f64 * 0.1, i as f64 * 0.1 + 0.1);
        match intervals.last_mut() {
            Some(last) if start - last.1 < 0.6 => last.1 = end,
            _ => intervals.push((start, end)),
        }
    }
    intervals.retain(|(a, b)| b - a >= 0.3);
    intervals
}

fn wav_samples(bytes: &[u8]) -> Result<Vec<i16>, DemoError> {
    hound::WavReader::new(bytes)
        .map_err(|e| DemoError::Other(e.to_string()))?
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| DemoError::Other(e.to_string()))
}

#[allow(clippy::disallowed_methods)] // a driver: tokens are minted against the wall clock
fn token(server: &ServerHandle, identity: &Identity) -> Result<String, DemoError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let scope = if identity.is_bot() {
        Scope::Bot
    } else {
        Scope::Voip
    };
    server
        .token_key()
        .mint(identity, &[scope], now, 3600)
        .map_err(|e| DemoError::Other(e.to_string()))
}

async fn connect(
    server: &ServerHandle,
    identity: Identity,
    name: &str,
    configure: impl FnOnce(&mut BotConfig),
) -> Result<BotClient, DemoError> {
    let mut config = BotConfig::new(
        server.base_url(),
        identity.clone(),
        token(server, &identity)?,
    );
    config.display_name = name.to_owned();
    configure(&mut config);
    Ok(BotClient::connect(config).await?)
}

/// Runs the demo.
pub async fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let seconds = options.seconds.max(4);
    let data_dir = std::env::temp_dir().join(format!("confab-demo-{}", uuid::Uuid::new_v4()));
    let server = crate::start(ServerConfig {
        http: "127.0.0.1:0"
            .parse()
            .map_err(|_| DemoError::Other("address".into()))?,
        media_udp: "127.0.0.1:0"
            .parse()
            .map_err(|_| DemoError::Other("address".into()))?,
        data_dir: data_dir.clone(),
        ..ServerConfig::default()
    })
    .await?;
    let result = run_call(&server, seconds, &options.out).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn run_call(
    server: &ServerHandle,
    seconds: u32,
    out: &Path,
) -> Result<DemoReport, DemoError> {
    let group = uuid::Uuid::new_v4();
    tracing::info!(%group, "demo: starting the call");
    // The recorder first, so it hears everything.
    let arrivals: Arrivals = Arc::default();
    let mixed_arrivals: MixArrivals = Arc::default();
    let recorder_client = connect(
        server,
        Identity::Bot("recorder".into()),
        "Recorder",
        Recorder::configure,
    )
    .await?;
    let recorder = recorder_client
        .join_group(
            group,
            Tap {
                inner: Recorder::new(out)?,
                arrivals: arrivals.clone(),
                mixed: mixed_arrivals.clone(),
            },
        )
        .await?;
    let echo_client = connect(server, Identity::Bot("echo".into()), "Echo", |c| {
        c.unmixed_slots = 0;
        c.video_slots = 1;
    })
    .await?;
    let echo = echo_client
        .join_group(group, LiveEcho::new(Duration::from_millis(1500)))
        .await?;

    // Turns: each speaks for 40 % of the call, starting 30 % apart (a little overlap).
    let turn = f64::from(seconds) * 0.4;
    let people: [Person; 3] = [
        ("Alice", "speech-alice.wav", ALICE_WAV, (320, 240)),
        ("Bob", "speech-bob.wav", BOB_WAV, (256, 192)),
        ("Carol", "speech-carol.wav", CAROL_WAV, (352, 288)),
    ];
    let mut speakers = Vec::new();
    for (i, (name, fixture, wav, size)) in people.into_iter().enumerate() {
        let mut speech = wav_samples(wav)?;
        speech.truncate(((turn * 48_000.0) as usize / 960) * 960);
        let identity = Identity::new_user();
        let client = connect(server, identity.clone(), name, |_| {}).await?;
        let spoken = Arc::new(Mutex::new(Spoken::default()));
        let bot = Synthetic {
            speech,
            start_after: Duration::from_secs_f64(f64::from(seconds) * 0.3 * i as f64 + 0.5),
            size,
            video_for: Duration::from_secs(u64::from(seconds)),
            spoken: spoken.clone(),
        };
        let task = client.join_group(group, bot).await?;
        speakers.push((name, fixture, size, identity, client, task, spoken));
    }
    for second in 1..=seconds + 1 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tracing::info!("demo: {second} s of {}", seconds + 1);
    }
    for (.., task, _) in &speakers {
        let _ = task.handle().hang_up().await;
    }
    let _ = echo.handle().hang_up().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = recorder.handle().hang_up().await;
    let recorded = recorder.finished().await?;
    let echoed = echo.finished().await?;
    let mut reports = Vec::new();
    for (name, fixture, size, identity, client, task, spoken) in speakers {
        let report = task.finished().await?;
        client.close().await;
        reports.push((name, fixture, size, identity, report, spoken));
    }
    recorder_client.close().await;
    echo_client.close().await;

    // The summary, from the recorder's own manifest.
    let manifest: serde_json::Value = std::fs::read(out.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| DemoError::Other("the recorder wrote no readable manifest".into()))?;
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mixed_arrivals = mixed_arrivals.lock().map(|m| m.clone()).unwrap_or_default();
    let mut all_latencies = Vec::new();
    let mut mix_latencies = Vec::new();
    let mut speakers_out = Vec::new();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nconfab demo: a {seconds} s group call — Alice, Bob and Carol (synthetic: speech fixtures, test-pattern cameras), the recorder bot and a live echo bot."
    );
    let _ = writeln!(
        s,
        "\nWho spoke when (each one's own audio as recorded; seconds on the recording's clock):"
    );
    for p in manifest["participants"].as_array().into_iter().flatten() {
        let Some(file) = p["audio"]["file"].as_str() else {
            continue;
        };
        let spans: Vec<String> = speaking_intervals(&out.join(file))
            .iter()
            .map(|(a, b)| format!("{a:.1}–{b:.1}"))
            .collect();
        let _ = writeln!(
            s,
            "  {:<8} {}",
            p["display_name"].as_str().unwrap_or("?"),
            if spans.is_empty() {
                "silent".to_owned()
            } else {
                spans.join(", ")
            }
        );
    }
    let dominant: Vec<String> = manifest["dominant_speakers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} at {:.1} s",
                d["display_name"].as_str().unwrap_or("?"),
                d["at_ms"].as_f64().unwrap_or(0.0) / 1000.0
            )
        })
        .collect();
    let _ = writeln!(s, "  Dominant speaker: {}", dominant.join(" → "));
    let _ = writeln!(s, "\nWhat the recorder received:");
    let _ = writeln!(
        s,
        "  {:<8} {:>12} {:>14} {:>16} {:>13}",
        "", "audio sent", "audio frames", "pictures (sent)", "camera size"
    );
    let by_identity: HashMap<String, &serde_json::Value> = manifest["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["identity"].as_str()?.to_owned(), p)))
        .collect();
    for (name, fixture, size, identity, report, spoken) in &reports {
        let entry = by_identity.get(&identity.to_string());
        let audio_frames = entry
            .and_then(|p| p["audio"]["frames"].as_u64())
            .unwrap_or(0);
        let pictures = entry
            .and_then(|p| p["video"]["camera"]["frames"].as_u64())
            .unwrap_or(0);
        let (frames_sent, pictures_sent, spoke_at, said) = spoken
            .lock()
            .map(|s| (s.frames, s.pictures, s.spoke_at, s.samples.clone()))
            .map_err(|_| DemoError::Other("poisoned".into()))?;
        let _ = writeln!(
            s,
            "  {name:<8} {frames_sent:>12} {audio_frames:>14} {:>16} {:>13}",
            format!("{pictures} ({pictures_sent})"),
            format!("{}x{}", size.0, size.1)
        );
        if let (Some(at), Some(got)) = (spoke_at, arrivals.get(identity)) {
            all_latencies.extend(latency::latencies(&said, at, got));
        }
        if let Some(at) = spoke_at {
            // Windows where this speaker dominates the mix match; overlaps do not.
            mix_latencies.extend(latency::latencies(&said, at, &mixed_arrivals));
        }
        tracing::debug!(?report, "speaker call report");
        let stem = file_stem(identity);
        speakers_out.push(DemoSpeaker {
            name: (*name).to_owned(),
            identity: identity.clone(),
            fixture,
            size: *size,
            frames_sent,
            pictures_sent,
            wav: format!("participants/{stem}.wav"),
            h264: format!("participants/{stem}.h264"),
        });
    }
    let counters = &manifest["counters"];
    let _ = writeln!(
        s,
        "\nLoss at the recorder: {} audio packets lost, {} frames concealed, {} frames dropped (bot too slow), {} late ticks.",
        counters["audio_packets_lost"],
        counters["audio_frames_concealed"],
        counters["frames_dropped"],
        counters["late_ticks"]
    );
    let _ = writeln!(
        s,
        "Echo bot: sent {} frames back into the call ({} queue underruns).",
        echoed.stats.audio_sent, echoed.stats.audio_underruns
    );
    let latency = match (
        latency::percentile(&all_latencies, 50.0),
        latency::percentile(&all_latencies, 99.0),
    ) {
        (Some(p50), Some(p99)) => {
            let _ = writeln!(
                s,
                "Mouth-to-bot latency (speaker's microphone to the recorder's callback, {} windows of 200 ms): p50 {} ms, p99 {} ms.",
                all_latencies.len(),
                p50.as_millis(),
                p99.as_millis()
            );
            Some((p50, p99))
        }
        _ => {
            let _ = writeln!(s, "Mouth-to-bot latency: not measurable (no speech found).");
            None
        }
    };
    let mix_latency = match (
        latency::percentile(&mix_latencies, 50.0),
        latency::percentile(&mix_latencies, 99.0),
    ) {
        (Some(p50), Some(p99)) => {
            let _ = writeln!(
                s,
                "Through the service's mix (jitter buffer, mixing, encoding; {} windows): p50 {} ms, p99 {} ms.",
                mix_latencies.len(),
                p50.as_millis(),
                p99.as_millis()
            );
            Some((p50, p99))
        }
        _ => None,
    };
    let metrics = server.metrics();
    let ms = |h: &crate::metrics::LatencyHistogram, q: f64| {
        h.quantile_micros(q)
            .map_or_else(|| "-".to_owned(), |us| format!("{}", us / 1000))
    };
    if metrics.mix_wait.count() > 0 {
        let _ = writeln!(
            s,
            "Inside the service, per mixed frame: jitter-buffer wait (arrival to mixer tick) p50 {} / p99 {} ms, of the dominant speaker (the tick is aligned to it) p50 {} / p99 {} ms; tick to socket (mix, encode, fan-out) p50 {} / p99 {} ms (1 ms histogram buckets, upper bounds).",
            ms(&metrics.mix_wait, 0.5),
            ms(&metrics.mix_wait, 0.99),
            ms(&metrics.mix_followed_wait, 0.5),
            ms(&metrics.mix_followed_wait, 0.99),
            ms(&metrics.mix_out, 0.5),
            ms(&metrics.mix_out, 0.99),
        );
    }
    let _ = writeln!(s, "\nFiles written in {}:", out.display());
    for f in manifest["files"].as_array().into_iter().flatten() {
        let file = f["file"].as_str().unwrap_or("?");
        let who = f["identity"]
            .as_str()
            .and_then(|id| by_identity.get(id))
            .and_then(|p| p["display_name"].as_str())
            .unwrap_or("the mix");
        let size = std::fs::metadata(out.join(file)).map_or(0, |m| m.len());
        let what = match (f["seconds"].as_f64(), f["frames"].as_u64()) {
            (Some(secs), _) => format!("{secs:.1} s"),
            (None, Some(frames)) => format!("{frames} pictures"),
            _ => String::new(),
        };
        let _ = writeln!(s, "  {who:<8} {what:>13} {:>6} KiB  {file}", size / 1024);
    }
    let _ = writeln!(s, "  {:<8} {:>13} {:>6}      manifest.json", "", "", "");
    let _ = writeln!(
        s,
        "\nThe call ended for the recorder: {}.",
        recorded.reason.text
    );
    Ok(DemoReport {
        summary: s,
        speakers: speakers_out,
        latency,
        mix_latency,
    })
}
