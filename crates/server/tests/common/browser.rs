//! Headless Chromium pages of the browser client, driven by tools/browser/run-page.mjs.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Opens the client at `url` with `wav` as the fake microphone.
pub fn open_page(url: &str, wav: &Path, timeout_secs: u32) -> Child {
    open_page_with(url, wav, timeout_secs, &[])
}

/// Opens the client with more run-page.mjs options (`--iframe HOST`, `--insecure`,
/// `--video FILE.y4m` as the fake camera).
pub fn open_page_with(url: &str, wav: &Path, timeout_secs: u32, options: &[&str]) -> Child {
    assert!(
        workspace()
            .join("tools/browser/node_modules/playwright-core")
            .exists(),
        "run scripts/install-deps.sh: playwright-core is missing"
    );
    Command::new("node")
        .arg(workspace().join("tools/browser/run-page.mjs"))
        .arg(url)
        .arg("--audio")
        .arg(wav)
        .arg("--timeout")
        .arg(timeout_secs.to_string())
        .args(options)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs")
}

/// Waits for a page and returns its `window.confabResult` (with `CONFAB_PAGE_LOG` set, the
/// page's console goes to stderr even when it passes).
pub fn result(page: Child) -> serde_json::Value {
    let output = page.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "page failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if std::env::var_os("CONFAB_PAGE_LOG").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    report["result"].clone()
}

/// A 48 kHz mono WAV of a steady `hz` tone at −12 dBFS lasting `seconds`, for a page's fake
/// microphone.
pub fn tone_wav(hz: u32, seconds: u32) -> PathBuf {
    let path = super::temp_dir().with_extension(format!("{hz}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for n in 0..48_000 * seconds {
        let v = 0.25 * (std::f64::consts::TAU * f64::from(hz) * f64::from(n) / 48_000.0).sin();
        w.write_sample((v * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}
