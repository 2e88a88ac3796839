//! The README's "Record a call" block, run as written by bash (with `bin`, `data` and `port`
//! set for the test): `confab serve`, `confab token`, `confab-recorder` in the foreground.
//! Two headless Chromium pages join the group it prints and speak speech fixtures, then
//! close their tabs; Ctrl-C (SIGINT) stops the recorder, which must exit 0 having written
//! each page's voice and its departure as a hang-up, not a lost connection. The recorder's
//! failures are checked too: a token for another identity and a token that is not one both
//! end it with a non-zero status and a reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)] // a test: it reads the clock to bound its waits

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::{open_page, result};
use common::*;
use confab_testkit::{fixtures, signal};

fn bin_dir() -> PathBuf {
    let confab = PathBuf::from(env!("CARGO_BIN_EXE_confab"));
    let dir = confab.parent().unwrap().to_owned();
    if !dir.join("confab-recorder").exists() {
        // Built by the workspace's test build; build it if this test runs alone.
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "confab-recorder",
                "--bin",
                "confab-recorder",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building confab-recorder");
    }
    dir
}

/// The shell block under "### Record a call" in the README.
fn readme_block() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("### Record a call")
        .nth(1)
        .expect("the README has a Record a call section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("with a sh block");
    block.to_owned()
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// The children of `parent` whose command line contains `name`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains(name) {
            found.push(pid);
        }
    }
    found
}

/// The pid running the recorder: bash execs a block's last command in its own place, so
/// the shell itself once it has (or a child, had it not).
fn recorder_of(shell: u32) -> Option<u32> {
    let own = std::fs::read(format!("/proc/{shell}/cmdline")).unwrap_or_default();
    let argv0 = String::from_utf8_lossy(&own)
        .split('\0')
        .next()
        .unwrap_or_default()
        .to_owned();
    if argv0.ends_with("confab-recorder") {
        return Some(shell);
    }
    children_named(shell, "confab-recorder").first().copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_records_a_call_of_two_pages() {
    let bin = bin_dir();
    let work = temp_dir();
    std::fs::create_dir_all(&work).unwrap();
    let port = phones::free_tcp_port();
    let mut shell = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\n{}", readme_block()))
        .env("bin", &bin)
        .env("data", work.join("confab-data"))
        .env("port", port.to_string())
        .current_dir(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shell_pid = shell.id();
    // Whatever happens, the block's processes (the service, the recorder) go with the test.
    struct Reap(Vec<u32>);
    impl Drop for Reap {
        fn drop(&mut self) {
            for &pid in &self.0 {
                signal(pid, "KILL");
            }
        }
    }
    let mut reap = Reap(vec![shell_pid]);
    let stderr = shell.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    println!("the block says: {line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL to open")
        .to_owned();
    assert!(url.contains(&format!(":{port}/?group=")), "{url}");
    // Wait for the recorder to be in the call (its log line), then open the two tabs.
    let started = Instant::now();
    let recorder = loop {
        if let Some(pid) = recorder_of(shell_pid) {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the recorder runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    reap.0.extend(children_named(shell_pid, "serve"));
    assert_eq!(reap.0.len(), 2, "the service runs beside it");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pages: Vec<_> = [("Ann", "speech-alice.wav"), ("Ben", "speech-bob.wav")]
        .into_iter()
        .map(|(name, wav)| {
            open_page(
                &format!("{url}&name={name}&seconds=7&expect=3"),
                &fixtures::path(wav).canonicalize().unwrap(),
                60,
            )
        })
        .collect();
    for page in pages {
        let page = tokio::task::spawn_blocking(move || result(page))
            .await
            .unwrap();
        assert_eq!(page["connection"], "connected", "{page}");
    }
    // The tabs are closed: give their hang-ups a moment, then Ctrl-C the recorder.
    tokio::time::sleep(Duration::from_secs(1)).await;
    signal(recorder, "INT");
    let status = tokio::task::spawn_blocking(move || shell.wait().unwrap())
        .await
        .unwrap();
    // The service still holds the block's stderr: stop it before reading the logs to the end.
    for &pid in &reap.0[1..] {
        signal(pid, "TERM");
    }
    let logs = logs.join().unwrap();
    println!("{}", logs.join("\n"));
    assert!(
        status.success(),
        "the block (its recorder) ended with {status}"
    );

    let out = work.join("recording");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for (name, speaker) in [
        ("Ann", fixtures::Speaker::Alice),
        ("Ben", fixtures::Speaker::Bob),
    ] {
        let p = manifest["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["display_name"] == name)
            .unwrap_or_else(|| panic!("{name} in the manifest: {manifest}"));
        assert_eq!(
            p["left_reason"]["kind"], "hang_up",
            "{name} closed the tab: a hang-up, not a lost connection: {p}"
        );
        let file = out.join(p["audio"]["file"].as_str().unwrap());
        let recorded: Vec<i16> = hound::WavReader::open(&file)
            .unwrap()
            .into_samples()
            .map(Result::unwrap)
            .collect();
        let fixture = fixtures::speech(speaker);
        let looped: Vec<i16> = fixture.iter().chain(&fixture).copied().collect();
        let heard = recorded
            .chunks_exact(24_000)
            .filter(|w| signal::rms_dbfs(w) > -40.0)
            .filter(|w| signal::locate(w, &looped).1 > 0.5)
            .count();
        println!("{name}: {heard} half-seconds of its speech recorded");
        assert!(heard >= 4, "{name}'s voice is in {}", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_exits_non_zero_when_refused() {
    let bin = bin_dir();
    let server = server().await;
    let token = server
        .token_key()
        .mint(
            &"28:recorder".parse().unwrap(),
            &[confab_signaling::Scope::Bot],
            unix_now(),
            600,
        )
        .unwrap();
    let group = uuid::Uuid::new_v4().to_string();
    let run = |extra: &[&str], token: &str| {
        let out = temp_dir();
        let output = Command::new(bin.join("confab-recorder"))
            .args(["--server", &server.base_url(), "--group", &group, "--out"])
            .arg(&out)
            .args(["--token", token])
            .args(extra)
            .output()
            .unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // (Blocking here is fine: the service runs on the runtime's other thread.)
    let (status, why) = run(&["--identity", "28:someone-else"], &token);
    println!("another identity: {status}: {why}");
    assert!(!status.success(), "{why}");
    assert!(
        why.contains("token") && why.contains("28:recorder"),
        "{why}"
    );
    let (status, why) = run(&[], "not-a-token");
    println!("no token: {status}: {why}");
    assert!(!status.success(), "{why}");
    let help = Command::new(bin.join("confab-recorder"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("must be the identity the token names"));
    server.shutdown().await;
}
