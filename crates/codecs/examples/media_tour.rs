//! What confab's media foundation does today, end to end on the committed fixtures:
//! Opus with 10 % packet loss (FEC and PLC), G.711, resampling for bots, H.264 at VGA and
//! 720p. Prints a summary table and writes the decoded audio to `--out DIR` to listen to.
//!
//! `cargo run --release -p confab-codecs --example media_tour -- --out demo-out`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)] // a demo: it times itself and prints

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confab_codecs::g711::G711Law;
use confab_codecs::{
    AudioDecoder, AudioEncoder, G711Decoder, G711Encoder, H264Decoder, H264Encoder,
    H264EncoderConfig, OpusDecoder, OpusEncoder, OpusEncoderConfig,
};
use confab_media::{
    AudioFormat, FrameDuration, MediaTime, Resampler, SampleRate, TestPattern, psnr,
};
use confab_testkit::{fixtures, signal};

/// A fixed, seeded pattern of 10 % isolated losses (xorshift), so every run is identical.
fn lost(index: usize, seed: u64) -> bool {
    let mut x = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.is_multiple_of(10)
}

fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample(s).expect("write wav");
    }
    w.finalize().expect("finalize wav");
}

struct Timer(Duration, u32);

impl Timer {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.0 += start.elapsed();
        self.1 += 1;
        out
    }
    fn micros_each(&self) -> f64 {
        self.0.as_secs_f64() * 1e6 / f64::from(self.1.max(1))
    }
}

fn opus_with_loss(speaker: fixtures::Speaker, out_dir: &Path) {
    let frames = fixtures::speech_frames(speaker);
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let lookahead = encoder.lookahead().unwrap();
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let packets: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            p
        })
        .collect();
    let (mut enc_t, mut dec_t) = (Timer(Duration::ZERO, 0), Timer(Duration::ZERO, 0));
    for f in &frames {
        enc_t.time(|| encoder.encode(f, &mut Vec::new()).unwrap());
    }
    let (mut fec, mut plc) = (0, 0);
    let mut out = Vec::with_capacity(frames.len());
    for (i, (frame, packet)) in frames.iter().zip(&packets).enumerate() {
        let ts = frame.timestamp();
        let decoded = if !lost(i, 7) {
            dec_t.time(|| decoder.decode(packet, ts).unwrap())
        } else if let Some(next) = packets.get(i + 1).filter(|_| !lost(i + 1, 7)) {
            fec += 1;
            decoder.recover(next, ts).unwrap()
        } else {
            plc += 1;
            decoder.conceal(ts).unwrap()
        };
        out.push(decoded);
    }
    let sent = fixtures::concat(&frames);
    let received = fixtures::concat(&out);
    let corr = signal::correlation_at(&sent, &received, lookahead);
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let kbps = bytes as f64 * 8.0 / (frames.len() as f64 * 0.02) / 1000.0;
    let file = out_dir.join(format!("opus-10pct-loss-{speaker:?}.wav").to_lowercase());
    write_wav(&file, 48_000, &received);
    println!(
        "  {:<6} {:>5.1} s  {kbps:>5.1} kbit/s  lost {:>3} (FEC {fec:>2}, PLC {plc:>2})  corr {corr:.3}  enc {:>5.1} µs  dec {:>5.1} µs",
        format!("{speaker:?}"),
        frames.len() as f64 * 0.02,
        fec + plc,
        enc_t.micros_each(),
        dec_t.micros_each(),
    );
}

fn g711_and_resampling(out_dir: &Path) {
    let frames = fixtures::speech_frames(fixtures::Speaker::Carol);
    let mut to_8k = Resampler::new(
        AudioFormat::MONO_48K,
        SampleRate::Hz8000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let mut to_16k = Resampler::new(
        AudioFormat::MONO_48K,
        SampleRate::Hz16000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let mut back = Resampler::new(
        AudioFormat::MONO_8K,
        SampleRate::Hz48000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let mut resample_t = Timer(Duration::ZERO, 0);
    let (mut phone, mut wideband) = (Vec::new(), Vec::new());
    for law in [G711Law::MuLaw, G711Law::ALaw] {
        let mut enc = G711Encoder::new(law);
        let mut dec = G711Decoder::new(law);
        let mut payload = Vec::new();
        let mut restored = Vec::new();
        for frame in &frames {
            let narrow = resample_t.time(|| to_8k.process(frame).unwrap());
            enc.encode(&narrow, &mut payload).unwrap();
            let decoded = dec.decode(&payload, frame.timestamp()).unwrap();
            restored.push(back.process(&decoded).unwrap());
            if law == G711Law::MuLaw {
                phone.extend_from_slice(decoded.samples());
                wideband.extend_from_slice(to_16k.process(frame).unwrap().samples());
            }
        }
        let delay = to_8k.delay() * 6 + back.delay();
        let corr = signal::correlation_at(
            &fixtures::concat(&frames),
            &fixtures::concat(&restored),
            delay,
        );
        println!(
            "  {law:?}: 48 kHz → 8 kHz → G.711 → 48 kHz, corr {corr:.3} (64 kbit/s, narrowband)"
        );
    }
    write_wav(&out_dir.join("g711-ulaw-8k-carol.wav"), 8_000, &phone);
    write_wav(&out_dir.join("bot-16k-carol.wav"), 16_000, &wideband);
    println!(
        "  resample 48 kHz → 8 kHz: {:.1} µs per 20 ms frame",
        resample_t.micros_each()
    );
}

fn h264(width: u32, height: u32, bitrate_bps: u32) {
    let pattern = TestPattern::new(width, height);
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        bitrate_bps,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let (mut enc_t, mut dec_t) = (Timer(Duration::ZERO, 0), Timer(Duration::ZERO, 0));
    let (mut bytes, mut decoded_count, mut worst, mut in_order) =
        (0usize, 0u32, f64::INFINITY, true);
    let frames = 90;
    for n in 0..frames {
        let source = pattern.frame(n, MediaTime::from_micros(u64::from(n) * 33_333));
        let Some(encoded) = enc_t.time(|| encoder.encode(&source, false).unwrap()) else {
            continue;
        };
        bytes += encoded.data.len();
        if let Some(picture) =
            dec_t.time(|| decoder.decode(&encoded.data, encoded.timestamp).unwrap())
        {
            decoded_count += 1;
            worst = worst.min(psnr(&source, &picture).unwrap());
            in_order &= TestPattern::read_index(&picture) == Some(n);
        }
    }
    let kbps = bytes as f64 * 8.0 / (f64::from(frames) / 30.0) / 1000.0;
    println!(
        "  {width}x{height}: {decoded_count}/{frames} pictures, {kbps:.0} kbit/s, worst PSNR {worst:.1} dB, in order: {in_order}, enc {:.2} ms, dec {:.2} ms",
        enc_t.micros_each() / 1000.0,
        dec_t.micros_each() / 1000.0,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out_dir = PathBuf::from("demo-out");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out_dir = PathBuf::from(args.next().expect("--out DIR")),
            other => {
                eprintln!("unknown argument {other}; usage: media_tour [--out DIR]");
                std::process::exit(2);
            }
        }
    }
    std::fs::create_dir_all(&out_dir).expect("create output directory");
    println!("confab media tour — what the foundation does today (timings on this machine)\n");
    println!("Opus 32 kbit/s, complexity 9, in-band FEC, 10 % of packets dropped:");
    for speaker in fixtures::Speaker::ALL {
        opus_with_loss(speaker, &out_dir);
    }
    println!("\nPhones and bots:");
    g711_and_resampling(&out_dir);
    println!("\nH.264 constrained baseline, moving test pattern, 3 s at 30 fps:");
    h264(640, 480, 1_000_000);
    h264(1280, 720, 2_500_000);
    println!(
        "\nDecoded audio written to {}/ (listen to the loss concealment).",
        out_dir.display()
    );
}
