//! `confab token` mints, from the data directory's key, a token the service accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use confab_server::ServerConfig;
use confab_signaling::client::{ClientConfig, SignalingClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_token_opens_a_session() {
    let data_dir = temp_dir();
    let token_args = [
        "token",
        "--identity",
        "28:recorder",
        "--scope",
        "bot",
        "--data-dir",
    ];
    // A data directory without a key (no service started there): refused, with the way out.
    let refused = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(token_args)
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("no signing key") && why.contains("--data-dir"),
        "{why}"
    );
    assert!(refused.stdout.is_empty(), "no token printed");
    assert!(!data_dir.join("secrets.json").exists(), "no key made");
    let help = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["token", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("[default: confab-data]"));

    let output = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(token_args)
        .arg(&data_dir)
        .arg("--create-key")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        ..ServerConfig::default()
    };
    let server = confab_server::start(config).await.unwrap();
    let url = format!("ws://{}/ws", server.http_addr());
    let (client, _events) = SignalingClient::connect(&ClientConfig::new(
        url,
        "28:recorder".parse().unwrap(),
        token,
    ))
    .await
    .unwrap();
    client.close().await;

    let bad = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["token", "--scope", "wizard"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    server.shutdown().await;
}
