//! Three `confab serve` nodes on one Redis: three new calls, all created through node a,
//! land one on each node (the least loaded live node hosts a new call), their bots' media
//! connects to the hosting node though their signaling goes through a, `GET /v1/nodes`
//! shows every node's load, and a node that stops leaves the cluster at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use common::cluster;
use common::drops::{Seen, join_tone_speaker, wait_for};
use confab_bot::CallEvent;

/// How many of `calls` `node` hosts.
fn calls_on(node: &cluster::Node, calls: &[confab_bot::CallTask]) -> usize {
    let hosted: Vec<String> = node
        .calls()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    calls
        .iter()
        .filter(|t| hosted.contains(&t.call_id().0.to_string()))
        .count()
}

fn ids(view: &serde_json::Value) -> Vec<String> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_calls_go_to_the_least_loaded_node() {
    let (_redis, mut nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let view = nodes[1].nodes();
    assert_eq!(view["cluster"], true);
    assert_eq!(view["node"], "b");
    assert_eq!(ids(&view), ["a", "b", "c"], "{view}");

    let mut calls = Vec::new();
    for i in 0..3 {
        let seen = Seen::default();
        let group = uuid::Uuid::new_v4();
        let asked = std::time::Instant::now();
        let task = join_tone_speaker(
            nodes[0].bot_config(&format!("speaker{i}")),
            group,
            &seen,
            30,
        )
        .await;
        let joined = asked.elapsed();
        // Media connects to whichever node hosts the call.
        let connected = wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
        calls.push(task);
        let host = nodes
            .iter()
            .find(|n| calls_on(n, &calls[i..]) == 1)
            .map_or("?", |n| n.id.as_str());
        println!(
            "call {i} on node {host}: joined {joined:?}, media connected {:?} after asking",
            connected - asked
        );
    }
    let hosted: Vec<usize> = nodes.iter().map(|n| n.calls().len()).collect();
    println!("calls hosted per node: {hosted:?}");
    assert_eq!(hosted, [1, 1, 1], "three new calls spread over three nodes");

    // The heartbeats report each node's load.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let view = nodes[2].nodes();
    println!("{view:#}");
    for node in view["nodes"].as_array().unwrap() {
        assert_eq!(node["calls"], 1, "{node}");
        assert_eq!(node["participants"], 1, "{node}");
    }

    // A node that stops leaves at once (it does not wait for its heartbeat to expire).
    let c = nodes.pop().unwrap();
    tokio::task::spawn_blocking(move || drop(c)).await.unwrap();
    assert_eq!(ids(&nodes[0].nodes()), ["a", "b"]);

    for call in calls {
        let _ = call.handle().hang_up().await;
    }
}
