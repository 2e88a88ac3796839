//! Two browser pages (headless Chromium, fake microphones playing two speech fixtures, fake
//! cameras) join one call through the client page the service serves; each hears the other
//! in the mixed stream, decodes the other's video in a video slot the service names, and the
//! roster shows both connected. Alice shares her screen (a canvas as the shared surface):
//! it reaches Bob's screen slot. Both negotiate AEAD_AES_128_GCM SRTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::browser::{open_page, result};
use common::*;
use confab_testkit::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_hear_and_see_each_other() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let url = |name: &str| {
        let share = if name == "Alice" { "&share=canvas" } else { "" };
        format!(
            "http://{}/?group={group}&name={name}&seconds=8&expect=2{share}",
            server.http_addr()
        )
    };
    let alice = open_page(
        &url("Alice"),
        &fixtures::path("speech-alice.wav").canonicalize().unwrap(),
        60,
    );
    let bob = open_page(
        &url("Bob"),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    // The service's own per-participant stats, sampled while the pages are in the call
    // (closing a tab hangs up: the call is gone once they are done).
    let (addr, key) = (server.http_addr(), server.admin_key().to_owned());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::task::spawn_blocking(move || {
            let mut last = serde_json::Value::Null;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (_, calls) = http(addr, "GET", "/v1/calls", Some(&key), None);
                let calls: serde_json::Value = serde_json::from_str(&calls).unwrap();
                if let Some(call_id) = calls[0]["call_id"].as_str() {
                    let (status, media) = http(
                        addr,
                        "GET",
                        &format!("/v1/calls/{call_id}/media"),
                        Some(&key),
                        None,
                    );
                    let media: serde_json::Value = serde_json::from_str(&media).unwrap_or_default();
                    if status == 200 && media.as_array().is_some_and(|m| m.len() == 2) {
                        last = media;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            last
        })
    };
    let (alice, bob) = tokio::task::spawn_blocking(move || (result(alice), result(bob)))
        .await
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for (name, r) in [("Alice", &alice), ("Bob", &bob)] {
        println!("{name}: {r}");
        assert_eq!(r["connection"], "connected", "{name}'s media");
        // The service offers AEAD_AES_128_GCM only (Chromium picks AES-CM whenever it is
        // offered at all, decision 0002).
        assert_eq!(
            r["srtpCipher"], "SRTP_AEAD_AES_128_GCM",
            "{name}'s SRTP profile"
        );
        let (windows, loud) = (
            r["windows"].as_u64().unwrap(),
            r["loudWindows"].as_u64().unwrap(),
        );
        // Measured once both are connected: the other's speech, pauses and all, is in the mix
        // (8 s, nearly a whole loop of the fixture: a 5 s stretch was once mostly one of its
        // pauses, 9 loud windows of 50), and at its loudest it is well above silence.
        let loudest = r["loudestDb"].as_f64().unwrap();
        assert!(
            windows >= 64 && loud * 5 >= windows,
            "{name} heard speech in {loud} of {windows} windows"
        );
        assert!(
            loudest > -35.0,
            "{name}: the loudest 100 ms was {loudest:.0} dB"
        );
        // The other's camera arrives in the video slot (SFU forwarding) and decodes.
        let frames = r["video"]["framesDecoded"].as_u64().unwrap_or(0);
        assert!(frames > 0, "{name} decoded no video: {}", r["video"]);
        let other = if name == "Alice" { "Bob" } else { "Alice" };
        assert_eq!(r["video"]["name"], other, "{name}'s busy slot is named");
        let busy = r["videoSlots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s["participant"].is_null())
            .count();
        assert_eq!(busy, 1, "one other camera, one slot in use");
        let roster = r["roster"].as_array().unwrap();
        assert_eq!(roster.len(), 2, "{name}'s roster: {roster:?}");
        assert!(
            roster.iter().all(|p| p["state"] == "connected"),
            "{name}'s roster: {roster:?}"
        );
    }
    // Alice's shared canvas reached Bob's screen slot; Alice's own screen slot stays empty.
    let screen = &bob["screen"];
    assert_eq!(screen["name"], "Alice", "Bob's screen slot: {screen}");
    assert!(
        screen["framesDecoded"].as_u64().unwrap_or(0) > 10,
        "Bob decoded Alice's screen: {screen}"
    );
    assert_eq!(screen["frameWidth"], 640, "{screen}");
    assert!(
        alice["screen"]["participant"].is_null(),
        "{}",
        alice["screen"]
    );
    let media = sampler.await.unwrap();
    println!("service media stats: {media}");
    let participants = media.as_array().unwrap();
    assert_eq!(participants.len(), 2);
    for p in participants {
        let audio = p["audio_packets"].as_u64().unwrap();
        assert!(audio > 200, "{p}");
        // Chromium's audio took the lean ingress path (its own SRTP open), all but the
        // first packet of each stream.
        assert!(
            p["audio_packets_lean"].as_u64().unwrap() + 2 >= audio,
            "{p}"
        );
        assert!(p["video_packets"].as_u64().unwrap() > 50, "{p}");
    }
    let sharing: Vec<&serde_json::Value> = participants
        .iter()
        .filter(|p| p["screen_packets"].as_u64().unwrap() > 20)
        .collect();
    assert_eq!(sharing.len(), 1, "only Alice shares");
    assert!(
        participants
            .iter()
            .any(|p| p["screen_slot"] == sharing[0]["participant"]),
        "the other's screen slot carries the sharer"
    );
    server.shutdown().await;
}
