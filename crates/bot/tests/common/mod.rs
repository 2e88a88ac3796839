//! Shared by the SDK's scenarios: a service, bots signed in to it, a fixture-speaking bot and
//! a bot that records what it hears.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use confab_bot::{
    AudioFrame, Bot, BotConfig, CallEvent, CallHandle, EndReason, Identity, MediaTime, Participant,
};
use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::Scope;
#[allow(unused_imports)] // not every test binary places audio on the clock
pub use confab_testkit::signal::on_clock;

pub async fn server() -> ServerHandle {
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: std::env::temp_dir().join(format!("confab-bot-test-{}", uuid::Uuid::new_v4())),
        ..ServerConfig::default()
    };
    confab_server::start(config).await.unwrap()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A config for bot `28:<app>` (or a user, for `identity`) on `server`.
pub fn config(server: &ServerHandle, identity: Identity, name: &str) -> BotConfig {
    let scope = if identity.is_bot() {
        Scope::Bot
    } else {
        Scope::Voip
    };
    let token = server
        .token_key()
        .mint(&identity, &[scope], unix_now(), 600)
        .unwrap();
    let mut config = BotConfig::new(server.base_url(), identity, token);
    config.display_name = name.to_owned();
    config
}

/// Speaks `frames` (48 kHz, 20 ms) once its media is connected, through the paced queue.
pub struct Speaker {
    pub frames: Vec<AudioFrame>,
    pub started: Arc<Mutex<Option<MediaTime>>>,
}

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            *self.started.lock().unwrap() = Some(call.now());
            let frames = std::mem::take(&mut self.frames);
            let call = call.clone();
            tokio::spawn(async move {
                for frame in frames {
                    if call.send_audio(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}

/// What a listening bot heard: samples placed on the call clock.
#[derive(Default)]
pub struct Heard {
    pub mixed: Vec<(MediaTime, Vec<i16>)>,
    pub unmixed: HashMap<Identity, Vec<(MediaTime, Vec<i16>)>>,
    pub names: HashMap<Identity, String>,
    pub events: Vec<CallEvent>,
    pub first_mixed_at: Option<MediaTime>,
    pub joined_at: Option<MediaTime>,
    pub left: Option<EndReason>,
}

pub struct Listener {
    pub heard: Arc<Mutex<Heard>>,
}

#[async_trait]
impl Bot for Listener {
    async fn on_joined(&mut self, call: &CallHandle) {
        self.heard.lock().unwrap().joined_at = Some(call.now());
    }

    async fn on_mixed_audio(&mut self, _call: &CallHandle, frame: &AudioFrame) {
        let mut heard = self.heard.lock().unwrap();
        heard.first_mixed_at.get_or_insert(frame.timestamp());
        heard
            .mixed
            .push((frame.timestamp(), frame.samples().to_vec()));
    }

    async fn on_participant_audio(
        &mut self,
        _call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        let mut heard = self.heard.lock().unwrap();
        heard
            .names
            .insert(who.identity.clone(), who.display_name.clone());
        heard
            .unmixed
            .entry(who.identity.clone())
            .or_default()
            .push((frame.timestamp(), frame.samples().to_vec()));
    }

    async fn on_event(&mut self, _call: &CallHandle, event: &CallEvent) {
        self.heard.lock().unwrap().events.push(event.clone());
    }

    async fn on_left(&mut self, _call: &CallHandle, reason: &EndReason) {
        self.heard.lock().unwrap().left = Some(reason.clone());
    }
}
