//! A cluster whose Redis speaks only TLS (`rediss://`, Redis's certificate from a private CA
//! given with `--redis-ca`): two nodes join, share the cluster's keys, and carry one call
//! between them — a tone spoken on one node is recorded on the other. A node that trusts
//! another CA, or speaks clear text to the TLS port, is refused at start with a clear error,
//! and a CA without a `rediss://` URL is a configuration error. A Redis that asks for client
//! certificates takes a node with one from its CA and refuses a node without.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Node, Redis, TestCa, serve_command};
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::phones::free_tcp_port;
use common::temp_dir;
use confab_bot::CallEvent;

/// `confab serve` on `redis_url` with more `args`: its exit status and stderr (it must
/// exit, and soon).
fn serve_exits(redis_url: &str, args: &[&str]) -> (i32, String) {
    let http = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let started = Instant::now();
    let output = serve_command(redis_url, "z", http, &temp_dir())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    println!("exited in {:?}: {stderr}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    (output.status.code().unwrap_or(-1), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_call_through_redis_over_tls() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca, false);
    let ca_arg = ca.pem.to_str().unwrap().to_owned();
    let url = redis.tls_url();
    let nodes = tokio::task::spawn_blocking(move || {
        ["a", "b"].map(|id| Node::start_with(&url, id, &["--redis-ca", &ca_arg]))
    })
    .await
    .unwrap();
    // The second node took the first one's keys from Redis, and both see each other.
    assert_eq!(nodes[0].admin_key(), nodes[1].admin_key());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = nodes[1].nodes().to_string();
        if listed.contains("\"a\"") && listed.contains("\"b\"") {
            break;
        }
        assert!(Instant::now() < deadline, "both nodes listed: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let speaker = join_tone_speaker(nodes[0].bot_config("speaker"), group, &seen, 30).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let recording = drops::join_recorder(nodes[1].bot_config("recorder"), group, &out).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();

    let hosts: usize = nodes.iter().map(|n| n.calls().len()).sum();
    assert!(hosts <= 1, "one call in the cluster, on one node");
    let voiced = drops::recorded_loud_frames(&out, "28:speaker");
    println!("the speaker on node a, recorded on node b: {voiced} loud 20 ms frames");
    assert!(voiced >= 75, "at least 1.5 s of the tone: {voiced} frames");
    for node in &nodes {
        let log = node.log_text();
        assert!(!log.contains("ring listener"), "{}: {log}", node.id);
        assert!(!log.contains("clear text"), "{}: {log}", node.id);
    }
}

#[test]
fn a_node_that_trusts_another_ca_is_refused() {
    let redis = Redis::start_tls(&TestCa::new(), false);
    let other = TestCa::new();
    let (code, stderr) = serve_exits(
        &redis.tls_url(),
        &["--redis-ca", other.pem.to_str().unwrap()],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("cannot reach Redis at {}", redis.tls_url())),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // Clear text to the TLS port is no better.
    let (code, stderr) = serve_exits(&format!("redis://127.0.0.1:{}", redis.port), &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("cannot reach Redis"), "{stderr}");
}

#[test]
fn tls_settings_without_a_tls_url_are_a_configuration_error() {
    let ca = TestCa::new();
    let ca = ca.pem.to_str().unwrap();
    let (code, stderr) = serve_exits("redis://127.0.0.1:6379", &["--redis-ca", ca]);
    assert_ne!(code, 0);
    assert!(stderr.contains("need a rediss:// URL"), "{stderr}");
    let (code, stderr) = serve_exits(
        "rediss://127.0.0.1:6379",
        &["--redis-ca", ca, "--redis-client-cert", ca],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--redis-client-cert and --redis-client-key go together"),
        "{stderr}"
    );
    // And a CA file that is not there is named.
    let missing = temp_dir().with_extension("missing.pem");
    let (code, stderr) = serve_exits(
        "rediss://127.0.0.1:6379",
        &["--redis-ca", missing.to_str().unwrap()],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("cannot read the Redis TLS file"),
        "{stderr}"
    );
}

#[test]
fn a_redis_that_asks_for_client_certificates_takes_nodes_with_one() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca, true);
    let ca_pem = ca.pem.to_str().unwrap();
    // Without a certificate: refused by Redis, a clear error at start.
    let (code, stderr) = serve_exits(&redis.tls_url(), &["--redis-ca", ca_pem]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("cannot reach Redis at {}", redis.tls_url())),
        "{stderr}"
    );
    // With one from Redis's CA: in the cluster.
    let (cert, key) = ca.issue(&["node-a"], &temp_dir(), "node-a");
    let args = [
        "--redis-ca",
        ca_pem,
        "--redis-client-cert",
        cert.to_str().unwrap(),
        "--redis-client-key",
        key.to_str().unwrap(),
    ];
    let node = Node::start_with(&redis.tls_url(), "a", &args);
    let listed = node.nodes().to_string();
    assert!(listed.contains("\"a\""), "{listed}");
}
