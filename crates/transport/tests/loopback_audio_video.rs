//! Two confab peers over loopback UDP: a bot-side peer (full ICE, offerer) and the
//! service's shared-port server (ICE-lite, answerer), DTLS-SRTP between them. Opus audio
//! and H.264 video flow both ways; what arrives decodes, the audio correlates with the
//! fixture that was sent and the pictures have the size that was sent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use confab_testkit::{fixtures, signal};
use confab_transport::peer::Section;

#[test]
fn opus_and_h264_both_ways_over_dtls_srtp() {
    let (mut pair, took) = Pair::connect();
    println!("connected in {took:?}");
    // Audio both ways takes the lean egress path (confab's own SRTP, not webrtc-rs's
    // sender pipeline); what follows shows the far end decrypts and decodes it.
    assert!(pair.client.sends_lean(), "the bot's audio goes lean");
    assert!(
        pair.server.peer(pair.peer_id).unwrap().sends_lean(),
        "the service's audio goes lean"
    );
    let mut at_server = Received::new();
    let mut at_client = Received::new();

    // Exchange: the bot sends Alice and a 320x240 pattern, the service Bob and 640x360.
    let up = media(fixtures::Speaker::Alice, 320, 240);
    let down = media(fixtures::Speaker::Bob, 640, 360);
    let id = pair.peer_id;
    for i in 0..AUDIO_FRAMES {
        let now = Instant::now();
        let ts = (i * 960) as u32;
        pair.client
            .send_audio(
                Section::Audio,
                now,
                up.packets[i].0.clone(),
                ts,
                Some(up.packets[i].1),
            )
            .unwrap();
        pair.server
            .send_audio(
                id,
                Section::Audio,
                now,
                down.packets[i].0.clone(),
                ts,
                Some(down.packets[i].1),
            )
            .unwrap();
        if i % 8 == 0 && i / 8 < up.units.len() {
            let n = i / 8;
            pair.client
                .send_video(Section::Camera, now, &up.units[n], (n * 3000) as u32)
                .unwrap();
            pair.server
                .send_video(
                    id,
                    Section::VideoSlot(0),
                    now,
                    &down.units[n.min(down.units.len() - 1)],
                    (n * 3000) as u32,
                )
                .unwrap();
        }
        pair.run(
            Duration::from_millis(2),
            &mut |_, e| at_server.take(e),
            &mut |e| at_client.take(e),
        );
    }
    pair.run(
        Duration::from_millis(300),
        &mut |_, e| at_server.take(e),
        &mut |e| at_client.take(e),
    );

    // The lean streams still report: each side's RTCP sender report about its audio states
    // (nearly) every packet sent so far (reports go once a second).
    for (name, report) in [
        ("the service's", pair.client.sender_report(Section::Audio)),
        (
            "the bot's",
            pair.server.peer(id).unwrap().sender_report(Section::Audio),
        ),
    ] {
        let (packets, octets) = report.unwrap_or_else(|| panic!("{name} audio: no sender report"));
        println!("{name} audio: sender report of {packets} packets, {octets} octets");
        assert!(
            (AUDIO_FRAMES as u32 * 3 / 4..=AUDIO_FRAMES as u32).contains(&packets),
            "{name} audio: {packets} packets reported"
        );
        assert!(octets > packets * 20, "{name} audio: {octets} octets");
    }

    for (name, received, speaker, size, video) in [
        (
            "service",
            &mut at_server,
            fixtures::Speaker::Alice,
            (320, 240),
            Section::Camera,
        ),
        (
            "bot",
            &mut at_client,
            fixtures::Speaker::Bob,
            (640, 360),
            Section::VideoSlot(0),
        ),
    ] {
        let audio = received.packets(Section::Audio).len();
        assert!(
            audio >= AUDIO_FRAMES * 95 / 100,
            "{name}: {audio} audio packets"
        );
        assert!(
            received
                .packets(Section::Audio)
                .iter()
                .all(|p| p.3.is_some()),
            "{name}: RFC 6464 level on every packet"
        );
        let pcm = received.audio_pcm(Section::Audio);
        let reference = fixtures::speech(speaker);
        let (lag, corr) = signal::align(&reference[..AUDIO_FRAMES * 960], &pcm, 2000, 96_000);
        println!("{name}: {audio} audio packets, correlation {corr:.3} at {lag} samples");
        assert!(corr >= 0.9, "{name}: decoded audio correlation {corr:.3}");
        let pictures = received.pictures(video);
        println!("{name}: {} pictures decoded", pictures.len());
        assert!(
            pictures.len() as f64 >= f64::from(VIDEO_FRAMES) * 0.9,
            "{name}: {} pictures",
            pictures.len()
        );
        assert!(
            pictures.iter().all(|&(w, h, _)| (w, h) == size),
            "{name}: picture sizes"
        );
        assert!(
            pictures.windows(2).all(|w| w[0].2 < w[1].2),
            "{name}: pictures in order"
        );
    }
    // Keyframe requests (PLI) both ways reach the sender as events.
    let now = Instant::now();
    pair.server.request_keyframe(id, Section::Camera, now);
    pair.client.request_keyframe(Section::VideoSlot(0), now);
    pair.run(
        Duration::from_millis(300),
        &mut |_, e| at_server.take(e),
        &mut |e| at_client.take(e),
    );
    assert_eq!(
        (at_server.keyframe_requests, at_client.keyframe_requests),
        (vec![Section::VideoSlot(0)], vec![Section::Camera]),
        "PLI surfaced on the section whose video was asked for"
    );

    let stats = pair.server.stats();
    println!("server port: {stats:?}");
    assert_eq!(stats.dropped, 0);
}
