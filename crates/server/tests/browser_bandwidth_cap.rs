//! A viewer whose link is capped gets a smaller simulcast layer and recovers when the cap
//! lifts. Two Chromium pages reach the service through the user-space relay: one sends its
//! camera in two layers (`?simulcast=1`: 640x360 and 320x180 of a noisy test pattern), the
//! other watches it. Once the viewer gets the upper layer, its downlink alone is capped at
//! 300 kbit/s (a
//! 500 ms queue, tail drop) for 15 s, then lifted. The service's estimate of that link
//! (congestion control over Chromium's transport-wide feedback) moves the viewer to the
//! lower layer within seconds and back to the upper one after the cap lifts. What the viewer's
//! page measured (every 100 ms): no freeze longer than a second, mixed audio loss below
//! 1 %, and the decoded size following the layers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::browser::{open_page, open_page_with, result};
use common::drops::server_behind_relay;
use common::*;
use confab_testkit::{NetemConfig, fixtures};

/// The upper layer is 640x360 (Chromium may scale both layers down under CPU load, to
/// 480x270 and 240x135): wider than this is the upper layer, up to it the lower.
const LOWER_AT_MOST: u64 = 320;
const CAPPED_FOR: Duration = Duration::from_secs(15);

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The viewer's entry in the service's media report (the participant that joined last).
fn viewer_media(server: &confab_server::ServerHandle, call_id: &str) -> serde_json::Value {
    let (status, body) = http(
        server.http_addr(),
        "GET",
        &format!("/v1/calls/{call_id}/media"),
        Some(server.admin_key()),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let media: serde_json::Value = serde_json::from_str(&body).unwrap();
    media
        .as_array()
        .and_then(|all| all.iter().max_by_key(|p| p["participant"].as_u64()))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn slot_size(viewer: &serde_json::Value) -> Option<(u64, u64)> {
    let size = viewer["video_slot_sizes"]
        .as_array()?
        .iter()
        .find(|s| !s.is_null())?;
    Some((size[0].as_u64()?, size[1].as_u64()?))
}

/// Whether the viewer's slot carries the upper layer.
fn is_upper(viewer: &serde_json::Value) -> bool {
    slot_size(viewer).is_some_and(|(w, _)| w > LOWER_AT_MOST)
}

/// Polls the viewer's media report every 250 ms until `done` holds (returns how long that
/// took) or `within` passed.
async fn wait_for(
    server: &confab_server::ServerHandle,
    call_id: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        let viewer = viewer_media(server, call_id);
        if done(&viewer) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// The one call in progress.
fn call_id(server: &confab_server::ServerHandle) -> Option<String> {
    let (_, body) = http(
        server.http_addr(),
        "GET",
        "/v1/calls",
        Some(server.admin_key()),
        None,
    );
    let calls: serde_json::Value = serde_json::from_str(&body).ok()?;
    let call = calls.as_array()?.first()?;
    Some(call["call_id"].as_str()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_viewer_steps_down_a_layer_and_back_up() {
    let (server, relay) = server_behind_relay(NetemConfig::default(), 13, false).await;
    let group = uuid::Uuid::new_v4();
    let url = |name: &str, seconds: u32, extra: &str| {
        format!(
            "{}/?group={group}&name={name}&seconds={seconds}&expect=2{extra}",
            server.base_url()
        )
    };
    // A camera picture that does not compress to nothing (Chromium's own fake camera
    // needs ~100 kbit/s at 640x360): a test pattern with moving noise, looped.
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let camera = dir.join("camera.y4m");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=15,noise=alls=16:allf=t")
        .args(["-t", "4", "-pix_fmt", "yuv420p"])
        .arg(&camera)
        .status()
        .expect("ffmpeg runs (scripts/install-deps.sh)");
    assert!(made.success());
    let sender = open_page_with(
        &url("Cam", 65, "&simulcast=1"),
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        150,
        &["--video", camera.to_str().unwrap()],
    );
    // The sender's links first (Chromium checks from each of its host addresses), so the
    // relay's clients that come later are the viewer's.
    let settled_clients = |n: usize| {
        let relay = &relay;
        async move {
            for _ in 0..240 {
                if relay.clients().len() >= n {
                    // Its other candidates follow within moments.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    return relay.clients();
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            panic!("{n} clients never reached the relay")
        }
    };
    let senders_links = settled_clients(1).await;
    let viewer = open_page(
        &url("Viewer", 55, "&trace=1"),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        150,
    );
    let viewer_links: Vec<SocketAddr> = settled_clients(senders_links.len() + 1)
        .await
        .into_iter()
        .filter(|c| !senders_links.contains(c))
        .collect();
    println!("sender's links {senders_links:?}, viewer's {viewer_links:?}");
    let mut call = None;
    for _ in 0..120 {
        call = call_id(&server);
        if call.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let call = call.expect("a call");

    // Uncapped: the viewer gets the large layer.
    let took = wait_for(&server, &call, Duration::from_secs(40), is_upper).await;
    println!(
        "upper layer after {took:?}: {}",
        viewer_media(&server, &call)
    );
    assert!(took.is_some(), "the viewer never got the upper layer");

    // Capped.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let capped_at = epoch_ms();
    for link in &viewer_links {
        relay.set_client_down(
            *link,
            NetemConfig {
                rate_bps: 300_000,
                queue_limit: Duration::from_millis(500),
                ..NetemConfig::default()
            },
        );
    }
    let stepped_down = wait_for(&server, &call, CAPPED_FOR, |v| {
        !is_upper(v) || v["video_slots_paused"].as_u64() > Some(0)
    })
    .await;
    let during_cap = viewer_media(&server, &call);
    for link in &viewer_links {
        println!("{link}: {:?}", relay.client_down_stats(*link));
    }
    println!("stepped down after {stepped_down:?}: {during_cap}");
    let stepped_down = stepped_down.expect("the capped viewer kept the upper layer");
    assert!(
        stepped_down <= Duration::from_secs(5),
        "a lower layer {stepped_down:?} after the cap"
    );
    assert!(
        during_cap["bandwidth_estimate"].as_u64().unwrap() < 450_000,
        "the estimate follows the cap: {during_cap}"
    );
    let remaining = CAPPED_FOR.saturating_sub(Duration::from_millis(epoch_ms() - capped_at));
    tokio::time::sleep(remaining).await;
    let capped = viewer_media(&server, &call);
    println!("end of the cap: {capped}");

    // Lifted: back up.
    let lifted_at = epoch_ms();
    for link in &viewer_links {
        relay.set_client_down(*link, NetemConfig::default());
    }
    let recovered = wait_for(&server, &call, Duration::from_secs(30), is_upper).await;
    let after = viewer_media(&server, &call);
    println!("back to the upper layer {recovered:?} after the cap lifted: {after}");
    assert!(recovered.is_some(), "the viewer never climbed back");
    let recovered_at = epoch_ms();
    for link in &viewer_links {
        println!("{link}: {:?}", relay.client_down_stats(*link));
    }

    let viewer = tokio::task::spawn_blocking(move || result(viewer))
        .await
        .unwrap();
    let sender = tokio::task::spawn_blocking(move || result(sender))
        .await
        .unwrap();
    assert_eq!(viewer["connection"], "connected");
    assert_eq!(sender["connection"], "connected");

    // What the viewer's page saw, from the cap until back on the large layer.
    let trace: Vec<&serde_json::Value> = viewer["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let t = s["t"].as_u64().unwrap();
            t >= capped_at - 2_000 && t <= recovered_at + 2_000
        })
        .collect();
    assert!(trace.len() > 100, "{} samples", trace.len());
    let field = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or(0);
    let mut longest_freeze = 0;
    let mut freeze_from = 0;
    let mut frozen_since = field(trace[0], "t");
    for pair in trace.windows(2) {
        if field(pair[1], "frames") > field(pair[0], "frames") {
            frozen_since = field(pair[1], "t");
        }
        if field(pair[1], "t") - frozen_since > longest_freeze {
            longest_freeze = field(pair[1], "t") - frozen_since;
            freeze_from = frozen_since;
        }
    }
    if std::env::var_os("CONFAB_TRACE").is_some() {
        for s in &trace {
            println!("{} {s}", field(s, "t") as i64 - capped_at as i64);
        }
    }
    let mut shown = Vec::new();
    for s in &trace {
        let size = (field(s, "w"), field(s, "h"));
        if shown.last().is_none_or(|(_, last)| *last != size) {
            shown.push((field(s, "t") as i64 - capped_at as i64, size));
        }
    }
    println!(
        "decoded sizes (ms from the cap): {shown:?}; the longest freeze began {} ms after the \
         cap, the cap lifted at {} ms",
        freeze_from as i64 - capped_at as i64,
        lifted_at - capped_at
    );
    let (first, last) = (trace[0], trace[trace.len() - 1]);
    let lost = field(last, "audioLost").saturating_sub(field(first, "audioLost"));
    let received = field(last, "audioReceived") - field(first, "audioReceived");
    let loss = lost as f64 / (lost + received).max(1) as f64;
    let sizes_during = |from: u64, to: u64| -> Vec<(u64, u64)> {
        let mut sizes: Vec<(u64, u64)> = trace
            .iter()
            .filter(|s| (from..to).contains(&field(s, "t")))
            .map(|s| (field(s, "w"), field(s, "h")))
            .collect();
        sizes.dedup();
        sizes
    };
    println!(
        "viewer: longest freeze {longest_freeze} ms, mixed audio {lost} lost of {}, \
         decoded while capped {:?}, after {:?}",
        lost + received,
        sizes_during(capped_at, lifted_at),
        sizes_during(recovered_at, recovered_at + 2_000),
    );
    assert!(
        sizes_during(capped_at, lifted_at)
            .iter()
            .any(|&(w, _)| w > 0 && w <= LOWER_AT_MOST),
        "the viewer decoded the lower layer while capped"
    );
    assert!(longest_freeze <= 1_000, "a freeze of {longest_freeze} ms");
    assert!(loss < 0.01, "mixed audio loss {:.2} %", loss * 100.0);

    let (_, metrics) = http(server.http_addr(), "GET", "/metrics", None, None);
    let metrics = parse_prometheus(&metrics);
    assert!(metric(&metrics, "confab_video_bandwidth_downgrades_total") >= 1.0);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
