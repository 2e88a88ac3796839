//! Two confab peers over loopback UDP, driven in the test thread: a bot-side [`Peer`]
//! (full ICE, offerer) and the service's [`PeerServer`] (ICE-lite, answerer).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{
    AudioDecoder, AudioEncoder, H264Decoder, H264Encoder, H264EncoderConfig, OpusDecoder,
    OpusEncoder, OpusEncoderConfig,
};
use confab_media::{AudioFormat, AudioLevel, MediaTime, TestPattern};
use confab_testkit::fixtures;
use confab_testkit::netem::NetemConfig;
use confab_testkit::relay::{Relay, RelayConfig};
use confab_transport::payload::h264::H264Depacketizer;
use confab_transport::peer::{
    MediaLayout, Peer, PeerEvent, PeerId, PeerOptions, PeerServer, Section,
};
use confab_transport::udp::pump;

pub const AUDIO_FRAMES: usize = 250; // 5 s
pub const VIDEO_FRAMES: u32 = 30;

/// One received RTP packet: sequence number, payload, marker, RFC 6464 level.
pub type Packet = (u16, Bytes, bool, Option<u8>);

#[derive(Default)]
pub struct Received {
    pub sections: HashMap<Section, Vec<Packet>>,
    pub keyframe_requests: Vec<Section>,
}

impl Received {
    pub fn new() -> Self {
        Received::default()
    }

    pub fn take(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Rtp {
                section,
                packet,
                audio_level,
            } => self.sections.entry(section).or_default().push((
                packet.header.sequence_number,
                packet.payload,
                packet.header.marker,
                audio_level,
            )),
            PeerEvent::KeyframeRequest { section } => self.keyframe_requests.push(section),
            _ => {}
        }
    }

    /// Packets received on `section`, in sequence order.
    pub fn packets(&mut self, section: Section) -> &[Packet] {
        let packets = self.sections.entry(section).or_default();
        packets.sort_by_key(|p| p.0);
        packets
    }

    /// Decoded audio of `section`, in sequence order.
    pub fn audio_pcm(&mut self, section: Section) -> Vec<i16> {
        let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
        self.packets(section)
            .iter()
            .flat_map(|(_, p, ..)| decoder.decode(p, MediaTime::ZERO).unwrap().into_samples())
            .collect()
    }

    /// Decoded pictures' sizes and frame numbers of `section`, in sequence order.
    pub fn pictures(&mut self, section: Section) -> Vec<(u32, u32, Option<u32>)> {
        let mut depacketizer = H264Depacketizer::new();
        let mut decoder = H264Decoder::new().unwrap();
        let mut out = Vec::new();
        for (seq, payload, marker, _) in self.packets(section) {
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

pub struct Media {
    pub packets: Vec<(Bytes, u8)>,
    pub units: Vec<Bytes>,
}

pub fn media(speaker: fixtures::Speaker, width: u32, height: u32) -> Media {
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
pub fn run(
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

/// A connected pair on two loopback sockets.
pub struct Pair {
    pub server_socket: UdpSocket,
    pub client_socket: UdpSocket,
    pub server: PeerServer,
    pub client: Peer,
    pub peer_id: PeerId,
}

impl Pair {
    /// Negotiates and waits until both ends are connected.
    pub fn connect() -> (Pair, Duration) {
        Pair::connect_with(MediaLayout::default())
    }

    /// Negotiates `layout` and waits until both ends are connected.
    pub fn connect_with(layout: MediaLayout) -> (Pair, Duration) {
        let server_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let advertised = server_socket.local_addr().unwrap();
        Pair::connect_advertising(layout, server_socket, advertised)
    }

    /// Negotiates the default layout with the client reaching the service through a relay
    /// (testkit's emulated network; its own uplink and downlink as `up` and `down`).
    pub fn connect_through_relay(up: NetemConfig, down: NetemConfig) -> (Pair, Relay) {
        let server_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: server_socket.local_addr().unwrap(),
            up,
            down,
            seed: 7,
            media_only: false,
        })
        .unwrap();
        let (pair, _) =
            Pair::connect_advertising(MediaLayout::default(), server_socket, relay.local_addr());
        (pair, relay)
    }

    /// Negotiates `layout`, the service advertising `advertised` as its address.
    fn connect_advertising(
        layout: MediaLayout,
        server_socket: UdpSocket,
        advertised: SocketAddr,
    ) -> (Pair, Duration) {
        let client_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut server = PeerServer::new(advertised);
        let (mut client, offer) = Peer::offer(
            client_socket.local_addr().unwrap(),
            layout,
            PeerOptions::default(),
            Instant::now(),
        )
        .unwrap();
        let (peer_id, answer) = server
            .add_peer(&offer, PeerOptions::default(), Instant::now())
            .unwrap();
        assert!(
            answer.contains("a=ice-lite"),
            "the service answers as ICE-lite"
        );
        client.accept_answer(&answer, Instant::now()).unwrap();
        let mut pair = Pair {
            server_socket,
            client_socket,
            server,
            client,
            peer_id,
        };
        let started = Instant::now();
        let (mut server_up, mut client_up) = (false, false);
        while !(server_up && client_up) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "connected within 10 s"
            );
            pair.run(
                Duration::from_millis(10),
                &mut |_, e| server_up |= matches!(e, PeerEvent::Connected),
                &mut |e| client_up |= matches!(e, PeerEvent::Connected),
            );
        }
        (pair, started.elapsed())
    }

    /// Runs both ends for a while, handing events to the callbacks.
    pub fn run(
        &mut self,
        for_how_long: Duration,
        on_server: &mut impl FnMut(PeerId, PeerEvent),
        on_client: &mut impl FnMut(PeerEvent),
    ) {
        run(
            &self.server_socket,
            &mut self.server,
            &self.client_socket,
            &mut self.client,
            for_how_long,
            on_server,
            on_client,
        );
    }
}
