//! What `confab serve` prints: with `--log-format json`, one JSON object per line (level,
//! target, message); as text into a pipe, no colour codes. A bot joining a call, sending
//! and hanging up makes the service log no warning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// Starts `confab serve` on free ports with a fresh data dir; its stderr lines arrive on
/// the returned channel.
fn serve(extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
    serve_in(&temp_dir(), extra)
}

fn serve_in(data_dir: &std::path::Path, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(extra)
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--media-udp",
            "127.0.0.1:0",
            "--no-echo",
            "--data-dir",
        ])
        .arg(data_dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// The lines printed within `wait` (at least until one mentions `until`).
fn lines(rx: &mpsc::Receiver<String>, until: &str, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(until);
                out.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    out
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (mut child, rx) = serve(&["--log-format", "json"]);
    let printed = lines(&rx, "media plane up", Duration::from_secs(20));
    child.kill().unwrap();
    let _ = child.wait();
    println!("{printed:#?}");
    assert!(
        printed.iter().any(|l| l.contains("media plane up")),
        "the service started"
    );
    for line in &printed {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(record["level"].is_string(), "{line}");
        assert!(record["target"].is_string(), "{line}");
        assert!(record["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn text_logs_into_a_pipe_carry_no_colour_codes() {
    let (mut child, rx) = serve(&[]);
    let printed = lines(&rx, "media plane up", Duration::from_secs(20));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(printed.iter().any(|l| l.contains("media plane up")));
    assert!(
        printed.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in {printed:#?}"
    );
}

/// A bot joins a group call, sends a second of audio and video (the service is the DTLS
/// client of its connection) and hangs up: the service logs nothing at warning or above
/// (each connection used to log `WARN rtc_dtls::config: conn.remote_addr is empty`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_in_a_call_leaves_no_warning_in_the_service_log() {
    use confab_bot::{Bot, BotClient, BotConfig, Identity, VideoSource};
    use confab_media::{AudioFormat, AudioFrame, MediaTime, TestPattern};

    struct Quiet;
    #[async_trait::async_trait]
    impl Bot for Quiet {}

    let data_dir = temp_dir();
    let (mut child, rx) = serve_in(&data_dir, &[]);
    // The URL is in the last line of start-up (the media plane comes up before it).
    let started = lines(&rx, "confab is serving", Duration::from_secs(20));
    let url = started
        .iter()
        .find_map(|l| l.split("url=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the service prints its URL")
        .trim_end_matches('/')
        .to_owned();
    let token = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "token",
            "--identity",
            "28:logcheck",
            "--scope",
            "bot",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let config = BotConfig::new(url, Identity::Bot("logcheck".into()), token);
    let client = BotClient::connect(config).await.unwrap();
    let call = client
        .join_group(uuid::Uuid::new_v4(), Quiet)
        .await
        .unwrap();
    let pattern = TestPattern::new(320, 240);
    for n in 0..50u64 {
        let frame = AudioFrame::new(
            AudioFormat::MONO_48K,
            MediaTime::from_millis(n * 20),
            vec![0; 960],
        )
        .unwrap();
        call.handle().send_audio(frame).await.unwrap();
        if n % 4 == 0 {
            let picture = pattern.frame(n as u32, MediaTime::from_millis(n * 20));
            call.handle()
                .send_video(VideoSource::Camera, picture)
                .unwrap();
        }
    }
    // Media flowed both ways, so DTLS and SRTP came up.
    for _ in 0..50 {
        if call.handle().stats().mixed_frames > 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        call.handle().stats().mixed_frames > 10,
        "{:?}",
        call.handle().stats()
    );
    call.handle().hang_up().await.unwrap();
    let during = lines(&rx, "never printed", Duration::from_secs(2));
    child.kill().unwrap();
    let _ = child.wait();
    println!("{during:#?}");
    let warnings: Vec<&String> = during
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
