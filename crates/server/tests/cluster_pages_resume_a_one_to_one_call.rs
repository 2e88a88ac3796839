//! Two browser pages in a 1:1 call whose node dies: Alice's page (440 Hz) on node a calls
//! Bob's page (700 Hz) on node b, so the call lives on a; a is killed. Alice's page comes
//! back through another node and places the call again naming the lost one; Bob's page
//! (its relaying node closed it with `node_lost`) answers that call by itself. Both go on
//! in the new call and hear each other again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::browser::{open_page, result, tone_wav};
use common::cluster;
use confab_signaling::{Identity, Scope};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_go_on_in_a_new_call() {
    let (_redis, mut nodes) = tokio::task::spawn_blocking(|| cluster::start(3))
        .await
        .unwrap();
    let (alice, bob) = (Identity::new_user(), Identity::new_user());
    let key = nodes[0].token_key();
    let token = |who: &Identity| {
        key.mint(who, &[Scope::Voip], common::unix_now(), 600)
            .unwrap()
    };
    let bob_page = open_page(
        &format!(
            "{}/?identity={bob}&token={}&name=Bob&answer=1&seconds=16&expect=2&video=0&tones=440,700&sound=original",
            nodes[1].base_url(),
            token(&bob)
        ),
        &tone_wav(700, 60),
        90,
    );
    // Bob's page is signed in (and so reachable) before Alice calls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alice_page = open_page(
        &format!(
            "{}/?identity={alice}&token={}&name=Alice&call={bob}&seconds=16&expect=2&video=0&tones=440,700&sound=original",
            nodes[0].base_url(),
            token(&alice)
        ),
        &tone_wav(440, 60),
        90,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[0]
        .calls()
        .first()
        .is_none_or(|c| c["participants"].as_array().unwrap().len() < 2)
    {
        assert!(Instant::now() < deadline, "the pages did not connect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = Instant::now();
    nodes[0].kill();

    let moved = loop {
        let live: Vec<usize> = nodes[1..]
            .iter()
            .flat_map(|n| n.calls())
            .map(|c| c["participants"].as_array().unwrap().len())
            .collect();
        if live.contains(&2) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the call did not move: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("both pages in a new call {moved:?} after the kill");
    let (alice_page, bob_page) =
        tokio::task::spawn_blocking(move || (result(alice_page), result(bob_page)))
            .await
            .unwrap();
    for (name, page, hears) in [("Alice", &alice_page, 1), ("Bob", &bob_page, 0)] {
        println!(
            "{name}: reconnects {}, rejoins {}, connection {}, sound since {} windows, tones {}",
            page["reconnects"],
            page["rejoins"],
            page["connection"],
            page["loudSinceRejoin"],
            page["toneMaxDb"]
        );
        assert_eq!(
            page["rejoins"], 1,
            "{name} went on in a new call once: {page}"
        );
        assert_eq!(page["connection"], "connected", "{name}");
        // 100 ms windows: sound for at least 5 s in the new call, the other side's tone.
        assert!(
            page["loudSinceRejoin"].as_u64().unwrap() >= 50,
            "{name} heard sound for 5 s in the new call"
        );
        let heard = page["toneMaxDb"][hears].as_f64().unwrap();
        let own = page["toneMaxDb"][1 - hears].as_f64().unwrap();
        assert!(
            heard >= own + 20.0,
            "{name} hears the other side: {heard:.0} against its own {own:.0} dB"
        );
    }
    assert!(moved < Duration::from_secs(10), "moved in {moved:?}");
}
