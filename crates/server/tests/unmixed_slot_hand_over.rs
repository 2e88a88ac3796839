//! One unmixed slot changing hands: Alice hums a quiet 440 Hz tone throughout, Bob sounds a
//! loud 1 kHz tone for a second out of every two, so the listener's single slot goes to Bob
//! at each of his onsets and back to Alice when he stops. The listener's media comes 150 ms
//! late (the relay delays its downlink), so each `media_slots` notice overtakes the media it
//! describes. Every frame must still be credited to whoever made it: none credited to Bob
//! carries Alice's tone and none credited to Alice carries Bob's. (Crediting by the slot's
//! current occupant gave Bob the last 150 ms of Alice's at every hand-over; the speaker now
//! rides in each packet's CSRC.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::drops::{bot_config, server_behind_relay};
use confab_bot::{
    AudioFrame, Bot, BotClient, CallEvent, CallHandle, Identity, Participant, async_trait,
};
use confab_media::{AudioFormat, MediaTime};
use confab_testkit::NetemConfig;

/// Each participant's unmixed frames, as credited.
#[derive(Default)]
struct Heard(HashMap<Identity, Vec<Vec<i16>>>);

struct Listener(Arc<Mutex<Heard>>);

#[async_trait]
impl Bot for Listener {
    async fn on_participant_audio(
        &mut self,
        _call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        let mut heard = self.0.lock().unwrap();
        heard
            .0
            .entry(who.identity.clone())
            .or_default()
            .push(frame.samples().to_vec());
    }
}

/// Sends its frames, paced, once its media is up.
struct Speaker(Vec<AudioFrame>);

#[async_trait]
impl Bot for Speaker {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected {
            let frames = std::mem::take(&mut self.0);
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

const SECONDS: u64 = 9;

/// A tone's frames: `on(frame index)` says whether frame i sounds.
fn tone(freq: f64, amplitude: f64, on: impl Fn(u64) -> bool) -> Vec<AudioFrame> {
    (0..SECONDS * 50)
        .map(|i| {
            let samples = (0..960u64)
                .map(|n| {
                    if !on(i) {
                        return 0;
                    }
                    let t = (i * 960 + n) as f64 / 48_000.0;
                    (amplitude * (std::f64::consts::TAU * freq * t).sin()) as i16
                })
                .collect();
            AudioFrame::new(
                AudioFormat::MONO_48K,
                MediaTime::from_millis(20 * i),
                samples,
            )
            .unwrap()
        })
        .collect()
}

/// Power of `samples` at `freq` (a single DFT bin), normalised by length.
fn power_at(samples: &[i16], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &x) in samples.iter().enumerate() {
        let phase = std::f64::consts::TAU * freq * n as f64 / 48_000.0;
        re += f64::from(x) * phase.cos();
        im -= f64::from(x) * phase.sin();
    }
    (re * re + im * im) / (samples.len() as f64).powi(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_of_a_slot_that_changes_hands_goes_to_its_speaker() {
    let (server, relay) = server_behind_relay(NetemConfig::default(), 7, true).await;
    let group = uuid::Uuid::new_v4();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut listen = bot_config(&server, "listener");
    listen.unmixed_slots = 1;
    let listener = BotClient::connect(listen)
        .await
        .unwrap()
        .join_group(group, Listener(heard.clone()))
        .await
        .unwrap();
    // The listener's media address, once it sends through the relay: its downlink late.
    let mut waited = Duration::ZERO;
    while relay.clients().is_empty() {
        assert!(
            waited < Duration::from_secs(10),
            "the listener never sent media"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let listener_addr = relay.clients()[0];
    relay.set_client_down(
        listener_addr,
        NetemConfig {
            base_delay: Duration::from_millis(150),
            ..NetemConfig::default()
        },
    );
    let alice_frames = tone(440.0, 2_000.0, |_| true);
    // On for a second, off for a second, from the second second on.
    let bob_frames = tone(1_000.0, 16_000.0, |i| i >= 50 && (i / 50) % 2 == 1);
    let mut speakers = Vec::new();
    for (app, frames) in [("alice", alice_frames), ("bob", bob_frames)] {
        let task = BotClient::connect(bot_config(&server, app))
            .await
            .unwrap()
            .join_group(group, Speaker(frames))
            .await
            .unwrap();
        speakers.push(task);
    }
    tokio::time::sleep(Duration::from_secs(SECONDS + 2)).await;
    for task in &speakers {
        task.handle().hang_up().await.unwrap();
    }
    listener.handle().hang_up().await.unwrap();
    listener.finished().await.unwrap();
    server.shutdown().await;

    let heard = heard.lock().unwrap();
    let frames_of = |app: &str| {
        heard
            .0
            .get(&Identity::Bot(app.into()))
            .cloned()
            .unwrap_or_default()
    };
    let (alice, bob) = (frames_of("alice"), frames_of("bob"));
    // Whether a frame carries the other's tone: a tenth of Alice's power at least (her
    // tone alone is 10^6; the codec leaves ~10^3 of noise at any frequency as a tone stops),
    // and more than its own.
    let carries = |samples: &[i16], mine: f64, theirs: f64| {
        let (own, other) = (power_at(samples, mine), power_at(samples, theirs));
        other > own && other > 100_000.0
    };
    let bob_with_alice = bob.iter().filter(|s| carries(s, 1_000.0, 440.0)).count();
    let alice_with_bob = alice.iter().filter(|s| carries(s, 440.0, 1_000.0)).count();
    let bob_loud = bob
        .iter()
        .filter(|s| power_at(s, 1_000.0) > 1_000_000.0)
        .count();
    println!(
        "alice: {} frames ({alice_with_bob} with Bob's tone); bob: {} frames ({bob_loud} of his \
         tone, {bob_with_alice} with Alice's)",
        alice.len(),
        bob.len()
    );
    // The slot really changed hands, several times.
    assert!(alice.len() >= 100, "Alice was heard: {}", alice.len());
    assert!(bob_loud >= 100, "Bob was heard: {bob_loud}");
    assert_eq!(bob_with_alice, 0, "frames of Alice's credited to Bob");
    assert_eq!(alice_with_bob, 0, "frames of Bob's credited to Alice");
}
