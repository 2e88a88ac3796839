//! A real browser against the service side: headless Chromium (driven by playwright-core)
//! opens a test page that does offer/answer with a confab PeerServer through a minimal HTTP
//! endpoint. Audio and video flow both ways: the page's getStats shows inbound audio and
//! video decoded and the service's RTCP reports taken, and the confab side decodes the
//! browser's fake microphone to speech.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{
    AudioDecoder, AudioEncoder, H264Decoder, H264Encoder, H264EncoderConfig, OpusDecoder,
    OpusEncoder, OpusEncoderConfig,
};
use confab_media::{AudioFormat, AudioLevel, MediaTime, TestPattern};
use confab_testkit::{fixtures, signal};
use confab_transport::payload::h264::H264Depacketizer;
use confab_transport::peer::{PeerEvent, PeerId, PeerOptions, PeerServer, Section, SrtpPolicy};
use confab_transport::udp::pump;

const PAGE: &str = include_str!("browser/peer_page.html");

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

type OfferReply = mpsc::Sender<Result<String, String>>;

#[derive(Default)]
struct Collected {
    audio: Vec<(u16, Bytes)>,
    levels: usize,
    video: Vec<(u16, Bytes, bool)>,
    keyframe_requests: usize,
    connected: bool,
}

/// The media side: one UDP socket, a PeerServer, sending speech and a moving pattern to
/// every connected peer in real time, collecting what comes back.
fn media_thread(
    offers: mpsc::Receiver<(String, OfferReply)>,
    stop: Arc<AtomicBool>,
    srtp: SrtpPolicy,
) -> (u16, thread::JoinHandle<Collected>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let mut server = PeerServer::new(socket.local_addr().unwrap());
        let mut encoder =
            OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
        let speech = fixtures::speech_frames(fixtures::Speaker::Bob);
        let pattern = TestPattern::new(320, 240);
        let mut video = H264Encoder::new(H264EncoderConfig {
            bitrate_bps: 500_000,
            max_frame_rate: 15.0,
            ..H264EncoderConfig::default()
        })
        .unwrap();
        let mut collected = Collected::default();
        let mut peer: Option<PeerId> = None;
        let (mut frame, mut picture, mut force_key) = (0usize, 0u32, true);
        let mut next_audio = Instant::now();
        let mut next_video = Instant::now();
        let mut payload = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            pump(
                &socket,
                &mut server,
                Instant::now() + Duration::from_millis(2),
            )
            .unwrap();
            while let Ok((offer, reply)) = offers.try_recv() {
                let answer = server.add_peer(
                    &offer,
                    PeerOptions {
                        srtp,
                        ..PeerOptions::default()
                    },
                    Instant::now(),
                );
                let _ = reply.send(
                    answer
                        .map(|(id, sdp)| {
                            peer = Some(id);
                            sdp
                        })
                        .map_err(|e| e.to_string()),
                );
            }
            while let Some((_, event)) = server.poll_event() {
                match event {
                    PeerEvent::Connected => collected.connected = true,
                    PeerEvent::Rtp {
                        section: Section::Audio,
                        packet,
                        audio_level,
                    } => {
                        collected.levels += usize::from(audio_level.is_some());
                        collected
                            .audio
                            .push((packet.header.sequence_number, packet.payload));
                    }
                    PeerEvent::Rtp {
                        section: Section::Camera,
                        packet,
                        ..
                    } => collected.video.push((
                        packet.header.sequence_number,
                        packet.payload,
                        packet.header.marker,
                    )),
                    PeerEvent::KeyframeRequest { .. } => {
                        collected.keyframe_requests += 1;
                        force_key = true;
                    }
                    _ => {}
                }
            }
            let (Some(id), true) = (peer, collected.connected) else {
                continue;
            };
            let now = Instant::now();
            if now >= next_audio {
                let f = &speech[frame % speech.len()];
                encoder.encode(f, &mut payload).unwrap();
                let level = AudioLevel::measure(f.samples()).wire_value();
                let _ = server.send_audio(
                    id,
                    Section::Audio,
                    now,
                    Bytes::copy_from_slice(&payload),
                    (frame * 960) as u32,
                    Some(level),
                );
                frame += 1;
                next_audio += Duration::from_millis(20);
            }
            if now >= next_video {
                if let Some(unit) = video
                    .encode(&pattern.frame(picture, MediaTime::ZERO), force_key)
                    .unwrap()
                {
                    force_key = false;
                    let _ = server.send_video(
                        id,
                        Section::VideoSlot(0),
                        now,
                        &unit.data,
                        picture * 6000,
                    );
                }
                picture += 1;
                next_video += Duration::from_millis(66);
            }
        }
        collected
    });
    (port, handle)
}

/// A minimal HTTP/1.1 endpoint: GET serves the page, POST /offer returns the answer SDP.
fn http_thread(offers: mpsc::Sender<(String, OfferReply)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let offers = offers.clone();
            thread::spawn(move || serve(stream, &offers));
        }
    });
    port
}

fn serve(mut stream: TcpStream, offers: &mpsc::Sender<(String, OfferReply)>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).unwrap_or_default();
    let (status, content_type, body) = if request_line.starts_with("POST /offer") {
        let (tx, rx) = mpsc::channel();
        offers
            .send((String::from_utf8_lossy(&body).into_owned(), tx))
            .unwrap();
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(answer)) => ("200 OK", "application/sdp", answer),
            Ok(Err(e)) => ("500 Internal Server Error", "text/plain", e),
            Err(e) => ("500 Internal Server Error", "text/plain", e.to_string()),
        }
    } else if request_line.starts_with("GET / ") || request_line.starts_with("GET /?") {
        ("200 OK", "text/html; charset=utf-8", PAGE.to_owned())
    } else {
        ("404 Not Found", "text/plain", "not found".to_owned())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Runs the page against a service with `srtp`; checks media both ways; returns the SRTP
/// profile Chromium negotiated.
fn exchange_with_chromium(srtp: SrtpPolicy) -> String {
    let driver = workspace().join("tools/browser/run-page.mjs");
    assert!(
        workspace()
            .join("tools/browser/node_modules/playwright-core")
            .exists(),
        "run scripts/install-deps.sh: playwright-core is missing"
    );
    assert!(
        PathBuf::from("/usr/lib/chromium/chromium").exists(),
        "run scripts/install-deps.sh: Debian chromium is missing"
    );

    let (offer_tx, offer_rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (_media_port, media) = media_thread(offer_rx, stop.clone(), srtp);
    let http_port = http_thread(offer_tx);

    let started = Instant::now();
    let output = Command::new("node")
        .arg(&driver)
        .arg(format!("http://127.0.0.1:{http_port}/?seconds=5"))
        .arg("--audio")
        .arg(fixtures::path("speech-carol.wav").canonicalize().unwrap())
        .arg("--timeout")
        .arg("60")
        .output()
        .expect("node runs");
    stop.store(true, Ordering::Relaxed);
    let collected = media.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("browser run took {:?}\n{stdout}", started.elapsed());
    assert!(output.status.success(), "page failed: {stdout}\n{stderr}");

    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let result = &report["result"];
    // The browser received and decoded our audio and video.
    let audio_in = result["audio"]["packetsReceived"].as_u64().unwrap_or(0);
    assert!(
        audio_in >= 150,
        "browser received {audio_in} audio packets in 5 s"
    );
    // WebAudio in the page heard speech: most 100 ms windows well above silence.
    let heard = &result["heard"];
    let (windows, loud) = (
        heard["windows"].as_u64().unwrap_or(0),
        heard["windowsAboveMinus50Db"].as_u64().unwrap_or(0),
    );
    assert!(
        windows >= 40 && loud * 2 >= windows,
        "browser heard speech in {loud} of {windows} windows"
    );
    let frames = result["video"]["framesDecoded"].as_u64().unwrap_or(0);
    assert!(frames >= 30, "browser decoded {frames} pictures");
    assert_eq!(result["video"]["frameWidth"].as_u64(), Some(320));

    // The browser took the service's RTCP (sealed by its lean path, in either profile): its
    // sender reports about our audio, and in them the reception report about the browser's
    // audio, which with the browser's own sender reports gives it a round-trip time.
    println!(
        "browser's view of our RTCP: {} / {}",
        result["remoteOutboundAudio"], result["remoteInboundAudio"]
    );
    let reports = result["remoteOutboundAudio"]["reportsSent"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        reports >= 2,
        "browser counted {reports} sender reports from us"
    );
    let rtt = result["remoteInboundAudio"]["roundTripTime"].as_f64();
    assert!(
        rtt.is_some_and(|rtt| (0.0..0.5).contains(&rtt)),
        "browser's round trip from our reception reports: {rtt:?}"
    );
    let cipher = result["transport"]["srtpCipher"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!("SRTP profile negotiated with Chromium: {cipher}");

    // We received the browser's fake microphone and camera; its audio decodes to speech.
    assert!(
        collected.audio.len() >= 150,
        "{} audio packets from the browser",
        collected.audio.len()
    );
    assert_eq!(
        collected.levels,
        collected.audio.len(),
        "Chromium sends the RFC 6464 level on every packet"
    );
    // Its camera decodes here: our depacketizer takes Chromium's packetization.
    let mut video = collected.video;
    video.sort_by_key(|(seq, ..)| *seq);
    let mut depacketizer = H264Depacketizer::new();
    let mut h264 = H264Decoder::new().unwrap();
    let mut pictures = Vec::new();
    for (seq, payload, marker) in &video {
        if let Ok(Some(unit)) = depacketizer.push(*seq, payload, *marker)
            && let Ok(Some(picture)) = h264.decode(&unit.data, MediaTime::ZERO)
        {
            pictures.push((picture.width(), picture.height()));
        }
    }
    assert!(
        pictures.len() >= 30,
        "{} pictures from the browser's camera decoded",
        pictures.len()
    );
    assert!(
        pictures.iter().all(|p| *p == (320, 240)),
        "browser pictures are 320x240"
    );
    let mut audio = collected.audio;
    audio.sort_by_key(|(seq, _)| *seq);
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let pcm: Vec<i16> = audio
        .iter()
        .flat_map(|(_, p)| {
            decoder
                .decode(p, MediaTime::ZERO)
                .map(|f| f.into_samples())
                .unwrap_or_default()
        })
        .collect();
    let level = signal::rms_dbfs(&pcm);
    println!(
        "from the browser: {} audio packets, {level:.1} dBFS; {} video packets, {} pictures; {} keyframe requests",
        audio.len(),
        video.len(),
        pictures.len(),
        collected.keyframe_requests
    );
    assert!(
        level > -45.0,
        "the browser's audio is not silent: {level:.1} dBFS"
    );
    cipher
}

#[test]
fn chromium_exchanges_audio_and_video_with_the_service() {
    // GCM first, AES-CM as fallback: Chromium (which lists AES-CM first) picks AES-CM.
    let cipher = exchange_with_chromium(SrtpPolicy::PreferGcm);
    assert!(
        ["SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_HMAC_SHA1_80"].contains(&cipher.as_str()),
        "{cipher}"
    );
}

#[test]
fn chromium_negotiates_aes_gcm_when_it_is_the_only_profile() {
    assert_eq!(
        exchange_with_chromium(SrtpPolicy::GcmOnly),
        "SRTP_AEAD_AES_128_GCM"
    );
}
