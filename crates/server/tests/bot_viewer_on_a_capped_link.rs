//! Fewer video slots on a slow link, audio first. Two bots send their cameras in two
//! simulcast layers (640x360 and 320x180 test patterns) and a steady tone; a third watches
//! both through the user-space relay. Uncapped, both of its slots carry the 640x360 layer.
//! With its downlink alone capped at 200 kbit/s (500 ms queue), the service's estimate of
//! that link falls, one slot drops to the small layer and the other pauses (the media report
//! says so) while pictures of the first keep coming and, once stepped down, the mixed audio
//! (the viewer takes no unmixed audio) loses under 1 %; lifted, both slots climb back to
//! 640x360.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::drops::{bot_config, server_behind_relay};
use common::*;
use confab_bot::{
    Bot, BotClient, CallEvent, CallHandle, EncodedPicture, Identity, Participant, VideoReception,
    VideoSource,
};
use confab_media::{AudioFormat, AudioFrame, MediaTime, TestPattern};
use confab_testkit::NetemConfig;

/// When each picture arrived.
type Arrivals = Arc<Mutex<Vec<Instant>>>;

/// Subscribes to both cameras at up to 1280x720; notes when pictures arrive.
struct Viewer {
    pictures: Arrivals,
}

#[async_trait]
impl Bot for Viewer {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if let CallEvent::Joined(p) = event
            && matches!(&p.identity, Identity::Bot(name) if name.starts_with("cam"))
        {
            call.subscribe_video(p.id).await.unwrap();
        }
    }

    async fn on_encoded_video(
        &mut self,
        _call: &CallHandle,
        _who: &Participant,
        _source: VideoSource,
        _picture: &EncodedPicture,
    ) {
        self.pictures.lock().unwrap().push(Instant::now());
    }
}

/// A camera the test drives; speaks a 440 Hz tone so the mix carries sound.
struct Camera;

#[async_trait]
impl Bot for Camera {
    async fn on_joined(&mut self, call: &CallHandle) {
        let call = call.clone();
        tokio::spawn(async move {
            let format = AudioFormat::MONO_48K;
            for n in 0..3_000u64 {
                let samples: Vec<i16> = (0..960u64)
                    .map(|i| {
                        let t = (n * 960 + i) as f64 / 48_000.0;
                        ((t * 440.0 * std::f64::consts::TAU).sin() * 6_000.0) as i16
                    })
                    .collect();
                let frame = AudioFrame::new(format, MediaTime::from_millis(n * 20), samples);
                if call.send_audio(frame.unwrap()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The viewer's entry in the media report.
fn viewer_media(
    server: &confab_server::ServerHandle,
    call: &str,
    viewer: u64,
) -> serde_json::Value {
    let (status, body) = http(
        server.http_addr(),
        "GET",
        &format!("/v1/calls/{call}/media"),
        Some(server.admin_key()),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let media: serde_json::Value = serde_json::from_str(&body).unwrap();
    media
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant"].as_u64() == Some(viewer))
        .cloned()
        .unwrap_or_default()
}

fn sizes(viewer: &serde_json::Value) -> Vec<(u64, u64)> {
    viewer["video_slot_sizes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_null())
        .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        .collect()
}

async fn wait_until(
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> Option<serde_json::Value>,
    last: impl Fn() -> serde_json::Value,
) -> (Duration, serde_json::Value) {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(v) = done() {
            return (start.elapsed(), v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within {within:?} ({})", last());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_viewer_keeps_one_small_picture_and_its_audio() {
    let (server, relay) = server_behind_relay(NetemConfig::default(), 21, false).await;
    let group = uuid::Uuid::new_v4();
    let mut cameras = Vec::new();
    for name in ["cam1", "cam2"] {
        let mut config = bot_config(&server, name);
        config.camera_simulcast = true;
        config.video_bitrate_bps = 800_000;
        let client = BotClient::connect(config).await.unwrap();
        let call = client.join_group(group, Camera).await.unwrap();
        cameras.push((call, client));
    }
    let links = |n: usize| {
        let relay = &relay;
        async move {
            for _ in 0..100 {
                if relay.clients().len() >= n {
                    return relay.clients();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{n} links never reached the relay")
        }
    };
    links(2).await;
    let pictures: Arrivals = Arc::default();
    let mut config = bot_config(&server, "viewer");
    config.video = VideoReception::Encoded;
    config.preferred_video_size = (1280, 720);
    // The mix only (each unmixed slot would be another 50 packets a second of audio).
    config.unmixed_slots = 0;
    let viewer_client = BotClient::connect(config).await.unwrap();
    let viewer = viewer_client
        .join_group(
            group,
            Viewer {
                pictures: pictures.clone(),
            },
        )
        .await
        .unwrap();
    let viewer_link: SocketAddr = links(3).await[2];
    let call = viewer.call_id().to_string();
    let me = u64::from(viewer.handle().me().expect("joined").0);

    // The cameras run at 15 frames a second for the whole test.
    let handles: Vec<CallHandle> = cameras.iter().map(|(c, _)| c.handle().clone()).collect();
    let camera_task = tokio::spawn(async move {
        let pattern = TestPattern::new(640, 360);
        for n in 0u32.. {
            for handle in &handles {
                let picture = pattern.frame(n, MediaTime::from_millis(u64::from(n) * 66));
                if handle.send_video(VideoSource::Camera, picture).is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(66)).await;
        }
    });

    let (took, before) = wait_until(
        "both slots at 640x360",
        Duration::from_secs(20),
        || {
            let v = viewer_media(&server, &call, me);
            (sizes(&v) == [(640, 360), (640, 360)]).then_some(v)
        },
        || viewer_media(&server, &call, me),
    )
    .await;
    println!("uncapped after {took:?}: {before}");
    // Long enough for the service to have measured each layer's rate.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("uncapped: {}", viewer_media(&server, &call, me));
    let uncapped = viewer.handle().stats();

    relay.set_client_down(
        viewer_link,
        NetemConfig {
            rate_bps: 200_000,
            queue_limit: Duration::from_millis(500),
            ..NetemConfig::default()
        },
    );
    let capped_at = Instant::now();
    let (took, capped) = wait_until(
        "one slot paused",
        Duration::from_secs(10),
        || {
            let v = viewer_media(&server, &call, me);
            (v["video_slots_paused"].as_u64() == Some(1)).then_some(v)
        },
        || viewer_media(&server, &call, me),
    )
    .await;
    println!("a slot paused {took:?} after the cap: {capped}");
    // The sudden cap (two 640x360 layers into 200 kbit/s) overflows the queue until the
    // service steps down; from a second after that, the link carries what it can.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = viewer.handle().stats();
    println!(
        "onset: mixed audio {} lost of {} frames",
        settled.packets_lost - uncapped.packets_lost,
        settled.mixed_frames - uncapped.mixed_frames
    );
    // Within the hold (8 s) after the step down, before the service probes for more.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let held = viewer_media(&server, &call, me);
    println!("6 s later: {held}");
    assert_eq!(held["video_slots_paused"], 1, "{held}");
    assert_eq!(
        sizes(&held),
        [(320, 180)],
        "the one picture left is the small layer"
    );
    let pictures_in_last_4s = pictures
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.elapsed() < Duration::from_secs(4))
        .count();
    assert!(
        pictures_in_last_4s >= 20,
        "pictures keep coming while capped: {pictures_in_last_4s} in 4 s"
    );
    let stats = viewer.handle().stats();
    let lost = stats.packets_lost - settled.packets_lost;
    let mixed = stats.mixed_frames - settled.mixed_frames;
    println!(
        "while capped ({:?}): mixed audio {lost} lost of {mixed} frames; relay {:?}",
        capped_at.elapsed(),
        relay.client_down_stats(viewer_link)
    );
    assert!(
        (lost as f64) < 0.01 * mixed as f64,
        "mixed audio lost {lost} of {mixed}"
    );

    relay.set_client_down(viewer_link, NetemConfig::default());
    let (took, after) = wait_until(
        "both slots back at 640x360",
        Duration::from_secs(60),
        || {
            let v = viewer_media(&server, &call, me);
            (sizes(&v) == [(640, 360), (640, 360)]).then_some(v)
        },
        || viewer_media(&server, &call, me),
    )
    .await;
    println!("back {took:?} after the cap lifted: {after}");

    camera_task.abort();
    viewer.handle().hang_up().await.unwrap();
    for (call, _) in cameras {
        call.handle().hang_up().await.unwrap();
    }
    server.shutdown().await;
}
