//! Transport cost per packet: the jitter buffer (insert + pop) on clean and jittery
//! streams, RTP payload formats (H.264 packetize / depacketize per picture, Opus TOC), and
//! one mix packet out of the service to one listener, through the lean egress path or
//! through webrtc-rs's sender pipeline; one mix tick onto the wire, `sendto` against
//! `sendmmsg`; a simulcast camera packet through the SFU's layer choice to its viewers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_benches::{connect_in_memory, pattern_frames, service_addr};
use confab_codecs::{H264Encoder, H264EncoderConfig};
use confab_testkit::Rng;
use confab_transport::jitter::{AudioPacket, JitterBuffer, JitterConfig};
use confab_transport::payload::h264::{H264Depacketizer, H264Packetizer};
use confab_transport::payload::opus::OpusToc;
use confab_transport::peer::{MediaLayout, Peer, PeerId, PeerOptions, PeerServer, Section};
use confab_transport::udp::Transport;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// One packet in, one frame out, per iteration; `jitter_ms` of random arrival jitter
/// (packets may arrive out of order).
fn jitter_buffer(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter_buffer_insert_pop");
    group.throughput(Throughput::Elements(1));
    for jitter_ms in [0u64, 50] {
        group.bench_with_input(
            BenchmarkId::new("jitter_ms", jitter_ms),
            &jitter_ms,
            |b, &jitter_ms| {
                let origin = Instant::now();
                let mut jb = JitterBuffer::new(JitterConfig::default());
                let mut rng = Rng::new(42);
                let payload = Bytes::from_static(&[0x78; 80]);
                let mut seq: u16 = 0;
                let mut n: u64 = 0;
                b.iter(|| {
                    // Sender at 20 ms spacing, arrival with uniform jitter; one pop per packet.
                    let sent = origin + Duration::from_millis(n * 20);
                    let arrival = sent
                        + Duration::from_micros((rng.unit() * (jitter_ms * 1000) as f64) as u64);
                    let packet = AudioPacket {
                        seq,
                        timestamp: (n * 960) as u32,
                        payload: payload.clone(),
                        level: Some(40),
                    };
                    jb.insert(black_box(packet), arrival);
                    let out = jb.pop(sent + Duration::from_millis(7));
                    seq = seq.wrapping_add(1);
                    n += 1;
                    out
                });
            },
        );
    }
    group.finish();
}

fn h264_payload(c: &mut Criterion) {
    let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
    let frames = pattern_frames(640, 480, 2);
    let key = encoder.encode(&frames[0], true).unwrap().unwrap();
    let delta = encoder.encode(&frames[1], false).unwrap().unwrap();
    let packetizer = H264Packetizer::new(1200);
    let mut group = c.benchmark_group("h264_rtp_640x480");
    for (name, unit) in [("keyframe", &key.data), ("delta", &delta.data)] {
        let packets = packetizer.packetize(unit);
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_with_input(BenchmarkId::new("packetize", name), unit, |b, unit| {
            b.iter(|| packetizer.packetize(black_box(unit)));
        });
        let mut depacketizer = H264Depacketizer::new();
        let mut seq = 0u16;
        group.bench_with_input(
            BenchmarkId::new("depacketize", name),
            &packets,
            |b, packets| {
                b.iter(|| {
                    let mut out = None;
                    for p in packets {
                        out = depacketizer
                            .push(seq, black_box(&p.payload), p.marker)
                            .unwrap()
                            .or(out);
                        seq = seq.wrapping_add(1);
                    }
                    out
                });
            },
        );
    }
    group.finish();
}

fn opus_payload(c: &mut Criterion) {
    let packet = [0x78u8, 0x01, 0x02, 0x03];
    c.bench_function("opus_rtp_toc_parse", |b| {
        b.iter(|| OpusToc::parse(black_box(&packet)));
    });
}

/// A listener's peer and the service's, connected in memory (datagrams handed across, time
/// stepped by hand).
fn connected(options: PeerOptions) -> (PeerServer, PeerId, Peer, Instant) {
    let mut server = PeerServer::new(service_addr());
    let (id, bot, now) = connect_in_memory(
        &mut server,
        0,
        MediaLayout::default(),
        options,
        Instant::now(),
    );
    (server, id, bot, now)
}

/// A server with `peers` clients connected in memory one after another: their ids at the
/// server, the clients (kept, so nothing is torn down), and when the last one connected.
fn many_connected(peers: u16) -> (PeerServer, Vec<PeerId>, Vec<Peer>, Instant) {
    let mut server = PeerServer::new(service_addr());
    let mut now = Instant::now();
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for n in 0..peers {
        let (id, client, at) = connect_in_memory(
            &mut server,
            n,
            MediaLayout::default(),
            PeerOptions::default(),
            now,
        );
        ids.push(id);
        clients.push(client);
        now = at;
    }
    (server, ids, clients, now)
}

/// One 80-byte Opus packet from the service to one listener, sealed and queued, per
/// iteration (the socket write is not included).
fn egress(c: &mut Criterion) {
    let mut group = c.benchmark_group("egress_mix_packet");
    group.throughput(Throughput::Elements(1));
    for (name, lean_egress) in [("lean", true), ("webrtc-rs", false)] {
        let options = PeerOptions {
            lean_egress,
            ..PeerOptions::default()
        };
        group.bench_function(BenchmarkId::new("path", name), |b| {
            let (mut server, id, _listener, start) = connected(options);
            assert_eq!(
                server.peer(id).unwrap().sends_lean(),
                lean_egress,
                "{name}: the path under test"
            );
            let payload = Bytes::from_static(&[0x78; 80]);
            let mut n: u32 = 0;
            b.iter(|| {
                n = n.wrapping_add(1);
                let now = start + Duration::from_millis(u64::from(n % 50));
                server
                    .send_audio(id, Section::Audio, now, payload.clone(), n * 960, Some(30))
                    .unwrap();
                while let Some(datagram) = server.poll_transmit() {
                    black_box(datagram);
                }
            });
        });
    }
    group.finish();
}

/// One tick of the mix to every listener of a room, per iteration: an 80-byte Opus packet
/// sealed and queued for each of `listeners` connected peers (the socket write is not
/// included). Unlike `egress_mix_packet`'s one hot peer, each peer's state is as cold as
/// in a real room, where the tick visits every listener once per 20 ms.
fn egress_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("egress_mix_tick");
    for listeners in [50u16, 350] {
        group.throughput(Throughput::Elements(u64::from(listeners)));
        group.bench_function(BenchmarkId::new("listeners", listeners), |b| {
            let (mut server, ids, _clients, now) = many_connected(listeners);
            assert!(ids.iter().all(|&id| server.peer(id).unwrap().sends_lean()));
            while server.poll_transmit().is_some() {}
            let payload = Bytes::from_static(&[0x78; 80]);
            let mut n: u32 = 0;
            b.iter(|| {
                n = n.wrapping_add(1);
                for &id in &ids {
                    server
                        .send_audio(id, Section::Audio, now, payload.clone(), n * 960, Some(30))
                        .unwrap();
                }
                while let Some(datagram) = server.poll_transmit() {
                    black_box(datagram);
                }
            });
        });
    }
    group.finish();
}

/// One 80-byte Opus packet from a participant into the service, per iteration: the datagram
/// opened and parsed and the event taken (every packet is new: SRTP refuses replays). On the
/// lean path the service opens it itself; on webrtc-rs's, the core's read pipeline does.
fn ingress(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingress_audio_packet");
    group.throughput(Throughput::Elements(1));
    for (name, lean_ingress) in [("lean", true), ("webrtc-rs", false)] {
        let options = PeerOptions {
            lean_ingress,
            ..PeerOptions::default()
        };
        group.bench_function(BenchmarkId::new("path", name), |b| {
            let (mut server, id, mut bot, start) = connected(options);
            let from = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000));
            let payload = Bytes::from_static(&[0x78; 80]);
            let mut n: u32 = 0;
            // The stream's first packet binds its SSRC to the section through the core.
            bot.send_audio(Section::Audio, start, payload.clone(), 0, Some(30))
                .unwrap();
            while let Some((_, d)) = bot.poll_lean_transmit() {
                server.handle_datagram(start, from, &d);
            }
            while server.poll_event().is_some() {}
            let mut datagrams = Vec::with_capacity(CHUNK);
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(CHUNK as u64);
                    left -= chunk;
                    datagrams.clear();
                    for _ in 0..chunk {
                        n = n.wrapping_add(1);
                        let now = start + Duration::from_millis(u64::from(n % 50));
                        bot.send_audio(Section::Audio, now, payload.clone(), n * 960, Some(30))
                            .unwrap();
                        while let Some((_, d)) = bot.poll_lean_transmit() {
                            datagrams.push(d);
                        }
                    }
                    let began = Instant::now();
                    for d in &datagrams {
                        server.handle_datagram(start, from, d);
                        while let Some(event) = server.poll_event() {
                            black_box(event);
                        }
                    }
                    timed += began.elapsed();
                }
                timed
            });
            let lean = server.peer(id).unwrap().lean_packets_in();
            assert_eq!(lean > 0, lean_ingress, "{name}: the path under test");
        });
    }
    group.finish();
}

/// One SRTCP compound of reports in (a sender report with a reception block, what a
/// speaking participant sends once a second): opened and read by the peer itself on the
/// lean ingress path, or through webrtc-rs's read pipeline.
fn ingress_reports(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingress_rtcp_report");
    group.throughput(Throughput::Elements(1));
    for (name, lean_ingress) in [("lean", true), ("webrtc-rs", false)] {
        let options = PeerOptions {
            lean_ingress,
            ..PeerOptions::default()
        };
        group.bench_function(BenchmarkId::new("path", name), |b| {
            let (mut server, id, mut bot, start) = connected(options);
            let from = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000));
            let payload = Bytes::from_static(&[0x78; 80]);
            // The bot speaks: its reports are then sender reports on the lean path.
            bot.send_audio(Section::Audio, start, payload.clone(), 0, Some(30))
                .unwrap();
            while let Some((_, d)) = bot.poll_lean_transmit() {
                server.handle_datagram(start, from, &d);
            }
            while server.poll_event().is_some() {}
            let mut second: u64 = 0;
            let mut reports = Vec::with_capacity(REPORT_CHUNK);
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(REPORT_CHUNK as u64);
                    left -= chunk;
                    reports.clear();
                    while (reports.len() as u64) < chunk {
                        // A second of call: the service speaks (so the bot's report carries
                        // a reception block), consent checks go both ways, the bot reports.
                        second += 1;
                        let now = start + Duration::from_secs(second);
                        let ts = (second * 48_000) as u32;
                        server
                            .send_audio(id, Section::Audio, now, payload.clone(), ts, Some(30))
                            .unwrap();
                        let _ = bot.handle_timeout(now);
                        while let Some((_, d)) = bot.poll_transmit() {
                            // RFC 5761: RTCP packet types 200-206 after the first byte.
                            if d.len() > 1 && (200..=206).contains(&d[1]) {
                                reports.push((now, d));
                            } else {
                                server.handle_datagram(now, from, &d);
                            }
                        }
                        while let Some((_, d)) = server.poll_transmit() {
                            bot.handle_datagram(now, service_addr(), &d);
                        }
                        while server.poll_event().is_some() {}
                        while bot.poll_event().is_some() {}
                    }
                    let began = Instant::now();
                    for (now, d) in &reports {
                        server.handle_datagram(*now, from, d);
                        while let Some(event) = server.poll_event() {
                            black_box(event);
                        }
                    }
                    timed += began.elapsed();
                }
                timed
            });
            let lean = server.peer(id).unwrap().lean_reports_in();
            assert_eq!(lean > 0, lean_ingress, "{name}: the path under test");
        });
    }
    group.finish();
}

/// Report compounds made ahead of each timed run (each takes a simulated second of call).
const REPORT_CHUNK: usize = 1_000;

/// Datagrams made ahead of each timed run of the ingress bench.
const CHUNK: usize = 10_000;

/// A transport that only has datagrams to send: one mix tick's worth.
struct Queued(std::collections::VecDeque<(std::net::SocketAddr, bytes::BytesMut)>);

impl Transport for Queued {
    fn handle_datagram(&mut self, _: Instant, _: std::net::SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<(std::net::SocketAddr, bytes::BytesMut)> {
        self.0.pop_front()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

/// One mix tick onto the wire: a 100-byte datagram to each of `listeners` loopback sockets
/// from one socket, one `sendto` each or through `udp::flush` (`sendmmsg` batches). Only
/// the sending is timed; the listeners' sockets are drained between ticks. On loopback the
/// sender also pays for delivery into the receivers' sockets.
fn udp_egress(c: &mut Criterion) {
    use std::net::UdpSocket;
    let mut group = c.benchmark_group("udp_egress_tick");
    for listeners in [50usize, 350] {
        group.throughput(Throughput::Elements(listeners as u64));
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let receivers: Vec<UdpSocket> = (0..listeners)
            .map(|_| {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_nonblocking(true).unwrap();
                socket
            })
            .collect();
        let addresses: Vec<std::net::SocketAddr> =
            receivers.iter().map(|r| r.local_addr().unwrap()).collect();
        let drain = || {
            let mut buf = [0u8; 2048];
            for r in &receivers {
                while r.recv_from(&mut buf).is_ok() {}
            }
        };
        let datagram = bytes::BytesMut::from(&[0x5au8; 100][..]);
        for way in ["sendto", "sendmmsg"] {
            group.bench_function(BenchmarkId::new(way, listeners), |b| {
                b.iter_custom(|ticks| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..ticks {
                        let mut tick =
                            Queued(addresses.iter().map(|a| (*a, datagram.clone())).collect());
                        let started = Instant::now();
                        if way == "sendto" {
                            while let Some((to, data)) = tick.poll_transmit() {
                                sender.send_to(&data, to).unwrap();
                            }
                        } else {
                            confab_transport::udp::flush(&sender, &mut tick).unwrap();
                        }
                        spent += started.elapsed();
                        drain();
                    }
                    spent
                });
            });
        }
    }
    group.finish();
}

/// One camera packet of a three-layer simulcast sender through the SFU to `viewers`
/// viewers: the layer each viewer's box calls for (half of them small, half large), then
/// renumbered and sent through webrtc-rs's sender pipeline to those whose layer it is.
/// Per viewer: one packet per iteration arrives on each of the 3 layers in turn.
fn video_forward(c: &mut Criterion) {
    use confab_transport::simulcast::Layers;
    let mut group = c.benchmark_group("video_forward_with_layer_choice");
    for viewers in [1u16, 10] {
        group.throughput(Throughput::Elements(u64::from(viewers)));
        group.bench_function(BenchmarkId::new("viewers", viewers), |b| {
            let (mut server, ids, _bots, now) = many_connected(viewers);
            let boxes = [Some((320, 180)), Some((1280, 720))];
            let mut layers = Layers::default();
            let sizes = [(160, 90), (320, 180), (640, 360)];
            for (i, size) in sizes.iter().enumerate() {
                layers.saw(100 + i as u32, now, 1000, Some(*size));
            }
            let payload = Bytes::from_static(&[0x41; 1000]);
            // The path under test really sends: a packet of the large layer goes out.
            let probe = confab_transport::peer::RtpPacket {
                header: confab_transport::peer::RtpHeader {
                    version: 2,
                    payload_type: 102,
                    ssrc: 102,
                    ..Default::default()
                },
                payload: payload.clone(),
            };
            server
                .forward(ids[0], Section::VideoSlot(0), now, &probe, true, None)
                .unwrap();
            assert!(server.poll_transmit().is_some(), "a forwarded datagram");
            while server.poll_transmit().is_some() {}
            let mut n: u32 = 0;
            b.iter(|| {
                n = n.wrapping_add(1);
                let ssrc = 100 + n % 3;
                let packet = confab_transport::peer::RtpPacket {
                    header: confab_transport::peer::RtpHeader {
                        version: 2,
                        payload_type: 102,
                        sequence_number: (n / 3) as u16,
                        timestamp: n / 3 * 3000,
                        ssrc,
                        ..Default::default()
                    },
                    payload: payload.clone(),
                };
                layers.saw(ssrc, now, packet.payload.len(), None);
                for (i, id) in ids.iter().enumerate() {
                    if layers.choose(boxes[i % 2], now) == Some(ssrc) {
                        let _ =
                            server.forward(*id, Section::VideoSlot(0), now, &packet, false, None);
                    }
                }
                while let Some(datagram) = server.poll_transmit() {
                    black_box(datagram);
                }
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = transport;
    config = config();
    targets = jitter_buffer, h264_payload, opus_payload, egress, egress_tick, ingress, ingress_reports, udp_egress, video_forward
}
criterion_main!(transport);
