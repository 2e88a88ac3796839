//! Three participants speaking three different fixtures at once: each hears the other two
//! and not themself; a silent fourth hears all three.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::*;
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::{VirtualClock, fixtures, signal};

const TICKS: usize = 350; // 7 s

#[test]
fn each_speaker_hears_the_others_and_not_themself() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut talkers = vec![
        Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -24.0),
        Talker::speaker_at(2, fixtures::Speaker::Bob, 0, -24.0),
        Talker::speaker_at(3, fixtures::Speaker::Carol, 0, -24.0),
        Talker::silent(4),
    ];
    for t in &talkers {
        mixer.add_source(t.id).unwrap();
    }
    let mut listeners: Vec<Listener> = talkers.iter().map(|t| Listener::new(t.id)).collect();
    let mut max_encodes = 0;
    for n in 0..TICKS {
        for t in &mut talkers {
            let p = t.packet(n);
            mixer.insert(t.id, p, send_time(origin, n));
        }
        let out = mixer.tick(tick_time(origin, n)).unwrap();
        max_encodes = max_encodes.max(out.encoded_packets());
        for l in &mut listeners {
            l.hear(&mixer);
        }
    }
    assert!(max_encodes <= 4, "K+1 encodes at most: {max_encodes}");

    let references: Vec<Vec<i16>> = talkers.iter().take(3).map(|t| t.signal(TICKS)).collect();
    // Skip the first second (buffering, VAD onset, selection) and compare 5 s.
    let window = |s: &[i16], lag: usize| s[48_000 + lag..48_000 + lag + 5 * 48_000].to_vec();
    // Against reference mixes built from the inputs: what each should hear.
    for listener in &listeners {
        let mut expected = vec![0i32; references[0].len()];
        for (j, reference) in references.iter().enumerate() {
            if listener.id != SourceId(j as u32 + 1) {
                for (e, &s) in expected.iter_mut().zip(reference) {
                    *e += i32::from(s);
                }
            }
        }
        let expected: Vec<i16> = expected
            .iter()
            .map(|&v| v.clamp(-32768, 32767) as i16)
            .collect();
        let (lag, _) = signal::align(&expected[48_000..], &listener.heard[48_000..], 6000, 96_000);
        let corr = signal::correlation(&window(&expected, 0), &window(&listener.heard, lag));
        println!("listener {}: {corr:.2} with its reference mix", listener.id);
        assert!(
            corr >= 0.9,
            "{} hears something else than its mix: {corr:.2}",
            listener.id
        );
    }
    let mut results = Vec::new();
    for listener in &listeners {
        let mut line = format!("listener {}:", listener.id);
        for (j, reference) in references.iter().enumerate() {
            let (lag, _) = signal::align(
                &reference[48_000..],
                &listener.heard[48_000..],
                6000,
                96_000,
            );
            let corr = signal::correlation(&window(reference, 0), &window(&listener.heard, lag));
            line += &format!(" {:+.2} with {} (lag {lag})", corr, SourceId(j as u32 + 1));
            results.push((listener.id, SourceId(j as u32 + 1), corr));
        }
        println!("{line}");
    }
    for (listener, source, corr) in results {
        if listener == source {
            assert!(corr.abs() <= 0.1, "{listener} hears itself: {corr:.2}");
        } else {
            // The silent listener gets the shared mix of three (at most 1/sqrt(3) each).
            let floor = if listener == SourceId(4) { 0.45 } else { 0.5 };
            assert!(
                corr >= floor,
                "{listener} does not clearly hear {source}: {corr:.2}"
            );
        }
    }
}
