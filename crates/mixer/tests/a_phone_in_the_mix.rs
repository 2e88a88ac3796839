//! A phone (G.711 µ-law at 8 kHz, no audio levels) and a WebRTC speaker (Opus) talk in one
//! room with a silent Opus listener: the listener hears both, the phone hears the Opus
//! speaker in µ-law and not itself, the Opus speaker hears the phone, the phone's own voice
//! comes out in Opus for unmixed slots, and a lost phone packet is concealed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use bytes::Bytes;
use common::*;
use confab_codecs::{AudioCodec, G711Law, g711};
use confab_mixer::{AudioMixer, MixerConfig, SourceId};
use confab_testkit::{VirtualClock, fixtures, signal};
use confab_transport::jitter::AudioPacket;

const TICKS: usize = 350; // 7 s
const PHONE: SourceId = SourceId(7);

/// The phone's 8 kHz speech and its µ-law packets.
struct Phone {
    samples: Vec<i16>,
    seq: u16,
}

impl Phone {
    fn new() -> Self {
        // Bob's 48 kHz fixture taken to 8 kHz by keeping every sixth sample of a low-passed
        // copy (testkit's decimator).
        let samples = signal::decimate_6(&fixtures::speech(fixtures::Speaker::Bob));
        Phone {
            samples,
            seq: 40_000,
        }
    }

    fn frame(&self, n: usize) -> Vec<i16> {
        (0..160)
            .map(|i| self.samples.get(n * 160 + i).copied().unwrap_or(0))
            .collect()
    }

    fn packet(&mut self, n: usize) -> AudioPacket {
        let mut payload = vec![0u8; 160];
        g711::encode(G711Law::MuLaw, &self.frame(n), &mut payload);
        self.seq = self.seq.wrapping_add(1);
        AudioPacket {
            seq: self.seq,
            timestamp: (n * 160) as u32,
            payload: Bytes::from(payload),
            level: None,
        }
    }
}

fn best_correlation(reference: &[i16], heard: &[i16], rate: usize) -> f64 {
    let (lag, _) = signal::align(&reference[rate..], &heard[rate..], rate / 8, 2 * rate);
    let window = |s: &[i16], lag: usize| s[rate + lag..rate + lag + 5 * rate].to_vec();
    signal::correlation(&window(reference, 0), &window(heard, lag))
}

#[test]
fn a_phone_hears_and_is_heard_through_the_mix() {
    let clock = VirtualClock::new();
    let origin = clock.now();
    let mut mixer = AudioMixer::new(MixerConfig::default()).unwrap();
    let mut alice = Talker::speaker_at(1, fixtures::Speaker::Alice, 0, -24.0);
    let mut phone = Phone::new();
    mixer.add_source(alice.id).unwrap();
    mixer.add_source(SourceId(3)).unwrap();
    mixer
        .add_source_with_codec(PHONE, AudioCodec::Pcmu)
        .unwrap();
    mixer.set_own_audio(PHONE, true).unwrap();
    let mut listener = Listener::new(SourceId(3));
    let mut alice_hears = Listener::new(alice.id);
    let mut phone_heard = Vec::new();
    let mut own = Listener::new(PHONE);
    own.heard.clear();
    let mut own_decoder =
        confab_codecs::OpusDecoder::new(confab_media::AudioFormat::MONO_48K).unwrap();
    for n in 0..TICKS {
        let p = alice.packet(n);
        mixer.insert(alice.id, p, send_time(origin, n));
        let p = phone.packet(n);
        // One phone packet in fifty is lost on the way.
        if n % 50 != 25 {
            mixer.insert(PHONE, p, send_time(origin, n));
        }
        let out = mixer.tick(tick_time(origin, n)).unwrap();
        let to_phone = out.payload_for(PHONE);
        assert_eq!(to_phone.len(), 160, "the phone gets 20 ms of G.711");
        let mut pcm = vec![0i16; 160];
        g711::decode(G711Law::MuLaw, to_phone, &mut pcm);
        phone_heard.extend_from_slice(&pcm);
        listener.hear(&mixer);
        alice_hears.hear(&mixer);
        let own_packet = mixer.output().own.iter().find(|(id, ..)| *id == PHONE);
        if let Some((_, payload, _)) = own_packet {
            use confab_codecs::AudioDecoder;
            let frame = own_decoder
                .decode(payload, confab_media::MediaTime::ZERO)
                .unwrap();
            own.heard.extend_from_slice(frame.samples());
        }
    }
    let alice_48k = alice.signal(TICKS);
    let phone_8k: Vec<i16> = (0..TICKS).flat_map(|n| phone.frame(n)).collect();
    // What the phone hears, at 8 kHz, against Alice taken to 8 kHz.
    let alice_8k = signal::decimate_6(&alice_48k);
    let phone_hears_alice = best_correlation(&alice_8k, &phone_heard, 8000);
    let phone_hears_itself = best_correlation(&phone_8k, &phone_heard, 8000);
    // What the others hear, at 8 kHz (the phone's band).
    let listener_8k = signal::decimate_6(&listener.heard);
    let alice_hears_8k = signal::decimate_6(&alice_hears.heard);
    let own_8k = signal::decimate_6(&own.heard);
    let listener_hears_phone = best_correlation(&phone_8k, &listener_8k, 8000);
    let alice_hears_phone = best_correlation(&phone_8k, &alice_hears_8k, 8000);
    let own_is_phone = best_correlation(&phone_8k, &own_8k, 8000);
    println!(
        "phone hears alice {phone_hears_alice:.2}, itself {phone_hears_itself:.2}; \
         listener hears phone {listener_hears_phone:.2}; alice hears phone \
         {alice_hears_phone:.2}; own audio {own_is_phone:.2}"
    );
    assert!(phone_hears_alice >= 0.8, "{phone_hears_alice:.2}");
    assert!(phone_hears_itself.abs() <= 0.15, "{phone_hears_itself:.2}");
    assert!(listener_hears_phone >= 0.5, "{listener_hears_phone:.2}");
    assert!(alice_hears_phone >= 0.8, "{alice_hears_phone:.2}");
    assert!(own_is_phone >= 0.9, "{own_is_phone:.2}");
    let stats = mixer.jitter_stats(PHONE).unwrap();
    assert_eq!(stats.lost(), 7, "{stats:?}");
}
