//! A bot sends its camera in two simulcast layers (`BotConfig::camera_simulcast`: a 640x360
//! test pattern as given and halved); two bots subscribe to it, one for a 320x180 box, one
//! for 1280x720. The service forwards each the layer that fits: the pictures they get (their
//! SPS, before any decoding or scaling in the SDK) are 320x180 and 640x360, and the media
//! report says the same.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use confab_bot::{
    Bot, BotClient, BotConfig, CallEvent, CallHandle, EncodedPicture, Identity, Participant,
    VideoReception, VideoSource,
};
use confab_codecs::annexb::{self, NalType};
use confab_media::{MediaTime, TestPattern};
use confab_signaling::Scope;
use confab_transport::payload::h264_sps::sps_picture_size;

/// Subscribes to the camera bot; keeps the size of every keyframe it gets.
struct Viewer {
    sizes: Arc<Mutex<Vec<(u32, u32)>>>,
}

#[async_trait]
impl Bot for Viewer {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if let CallEvent::Joined(p) = event
            && p.identity == Identity::Bot("cam".into())
        {
            call.subscribe_video(p.id).await.unwrap();
        }
    }

    async fn on_encoded_video(
        &mut self,
        _call: &CallHandle,
        _who: &Participant,
        _source: VideoSource,
        picture: &EncodedPicture,
    ) {
        if !picture.keyframe {
            return;
        }
        let sps = annexb::nal_units(&picture.data)
            .find(|nal| NalType::of(nal) == Some(NalType::Sps))
            .expect("an SPS before the IDR");
        self.sizes
            .lock()
            .unwrap()
            .push(sps_picture_size(sps).unwrap());
    }
}

/// Sends nothing of its own accord (the test drives its camera).
struct Camera;

#[async_trait]
impl Bot for Camera {}

fn config(server: &confab_server::ServerHandle, name: &str) -> BotConfig {
    let identity = Identity::Bot(name.into());
    let token = server
        .token_key()
        .mint(&identity, &[Scope::Bot], unix_now(), 600)
        .unwrap();
    BotConfig::new(server.base_url(), identity, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_viewer_gets_the_layer_of_a_bots_camera_that_fits() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let mut viewers = Vec::new();
    for (name, size, expected) in [
        ("small", (320, 180), (320, 180)),
        ("large", (1280, 720), (640, 360)),
    ] {
        let mut config = config(&server, name);
        config.video = VideoReception::Encoded;
        config.preferred_video_size = size;
        let client = BotClient::connect(config).await.unwrap();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let call = client
            .join_group(
                group,
                Viewer {
                    sizes: sizes.clone(),
                },
            )
            .await
            .unwrap();
        viewers.push((name, expected, sizes, call, client));
    }
    let mut config = config(&server, "cam");
    config.camera_simulcast = true;
    config.video_bitrate_bps = 800_000;
    let camera_client = BotClient::connect(config).await.unwrap();
    let camera = camera_client.join_group(group, Camera).await.unwrap();
    let pattern = TestPattern::new(640, 360);
    let sizes: Vec<_> = viewers
        .iter()
        .map(|(_, expected, sizes, _, _)| (*expected, sizes.clone()))
        .collect();
    let settled = || {
        sizes
            .iter()
            .all(|(expected, sizes)| sizes.lock().unwrap().last() == Some(expected))
    };
    // 15 frames a second until both viewers settle on their layer (at most 15 s), then 2 s
    // more.
    let mut settled_after = None;
    for n in 0..(15 * 17) {
        let picture = pattern.frame(n, MediaTime::from_millis(u64::from(n) * 1000 / 15));
        camera
            .handle()
            .send_video(VideoSource::Camera, picture)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(66)).await;
        if settled_after.is_none() && settled() {
            settled_after = Some(n);
        }
        if settled_after.is_some_and(|s| n > s + 30) {
            break;
        }
    }
    let (status, body) = http(
        server.http_addr(),
        "GET",
        &format!("/v1/calls/{}/media", camera.call_id()),
        Some(server.admin_key()),
        None,
    );
    assert_eq!(status, 200, "{body}");
    println!("media: {body}");
    let media: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut reported: Vec<serde_json::Value> = media
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p["video_slot_sizes"]
                .as_array()?
                .iter()
                .find(|s| !s.is_null())
                .cloned()
        })
        .collect();
    reported.sort_by_key(|s| s[0].as_u64());
    assert_eq!(
        reported,
        vec![serde_json::json!([320, 180]), serde_json::json!([640, 360])],
        "the layers the service says the two viewers' slots carry"
    );
    for (name, expected, sizes, call, _client) in viewers {
        let sizes = sizes.lock().unwrap().clone();
        println!("{name} got keyframes of {sizes:?}");
        assert_eq!(sizes.last(), Some(&expected), "{name}");
        assert!(
            sizes.len() <= 4,
            "{name}: {} keyframes (no stream of requests)",
            sizes.len()
        );
        call.handle().hang_up().await.unwrap();
    }
    camera.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
