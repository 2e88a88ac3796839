//! The administrative HTTP API: health, identities and tokens behind the admin key, and a
//! minted token that really opens a signaling session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use confab_signaling::Identity;
use confab_signaling::client::{ClientConfig, SignalingClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_and_tokens_behind_the_admin_key() {
    let server = server().await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    let (status, body) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/healthz", None, None))
            .await
            .unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));

    let (status, body) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/v1/tokens",
            None,
            Some(r#"{"identity":"28:notes","scopes":["bot"]}"#),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/v1/tokens",
            Some("wrong-key"),
            Some(r#"{"identity":"28:notes","scopes":["bot"]}"#),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 401);

    let k = key.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/v1/identities",
            Some(&k),
            Some(r#"{"kind":"user"}"#),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let identity: Identity = created["identity"].as_str().unwrap().parse().unwrap();

    let k = key.clone();
    let request = format!(r#"{{"identity":"{identity}","scopes":["voip"],"ttl_secs":600}}"#);
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", "/v1/tokens", Some(&k), Some(&request))
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let issued: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();

    // The token opens a signaling session over the service's WebSocket.
    let url = format!("ws://{addr}/ws");
    let (client, _events) = SignalingClient::connect(&ClientConfig::new(url, identity, token))
        .await
        .unwrap();
    client.close().await;

    // Bad requests are typed errors.
    let k = key.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/v1/identities",
            Some(&k),
            Some(r#"{"kind":"bot","app":"Bad App"}"#),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    // An error that quotes the request quotes a bounded part of it.
    let k = key.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let kind = "k".repeat(10_000);
        let request = format!(r#"{{"kind":"{kind}"}}"#);
        http(addr, "POST", "/v1/identities", Some(&k), Some(&request))
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.len() < 400, "{} bytes echoed", body.len());
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(addr, "GET", "/v1/calls/not-a-uuid", Some(&key), None)
    })
    .await
    .unwrap();
    assert_eq!(status, 400);
    // Every page load asks for an icon: there is one (no 404 in the logs).
    let (status, icon) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/favicon.ico", None, None))
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert!(icon.starts_with("<svg"), "{icon}");
    server.shutdown().await;
}
