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

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{
    AudioDecoder, AudioEncoder, H264Decoder, H264Encoder, H264EncoderConfig, OpusDecoder,
    OpusEncoder, OpusEncoderConfig,
};
use confab_media::{AudioFormat, AudioLevel, MediaTime, TestPattern};
use confab_testkit::{fixtures, signal};
use confab_transport::payload::h264::H264Depacketizer;
use confab_transport::peer::{MediaKind, Peer, PeerEvent, PeerId, PeerServer};
use confab_transport::udp::pump;

const AUDIO_FRAMES: usize = 250; // 5 s
const VIDEO_FRAMES: u32 = 30;

struct Received {
    audio: Vec<(u16, Bytes, Option<u8>)>,
    video: Vec<(u16, Bytes, bool)>,
}

impl Received {
    fn new() -> Self {
        Received {
            audio: Vec::new(),
            video: Vec::new(),
        }
    }

    fn take(&mut self, event: PeerEvent) {
        if let PeerEvent::Rtp {
            kind,
            packet,
            audio_level,
        } = event
        {
            let seq = packet.header.sequence_number;
            match kind {
                MediaKind::Audio => self.audio.push((seq, packet.payload, audio_level)),
                MediaKind::Video => self.video.push((seq, packet.payload, packet.header.marker)),
            }
        }
    }

    /// Decoded audio, in sequence order.
    fn audio_pcm(&mut self) -> Vec<i16> {
        self.audio.sort_by_key(|(seq, ..)| *seq);
        let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
        self.audio
            .iter()
            .flat_map(|(_, p, _)| decoder.decode(p, MediaTime::ZERO).unwrap().into_samples())
            .collect()
    }

    /// Decoded pictures' sizes and frame numbers, in sequence order.
    fn pictures(&mut self) -> Vec<(u32, u32, Option<u32>)> {
        self.video.sort_by_key(|(seq, ..)| *seq);
        let mut depacketizer = H264Depacketizer::new();
        let mut decoder = H264Decoder::new().unwrap();
        let mut out = Vec::new();
        for (seq, payload, marker) in &self.video {
            if let Some(unit) = depacketizer.push(*seq, payload, *marker).unwrap()
                && let Some(picture) = decoder.decode(&unit.data, MediaTime::ZERO).unwrap()
            {
                out.push((
                    picture.width(),
                    picture.height(),
                    TestPattern::read_index(&picture),
                ));
            }
        }
        out
    }
}

struct Media {
    packets: Vec<(Bytes, u8)>,
    units: Vec<Bytes>,
}

fn media(speaker: fixtures::Speaker, width: u32, height: u32) -> Media {
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let packets = fixtures::speech_frames(speaker)
        .iter()
        .take(AUDIO_FRAMES)
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            (
                Bytes::from(p),
                AudioLevel::measure(f.samples()).wire_value(),
            )
        })
        .collect();
    let pattern = TestPattern::new(width, height);
    let mut h264 = H264Encoder::new(H264EncoderConfig {
        bitrate_bps: 600_000,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let units = (0..VIDEO_FRAMES)
        .filter_map(|n| {
            h264.encode(&pattern.frame(n, MediaTime::ZERO), n == 0)
                .unwrap()
        })
        .map(|e| e.data)
        .collect();
    Media { packets, units }
}

/// Runs both ends for `for_how_long`, collecting events.
fn run(
    server_socket: &UdpSocket,
    server: &mut PeerServer,
    client_socket: &UdpSocket,
    client: &mut Peer,
    for_how_long: Duration,
    on_server: &mut impl FnMut(PeerId, PeerEvent),
    on_client: &mut impl FnMut(PeerEvent),
) {
    let end = Instant::now() + for_how_long;
    while Instant::now() < end {
        pump(
            server_socket,
            server,
            Instant::now() + Duration::from_millis(1),
        )
        .unwrap();
        pump(
            client_socket,
            client,
            Instant::now() + Duration::from_millis(1),
        )
        .unwrap();
        while let Some((id, e)) = server.poll_event() {
            on_server(id, e);
        }
        while let Some(e) = client.poll_event() {
            on_client(e);
        }
    }
}

#[test]
fn opus_and_h264_both_ways_over_dtls_srtp() {
    let server_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut server = PeerServer::new(server_socket.local_addr().unwrap());
    let (mut client, offer) = Peer::offer(
        client_socket.local_addr().unwrap(),
        true,
        true,
        Instant::now(),
    )
    .unwrap();
    let (peer_id, answer) = server.add_peer(&offer, true, true, Instant::now()).unwrap();
    assert!(
        answer.contains("a=ice-lite"),
        "the service answers as ICE-lite"
    );
    client.accept_answer(&answer, Instant::now()).unwrap();

    // Connect.
    let started = Instant::now();
    let (mut server_up, mut client_up) = (false, false);
    let mut at_server = Received::new();
    let mut at_client = Received::new();
    while !(server_up && client_up) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "connected within 10 s"
        );
        run(
            &server_socket,
            &mut server,
            &client_socket,
            &mut client,
            Duration::from_millis(10),
            &mut |_, e| server_up |= matches!(e, PeerEvent::Connected),
            &mut |e| client_up |= matches!(e, PeerEvent::Connected),
        );
    }
    println!("connected in {:?}", started.elapsed());

    // Exchange: the bot sends Alice and a 320x240 pattern, the service Bob and 640x360.
    let up = media(fixtures::Speaker::Alice, 320, 240);
    let down = media(fixtures::Speaker::Bob, 640, 360);
    for i in 0..AUDIO_FRAMES {
        let now = Instant::now();
        let ts = (i * 960) as u32;
        client
            .send_audio(now, up.packets[i].0.clone(), ts, Some(up.packets[i].1))
            .unwrap();
        server
            .send_audio(
                peer_id,
                now,
                down.packets[i].0.clone(),
                ts,
                Some(down.packets[i].1),
            )
            .unwrap();
        if i % 8 == 0 && i / 8 < up.units.len() {
            let n = i / 8;
            client
                .send_video(now, &up.units[n], (n * 3000) as u32)
                .unwrap();
            server
                .send_video(
                    peer_id,
                    now,
                    &down.units[n.min(down.units.len() - 1)],
                    (n * 3000) as u32,
                )
                .unwrap();
        }
        run(
            &server_socket,
            &mut server,
            &client_socket,
            &mut client,
            Duration::from_millis(2),
            &mut |_, e| at_server.take(e),
            &mut |e| at_client.take(e),
        );
    }
    run(
        &server_socket,
        &mut server,
        &client_socket,
        &mut client,
        Duration::from_millis(300),
        &mut |_, e| at_server.take(e),
        &mut |e| at_client.take(e),
    );

    for (name, received, speaker, size) in [
        (
            "service",
            &mut at_server,
            fixtures::Speaker::Alice,
            (320, 240),
        ),
        ("bot", &mut at_client, fixtures::Speaker::Bob, (640, 360)),
    ] {
        assert!(
            received.audio.len() >= AUDIO_FRAMES * 95 / 100,
            "{name}: {} audio packets",
            received.audio.len()
        );
        assert!(
            received.audio.iter().all(|(_, _, level)| level.is_some()),
            "{name}: RFC 6464 level on every packet"
        );
        let pcm = received.audio_pcm();
        let reference = fixtures::speech(speaker);
        let (lag, corr) = signal::align(&reference[..AUDIO_FRAMES * 960], &pcm, 2000, 96_000);
        println!(
            "{name}: {} audio packets, correlation {corr:.3} at {lag} samples",
            received.audio.len()
        );
        assert!(corr >= 0.9, "{name}: decoded audio correlation {corr:.3}");
        let pictures = received.pictures();
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
    let stats = server.stats();
    println!("server port: {stats:?}");
    assert_eq!(stats.dropped, 0);
}
