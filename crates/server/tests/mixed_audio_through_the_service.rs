//! Two participants join one call through the service — signaling over its WebSocket, media
//! over its one UDP port (DTLS-SRTP) — and each receives one mixed audio stream that carries
//! the other's speech and not its own. Alice asks for unmixed-audio slots as a bot does: one
//! of them carries Bob's own audio, unmixed, at the same time as the mix, and a
//! `media_slots` message says so.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioLevel, MediaTime};
use confab_signaling::Identity;
use confab_signaling::client::{Events, SignalingClient};
use confab_signaling::protocol::{CallId, ClientMessage, ServerMessage};
use confab_testkit::{fixtures, signal};
use confab_transport::peer::{MediaLayout, Peer, PeerEvent, PeerOptions, Section};
use confab_transport::udp::pump;

const SECONDS: u64 = 5;

/// Negotiates a peer for `client` in `call` through signaling.
async fn negotiate(
    client: &SignalingClient,
    events: &mut Events,
    call_id: CallId,
    layout: MediaLayout,
) -> (UdpSocket, Peer) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut peer, offer) = Peer::offer(
        socket.local_addr().unwrap(),
        layout,
        PeerOptions::default(),
        Instant::now(),
    )
    .unwrap();
    client
        .request(ClientMessage::SdpOffer {
            call_id,
            sdp: offer,
        })
        .await
        .unwrap();
    let answer = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerMessage::SdpAnswer { sdp, .. } = event {
            break sdp;
        }
    };
    peer.accept_answer(&answer, Instant::now()).unwrap();
    (socket, peer)
}

/// Who a `media_slots` message puts in the first unmixed slot (`None`: not such a message).
fn unmixed_occupant(
    event: &ServerMessage,
) -> Option<Option<confab_signaling::protocol::ParticipantId>> {
    let ServerMessage::MediaSlots { slots, .. } = event else {
        return None;
    };
    Some(
        slots
            .iter()
            .find(|s| s.kind == confab_signaling::protocol::SlotKind::UnmixedAudio)
            .and_then(|s| s.participant),
    )
}

/// Received RTP payloads with their sequence numbers.
type Packets = Vec<(u16, Bytes)>;

/// Runs a peer: once both peers are connected (`connected` counts them), sends `speaker`
/// paced at 20 ms; returns the received mix and what unmixed slot 0 carried.
fn talk(
    socket: UdpSocket,
    mut peer: Peer,
    speaker: fixtures::Speaker,
    connected: Arc<AtomicUsize>,
) -> (Packets, Packets) {
    let frames = fixtures::speech_frames(speaker);
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let started = Instant::now();
    let mut connected_at = None;
    let mut sent = 0usize;
    let mut received = Vec::new();
    let mut unmixed = Vec::new();
    let mut payload = Vec::new();
    while started.elapsed() < Duration::from_secs(SECONDS + 3) {
        pump(
            &socket,
            &mut peer,
            Instant::now() + Duration::from_millis(2),
        )
        .unwrap();
        while let Some(event) = peer.poll_event() {
            match event {
                PeerEvent::Connected => {
                    connected.fetch_add(1, Ordering::SeqCst);
                }
                PeerEvent::Rtp {
                    section: Section::Audio,
                    packet,
                    ..
                } => received.push((packet.header.sequence_number, packet.payload)),
                PeerEvent::Rtp {
                    section: Section::UnmixedAudio(0),
                    packet,
                    ..
                } => unmixed.push((packet.header.sequence_number, packet.payload)),
                _ => {}
            }
        }
        // Both start talking together, so each one's speech lines up with the other's mix.
        if connected_at.is_none() && connected.load(Ordering::SeqCst) == 2 {
            connected_at = Some(Instant::now());
        }
        let Some(at) = connected_at else { continue };
        while sent < frames.len().min(SECONDS as usize * 50)
            && at + Duration::from_millis(20 * sent as u64) <= Instant::now()
        {
            let f = &frames[sent];
            encoder.encode(f, &mut payload).unwrap();
            let level = AudioLevel::measure(f.samples()).wire_value();
            peer.send_audio(
                Section::Audio,
                Instant::now(),
                Bytes::copy_from_slice(&payload),
                (sent * 960) as u32,
                Some(level),
            )
            .unwrap();
            sent += 1;
        }
    }
    assert!(connected_at.is_some(), "media connected");
    (received, unmixed)
}

fn decode(mut packets: Vec<(u16, Bytes)>) -> Vec<i16> {
    packets.sort_by_key(|(seq, _)| *seq);
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    packets
        .iter()
        .flat_map(|(_, p)| decoder.decode(p, MediaTime::ZERO).unwrap().into_samples())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_participant_hears_the_other_in_the_mix() {
    let server = server().await;
    let (alice, bob) = (Identity::new_user(), Identity::new_user());
    let (a, mut a_events) = client(&server, &alice).await;
    let (b, mut b_events) = client(&server, &bob).await;
    let (call_id, _) = create_call(&a).await;
    join_call(&b, call_id).await;

    let bot_layout = MediaLayout {
        video_slots: 1,
        unmixed_slots: 2,
    };
    let (a_socket, a_peer) = negotiate(&a, &mut a_events, call_id, bot_layout).await;
    let (b_socket, b_peer) = negotiate(&b, &mut b_events, call_id, MediaLayout::default()).await;
    let connected = Arc::new(AtomicUsize::new(0));
    let both = connected.clone();
    let a_run =
        tokio::task::spawn_blocking(move || talk(a_socket, a_peer, fixtures::Speaker::Alice, both));
    let b_run = tokio::task::spawn_blocking(move || {
        talk(b_socket, b_peer, fixtures::Speaker::Bob, connected)
    });
    let ((heard_by_alice, unmixed_at_alice), (heard_by_bob, unmixed_at_bob)) =
        (a_run.await.unwrap(), b_run.await.unwrap());
    assert!(unmixed_at_bob.is_empty(), "Bob asked for no unmixed slots");

    // Signaling saw the media come up: the roster says Connected; Alice was told Bob is
    // in her first unmixed slot.
    let mut bob_slot = None;
    let connected = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), a_events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Some(who) = unmixed_occupant(&event) {
            bob_slot = who;
        }
        if let ServerMessage::RosterUpdate { updated, .. }
        | ServerMessage::Roster {
            participants: updated,
            ..
        } = event
            && updated
                .iter()
                .filter(|p| p.state == confab_signaling::ParticipantState::Connected)
                .count()
                >= 1
        {
            break true;
        }
    };
    assert!(connected);

    let window = SECONDS as usize * 48_000 - 48_000;
    while bob_slot.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(5), a_events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Some(who) = unmixed_occupant(&event) {
            bob_slot = who;
        }
    }
    println!("alice's unmixed slot 0 carries participant {bob_slot:?}");
    assert!(
        unmixed_at_alice.len() >= 200,
        "{} unmixed packets",
        unmixed_at_alice.len()
    );
    let unmixed = decode(unmixed_at_alice);
    // The slot may be assigned after Bob started talking: find 2 s of it anywhere in his
    // speech (and, for contrast, in Alice's).
    let probe = &unmixed[24_000..24_000 + 96_000];
    let (_, bob_alone) = signal::locate(probe, &fixtures::speech(fixtures::Speaker::Bob)[..window]);
    let (_, alice_in_it) =
        signal::locate(probe, &fixtures::speech(fixtures::Speaker::Alice)[..window]);
    println!("unmixed slot: Bob {bob_alone:.2}, Alice {alice_in_it:.2}");
    assert!(bob_alone >= 0.9, "unmixed slot carries Bob: {bob_alone:.2}");
    // Searched at every offset of Alice's speech, chance alone reaches about 0.1.
    assert!(
        alice_in_it <= 0.25,
        "and nothing of Alice: {alice_in_it:.2}"
    );
    for (name, heard, other, own) in [
        (
            "alice",
            heard_by_alice,
            fixtures::Speaker::Bob,
            fixtures::Speaker::Alice,
        ),
        (
            "bob",
            heard_by_bob,
            fixtures::Speaker::Alice,
            fixtures::Speaker::Bob,
        ),
    ] {
        assert!(
            heard.len() >= 200,
            "{name} received {} mixed packets",
            heard.len()
        );
        let pcm = decode(heard);
        let other_ref = &fixtures::speech(other)[..window];
        let own_ref = &fixtures::speech(own)[..window];
        // Each voiced half second of the mix on its own, located in each fixture: the mix's
        // clock follows the dominant speaker's phase, so one alignment over seconds can
        // straddle a shift of a frame (0.56 measured once) where every part matches.
        let median = |reference: &[i16]| {
            let mut scores: Vec<f64> = pcm[..pcm.len().min(window)]
                .chunks_exact(24_000)
                .filter(|w| signal::rms_dbfs(w) > -40.0)
                .map(|w| signal::locate(w, reference).1)
                .collect();
            scores.sort_by(f64::total_cmp);
            scores.get(scores.len() / 2).copied().unwrap_or(0.0)
        };
        let with_other = median(other_ref);
        let (_, with_own) = signal::align(own_ref, &pcm, 24_000, 96_000);
        println!(
            "{name}: voiced half seconds of the mix correlate {with_other:.2} (median) with the other speaker, {with_own:.2} with itself"
        );
        assert!(
            with_other >= 0.6,
            "{name} does not hear the other: {with_other:.2}"
        );
        assert!(with_own <= 0.2, "{name} hears itself: {with_own:.2}");
    }
    // The media plane's work shows in /metrics: datagrams, a mixer tick-time histogram.
    let addr = server.http_addr();
    let text = tokio::task::spawn_blocking(move || http(addr, "GET", "/metrics", None, None).1)
        .await
        .unwrap();
    let samples = parse_prometheus(&text);
    assert!(
        metric(&samples, "confab_media_datagrams_received_total") > 400.0,
        "{text}"
    );
    assert!(metric(&samples, "confab_media_datagrams_sent_total") > 400.0);
    let ticks = metric(&samples, "confab_mixer_tick_seconds_count");
    assert!(ticks > 100.0, "{ticks} mixer ticks");
    assert_eq!(
        metric(&samples, "confab_mixer_tick_seconds_bucket{le=\"+Inf\"}"),
        ticks
    );
    println!(
        "mixer: {ticks} ticks, {:.3} ms mean (debug build)",
        metric(&samples, "confab_mixer_tick_seconds_sum") / ticks * 1e3
    );
    server.shutdown().await;
}
