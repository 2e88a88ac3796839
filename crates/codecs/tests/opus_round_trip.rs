//! Opus round trip of every speech fixture: what comes out of the decoder correlates with
//! what went into the encoder, once the codec's own delay is taken out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, MediaTime};
use confab_testkit::{fixtures, signal};

#[test]
fn each_speech_fixture_survives_encode_and_decode() {
    for speaker in fixtures::Speaker::ALL {
        let input = fixtures::speech_frames(speaker);
        let mut encoder =
            OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
        let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
        let lookahead = encoder.lookahead().unwrap();

        let mut payload = Vec::new();
        let mut output = Vec::new();
        for frame in &input {
            encoder.encode(frame, &mut payload).unwrap();
            assert!(payload.len() < 200, "32 kbit/s is ~80 bytes per 20 ms");
            output.push(decoder.decode(&payload, frame.timestamp()).unwrap());
        }
        let sent = fixtures::concat(&input);
        let received = fixtures::concat(&output);
        let (lag, corr) = signal::align(&sent, &received, 2000, 96_000);
        assert!(
            lag.abs_diff(lookahead) <= 8,
            "{speaker:?}: best alignment {lag} samples, encoder lookahead {lookahead}"
        );
        println!("{speaker:?}: correlation {corr:.3} at a {lag}-sample delay");
        assert!(
            corr >= 0.9,
            "{speaker:?}: correlation {corr:.3} after {lag}-sample alignment"
        );
    }
}

#[test]
fn opus_decodes_straight_to_16_khz_for_bots() {
    let input = fixtures::speech_frames(fixtures::Speaker::Bob);
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_16K).unwrap();
    let mut payload = Vec::new();
    for frame in input.iter().take(50) {
        encoder.encode(frame, &mut payload).unwrap();
        let out = decoder.decode(&payload, frame.timestamp()).unwrap();
        assert_eq!(out.format(), AudioFormat::MONO_16K);
        assert_eq!(out.samples().len(), 320);
    }
}

#[test]
fn stereo_round_trip_keeps_both_channels() {
    let mono = fixtures::speech_frames(fixtures::Speaker::Carol);
    let mut encoder = OpusEncoder::new(
        AudioFormat::STEREO_48K,
        OpusEncoderConfig {
            bitrate_bps: 64_000,
            ..OpusEncoderConfig::default()
        },
    )
    .unwrap();
    let mut decoder = OpusDecoder::new(AudioFormat::STEREO_48K).unwrap();
    let mut payload = Vec::new();
    let mut sent = Vec::new();
    let mut received = Vec::new();
    for frame in &mono {
        let stereo = frame.to_stereo();
        encoder.encode(&stereo, &mut payload).unwrap();
        let out = decoder.decode(&payload, stereo.timestamp()).unwrap();
        assert_eq!(out.samples().len(), 1920);
        sent.extend_from_slice(frame.samples());
        received.extend_from_slice(out.to_mono().samples());
    }
    let (_, corr) = signal::align(&sent, &received, 2000, 96_000);
    assert!(corr >= 0.9, "stereo correlation {corr:.3}");
}

#[test]
fn wrong_format_and_empty_packets_are_errors() {
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let frame16 = confab_media::AudioFrame::silence(
        AudioFormat::MONO_16K,
        confab_media::FrameDuration::Ms20,
        MediaTime::ZERO,
    );
    assert!(encoder.encode(&frame16, &mut Vec::new()).is_err());
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    assert!(decoder.decode(&[], MediaTime::ZERO).is_err());
    // Garbage is an error or some decoded audio, never a panic.
    for junk in [&[0xFFu8; 3][..], &[0x03, 0xFF, 0xFF, 0xFF], &[0x0B; 1400]] {
        let _ = decoder.decode(junk, MediaTime::ZERO);
    }
    assert!(
        OpusEncoder::new(
            AudioFormat::MONO_48K,
            OpusEncoderConfig {
                complexity: 11,
                ..OpusEncoderConfig::default()
            }
        )
        .is_err()
    );
}
