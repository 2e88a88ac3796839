//! A 1:1 call between two browser pages: Alice's page places a call to Bob's identity; Bob's
//! page, signed in with its own token, sees the incoming call and accepts it; they hear and
//! see each other. (The page's automation accepts with `?answer=1`, as a user's click would.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::browser::{open_page, result};
use common::*;
use confab_signaling::{Identity, Scope};
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_calls_another_which_accepts() {
    let server = server().await;
    let (alice, bob) = (Identity::new_user(), Identity::new_user());
    let token = |who: &Identity| {
        server
            .token_key()
            .mint(who, &[Scope::Voip], unix_now(), 600)
            .unwrap()
    };
    let base = server.base_url();
    let callee = format!(
        "{base}/?identity={bob}&token={}&name=Bob&answer=1&seconds=4&expect=2",
        token(&bob)
    );
    let caller = format!(
        "{base}/?identity={alice}&token={}&name=Alice&call={bob}&seconds=4&expect=2",
        token(&alice)
    );
    let bob_page = open_page(
        &callee,
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    // Bob's page is signed in (and so reachable) before Alice calls.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let alice_page = open_page(
        &caller,
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        60,
    );
    let (alice_r, bob_r) =
        tokio::task::spawn_blocking(move || (result(alice_page), result(bob_page)))
            .await
            .unwrap();
    for (name, r, other) in [("Alice", &alice_r, "Bob"), ("Bob", &bob_r, "Alice")] {
        println!("{name}: {r}");
        assert_eq!(r["connection"], "connected", "{name}'s media");
        let loud = r["loudWindows"].as_u64().unwrap();
        assert!(loud >= 5, "{name} heard the other in {loud} windows");
        assert_eq!(r["video"]["name"], other, "{name} sees {other}");
        assert!(r["video"]["framesDecoded"].as_u64().unwrap_or(0) > 0);
    }
    assert_eq!(bob_r["identity"], bob.to_string());
    server.shutdown().await;
}
