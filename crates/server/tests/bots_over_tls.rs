//! Bots reach a service that serves HTTPS only (`--tls-cert/--tls-key`, a certificate from a
//! private CA made here) over `wss://`: given the CA (`BotConfig::ca_certificates`), a bot
//! speaking a tone and the recorder meet in a group call and the tone is recorded. Without
//! the CA the certificate is refused, and what is not a PEM certificate is a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::cluster::TestCa;
use common::drops::{self, Seen, join_tone_speaker, wait_for};
use common::temp_dir;
use confab_bot::{BotClient, BotError, CallEvent, Identity};
use confab_server::ServerConfig;
use confab_signaling::Scope;
use confab_signaling::client::ClientError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_meet_on_a_service_with_a_private_ca() {
    let ca = TestCa::new();
    let dir = temp_dir();
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"], &dir, "service");
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        tls_cert: Some(cert),
        tls_key: Some(key),
        echo_service: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert!(server.base_url().starts_with("https://"));
    let pem = std::fs::read(&ca.pem).unwrap();
    let config = |name: &str| {
        let mut config =
            common::phones::bot_config(&server, Identity::Bot(name.into()), name, &[Scope::Bot]);
        config.ca_certificates = pem.clone();
        config
    };

    // Without the CA: the system's roots do not vouch for this certificate.
    let mut untrusting = config("untrusting");
    untrusting.ca_certificates.clear();
    let refused = BotClient::connect(untrusting).await.unwrap_err();
    println!("without the CA: {refused}");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
    // Not a certificate at all.
    let mut garbled = config("garbled");
    garbled.ca_certificates =
        b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".to_vec();
    let error = BotClient::connect(garbled).await.unwrap_err();
    assert!(
        matches!(error, BotError::Signaling(ClientError::Tls(_))),
        "{error}"
    );

    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let speaker = join_tone_speaker(config("speaker"), group, &seen, 30).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let recording = drops::join_recorder(config("recorder"), group, &out).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();

    let loud = drops::recorded_loud_frames(&out, "28:speaker");
    println!("the tone recorded over wss://: {loud} loud 20 ms frames");
    assert!(loud >= 100, "at least 2 s of the tone: {loud} frames");
    server.shutdown().await;
}

/// Two nodes serving HTTPS with certificates from a private CA (`--node-ca` trusts it for
/// the relay legs between them): a bot on one and the recorder on the other meet in one call,
/// one of them relayed over `wss://` to the node hosting it, and the tone is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_a_private_ca_relay_over_wss() {
    let ca = TestCa::new();
    let pem = std::fs::read(&ca.pem).unwrap();
    let redis = common::cluster::Redis::start();
    let url = redis.url();
    let ca_arg = ca.pem.to_str().unwrap().to_owned();
    let nodes = tokio::task::spawn_blocking(move || {
        ["a", "b"].map(|id| {
            let dir = temp_dir();
            let (cert, key) = ca.issue(&["127.0.0.1"], &dir, id);
            common::cluster::Node::start_with(
                &url,
                id,
                &[
                    "--tls-cert",
                    cert.to_str().unwrap(),
                    "--tls-key",
                    key.to_str().unwrap(),
                    "--node-ca",
                    &ca_arg,
                ],
            )
        })
    })
    .await
    .unwrap();
    let config = |node: &common::cluster::Node, name: &str| {
        let mut config = node.bot_config(name);
        config.ca_certificates = pem.clone();
        config
    };
    let group = uuid::Uuid::new_v4();
    let seen = Seen::default();
    let speaker = join_tone_speaker(config(&nodes[0], "speaker"), group, &seen, 30).await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let out = temp_dir();
    let recording = drops::join_recorder(config(&nodes[1], "recorder"), group, &out).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();
    // One bot's node relayed its signaling to the other's, over wss://.
    assert!(
        nodes.iter().any(|n| n.log_text().contains("relay leg up")),
        "a relay leg between the nodes"
    );
    let loud = drops::recorded_loud_frames(&out, "28:speaker");
    println!("the tone recorded across the nodes: {loud} loud 20 ms frames");
    assert!(loud >= 100, "at least 2 s of the tone: {loud} frames");
    for node in &nodes {
        let log = node.log_text();
        assert!(!log.contains("relay leg failed"), "{}: {log}", node.id);
    }
}
