//! A page sends its camera in two simulcast layers (`?simulcast=1`: 640x360 and 320x180,
//! RID-based, H.264); two bots subscribe to it, one for a 320x180 box, one for 1280x720.
//! The service forwards each bot the layer that fits its box — the pictures the bots get
//! (their SPS, before any decoding or scaling in the SDK) have that size — and its media
//! report says which layer each viewer's slot carries. Keyframes stay rare: the padding
//! Chromium sends on its layers leaves no gap that a viewer would take for loss.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::browser::{open_page, result};
use common::*;
use confab_bot::{
    Bot, BotClient, BotConfig, CallEvent, CallHandle, EncodedPicture, Identity, Participant,
    VideoReception, VideoSource,
};
use confab_codecs::annexb::{self, NalType};
use confab_signaling::Scope;
use confab_testkit::fixtures;
use confab_transport::payload::h264_sps::sps_picture_size;

/// Subscribes to the page's camera; keeps the size of every keyframe it gets.
struct Viewer {
    sizes: Arc<Mutex<Vec<(u32, u32)>>>,
}

#[async_trait]
impl Bot for Viewer {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if let CallEvent::Joined(p) = event
            && !matches!(p.identity, Identity::Bot(_))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_viewer_gets_the_layer_that_fits_its_box() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let mut viewers = Vec::new();
    for (name, size) in [("small", (320, 180)), ("large", (1280, 720))] {
        let identity = Identity::Bot(name.into());
        let token = server
            .token_key()
            .mint(&identity, &[Scope::Bot], unix_now(), 600)
            .unwrap();
        let mut config = BotConfig::new(server.base_url(), identity, token);
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
        viewers.push((name, size, sizes, call, client));
    }
    let page = open_page(
        &format!(
            "{}/?group={group}&name=Cam&seconds=8&expect=3&simulcast=1",
            server.base_url()
        ),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    // While the page is in the call: which layer each bot's slot carries (Chromium may
    // take seconds to start on two busy cores, so ask until they settle, up to 30 s).
    let call_id = viewers[0].3.call_id();
    let slot_sizes = |media: &serde_json::Value| -> Vec<serde_json::Value> {
        media
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                p["video_slot_sizes"]
                    .as_array()?
                    .iter()
                    .find(|s| !s.is_null())
                    .cloned()
            })
            .collect()
    };
    let mut media = serde_json::Value::Null;
    for _ in 0..120 {
        let (status, body) = http(
            server.http_addr(),
            "GET",
            &format!("/v1/calls/{call_id}/media"),
            Some(server.admin_key()),
            None,
        );
        assert_eq!(status, 200, "{body}");
        media = serde_json::from_str(&body).unwrap();
        let mut sizes = slot_sizes(&media);
        sizes.sort_by_key(|s| s[0].as_u64());
        // A viewer starts on the first layer whose size is known and moves when the
        // other's keyframe tells its size: wait for where they settle.
        if sizes == [serde_json::json!([320, 180]), serde_json::json!([640, 360])] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    println!("media: {media}");
    let mut reported = slot_sizes(&media);
    reported.sort_by_key(|s| s[0].as_u64());
    assert_eq!(
        reported,
        vec![serde_json::json!([320, 180]), serde_json::json!([640, 360])],
        "the layers the service says the two bots' slots carry"
    );
    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page: {page}");
    assert_eq!(page["connection"], "connected");
    for (name, size, sizes, call, _client) in viewers {
        let sizes = sizes.lock().unwrap().clone();
        println!("{name} (box {size:?}) got keyframes of {sizes:?}");
        let last = *sizes
            .last()
            .unwrap_or_else(|| panic!("{name} got no keyframe"));
        let expected = if name == "small" {
            (320, 180)
        } else {
            (640, 360)
        };
        assert_eq!(last, expected, "{name}: the layer that fits {size:?}");
        // The first picture and perhaps a layer switch: no stream of keyframe requests
        // (Chromium's padding probes once left gaps that read as loss, 14 keyframes in 8 s).
        assert!(sizes.len() <= 3, "{name}: {} keyframes", sizes.len());
        call.handle().hang_up().await.unwrap();
    }
    let (_, metrics) = http(server.http_addr(), "GET", "/metrics", None, None);
    let metrics = parse_prometheus(&metrics);
    let count = |name: &str| metric(&metrics, name);
    println!(
        "layer switches {}, keyframe requests {}, padding absorbed {}",
        count("confab_video_layer_switches_total"),
        count("confab_video_keyframe_requests_total"),
        count("confab_video_padding_absorbed_total"),
    );
    assert!(count("confab_video_keyframe_requests_total") <= 12.0);
    server.shutdown().await;
}

/// Two pages send simulcast and watch each other, one in small tiles (`?tile=320x180`), one
/// in large (`?tile=1280x720`): each decodes the other's camera at the size of the layer
/// that fits its tiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_small_and_large_tiles_decode_the_layer_that_fits() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let url = |name: &str, tile: &str| {
        format!(
            "{}/?group={group}&name={name}&seconds=6&expect=2&simulcast=1&tile={tile}",
            server.base_url()
        )
    };
    let small = open_page(
        &url("Small", "320x180"),
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        60,
    );
    let large = open_page(
        &url("Large", "1280x720"),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    let (small, large) = tokio::task::spawn_blocking(move || (result(small), result(large)))
        .await
        .unwrap();
    for (name, r, expected) in [
        ("Small", &small, (320u64, 180u64)),
        ("Large", &large, (640, 360)),
    ] {
        println!("{name}: {}", r["video"]);
        assert_eq!(r["connection"], "connected", "{name}'s media");
        let video = &r["video"];
        assert!(
            video["framesDecoded"].as_u64().unwrap_or(0) > 10,
            "{name} decoded too little: {video}"
        );
        let decoded = (
            video["frameWidth"].as_u64().unwrap_or(0),
            video["frameHeight"].as_u64().unwrap_or(0),
        );
        assert_eq!(decoded, expected, "{name}: the other's camera in its tiles");
    }
    server.shutdown().await;
}
