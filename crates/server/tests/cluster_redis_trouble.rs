//! Redis and the cluster going wrong: no Redis at start is a clear error; a data directory
//! with other keys than the cluster's is refused; a Redis outage leaves running calls alone
//! and the node rejoins when Redis is back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, Node, Redis, serve_command};
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::phones::free_tcp_port;
use common::temp_dir;
use confab_bot::CallEvent;

/// `confab serve` with `data_dir` on `redis_url`: its exit status and stderr (it must exit).
fn serve_exits(redis_url: &str, data_dir: &std::path::PathBuf) -> (i32, String) {
    let http = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let started = Instant::now();
    let output = serve_command(redis_url, "z", http, data_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    println!("exited in {:?}: {stderr}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn no_redis_at_start_is_a_clear_error() {
    let port = free_tcp_port();
    let (code, stderr) = serve_exits(&format!("redis://127.0.0.1:{port}"), &temp_dir());
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("cannot reach Redis at redis://127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn a_node_with_other_keys_is_refused() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "a");
    // A data directory some other service created its own keys in.
    let other = temp_dir();
    confab_server::Secrets::load_or_create(&other).unwrap();
    let (code, stderr) = serve_exits(&redis.url(), &other);
    assert_ne!(code, 0);
    assert!(stderr.contains("holds a different signing key"), "{stderr}");
    // An empty one takes the cluster's keys: tokens of one node pass on every other.
    let b = Node::start(&redis.url(), "b");
    assert_eq!(b.admin_key(), a.admin_key());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_leaves_calls_alone() {
    let (mut redis, nodes) = tokio::task::spawn_blocking(|| cluster::start(2))
        .await
        .unwrap();
    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let speaker = join_tone_speaker(nodes[0].bot_config("speaker"), group, &seen, 30).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let recording = drops::join_recorder(nodes[1].bot_config("recorder"), group, &out).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    redis.stop();
    let outage = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    redis.restart();
    // Back in the cluster within a few heartbeats (the restarted Redis is empty).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = common::http(
            nodes[0].http,
            "GET",
            "/v1/nodes",
            Some(&nodes[0].admin_key()),
            None,
        );
        if status == 200 && body.contains("\"a\"") && body.contains("\"b\"") {
            println!(
                "both nodes back {:?} after the outage began",
                outage.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes did not rejoin: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();

    // The recorder heard the tone all through the outage: no gap longer than a few frames.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let entry = &drops::manifest_entries(&manifest, "28:speaker")[0];
    let windows = drops::tone_windows(&drops::wav(
        &out.join(entry["audio"]["file"].as_str().unwrap()),
    ));
    let first = windows
        .iter()
        .position(|&w| w)
        .expect("the tone was recorded");
    let last = windows.iter().rposition(|&w| w).unwrap();
    let silent = windows[first..=last].iter().filter(|&&w| !w).count();
    println!(
        "tone recorded for {:.1} s, {silent} silent 20 ms windows in between",
        (last - first + 1) as f64 / 50.0
    );
    assert!(
        (last - first) / 50 >= 8,
        "the tone lasted through the outage"
    );
    assert!(silent <= 5, "{silent} windows without the tone");
    let log = nodes[0].log_text();
    assert!(log.contains("cluster heartbeat failed"), "{log}");
    assert!(log.contains("Redis is back"), "{log}");
}
