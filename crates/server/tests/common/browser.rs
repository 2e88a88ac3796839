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
