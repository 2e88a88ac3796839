//! The service over HTTPS (`--tls-cert/--tls-key`, a self-signed certificate made here), and
//! its page embedded in another origin's `<iframe allow="camera *; microphone *">`: a page
//! loaded directly and a page inside the iframe join one call, hear and see each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::browser::{open_page_with, result};
use common::*;
use confab_server::ServerConfig;
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_iframe_pages_share_a_call() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let base = server.base_url();
    assert!(base.starts_with("https://"), "{base}");
    let port = server.http_addr().port();

    // Plain HTTP on the HTTPS port gets nowhere.
    let plain = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).to_string()
    })
    .await
    .unwrap();
    assert!(!plain.contains("200 OK"), "plain HTTP answered: {plain}");

    let group = uuid::Uuid::new_v4();
    let page = |name: &str| format!("{base}/?group={group}&name={name}&seconds=4&expect=2");
    let alice = open_page_with(
        &page("Alice"),
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        60,
        &["--insecure"],
    );
    // Bob's page lives in an iframe on another origin (localhost vs 127.0.0.1).
    let host = format!("https://localhost:{port}/healthz");
    let bob = open_page_with(
        &page("Bob"),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
        &["--insecure", "--iframe", &host],
    );
    let (alice, bob) = tokio::task::spawn_blocking(move || (result(alice), result(bob)))
        .await
        .unwrap();
    for (name, r) in [("Alice", &alice), ("Bob (iframe)", &bob)] {
        println!("{name}: {r}");
        assert_eq!(r["connection"], "connected", "{name}'s media");
        let loud = r["loudWindows"].as_u64().unwrap();
        assert!(loud >= 5, "{name} heard the other in {loud} windows");
        let frames = r["video"]["framesDecoded"].as_u64().unwrap_or(0);
        assert!(frames > 0, "{name} decoded no video: {}", r["video"]);
    }
    server.shutdown().await;
}
