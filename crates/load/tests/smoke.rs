//! A short run of the load generator against a service started here: ten participants
//! (three speaking) join one call, every mix packet reaches them, the decoding sample hears
//! speech, and the JSON report says so. The full capacity runs are scripts/capacity.sh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::Command;

use confab_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_participants_join_and_hear_the_mix() {
    let dir = std::env::temp_dir().join(format!("confab-load-smoke-{}", uuid::Uuid::new_v4()));
    let server = confab_server::start(ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        echo_service: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let report = dir.join("report.json");
    let url = server.base_url();
    let data = dir.join("data");
    let report_path = report.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_confab-load"))
            .args(["--url", &url, "--participants", "10", "--seconds", "4"])
            .args(["--ramp", "20", "--decode", "2"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--json")
            .arg(&report_path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let s = &report["summary"];
    assert_eq!(s["joined"], 10);
    assert!(s["mix_delivered"].as_f64().unwrap() >= 0.99, "{s}");
    assert_eq!(s["mix_lost"], 0, "{s}");
    assert!(s["loud_fraction"].as_f64().unwrap() > 0.8, "{s}");
    assert_eq!(s["decode_errors"], 0);
    assert!(s["first_audio_ms"]["p95"].as_u64().unwrap() < 2000, "{s}");
    server.shutdown().await;
}
