//! A service on ephemeral ports with a fresh data directory, and a tiny HTTP/1.1 client.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

pub mod browser;
pub mod cluster;
pub mod drops;
pub mod phones;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::client::{ClientConfig, Events, SignalingClient};
use confab_signaling::protocol::{CallId, ClientMessage, ParticipantId, ServerMessage};
use confab_signaling::{Identity, Scope};

pub fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("confab-test-{}", uuid::Uuid::new_v4()))
}

pub async fn server() -> ServerHandle {
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: temp_dir(),
        ..ServerConfig::default()
    };
    confab_server::start(config).await.unwrap()
}

/// A service with `limits` and no echo test (so nothing but the test connects to it).
pub async fn server_with_limits(limits: confab_server::Limits) -> ServerHandle {
    confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: temp_dir(),
        echo_service: false,
        limits,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// A TCP connection to `to` from the loopback address `from` (all of 127/8 is loopback:
/// each address has its own per-address limits).
pub async fn connect_from(from: &str, to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            from.parse::<std::net::IpAddr>().unwrap(),
            0,
        ))
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// The value of the service's metric line that starts with `line_start` (name and labels).
pub fn server_metric(server: &ServerHandle, line_start: &str) -> u64 {
    server
        .metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_start}"))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn client(server: &ServerHandle, identity: &Identity) -> (SignalingClient, Events) {
    let scope = if identity.is_bot() {
        Scope::Bot
    } else {
        Scope::Voip
    };
    let token = server
        .token_key()
        .mint(identity, &[scope], unix_now(), 600)
        .unwrap();
    let url = format!("ws://{}/ws", server.http_addr());
    SignalingClient::connect(&ClientConfig::new(url, identity.clone(), token))
        .await
        .unwrap()
}

/// `client` starts a call (no lobby, no video); returns its id and the caller's participant id.
pub async fn create_call(client: &SignalingClient) -> (CallId, ParticipantId) {
    let created = client
        .request(ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        })
        .await
        .unwrap();
    let ServerMessage::Ok {
        call_id: Some(call_id),
        participant: Some(participant),
    } = created
    else {
        panic!("{created:?}")
    };
    (call_id, participant)
}

/// `client` joins the call (no video).
pub async fn join_call(client: &SignalingClient, call_id: CallId) {
    client
        .request(ClientMessage::JoinCall {
            call_id: Some(call_id),
            group_id: None,
            video: false,
        })
        .await
        .unwrap();
}

/// One HTTP/1.1 request; returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = body.unwrap_or("");
    let auth = bearer
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, dechunk(&body))
}

/// Undoes chunked transfer encoding if the body uses it.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, tail)) = rest.split_once("\r\n") else {
            return body.to_string();
        };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if size == 0 {
            return out;
        }
        if tail.len() < size {
            return body.to_string();
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
}

/// Parses Prometheus text exposition: every sample line is `name value` or
/// `name{label="value",...} value`, every comment a HELP or TYPE line; returns the samples
/// keyed by their full series (name and labels).
pub fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels: {line}"));
                for label in labels.split(',') {
                    let (key, quoted) = label
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "bad label name: {line}"
                    );
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "unquoted label: {line}"
                    );
                }
                name
            }
            None => series,
        };
        assert!(
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {name}"
        );
        let value = if value == "+Inf" {
            f64::INFINITY
        } else {
            value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"))
        };
        samples.push((series.to_string(), value));
    }
    samples
}

pub fn metric(samples: &[(String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no metric {name}"))
}
