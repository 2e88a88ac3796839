//! Our G.711 against sox's: encoding the same 8 kHz samples gives the same codes to within
//! one quantisation step, and decoding sox's codes gives what G.711 defines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use confab_codecs::g711::{self, G711Law};
use confab_testkit::fixtures;

/// Position of a code on the quantiser's scale: sign times (segment * 16 + mantissa).
fn level(law: G711Law, code: u8) -> i32 {
    let (bits, positive) = match law {
        G711Law::MuLaw => (!code, code & 0x80 != 0),
        G711Law::ALaw => (code ^ 0x55, code & 0x80 != 0),
    };
    let magnitude = i32::from(bits & 0x7F);
    // µ-law's inverted magnitude grows with level; A-law's XORed one does too.
    if positive { magnitude } else { -magnitude - 1 }
}

fn check(law: G711Law, sox_file: &str) {
    let (samples, rate) = fixtures::wav("speech-alice-8k.wav");
    assert_eq!(rate, 8000);
    let sox_codes = fixtures::bytes(sox_file);
    assert_eq!(sox_codes.len(), samples.len());

    let mut ours = vec![0u8; samples.len()];
    g711::encode(law, &samples, &mut ours);
    let mut exact = 0;
    for (i, (&a, &b)) in ours.iter().zip(&sox_codes).enumerate() {
        let step = (level(law, a) - level(law, b)).abs();
        assert!(
            step <= 1,
            "{law:?} sample {i} ({}): ours {a:#04x}, sox {b:#04x}",
            samples[i]
        );
        exact += usize::from(a == b);
    }
    let share = exact as f64 / samples.len() as f64;
    println!(
        "{law:?}: {:.2} % of codes identical to sox, the rest one step apart",
        share * 100.0
    );
    assert!(share > 0.95);

    // Decoding: sox's codes through our tables land within half a step of the input.
    let mut decoded = vec![0i16; samples.len()];
    g711::decode(law, &sox_codes, &mut decoded);
    for (&d, &s) in decoded.iter().zip(&samples) {
        let magnitude = i32::from(s).abs();
        let half_step = match magnitude {
            0..=255 => 8,
            256..=1023 => 32,
            1024..=4095 => 128,
            _ => 512,
        };
        assert!(
            (i32::from(d) - i32::from(s)).abs() <= 2 * half_step,
            "decoded {d} for {s}"
        );
    }
}

#[test]
fn mu_law_matches_sox() {
    check(G711Law::MuLaw, "speech-alice-8k.ulaw");
}

#[test]
fn a_law_matches_sox() {
    check(G711Law::ALaw, "speech-alice-8k.alaw");
}
