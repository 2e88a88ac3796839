//! The abuse limits against a live service, one rule per test. Loopback is all of 127/8, so
//! requests "from another address" come from sockets bound to 127.0.0.2, 127.0.0.3, ...

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use confab_server::{Limits, ServerHandle};
use confab_signaling::{Identity, Scope};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.1 request from the loopback address `from`.
async fn request(
    from: &str,
    to: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> Reply {
    let stream = connect_from(from, to).await.into_std().unwrap();
    let (method, path, bearer, body) = (
        method.to_owned(),
        path.to_owned(),
        bearer.map(str::to_owned),
        body.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let auth = bearer
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {to}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        Reply {
            status: head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

fn assert_rate_limited(reply: &Reply) {
    assert_eq!(reply.status, 429, "{} {}", reply.head, reply.body);
    assert!(reply.head.contains("retry-after: "), "{}", reply.head);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(body["retry_after_secs"].as_u64().unwrap() >= 1, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_sign_ins_are_limited_per_address() {
    let server = server_with_limits(Limits {
        guest_burst: 3,
        guests_per_minute: 1,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    for _ in 0..3 {
        let reply = request("127.0.0.2", addr, "POST", "/v1/guest", None, "").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let refused = request("127.0.0.2", addr, "POST", "/v1/guest", None, "").await;
    assert_rate_limited(&refused);
    let other = request("127.0.0.3", addr, "POST", "/v1/guest", None, "").await;
    assert_eq!(
        other.status, 200,
        "another address signs in: {}",
        other.body
    );
    assert_eq!(
        server_metric(&server, "confab_http_rate_limited_total{limit=\"guest\"}"),
        1
    );
    let health = request("127.0.0.2", addr, "GET", "/healthz", None, "").await;
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_connects_are_limited_per_address() {
    let server = server_with_limits(Limits {
        ws_connect_burst: 2,
        ws_connects_per_second: 0,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    let upgrade = |from: &'static str| async move {
        let stream = connect_from(from, addr).await;
        tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await
    };
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(upgrade("127.0.0.2").await.expect("within the burst"));
    }
    match upgrade("127.0.0.2").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("the third connect went through: {:?}", other.map(|_| ())),
    }
    upgrade("127.0.0.3")
        .await
        .expect("another address still connects");
    assert_eq!(
        server_metric(
            &server,
            "confab_http_rate_limited_total{limit=\"ws_connect\"}"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_keys_lock_the_address_out() {
    let server = server_with_limits(Limits {
        admin_failure_burst: 3,
        admin_failures_per_minute: 1,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    // The key is checked before the body: a caller without it learns nothing of the fields.
    let reply = request(
        "127.0.0.2",
        addr,
        "POST",
        "/v1/tokens",
        None,
        "{\"nope\":1}",
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(!reply.body.contains("nope"), "{}", reply.body);
    for _ in 0..2 {
        let reply = request("127.0.0.2", addr, "GET", "/v1/calls", Some("guess"), "").await;
        assert_eq!(reply.status, 401);
    }
    // Three wrong keys: now even the right one is refused from that address for a while.
    let locked = request("127.0.0.2", addr, "GET", "/v1/calls", Some(&key), "").await;
    assert_rate_limited(&locked);
    let elsewhere = request("127.0.0.3", addr, "GET", "/v1/calls", Some(&key), "").await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    assert!(
        server_metric(
            &server,
            "confab_http_rate_limited_total{limit=\"admin_key\"}"
        ) >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_limited_per_identity() {
    let server = server_with_limits(Limits {
        token_burst: 2,
        tokens_per_minute: 1,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    let issue = |identity: &'static str| {
        let key = key.clone();
        async move {
            let body = format!(r#"{{"identity":"{identity}","scopes":["bot"]}}"#);
            request("127.0.0.2", addr, "POST", "/v1/tokens", Some(&key), &body).await
        }
    };
    for _ in 0..2 {
        assert_eq!(issue("28:notes").await.status, 200);
    }
    assert_rate_limited(&issue("28:notes").await);
    assert_eq!(issue("28:minutes").await.status, 200, "another identity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused() {
    let server = server_with_limits(Limits::default()).await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    let padding = "x".repeat(Limits::default().max_body_bytes);
    let body = format!(r#"{{"identity":"28:notes","scopes":["bot"],"pad":"{padding}"}}"#);
    let reply = request("127.0.0.2", addr, "POST", "/v1/tokens", Some(&key), &body).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains("body_too_large"), "{}", reply.body);
    assert!(reply.body.len() < 400, "the reply does not echo the body");
}

/// A signaling connection from `from` that says hello as `identity`; returns the reply and,
/// if the service closed the connection, its close code and reason.
async fn hello(
    server: &ServerHandle,
    identity: &Identity,
) -> (
    serde_json::Value,
    Option<(CloseCode, String)>,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let scope = if identity.is_bot() {
        Scope::Bot
    } else {
        Scope::Voip
    };
    let token = server
        .token_key()
        .mint(identity, &[scope], unix_now(), 600)
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http_addr()))
        .await
        .unwrap();
    let hello = serde_json::json!({"v":1,"id":1,"type":"hello","identity":identity,"token":token});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let mut reply = serde_json::Value::Null;
    let mut closed = None;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(500), ws.next()).await
    {
        match message {
            Message::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["re"] == 1 {
                    reply = value;
                }
            }
            Message::Close(Some(frame)) => {
                closed = Some((frame.code, frame.reason.to_string()));
                break;
            }
            _ => {}
        }
    }
    (reply, closed, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_on_at_most_the_allowed_number_of_connections() {
    let server = server_with_limits(Limits {
        sessions_per_user: 2,
        ..Limits::default()
    })
    .await;
    let person = Identity::new_user();
    let mut devices = Vec::new();
    for _ in 0..2 {
        let (reply, closed, ws) = hello(&server, &person).await;
        assert_eq!(reply["type"], "ok", "{reply}");
        assert!(closed.is_none());
        devices.push(ws);
    }
    let (reply, closed, _) = hello(&server, &person).await;
    assert_eq!(reply["code"], "too_many_sessions", "{reply}");
    assert_eq!(
        closed,
        Some((CloseCode::Policy, "too_many_sessions".to_owned())),
        "closed with 1008 and the reason"
    );
    assert_eq!(
        server_metric(&server, "confab_signaling_sessions_refused_total"),
        1
    );
    // One device signs out: a new one may sign in.
    devices.pop().unwrap().close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (reply, _, _) = hello(&server, &person).await;
    assert_eq!(reply["type"], "ok", "{reply}");
    // Bots are not limited.
    let bot: Identity = "28:fleet".parse().unwrap();
    let mut fleet = Vec::new();
    for _ in 0..3 {
        let (reply, _, ws) = hello(&server, &bot).await;
        assert_eq!(reply["type"], "ok", "{reply}");
        fleet.push(ws);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_binary_frames_and_oversized_messages_get_close_codes() {
    let server = server_with_limits(Limits::default()).await;
    let url = format!("ws://{}/ws", server.http_addr());
    // A bad token: the error, then 1008 with the code as the reason.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = serde_json::json!({"v":1,"id":1,"type":"hello","identity":Identity::new_user(),"token":"not.a.token"});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let mut close = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await
    {
        if let Message::Close(Some(frame)) = message {
            close = Some((frame.code, frame.reason.to_string()));
        }
    }
    assert_eq!(
        close,
        Some((CloseCode::Policy, "token_malformed".to_owned()))
    );

    // A binary frame gets an error, not silence, and the connection stays.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = reply else {
        panic!("{reply:?}")
    };
    assert!(text.contains("\"invalid_message\""), "{text}");
    ws.send(Message::Text(r#"{"v":1,"id":2,"type":"ping"}"#.into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(pong.to_text().unwrap().contains("pong"), "{pong:?}");

    // Far over the size limit: 1009.
    let huge = format!(
        r#"{{"v":1,"type":"ping","pad":"{}"}}"#,
        "x".repeat(confab_signaling::protocol::MAX_MESSAGE_BYTES * 3)
    );
    let _ = ws.send(Message::Text(huge.into())).await;
    let mut close = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await
    {
        if let Message::Close(Some(frame)) = message {
            close = Some(frame.code);
        }
    }
    assert_eq!(close, Some(CloseCode::Size));
}

/// Found by the `http_api` fuzz target: a path that does not decode (`%BB` is not UTF-8)
/// was refused with 400 before the admin key was looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_key_comes_before_the_path() {
    let server = server_with_limits(Limits::default()).await;
    let addr = server.http_addr();
    let key = server.admin_key().to_owned();
    for method in ["GET", "DELETE"] {
        let reply = request("127.0.0.4", addr, method, "/v1/calls/i%BB", None, "").await;
        assert_eq!(reply.status, 401, "{method}: {}", reply.body);
    }
    let reply = request("127.0.0.4", addr, "GET", "/v1/calls/i%BB", Some(&key), "").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("invalid_call_id"), "{}", reply.body);
    let reply = request(
        "127.0.0.4",
        addr,
        "POST",
        "/v1/calls/%BB/participants",
        None,
        r#"{"identity":"4:+15551234567"}"#,
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
}
