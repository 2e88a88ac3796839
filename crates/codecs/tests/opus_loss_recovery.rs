//! Lost Opus packets: concealment keeps the signal going without a gap or a click, and
//! in-band FEC rebuilds a lost frame measurably closer to the original than concealment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_codecs::{AudioDecoder, AudioEncoder, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, AudioLevel};
use confab_testkit::{fixtures, signal};

/// Encodes a fixture with FEC on (planned for 10 % loss).
fn encode(speaker: fixtures::Speaker) -> (Vec<AudioFrame>, Vec<Vec<u8>>, usize) {
    let frames = fixtures::speech_frames(speaker);
    let mut encoder =
        OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default()).unwrap();
    let lookahead = encoder.lookahead().unwrap();
    let packets = frames
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            p
        })
        .collect();
    (frames, packets, lookahead)
}

/// Frames whose input is clearly speech (so that a loss there matters).
fn speech_indices(frames: &[AudioFrame]) -> Vec<usize> {
    (1..frames.len() - 1)
        .filter(|&i| AudioLevel::measure(frames[i].samples()).wire_value() < 30)
        .collect()
}

#[test]
fn concealment_is_continuous_and_not_silent() {
    let (frames, packets, _) = encode(fixtures::Speaker::Alice);
    let lost: Vec<usize> = speech_indices(&frames)
        .into_iter()
        .step_by(7)
        .take(20)
        .collect();
    assert!(lost.len() >= 10);
    let mut decoder = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let mut output = Vec::new();
    for (i, (frame, packet)) in frames.iter().zip(&packets).enumerate() {
        let out = if lost.contains(&i) {
            decoder.conceal(frame.timestamp()).unwrap()
        } else {
            decoder.decode(packet, frame.timestamp()).unwrap()
        };
        assert_eq!(
            out.samples().len(),
            960,
            "one full frame per slot, lost or not"
        );
        output.push(out);
    }
    let decoded = fixtures::concat(&output);
    // The sharpest bend anywhere in normally decoded speech sets the bar for a click.
    let normal_bend = signal::max_bend_at(
        &decoded,
        (0..frames.len())
            .filter(|i| !lost.contains(i))
            .flat_map(|i| i * 960 + 2..i * 960 + 958),
    );
    for &i in &lost {
        let level = AudioLevel::measure(output[i].samples());
        assert!(
            level.wire_value() < 60,
            "concealed frame {i} is near-silent: -{} dBov",
            level.wire_value()
        );
        let boundaries = [i * 960, i * 960 + 1, (i + 1) * 960, (i + 1) * 960 + 1];
        let bend = signal::max_bend_at(&decoded, boundaries);
        assert!(
            bend <= normal_bend,
            "frame {i}: bend {bend} at its edges, speech bends up to {normal_bend}"
        );
    }
}

#[test]
fn fec_recovers_lost_frames_closer_than_concealment() {
    let (frames, packets, lookahead) = encode(fixtures::Speaker::Bob);
    let lost: Vec<usize> = speech_indices(&frames)
        .into_iter()
        .step_by(5)
        .take(30)
        .collect();
    assert!(lost.len() >= 20);

    let mut plc = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let mut fec = OpusDecoder::new(AudioFormat::MONO_48K).unwrap();
    let (mut plc_out, mut fec_out) = (Vec::new(), Vec::new());
    let mut recovered_with_fec = 0;
    for (i, (frame, packet)) in frames.iter().zip(&packets).enumerate() {
        let ts = frame.timestamp();
        if lost.contains(&i) {
            plc_out.push(plc.conceal(ts).unwrap());
            // The next packet is here (losses are isolated): rebuild from its FEC data.
            fec_out.push(fec.recover(&packets[i + 1], ts).unwrap());
            recovered_with_fec += 1;
        } else {
            plc_out.push(plc.decode(packet, ts).unwrap());
            fec_out.push(fec.decode(packet, ts).unwrap());
        }
    }
    assert_eq!(recovered_with_fec, lost.len());

    let original = fixtures::concat(&frames);
    let (plc_all, fec_all) = (fixtures::concat(&plc_out), fixtures::concat(&fec_out));
    let (mut plc_err, mut fec_err) = (Vec::new(), Vec::new());
    for &i in &lost {
        let range = i * 960..(i + 1) * 960;
        let reference = &original[range.start - lookahead..range.end - lookahead];
        plc_err.push(signal::error_db(reference, &plc_all[range.clone()]));
        fec_err.push(signal::error_db(reference, &fec_all[range]));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (plc_db, fec_db) = (mean(&plc_err), mean(&fec_err));
    println!("lost-frame error vs original: PLC {plc_db:.1} dB, FEC {fec_db:.1} dB");
    assert!(
        fec_db + 3.0 <= plc_db,
        "FEC {fec_db:.1} dB is not clearly better than PLC {plc_db:.1} dB"
    );
    let better = plc_err.iter().zip(&fec_err).filter(|(p, f)| f < p).count();
    assert!(
        better * 4 >= lost.len() * 3,
        "FEC better on only {better} of {} frames",
        lost.len()
    );
}
