//! SRTP protect and unprotect per packet, for both profiles confab negotiates
//! (AEAD_AES_128_GCM first, AES_CM_128_HMAC_SHA1_80 as fallback), at a typical audio
//! (200 B) and video (1200 B) packet size, on the crypto backend(s) built in:
//! ring always, aws-lc-rs with `--features aws-lc`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // benches time themselves

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtc::crypto::RTCCryptoProvider;
use rtc::shared::marshal::Marshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

const KEY: [u8; 16] = [
    0x60, 0xB4, 0x1F, 0x04, 0x77, 0x89, 0x80, 0xFC, 0x4B, 0xC2, 0xFC, 0x2C, 0x3F, 0x38, 0x3D, 0x37,
];
const SALT: [u8; 14] = [
    0xF7, 0x1A, 0x31, 0x5E, 0x63, 0x1D, 0x4F, 0x5E, 0x05, 0x6F, 0xFC, 0xD8, 0x3E, 0xC3,
];

fn backends() -> Vec<(&'static str, Arc<dyn RTCCryptoProvider>)> {
    #[allow(unused_mut)] // pushed to with the aws-lc feature
    let mut out: Vec<(&'static str, Arc<dyn RTCCryptoProvider>)> = vec![(
        "ring",
        Arc::new(rtc::crypto::providers::RingProvider::new()),
    )];
    #[cfg(feature = "aws-lc")]
    out.push((
        "aws-lc-rs",
        Arc::new(rtc::crypto::providers::AwsLcRsProvider::new()),
    ));
    out
}

fn context(profile: ProtectionProfile, provider: &Arc<dyn RTCCryptoProvider>) -> Context {
    let salt = if matches!(profile, ProtectionProfile::AeadAes128Gcm) {
        &SALT[..12]
    } else {
        &SALT[..]
    };
    Context::new(&KEY, salt, profile, None, None, provider.crypto()).unwrap()
}

fn packet(seq: u16, size: usize) -> bytes::BytesMut {
    rtc::rtp::Packet {
        header: rtc::rtp::Header {
            version: 2,
            payload_type: 111,
            sequence_number: seq,
            timestamp: u32::from(seq) * 960,
            ssrc: 0x1234_5678,
            ..Default::default()
        },
        payload: bytes::Bytes::from(vec![0xA5; size - 12]),
    }
    .marshal()
    .unwrap()
}

fn srtp(c: &mut Criterion) {
    for (backend, provider) in backends() {
        for (profile_name, profile) in [
            ("aes128gcm", ProtectionProfile::AeadAes128Gcm),
            ("aes128cm_sha1_80", ProtectionProfile::Aes128CmHmacSha1_80),
        ] {
            let mut group = c.benchmark_group(format!("srtp_{profile_name}_{backend}"));
            group.throughput(Throughput::Elements(1));
            for size in [200usize, 1200] {
                let mut tx = context(profile, &provider);
                let mut seq = 0u16;
                group.bench_with_input(BenchmarkId::new("protect", size), &size, |b, &size| {
                    b.iter_batched(
                        || {
                            seq = seq.wrapping_add(1);
                            packet(seq, size)
                        },
                        |plain| tx.encrypt_rtp(black_box(&plain)).unwrap(),
                        BatchSize::SmallInput,
                    );
                });
                // Unprotect needs fresh sequence numbers (replay protection): protect a
                // stream ahead of time, then unprotect it in order.
                let mut sender = context(profile, &provider);
                let protected: Vec<_> = (1..=60_000u16)
                    .map(|s| sender.encrypt_rtp(&packet(s, size)).unwrap())
                    .collect();
                let mut rx = context(profile, &provider);
                let mut next = 0usize;
                group.bench_with_input(BenchmarkId::new("unprotect", size), &size, |b, _| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            if next == protected.len() {
                                rx = context(profile, &provider);
                                next = 0;
                            }
                            let p = protected[next].clone();
                            next += 1;
                            let start = Instant::now();
                            black_box(rx.decrypt_rtp(black_box(&p)).unwrap());
                            total += start.elapsed();
                        }
                        total
                    });
                });
            }
            group.finish();
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = srtp
}
criterion_main!(benches);
