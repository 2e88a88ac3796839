//! How a bot connects and what media it wants.

use std::time::Duration;

use confab_media::AudioFormat;
use confab_signaling::Identity;

/// The sample rate of the PCM a bot receives and sends (mono, 20 ms frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioRate {
    /// 16 kHz: speech recognition and synthesis.
    Hz16000,
    /// 48 kHz: full band.
    #[default]
    Hz48000,
}

impl AudioRate {
    /// The frame format: mono at this rate.
    pub fn format(self) -> AudioFormat {
        match self {
            AudioRate::Hz16000 => AudioFormat::MONO_16K,
            AudioRate::Hz48000 => AudioFormat::MONO_48K,
        }
    }

    /// Samples in one 20 ms frame.
    pub fn samples_per_frame(self) -> usize {
        match self {
            AudioRate::Hz16000 => 320,
            AudioRate::Hz48000 => 960,
        }
    }
}

/// What a bot receives of others' video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoReception {
    /// Nothing (no decoding cost).
    #[default]
    None,
    /// The H.264 access units as they arrive (`Bot::on_encoded_video`): recording without
    /// decoding.
    Encoded,
    /// Decoded I420 frames (`Bot::on_video`).
    Decoded,
    /// Both.
    Both,
}

impl VideoReception {
    pub(crate) fn encoded(self) -> bool {
        matches!(self, VideoReception::Encoded | VideoReception::Both)
    }

    pub(crate) fn decoded(self) -> bool {
        matches!(self, VideoReception::Decoded | VideoReception::Both)
    }
}

/// Everything a [`BotClient`](crate::BotClient) needs.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// The service: `http://host:port` or `ws://host:port/ws` (or the `s` forms).
    pub server: String,
    /// Who the bot is (`28:<app>` for bots).
    pub identity: Identity,
    /// A token for that identity with the `bot` (or `voip`) scope.
    pub token: String,
    /// The name others see.
    pub display_name: String,
    /// PCM rate for mixed and unmixed audio in, and audio out.
    pub audio_rate: AudioRate,
    /// Unmixed-audio slots: how many participants' own audio arrive at once (0–32).
    pub unmixed_slots: u8,
    /// Video slots (1–10).
    pub video_slots: u8,
    /// Whether and how video is received.
    pub video: VideoReception,
    /// Decoded frames larger than this are scaled down (by whole factors) to fit.
    pub preferred_video_size: (u32, u32),
    /// Bitrate for video the SDK encodes.
    pub video_bitrate_bps: u32,
    /// Send the camera in two simulcast layers: each frame as given and halved (whole
    /// factors), with 3/4 and 1/4 of `video_bitrate_bps`; the service forwards every viewer
    /// the layer that fits its tile and link. Frames handed over already encoded go as the
    /// larger layer.
    pub camera_simulcast: bool,
    /// Outgoing audio queue: frames the bot may be ahead of the 20 ms clock.
    pub audio_queue_frames: usize,
    /// Frames the media thread may hold for a slow bot before dropping (per kind).
    pub delivery_queue: usize,
    /// How long signaling requests may take.
    pub request_timeout: Duration,
    /// This device's name towards the service: a connection re-opened with the same one
    /// gets the bot's calls back. Unique per `BotClient` by default.
    pub endpoint: String,
    /// Survive network drops: re-open a dropped signaling connection and replace a media
    /// connection that stopped carrying anything, for up to this long before the call is
    /// given up as network-lost. `None`: a drop ends the calls at once.
    pub reconnect: Option<Duration>,
    /// How long the media may stay silent (the service sends the mix every 20 ms) before
    /// the connection is taken for lost and replaced.
    pub media_timeout: Duration,
    /// Other nodes of the service's cluster (`http(s)://host:port`): when `server` is gone,
    /// reconnecting goes round them. A group call whose node died is joined afresh on a
    /// live node (needs `reconnect`).
    pub fallback_servers: Vec<String>,
    /// CA certificates (PEM) trusted for an `https://`/`wss://` service besides the system's:
    /// a service whose certificate comes from a private CA. Empty: the system's alone.
    pub ca_certificates: Vec<u8>,
}

impl BotConfig {
    /// A config with the defaults: 48 kHz, 16 unmixed slots, 6 video slots, no video
    /// reception, 640x360 preferred, 50 frames (1 s) of outgoing audio queue; network drops
    /// survived for up to 30 s, silent media replaced after 1 s.
    pub fn new(server: impl Into<String>, identity: Identity, token: impl Into<String>) -> Self {
        BotConfig {
            server: server.into(),
            display_name: identity.to_string(),
            identity,
            token: token.into(),
            audio_rate: AudioRate::default(),
            unmixed_slots: 16,
            video_slots: 6,
            video: VideoReception::default(),
            preferred_video_size: (640, 360),
            video_bitrate_bps: 600_000,
            camera_simulcast: false,
            audio_queue_frames: 50,
            delivery_queue: 256,
            request_timeout: Duration::from_secs(10),
            endpoint: format!("bot-{}", uuid::Uuid::new_v4()),
            reconnect: Some(Duration::from_secs(30)),
            media_timeout: Duration::from_secs(1),
            fallback_servers: Vec::new(),
            ca_certificates: Vec::new(),
        }
    }

    /// The signaling WebSocket URL for `server`.
    pub(crate) fn ws_url(&self) -> String {
        ws_url(&self.server)
    }

    /// The signaling WebSocket URLs of the fallback servers.
    pub(crate) fn fallback_ws_urls(&self) -> Vec<String> {
        self.fallback_servers.iter().map(|s| ws_url(s)).collect()
    }
}

/// The signaling WebSocket URL of a server's base URL.
fn ws_url(server: &str) -> String {
    let s = server.trim_end_matches('/');
    let base = if let Some(rest) = s.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = s.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        s.to_owned()
    };
    if base.ends_with("/ws") {
        base
    } else {
        format!("{base}/ws")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_the_websocket_url() {
        let id = Identity::Bot("t".into());
        for (server, url) in [
            ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("https://x.example/", "wss://x.example/ws"),
            ("ws://h:1/ws", "ws://h:1/ws"),
        ] {
            assert_eq!(BotConfig::new(server, id.clone(), "").ws_url(), url);
        }
    }
}
