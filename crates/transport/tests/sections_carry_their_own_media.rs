//! confab's fixed media layout over a real DTLS-SRTP connection: with several video slots,
//! the screen slot and unmixed-audio slots negotiated, each section carries its own stream.
//! The bot sends camera and screen (different sizes); the service sends different pictures
//! into two video slots and the screen slot, and different speech into two unmixed slots,
//! forwarded with rebased timestamps. Nothing leaks from one section into another.

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
use confab_transport::peer::{MediaLayout, RtpHeader, RtpPacket, Section};

#[test]
fn every_section_carries_its_own_stream() {
    let layout = MediaLayout {
        video_slots: 3,
        unmixed_slots: 2,
    };
    let (mut pair, _) = Pair::connect_with(layout);
    assert_eq!(pair.server.peer(pair.peer_id).unwrap().layout(), layout);
    for section in layout.sections() {
        assert_eq!(
            pair.client.mid(section),
            pair.server.peer(pair.peer_id).unwrap().mid(section),
            "{section:?}: both ends agree on the mid"
        );
    }
    let camera = media(fixtures::Speaker::Alice, 320, 240);
    let screen = media(fixtures::Speaker::Bob, 640, 360);
    let slot0 = media(fixtures::Speaker::Carol, 160, 120);
    let slot2 = media(fixtures::Speaker::Alice, 480, 272);
    let id = pair.peer_id;
    let mut at_server = Received::new();
    let mut at_client = Received::new();
    let frames = AUDIO_FRAMES;
    for i in 0..frames {
        let now = Instant::now();
        let ts = (i * 960) as u32;
        // Unmixed slot 0 carries Alice, then Carol from half-way (a new source: its own
        // timestamps start elsewhere); slot 1 carries Bob.
        let seq = i as u16;
        let (source, source_ts, source_seq, new_source) = if i < frames / 2 {
            (&camera.packets[i], ts, seq, false)
        } else {
            (
                &slot0.packets[i],
                ts.wrapping_add(77_777),
                seq.wrapping_add(40_000),
                i == frames / 2,
            )
        };
        let forwarded = |payload: &bytes::Bytes, timestamp, sequence_number| RtpPacket {
            header: RtpHeader {
                timestamp,
                sequence_number,
                ..RtpHeader::default()
            },
            payload: payload.clone(),
        };
        pair.server
            .forward(
                id,
                Section::UnmixedAudio(0),
                now,
                &forwarded(&source.0, source_ts, source_seq),
                new_source,
                Some(source.1),
            )
            .unwrap();
        pair.server
            .forward(
                id,
                Section::UnmixedAudio(1),
                now,
                &forwarded(&screen.packets[i].0, ts, seq),
                false,
                Some(screen.packets[i].1),
            )
            .unwrap();
        if i % 8 == 0 && i / 8 < camera.units.len() {
            let n = i / 8;
            let vts = (n * 3000) as u32;
            pair.client
                .send_video(Section::Camera, now, &camera.units[n], vts)
                .unwrap();
            pair.client
                .send_video(Section::Screen, now, &screen.units[n], vts)
                .unwrap();
            for (section, unit) in [
                (Section::VideoSlot(0), &slot0.units[n]),
                (Section::VideoSlot(2), &slot2.units[n]),
                (Section::ScreenSlot, &screen.units[n]),
            ] {
                pair.server.send_video(id, section, now, unit, vts).unwrap();
            }
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

    let expect_pictures = |received: &mut Received, section, size: (u32, u32)| {
        let pictures = received.pictures(section);
        println!("{section:?}: {} pictures", pictures.len());
        assert!(
            pictures.len() >= 27,
            "{section:?}: {} pictures",
            pictures.len()
        );
        assert!(
            pictures.iter().all(|&(w, h, _)| (w, h) == size),
            "{section:?}: only its own pictures"
        );
    };
    expect_pictures(&mut at_server, Section::Camera, (320, 240));
    expect_pictures(&mut at_server, Section::Screen, (640, 360));
    expect_pictures(&mut at_client, Section::VideoSlot(0), (160, 120));
    expect_pictures(&mut at_client, Section::VideoSlot(2), (480, 272));
    expect_pictures(&mut at_client, Section::ScreenSlot, (640, 360));
    assert!(
        at_client.packets(Section::VideoSlot(1)).is_empty(),
        "the empty slot stays empty"
    );

    // Unmixed audio: one continuous stream per slot (timestamps rebased at the switch),
    // each decoding to the speech that was sent into it.
    let slot = at_client.packets(Section::UnmixedAudio(0)).to_vec();
    assert!(slot.len() >= frames * 95 / 100, "{} packets", slot.len());
    assert!(slot.iter().all(|p| p.3.is_some()), "levels rewritten");
    let bob = at_client.audio_pcm(Section::UnmixedAudio(1));
    let (_, corr) = signal::align(
        &fixtures::speech(fixtures::Speaker::Bob)[..frames * 960],
        &bob,
        2000,
        96_000,
    );
    println!("unmixed slot 1: Bob at {corr:.3}");
    assert!(corr >= 0.9, "unmixed slot 1 carries Bob: {corr:.3}");
    let pcm = at_client.audio_pcm(Section::UnmixedAudio(0));
    let half = frames / 2 * 960;
    let (_, alice) = signal::align(
        &fixtures::speech(fixtures::Speaker::Alice)[..half],
        &pcm[..half.min(pcm.len())],
        2000,
        48_000,
    );
    let (_, carol) = signal::align(
        &fixtures::speech(fixtures::Speaker::Carol)[half + 4800..frames * 960],
        &pcm[half + 4800..],
        2000,
        48_000,
    );
    println!("unmixed slot 0: Alice {alice:.3}, then Carol {carol:.3}");
    assert!(alice >= 0.85 && carol >= 0.85, "{alice:.3} / {carol:.3}");
    assert!(
        at_client.packets(Section::Audio).is_empty(),
        "nothing on the mix"
    );
}

/// A forwarded stream keeps its source's gaps: packets lost before the service stay missing
/// sequence numbers for the receiver (which conceals them), not a silent jump in time; a
/// new source continues the numbering without a gap.
#[test]
fn forwarding_keeps_upstream_losses_visible() {
    let layout = MediaLayout {
        video_slots: 1,
        unmixed_slots: 1,
    };
    let (mut pair, _) = Pair::connect_with(layout);
    let speech = media(fixtures::Speaker::Alice, 160, 120);
    let id = pair.peer_id;
    let mut at_client = Received::new();
    // Source A: 0..40 without 10, 11 and 25 (lost upstream); then source B from seq 9000.
    for i in (0..40u16)
        .filter(|i| ![10, 11, 25].contains(i))
        .chain(9000..9010)
    {
        let new_source = i == 9000;
        let packet = RtpPacket {
            header: RtpHeader {
                sequence_number: i,
                timestamp: u32::from(i) * 960,
                ..RtpHeader::default()
            },
            payload: speech.packets[usize::from(i % 40)].0.clone(),
        };
        pair.server
            .forward(
                id,
                Section::UnmixedAudio(0),
                Instant::now(),
                &packet,
                new_source,
                None,
            )
            .unwrap();
        pair.run(Duration::from_millis(2), &mut |_, _| {}, &mut |e| {
            at_client.take(e);
        });
    }
    pair.run(Duration::from_millis(200), &mut |_, _| {}, &mut |e| {
        at_client.take(e);
    });
    let seqs: Vec<u16> = at_client
        .packets(Section::UnmixedAudio(0))
        .iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(seqs.len(), 47);
    let first = seqs[0];
    let relative: Vec<u16> = seqs.iter().map(|s| s.wrapping_sub(first)).collect();
    let expected: Vec<u16> = (0..40u16)
        .filter(|i| ![10, 11, 25].contains(i))
        .chain(40..50)
        .collect();
    assert_eq!(relative, expected, "gaps kept, the new source right after");
}
