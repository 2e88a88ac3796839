//! Connections that say nothing are closed at their deadlines, against a live service with
//! short ones: TCP connections that never send a request and ones that send half their
//! headers (the header-read deadline), WebSockets that never sign in (`hello_timeout`,
//! close 1008) and signed-in WebSockets that stop answering pings (`ping_timeout`, close
//! 1001) — while `/healthz` answers throughout and the open-connection gauge comes back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use confab_server::Limits;
use confab_signaling::client::Link;
use confab_signaling::{Identity, Scope};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long until the service closes `stream` (reading whatever it sends first).
async fn closed_after(mut stream: tokio::net::TcpStream, began: Instant) -> Duration {
    let mut scratch = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut scratch)).await {
            Ok(Ok(0) | Err(_)) => return began.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after 10 s"),
        }
    }
}

async fn healthz(addr: SocketAddr) -> bool {
    let mut stream = connect_from("127.0.0.9", addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    reply.starts_with(b"HTTP/1.1 200")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_requests_are_closed_at_the_header_deadline() {
    let server = server_with_limits(Limits {
        header_read_secs: 1,
        ..Limits::default()
    })
    .await;
    let addr = server.http_addr();
    let before = server_metric(&server, "confab_http_connections_open ");
    let began = Instant::now();
    let mut waits = Vec::new();
    for n in 0..40 {
        let mut stream = connect_from("127.0.0.5", addr).await;
        if n % 2 == 1 {
            // Half a request: the request line and one header, never the blank line.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: confab\r\n")
                .await
                .unwrap();
        }
        waits.push(tokio::spawn(closed_after(stream, began)));
    }
    // A keep-alive connection that made one request and then went quiet.
    let mut keep_alive = connect_from("127.0.0.6", addr).await;
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: confab\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    keep_alive.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    waits.push(tokio::spawn(closed_after(keep_alive, Instant::now())));
    assert_eq!(
        server_metric(&server, "confab_http_connections_open "),
        before + 41,
        "all held open for now"
    );
    assert!(healthz(addr).await, "the service answers meanwhile");
    for wait in waits {
        let after = wait.await.unwrap();
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(3)).contains(&after),
            "closed {after:?} after opening: at the 1 s deadline"
        );
    }
    assert!(healthz(addr).await, "and afterwards");
    assert!(server_metric(&server, "confab_http_timeouts_header_read_total ") >= 41);
    // Every place given back (the healthz connections close on their own).
    let deadline = Instant::now() + Duration::from_secs(2);
    while server_metric(&server, "confab_http_connections_open ") > before
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server_metric(&server, "confab_http_connections_open "),
        before
    );
    server.shutdown().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `ws` until it closes; the close frame's code and reason.
async fn close_of(ws: &mut Socket) -> (CloseCode, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return (frame.code, frame.reason.to_string());
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_says_hello_is_closed() {
    let server = server_with_limits(Limits {
        hello_secs: 1,
        ..Limits::default()
    })
    .await;
    let began = Instant::now();
    let (mut silent, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http_addr()))
            .await
            .unwrap();
    // Talking is not signing in: a message other than hello does not reset the deadline.
    silent
        .send(Message::Text(
            r#"{"v":1,"id":1,"type":"create_call"}"#.into(),
        ))
        .await
        .unwrap();
    let (code, reason) = close_of(&mut silent).await;
    let after = began.elapsed();
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Policy, "hello_timeout")
    );
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&after),
        "closed after {after:?}"
    );
    // One that signs in in time stays.
    let (client, _events) = client(&server, &Identity::new_user()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        *client.link().borrow(),
        Link::Up,
        "a signed-in socket outlives the deadline"
    );
    assert_eq!(
        server_metric(&server, "confab_signaling_hello_timeouts_total "),
        1
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_answers_no_pings_is_closed_as_dead() {
    let server = server_with_limits(Limits {
        ws_ping_secs: 1,
        ws_dead_secs: 2,
        ..Limits::default()
    })
    .await;
    let identity = Identity::new_user();
    let token = server
        .token_key()
        .mint(&identity, &[Scope::Voip], unix_now(), 600)
        .unwrap();
    let (mut dead, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http_addr()))
        .await
        .unwrap();
    let hello = serde_json::json!({"v":1,"id":1,"type":"hello","identity":identity,"token":token});
    dead.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let began = Instant::now();
    // A client that keeps reading answers the pings (tungstenite pongs as it reads).
    let (alive, _events) = client(&server, &Identity::new_user()).await;
    // This one reads nothing (no pongs go out): its raw bytes, read without answering,
    // end with the service's close frame, and then the service drops the connection
    // (a peer that does not answer the close is not waited for beyond a second).
    let tokio_tungstenite::MaybeTlsStream::Plain(raw) = dead.get_mut() else {
        unreachable!("plain ws://")
    };
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(8), raw.read_to_end(&mut bytes))
        .await
        .expect("the service drops the connection")
        .expect("a clean close");
    let mut close = vec![0x88, 2 + 12, 0x03, 0xE9]; // FIN+close, length, code 1001
    close.extend_from_slice(b"ping_timeout");
    assert!(
        bytes.windows(close.len()).any(|w| w == close),
        "close 1001 ping_timeout among {} bytes",
        bytes.len()
    );
    let after = began.elapsed();
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(5)).contains(&after),
        "dead at 2 s, dropped a second later: {after:?}"
    );
    assert_eq!(
        *alive.link().borrow(),
        Link::Up,
        "pongs keep a socket alive past the deadline"
    );
    assert_eq!(
        server_metric(&server, "confab_signaling_ping_timeouts_total "),
        1
    );
    server.shutdown().await;
}
