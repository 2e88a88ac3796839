//! Heap allocations on the media path, counted by a counting global allocator: per audio
//! packet into the service (SRTP, RTP parse, the event), per mix packet out (the lean path),
//! per unmixed packet forwarded, and per mixer tick of a 50-party room (3 speaking). One
//! test, so nothing else in this process allocates while it counts.
//!
//! Everything confab itself does per packet allocates nothing: packets are cut from slabs
//! (`confab_transport::slab`), sealed in place (`peer/srtp_gcm.rs`), handed to the media
//! thread as typed commands, and the mixer's scratch space is kept between ticks. The one
//! ceiling above zero is the way in: webrtc-rs's `handle_read` (SRTP open into a new buffer,
//! RTP parse with its extension list, the receive interceptors) allocates 9 times per
//! packet; a change that adds one fails here and must say why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)] // a test: it reads the clock as the origin of its virtual timeline

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_benches::{connect_in_memory, service_addr};
use confab_codecs::{AudioEncoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, FrameDuration, MediaTime};
use confab_mixer::{AudioMixer, MediaScheduler, MixerConfig, SourceId, Tick};
use confab_transport::jitter::AudioPacket;
use confab_transport::peer::{
    Forwarded, MediaLayout, Peer, PeerEvent, PeerId, PeerOptions, PeerServer, RtpHeader, RtpPacket,
    Section,
};
use confab_transport::udp::Transport;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUNDS: u32 = 200;

/// A service with one bot connected in memory (the bot with `unmixed` unmixed slots).
fn connected(unmixed: u8) -> (PeerServer, PeerId, Peer, Instant) {
    let mut server = PeerServer::new(service_addr());
    let layout = MediaLayout {
        unmixed_slots: unmixed,
        ..MediaLayout::default()
    };
    let (id, bot, now) = connect_in_memory(
        &mut server,
        0,
        layout,
        PeerOptions::default(),
        Instant::now(),
    );
    (server, id, bot, now)
}

/// Allocations per round of `work`, after a warm-up of the same.
fn per_round(mut work: impl FnMut(u32)) -> f64 {
    for n in 0..ROUNDS {
        work(n);
    }
    let region = Region::new(GLOBAL);
    for n in ROUNDS..2 * ROUNDS {
        work(n);
    }
    f64::from(region.change().allocations as u32) / f64::from(ROUNDS)
}

fn opus_packets() -> Vec<Bytes> {
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    confab_testkit::fixtures::speech_frames(confab_testkit::fixtures::Speaker::Alice)
        .iter()
        .take(100)
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            Bytes::from(p)
        })
        .collect()
}

/// A room that only counts the packets handed to it.
struct Counting(Arc<AtomicU32>);

impl Tick for Counting {
    fn tick(&mut self, _now: Instant) {}
    fn is_idle(&self) -> bool {
        false
    }
    fn packet(&mut self, _source: SourceId, _packet: AudioPacket, _now: Instant) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn allocations_per_packet_and_per_tick() {
    let speech = opus_packets();

    // In: a bot's microphone packet through the service's port (SRTP, RTP, the event).
    let (mut server, _id, mut bot, start) = connected(0);
    let bot_addr = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000));
    let mut datagrams = Vec::new();
    for n in 0..2 * ROUNDS {
        let now = start + Duration::from_millis(20 * u64::from(n));
        bot.send_audio(
            Section::Audio,
            now,
            speech[n as usize % speech.len()].clone(),
            n * 960,
            Some(40),
        )
        .unwrap();
        while let Some((_, data)) = bot.poll_transmit() {
            datagrams.push((now, data));
        }
    }
    let mut media_events = 0u32;
    let ingress = per_round(|n| {
        let (now, data) = &datagrams[n as usize];
        server.handle_datagram(*now, bot_addr, data);
        while let Some((_, event)) = server.poll_event() {
            media_events += u32::from(matches!(event, PeerEvent::Rtp { .. }));
        }
    });
    assert!(
        media_events >= ROUNDS,
        "the packets arrived: {media_events}"
    );

    // Out: one mix packet to one listener, sealed and queued (lean egress).
    let (mut server, id, _bot, start) = connected(0);
    let egress = per_round(|n| {
        let now = start + Duration::from_millis(20 * u64::from(n % 50));
        server
            .send_audio(
                id,
                Section::Audio,
                now,
                speech[n as usize % speech.len()].clone(),
                n * 960,
                Some(40),
            )
            .unwrap();
        while let Some(datagram) = server.poll_transmit() {
            std::hint::black_box(datagram);
        }
    });

    // Forwarded: a speaker's packet into a listener's unmixed slot, named by its CSRC.
    let (mut server, id, _bot, start) = connected(1);
    let forward = per_round(|n| {
        let now = start + Duration::from_millis(20 * u64::from(n % 50));
        let packet = RtpPacket {
            header: RtpHeader {
                version: 2,
                payload_type: 111,
                sequence_number: n as u16,
                timestamp: n * 960,
                ssrc: 7,
                ..RtpHeader::default()
            },
            payload: speech[n as usize % speech.len()].clone(),
        };
        server
            .forward_from(
                id,
                Section::UnmixedAudio(0),
                now,
                &packet,
                n == 0,
                Some(40),
                Forwarded {
                    csrc: Some(3),
                    timestamp: Some(n * 960),
                },
            )
            .unwrap();
        while let Some(datagram) = server.poll_transmit() {
            std::hint::black_box(datagram);
        }
    });

    // The mixer thread: 50 participants' packets in, one tick (3 speaking).
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    for id in 0..50 {
        mixer.add_source(SourceId(id)).unwrap();
    }
    let mut silence = Vec::new();
    OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default())
        .unwrap()
        .encode(
            &AudioFrame::silence(AudioFormat::MONO_48K, FrameDuration::Ms20, MediaTime::ZERO),
            &mut silence,
        )
        .unwrap();
    let silence = Bytes::from(silence);
    let origin = Instant::now();
    let tick = per_round(|n| {
        let sent = origin + Duration::from_millis(20 * u64::from(n));
        for id in 0..50u32 {
            let payload = if id < 3 {
                speech[(n as usize + id as usize * 37) % speech.len()].clone()
            } else {
                silence.clone()
            };
            let packet = AudioPacket {
                seq: n as u16,
                timestamp: n * 960,
                payload,
                level: Some(if id < 3 { 30 } else { 127 }),
            };
            mixer.insert(SourceId(id), packet, sent);
        }
        let r = Region::new(GLOBAL);
        std::hint::black_box(mixer.tick(sent + Duration::from_millis(10)).unwrap());
        let c = r.change().allocations;
        if c > 0 && n > ROUNDS {
            eprintln!("tick {n}: {c} allocs, events {:?}", mixer.poll_event());
        }
    });

    // The I/O thread's hand-off of each packet to its room's media thread (a typed
    // command, no boxed closure), the media thread's side included.
    let scheduler = MediaScheduler::new(1, 4096);
    let handed = Arc::new(AtomicU32::new(0));
    let room = scheduler.add(Counting(handed.clone())).unwrap();
    let handoff = per_round(|n| {
        let packet = AudioPacket {
            seq: n as u16,
            timestamp: n * 960,
            payload: speech[n as usize % speech.len()].clone(),
            level: Some(40),
        };
        room.packet(SourceId(1), packet, origin).unwrap();
        // Wait until the media thread has it: its work is counted too.
        while handed.load(Ordering::Relaxed) <= n {
            std::thread::yield_now();
        }
    });

    println!(
        "allocations: {ingress:.1} per packet in, {handoff:.1} per packet handed to its \
         room's media thread, {egress:.1} per mix packet out, {forward:.1} per unmixed packet \
         forwarded, {tick:.1} per 50-party mixer tick ({:.2} per participant)",
        tick / 50.0
    );
    assert!(
        ingress <= 9.0,
        "{ingress} per packet in: webrtc-rs's read path only"
    );
    assert!(egress == 0.0, "{egress} per mix packet out");
    assert!(forward == 0.0, "{forward} per forwarded packet");
    assert!(tick == 0.0, "{tick} per 50-party mixer tick");
    assert!(
        handoff == 0.0,
        "{handoff} per packet handed to the media thread"
    );
}
