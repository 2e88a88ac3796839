//! "Original sound" through the page: a headless-Chromium participant whose fake microphone
//! plays a speech fixture joins with `?sound=original` (no echo cancellation, noise
//! suppression or automatic gain; Opus at 96 kbit/s), the recorder bot records it, and the
//! recorded voice is scored with PESQ-WB (the `pesq` package, `scripts/pesq_wb.py`) against
//! the fixture — beside the codec's own limit (the same stretch of the fixture through our
//! Opus encoder at the same bit rate and nothing else) and beside the page with its default
//! voice processing, which original sound must clearly beat. On loopback the path must lose
//! nothing and conceal next to nothing.
//!
//! Chromium's encoder is not ours (another libopus build, planning for the 0 % loss our
//! reports tell it; ours here plans for 10 %, which scores higher at this rate), so the two
//! scores differ from stretch to stretch. Over 36 runs of this test on the 2-vCPU VM: the
//! page 4.30–4.44 (median 4.36), the codec alone 4.37–4.46 (median 4.44), the gap −0.00 to
//! 0.13 (median 0.075, 6 runs over 0.1). Held to 0.2. Like-for-like — the same encoder on
//! both sides — the service's path is at the codec's limit exactly (`scripts/quality.sh`,
//! docs/quality.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::path::Path;
use std::process::Command;

use common::browser::{open_page, result, workspace};
use common::drops;
use common::*;
use confab_codecs::{
    AudioDecoder, AudioEncoder, OpusApplication, OpusDecoder, OpusEncoder, OpusEncoderConfig,
};
use confab_media::{AudioFormat, AudioFrame, FrameDuration};
use confab_testkit::{fixtures, signal};

const RATE: usize = 48_000;

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// `samples` through Opus at `bitrate_bps` and back, and the mean packet size in bytes.
fn codec_only(samples: &[i16], bitrate_bps: u32) -> (Vec<i16>, f64) {
    let config = OpusEncoderConfig {
        application: OpusApplication::Voip,
        bitrate_bps,
        complexity: 9,
        inband_fec: false,
        ..OpusEncoderConfig::default()
    };
    let mut encoder = OpusEncoder::new(AudioFormat::MONO_48K, config).unwrap();
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let mut out = Vec::new();
    let mut packet = Vec::new();
    let mut bytes = 0usize;
    let mut packets = 0usize;
    for frame in fixtures::frames(samples, AudioFormat::MONO_48K) {
        packet.clear();
        encoder.encode(&frame, &mut packet).unwrap();
        let mut decoded = AudioFrame::silence(
            AudioFormat::MONO_48K,
            FrameDuration::Ms20,
            frame.timestamp(),
        );
        decoder
            .decode_into(&packet, frame.timestamp(), &mut decoded)
            .unwrap();
        out.extend_from_slice(decoded.samples());
        bytes += packet.len();
        packets += 1;
    }
    (out, bytes as f64 / packets.max(1) as f64)
}

/// PESQ-WB of `degraded` against `reference` (both 48 kHz WAVs).
fn pesq_wb(reference: &Path, degraded: &Path) -> f64 {
    let output = Command::new("python3")
        .arg(workspace().join("scripts/pesq_wb.py"))
        .arg(reference)
        .arg(degraded)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pesq_wb.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let score: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("{} against the fixture: {score}", degraded.display());
    score["pesq_wb"].as_f64().unwrap()
}

/// PESQ-WB of a page's voice as the recorder records it (the page's URL gets `sound`), and
/// of the same stretch of the fixture through the codec alone.
async fn through_the_page(server: &confab_server::ServerHandle, sound: &str) -> (f64, f64) {
    let out = temp_dir();
    let group = uuid::Uuid::new_v4();
    let recording = drops::join_recorder(drops::bot_config(server, "recorder"), group, &out).await;
    let page = open_page(
        &format!(
            "{}/?group={group}&name=Pat&seconds=22&expect=2{sound}",
            server.base_url()
        ),
        &fixtures::path("speech-bob.wav").canonicalize().unwrap(),
        60,
    );
    let page = tokio::task::spawn_blocking(move || result(page))
        .await
        .unwrap();
    println!("page{sound}: sent {}", page["audioSent"]);
    let page_packet_bytes = page["audioSent"]["bytes"].as_f64().unwrap()
        / page["audioSent"]["packets"].as_f64().unwrap().max(1.0);
    assert_eq!(page["originalSound"], !sound.is_empty(), "{page}");
    recording.handle().hang_up().await.unwrap();
    recording.finished().await.unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let pat = manifest["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Pat")
        .expect("the page is in the manifest");
    println!("recorder: {}", manifest["counters"]);
    let counters = &manifest["counters"];
    let concealed = counters["audio_frames_concealed"].as_u64().unwrap();
    assert_eq!(counters["audio_packets_lost"], 0, "{counters}");
    // Two shared cores under the whole suite may hold a packet past its playout time.
    assert!(
        concealed * 100 <= counters["unmixed_frames"].as_u64().unwrap(),
        "at most 1 % of frames concealed: {counters}"
    );
    let recorded: Vec<i16> =
        hound::WavReader::open(out.join(pat["audio"]["file"].as_str().unwrap()))
            .unwrap()
            .into_samples()
            .map(Result::unwrap)
            .collect();
    // Chromium loops the fixture from whenever capture started: find where the recording
    // is in the loop (a voiced second of it), and take the same stretch of the loop.
    let fixture = fixtures::speech(fixtures::Speaker::Bob);
    let looped: Vec<i16> = fixture
        .iter()
        .cycle()
        .take(fixture.len() * 4)
        .copied()
        .collect();
    let probe_at = (RATE..recorded.len().saturating_sub(RATE))
        .step_by(RATE / 2)
        .find(|&at| signal::rms_dbfs(&recorded[at..at + RATE]) > -30.0)
        .expect("speech in the recording");
    let (found, corr) = signal::locate(&recorded[probe_at..probe_at + RATE], &looped);
    println!(
        "recording at {:.2} s of the looped fixture ({corr:.3})",
        found as f64 / RATE as f64
    );
    let start = (found + fixture.len() * 2 - probe_at) % fixture.len();
    // The file starts on the call's clock, in digital silence until the page's audio
    // flowed: score from half a second after its first sound to half a second before the end.
    let first_sound = recorded
        .chunks(RATE / 100)
        .position(|c| signal::rms_dbfs(c) > -80.0)
        .expect("sound")
        * (RATE / 100);
    let skip = first_sound + RATE / 2;
    let keep = recorded.len() - skip - RATE / 2;
    assert!(keep >= 16 * RATE, "at least 16 s to score: {keep} samples");
    let reference = &looped[start + skip..start + skip + keep];
    let degraded = &recorded[skip..skip + keep];
    let (codec, codec_packet_bytes) = codec_only(reference, 96_000);
    println!(
        "mean Opus packet: the page {page_packet_bytes:.0} B, the codec alone at 96 kbit/s \
         {codec_packet_bytes:.0} B"
    );
    if !sound.is_empty() {
        // The page's encoder runs at the rate original sound asks for (measured 204 B and
        // 204 B: the comparison is at the same bit rate).
        assert!(
            (page_packet_bytes / codec_packet_bytes - 1.0).abs() < 0.2,
            "original sound sends {page_packet_bytes:.0} B packets, Opus at 96 kbit/s \
             {codec_packet_bytes:.0} B"
        );
    }

    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, samples) in [
        ("reference", reference),
        ("page", degraded),
        ("codec", &codec),
    ] {
        write_wav(&dir.join(format!("{name}.wav")), samples);
    }
    let page_score = pesq_wb(&dir.join("reference.wav"), &dir.join("page.wav"));
    let codec_score = pesq_wb(&dir.join("reference.wav"), &dir.join("codec.wav"));
    (page_score, codec_score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_sound_scores_near_the_codec_limit() {
    let server = server().await;
    let (original, codec) = through_the_page(&server, "&sound=original").await;
    let (processed, _) = through_the_page(&server, "").await;
    println!(
        "PESQ-WB through the page and the service: original sound {original:.2}, the codec \
         alone at 96 kbit/s {codec:.2}; with the default voice processing {processed:.2}"
    );
    // Chromium's own Opus encoder against ours at the same rate, nothing lost on the way:
    // the gap measured up to 0.13 (module doc), so 0.2. Anything the path did to the voice —
    // voice processing (−0.5 and more, below), a missing or concealed stretch — shows here.
    assert!(
        original >= codec - 0.2,
        "original sound {original:.2} against the codec's {codec:.2}"
    );
    assert!(
        original >= processed + 0.3,
        "original sound {original:.2} is what the option is for: processed {processed:.2}"
    );
    server.shutdown().await;
}
