//! What the network-drop and lossy-network scenarios share: a service whose media goes
//! through a `confab_testkit::Relay`, bot configs, and a bot that speaks a steady tone and
//! notes its events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_bot::{
    Bot, BotClient, BotConfig, CallEvent, CallHandle, CallTask, Identity, async_trait,
};
use confab_recorder::Recorder;
use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::Scope;
use confab_testkit::{NetemConfig, Relay, RelayConfig, fixtures, signal};

/// A service that advertises 127.0.0.2 for media, and the relay there in front of it:
/// `up` impairs what clients send (network `seed`), `media_only` leaves STUN and DTLS alone.
pub async fn server_behind_relay(
    up: NetemConfig,
    seed: u64,
    media_only: bool,
) -> (ServerHandle, Relay) {
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        public_ip: Some("127.0.0.2".parse().unwrap()),
        data_dir: super::temp_dir(),
        echo_service: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let port = server.media_addr().port();
    let relay = Relay::start(RelayConfig {
        listen: ([127, 0, 0, 2], port).into(),
        upstream: ([127, 0, 0, 1], port).into(),
        up,
        down: NetemConfig::default(),
        seed,
        media_only,
    })
    .unwrap();
    (server, relay)
}

/// A bot `28:<name>` with a fresh bot token, on the service's own address.
pub fn bot_config(server: &ServerHandle, name: &str) -> BotConfig {
    super::phones::bot_config(server, Identity::Bot(name.into()), name, &[Scope::Bot])
}

/// Joins the recorder bot (configured as its binary configures itself) to `group`,
/// writing into `out`.
pub async fn join_recorder(
    mut config: BotConfig,
    group: uuid::Uuid,
    out: &std::path::Path,
) -> CallTask {
    Recorder::configure(&mut config);
    BotClient::connect(config)
        .await
        .unwrap()
        .join_group(group, Recorder::new(out).unwrap())
        .await
        .unwrap()
}

/// Joins a [`ToneSpeaker`] that speaks for `seconds` and notes its events in `seen`.
pub async fn join_tone_speaker(
    config: BotConfig,
    group: uuid::Uuid,
    seen: &Seen,
    seconds: usize,
) -> CallTask {
    BotClient::connect(config)
        .await
        .unwrap()
        .join_group(
            group,
            ToneSpeaker {
                seen: seen.clone(),
                seconds,
            },
        )
        .await
        .unwrap()
}

/// A bot's events, with when they came.
pub type Seen = Arc<Mutex<Vec<(Instant, CallEvent)>>>;

/// Speaks a steady 440 Hz tone for `seconds` from the moment its media connects, and notes
/// its events.
pub struct ToneSpeaker {
    pub seen: Seen,
    pub seconds: usize,
}

#[async_trait]
impl Bot for ToneSpeaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        self.seen
            .lock()
            .unwrap()
            .push((Instant::now(), event.clone()));
        if *event == CallEvent::MediaConnected {
            let (call, seconds) = (call.clone(), self.seconds);
            tokio::spawn(async move {
                let samples: Vec<i16> = (0..48_000 * seconds)
                    .map(|i| {
                        (8_000.0 * (i as f64 * 440.0 / 48_000.0 * std::f64::consts::TAU).sin())
                            as i16
                    })
                    .collect();
                for frame in fixtures::frames(&samples, confab_bot::AudioRate::Hz48000.format()) {
                    // Paced by the SDK's queue (it waits for room): 20 ms per frame.
                    if call.send_audio(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}

/// The loud 20 ms windows (a tone, speech) in the audio the recorder in `out` kept of the
/// participant whose identity starts with `identity`.
pub fn recorded_loud_frames(out: &std::path::Path, identity: &str) -> usize {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"].as_str().unwrap_or("").starts_with(identity))
        .unwrap_or_else(|| panic!("{identity} in the manifest: {manifest}"));
    tone_windows(&wav(&out.join(entry["audio"]["file"].as_str().unwrap())))
        .iter()
        .filter(|&&loud| loud)
        .count()
}

/// When `event` first came, waiting for it up to `within`.
pub async fn wait_for(seen: &Seen, event: CallEvent, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if let Some((at, _)) = seen.lock().unwrap().iter().find(|(_, e)| *e == event) {
            return *at;
        }
        assert!(Instant::now() < deadline, "no {event:?} within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 20 ms windows of 48 kHz `x` that carry the tone (louder than −30 dBFS).
pub fn tone_windows(x: &[i16]) -> Vec<bool> {
    x.chunks(960)
        .map(|w| w.len() == 960 && signal::rms_dbfs(w) > -30.0)
        .collect()
}

/// The participants of a recorder's manifest with `identity`.
pub fn manifest_entries<'a>(
    manifest: &'a serde_json::Value,
    identity: &str,
) -> Vec<&'a serde_json::Value> {
    manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["identity"] == identity)
        .collect()
}

/// A WAV file's samples.
pub fn wav(path: &std::path::Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect()
}
