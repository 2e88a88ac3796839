//! The page's dial pad, in headless Chromium: the page dials a phone number (a 1:1 call
//! through the trunk, here baresip answering on its own), hears the phone, sees it
//! connected in its roster, and presses a key the phone receives as DTMF.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use common::browser::{open_page, result};
use common::phones::*;
use confab_signaling::{Identity, Scope};
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_dials_a_phone_number_and_presses_a_key() {
    let bob_8k = to_8k(&fixtures::speech(fixtures::Speaker::Bob));
    let phone = Baresip::start(&bob_8k[..8000 * 8], 30.0, true);
    let server = phone_server(Vec::new(), Some(phone.sip.port()), 30).await;
    let user = Identity::new_user();
    let token = server
        .token_key()
        .mint(&user, &[Scope::Voip], common::unix_now(), 600)
        .unwrap();
    let url = format!(
        "{}/?identity={user}&token={token}&name=Dialler&dial=%2B1%20555%20123%200001&seconds=4&expect=2&dtmf=7&video=0",
        server.base_url()
    );
    let page = open_page(
        &url,
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        60,
    );
    let report = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page: {report}");
    assert_eq!(report["connection"], "connected");
    let loud = report["loudWindows"].as_u64().unwrap();
    assert!(loud >= 5, "the page heard the phone in {loud} windows");
    let roster = report["roster"].as_array().unwrap();
    assert!(
        roster
            .iter()
            .any(|p| p["name"] == format!("4:{PHONE_NUMBER}") && p["state"] == "connected"),
        "{roster:?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while phone.heard_digits().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(phone.heard_digits(), "7", "{:?}", phone.events());
    server.shutdown().await;
}
