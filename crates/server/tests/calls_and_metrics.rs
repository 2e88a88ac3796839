//! A call through the service: two clients over its WebSocket, the call visible in the API
//! and in `/metrics` (valid Prometheus text), ended by an administrator, then the service
//! shut down gracefully.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use confab_signaling::protocol::ServerMessage;
use confab_signaling::{EndKind, Identity};

async fn reason(events: &mut confab_signaling::client::Events) -> EndKind {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerMessage::CallState {
            reason: Some(reason),
            ..
        } = event
        {
            return reason.kind;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_the_service() {
    let server = server().await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    let (alice, bob) = (Identity::new_user(), Identity::new_user());
    let (a, mut a_events) = client(&server, &alice).await;
    let (b, mut b_events) = client(&server, &bob).await;
    let (call_id, _) = create_call(&a).await;
    join_call(&b, call_id).await;

    // The API shows the call and its roster.
    let k = key.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(addr, "GET", &format!("/v1/calls/{call_id}"), Some(&k), None)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let call: serde_json::Value = serde_json::from_str(&body).unwrap();
    let identities: Vec<&str> = call["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(identities, vec![alice.to_string(), bob.to_string()]);

    // /metrics is Prometheus text and shows the live call.
    let (status, text) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/metrics", None, None))
            .await
            .unwrap();
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    assert_eq!(metric(&samples, "confab_calls"), 1.0);
    assert_eq!(metric(&samples, "confab_participants"), 2.0);
    // The two clients, and the echo test service the server hosts.
    assert_eq!(metric(&samples, "confab_signaling_connections"), 3.0);
    assert!(metric(&samples, "confab_signaling_messages_received_total") >= 4.0);

    // An administrator ends it: both hear "ended by the organizer".
    let k = key.clone();
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "DELETE",
            &format!("/v1/calls/{call_id}"),
            Some(&k),
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 204);
    assert_eq!(reason(&mut a_events).await, EndKind::EndedByOrganizer);
    assert_eq!(reason(&mut b_events).await, EndKind::EndedByOrganizer);
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "DELETE",
            &format!("/v1/calls/{call_id}"),
            Some(&key),
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 404);

    // Graceful shutdown ends running calls with a reason.
    create_call(&a).await;
    server.shutdown().await;
    assert_eq!(reason(&mut a_events).await, EndKind::ServerShutdown);
}
