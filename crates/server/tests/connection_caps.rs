//! The connection caps against a live service: one source address holds at most
//! `connections_per_address` connections (the next gets 429
//! `too_many_connections_from_address`), the service at most `max_connections` (503
//! `too_many_connections`); WebSockets keep their place while they live; places come back
//! when connections close, and so do the process's file descriptors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use confab_server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request from `from`; the status and JSON body of the reply.
async fn get(from: &str, to: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect_from(from, to).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: confab\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address_and_overall() {
    let server = server_with_limits(Limits {
        connections_per_address: 20,
        max_connections: 45,
        header_read_secs: 60,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    let fds_before = open_fds();

    // One address: 19 silent connections and a WebSocket, then the 21st is refused.
    let mut held = Vec::new();
    for _ in 0..19 {
        held.push(connect_from("127.0.0.2", addr).await);
    }
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        connect_from("127.0.0.2", addr).await,
    )
    .await
    .unwrap();
    let (status, body) = get("127.0.0.2", addr, "/healthz").await;
    assert_eq!(status, 429, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "too_many_connections_from_address");
    assert!(body["retry_after_secs"].as_u64().unwrap() >= 1);
    assert_eq!(
        get("127.0.0.3", addr, "/healthz").await.0,
        200,
        "others still get in"
    );

    // Overall: 20 + 20 + 5 = 45, then nobody.
    for _ in 0..20 {
        held.push(connect_from("127.0.0.3", addr).await);
    }
    for _ in 0..5 {
        held.push(connect_from("127.0.0.4", addr).await);
    }
    let (status, body) = get("127.0.0.5", addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "too_many_connections");
    assert_eq!(server_metric(&server, "confab_http_connections_open "), 45);
    assert_eq!(
        server_metric(
            &server,
            "confab_http_connections_refused_total{limit=\"address\"} "
        ),
        1
    );
    assert_eq!(
        server_metric(
            &server,
            "confab_http_connections_refused_total{limit=\"total\"} "
        ),
        1
    );

    // The WebSocket held its place after the upgrade; closing it gives it back.
    drop(ws);
    held.truncate(30);
    let deadline = Instant::now() + Duration::from_secs(3);
    while server_metric(&server, "confab_http_connections_open ") > 30 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server_metric(&server, "confab_http_connections_open "), 30);
    assert_eq!(
        get("127.0.0.5", addr, "/healthz").await.0,
        200,
        "room again"
    );

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(3);
    while server_metric(&server, "confab_http_connections_open ") > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server_metric(&server, "confab_http_connections_open "), 0);
    let fds_after = open_fds();
    assert!(
        fds_after <= fds_before + 2,
        "file descriptors back: {fds_before} before, {fds_after} after"
    );
    server.shutdown().await;
}
