//! Garbage at the service's port during a live call: malformed RTP, RTCP, STUN and DTLS
//! from a stranger, and the same injected from the live peer's own address. Nothing
//! panics, the stranger's datagrams are counted and dropped, and the live peer's audio
//! arrives complete, in order, without a gap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use confab_testkit::{Rng, fixtures, signal};
use confab_transport::peer::Section;

/// One malformed datagram of each family (RFC 7983 first-byte ranges), varied by `rng`.
fn garbage(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut random = |len: usize| (0..len).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>();
    let mut out = Vec::new();
    // RTP-looking (version 2), random body: fails SRTP authentication.
    let mut rtp = random(200);
    rtp[0] = 0x80;
    rtp[1] = 111;
    out.push(rtp);
    // RTCP-looking (PT 200..=206), truncated and random.
    let mut rtcp = random(28);
    rtcp[0] = 0x81;
    rtcp[1] = 201;
    out.push(rtcp);
    // STUN with the magic cookie but attribute lengths that run off the end.
    let mut stun = vec![0x00, 0x01, 0x00, 0x30, 0x21, 0x12, 0xA4, 0x42];
    stun.extend(random(12));
    stun.extend([0x00, 0x06, 0xFF, 0xFF, b'x', b':', b'y']);
    out.push(stun);
    // DTLS-looking (content type 22) handshake garbage.
    let mut dtls = random(90);
    dtls[0] = 22;
    dtls[1] = 0xFE;
    dtls[2] = 0xFD;
    out.push(dtls);
    // Nothing at all, and a byte outside every range.
    out.push(Vec::new());
    out.push(vec![255; 3]);
    out
}

#[test]
fn garbage_is_dropped_and_audio_continues() {
    let (mut pair, _) = Pair::connect();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = pair.server_socket.local_addr().unwrap();
    let up = media(fixtures::Speaker::Carol, 320, 240);
    let mut rng = Rng::new(6464);
    let mut at_server = Received::new();
    let mut from_stranger = 0u64;
    for (i, (payload, level)) in up.packets.iter().enumerate() {
        pair.client
            .send_audio(
                Section::Audio,
                Instant::now(),
                payload.clone(),
                (i * 960) as u32,
                Some(*level),
            )
            .unwrap();
        for datagram in garbage(&mut rng) {
            stranger.send_to(&datagram, target).unwrap();
            from_stranger += 1;
            // The same garbage from the live peer's own address reaches its peer connection.
            pair.client_socket.send_to(&datagram, target).unwrap();
        }
        pair.run(
            Duration::from_millis(2),
            &mut |_, e| at_server.take(e),
            &mut |_| {},
        );
    }
    pair.run(
        Duration::from_millis(300),
        &mut |_, e| at_server.take(e),
        &mut |_| {},
    );

    let stats = pair.server.stats();
    println!("{stats:?}; {from_stranger} datagrams from the stranger");
    assert!(
        stats.dropped >= from_stranger,
        "every stranger datagram dropped"
    );
    // The live peer's audio: complete, in order, no gap, and still the speech sent.
    // In arrival order.
    let seqs: Vec<u16> = at_server.sections[&Section::Audio]
        .iter()
        .map(|(s, ..)| *s)
        .collect();
    assert_eq!(seqs.len(), AUDIO_FRAMES, "no audio packet lost");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "no gap, no reordering"
    );
    let pcm = at_server.audio_pcm(Section::Audio);
    let (_, corr) = signal::align(
        &fixtures::speech(fixtures::Speaker::Carol)[..AUDIO_FRAMES * 960],
        &pcm,
        2000,
        96_000,
    );
    assert!(corr >= 0.9, "audio still correlates: {corr:.3}");
}
