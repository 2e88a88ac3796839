//! A participant whose connection vanishes without leaving (a killed browser) is marked
//! gone with the network-lost reason within 10 s; the call goes on for the others.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_signaling::protocol::{ClientMessage, ServerMessage};
use confab_signaling::{EndKind, Identity};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_participant_is_network_lost_within_ten_seconds() {
    let server = server().await;
    let (a, _a_events) = client(&server, &Identity::new_user()).await;
    let (b, mut b_events) = client(&server, &Identity::new_user()).await;
    let (c, _c_events) = client(&server, &Identity::new_user()).await;
    let (call_id, pa) = create_call(&a).await;
    for joiner in [&b, &c] {
        join_call(joiner, call_id).await;
    }

    // A's connection goes away without a `leave`.
    let gone = Instant::now();
    a.close().await;
    let reason = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), b_events.recv())
            .await
            .expect("within 10 s")
            .unwrap();
        if let ServerMessage::RosterUpdate { removed, .. } = event
            && let Some(departure) = removed.iter().find(|d| d.participant == pa)
        {
            break departure.reason.clone();
        }
    };
    let after = gone.elapsed();
    println!("marked gone after {after:?}: {reason:?}");
    assert_eq!(reason.kind, EndKind::NetworkLost);
    assert!(after < Duration::from_secs(10));

    // B and C are still in the call.
    let still = b
        .request(ClientMessage::MuteSelf {
            call_id,
            muted: true,
        })
        .await;
    assert!(still.is_ok(), "{still:?}");
    let samples = parse_prometheus(
        &tokio::task::spawn_blocking({
            let addr = server.http_addr();
            move || http(addr, "GET", "/metrics", None, None).1
        })
        .await
        .unwrap(),
    );
    assert_eq!(metric(&samples, "confab_calls"), 1.0);
    assert_eq!(metric(&samples, "confab_participants"), 2.0);
    server.shutdown().await;
}
