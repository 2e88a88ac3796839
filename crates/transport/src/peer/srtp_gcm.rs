//! SRTP protection with AEAD_AES_128_GCM (RFC 7714) written into a caller's buffer: the
//! lean egress path's sealer, with no allocation per packet.
//!
//! rtc-srtp's context returns every sealed packet in a new buffer. This one derives the same
//! session key and salt from the DTLS-SRTP master key (RFC 3711 4.3.1, the AES-CM PRF with
//! a key derivation rate of 0, as RFC 7714 section 11 prescribes for the 128-bit profile)
//! and seals in place with the crypto provider's AEAD (ring), tag appended. It tracks the
//! rollover counter of each SSRC it seals (RFC 3711 3.3.1). The tests check it against
//! rtc-srtp's opener, which is the one Chromium interoperates with.

use bytes::BytesMut;
use rtc::crypto::{AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, RTCCrypto};
use rtc::shared::marshal::{Marshal, MarshalSize};

/// Key and salt lengths of AEAD_AES_128_GCM (RFC 7714 section 12).
pub(super) const KEY_LEN: usize = 16;
pub(super) const SALT_LEN: usize = 12;
/// Its authentication tag.
pub(super) const TAG_LEN: usize = 16;

/// RFC 3711 4.3.2 labels for the SRTP (not SRTCP) session key and salt.
const LABEL_SRTP_ENCRYPTION: u8 = 0x00;
const LABEL_SRTP_SALT: u8 = 0x02;

/// Why a packet could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(super) enum SealError {
    #[error("crypto: {0}")]
    Crypto(#[from] rtc::crypto::CryptoError),
    #[error("RTP header: {0}")]
    Header(#[from] rtc::shared::error::Error),
}

/// Seals the RTP packets of one direction of one DTLS-SRTP session.
pub(super) struct GcmSealer {
    cipher: Box<dyn AeadCipher>,
    session_salt: [u8; SALT_LEN],
    /// Per SSRC: the highest sequence number sealed and its rollover counter.
    streams: Vec<(u32, u16, u32)>,
}

impl std::fmt::Debug for GcmSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmSealer")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl GcmSealer {
    /// A sealer for the master key and salt of one direction (from the DTLS-SRTP export).
    pub(super) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<GcmSealer, SealError> {
        let mut session_key = [0u8; KEY_LEN];
        derive(
            crypto,
            master_key,
            master_salt,
            LABEL_SRTP_ENCRYPTION,
            &mut session_key,
        )?;
        let mut session_salt = [0u8; SALT_LEN];
        derive(
            crypto,
            master_key,
            master_salt,
            LABEL_SRTP_SALT,
            &mut session_salt,
        )?;
        let cipher = crypto.new_aead(AeadAlgorithm::Aes128Gcm, &session_key)?;
        session_key.fill(0);
        Ok(GcmSealer {
            cipher,
            session_salt,
            streams: Vec::new(),
        })
    }

    /// Writes `header` and `payload` into `out` (cleared first) as one SRTP packet.
    pub(super) fn seal(
        &mut self,
        header: &rtc::rtp::Header,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), SealError> {
        let header_len = header.marshal_size();
        out.clear();
        out.resize(header_len + payload.len() + TAG_LEN, 0);
        let written = header.marshal_to(&mut out[..header_len])?;
        debug_assert_eq!(written, header_len);
        out[header_len..header_len + payload.len()].copy_from_slice(payload);
        let roc = self.rollover_counter(header.ssrc, header.sequence_number);
        let nonce = self.nonce(header.ssrc, roc, header.sequence_number);
        let (aad, rest) = out.split_at_mut(header_len);
        let (body, tag) = rest.split_at_mut(payload.len());
        self.cipher.seal_in_place(&nonce, aad, body, tag)?;
        Ok(())
    }

    /// RFC 7714 8.1: 00 00 ‖ SSRC ‖ ROC ‖ SEQ, XORed with the session salt.
    fn nonce(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&roc.to_be_bytes());
        iv[10..12].copy_from_slice(&seq.to_be_bytes());
        for (v, s) in iv.iter_mut().zip(self.session_salt) {
            *v ^= s;
        }
        iv
    }

    /// The rollover counter for `seq` of `ssrc` (RFC 3711 3.3.1, as the sender keeps it: a
    /// sequence number more than half the space below the highest one starts the next
    /// round; one more than half above it is a late packet of the previous round).
    fn rollover_counter(&mut self, ssrc: u32, seq: u16) -> u32 {
        let Some(stream) = self.streams.iter_mut().find(|(s, ..)| *s == ssrc) else {
            self.streams.push((ssrc, seq, 0));
            return 0;
        };
        let (_, highest, roc) = stream;
        let ahead = seq.wrapping_sub(*highest);
        if ahead < 0x8000 {
            if seq < *highest {
                *roc = roc.wrapping_add(1);
            }
            *highest = seq;
            *roc
        } else if seq > *highest {
            // Behind the highest, across a wrap: the previous round.
            roc.wrapping_sub(1)
        } else {
            *roc
        }
    }
}

/// RFC 3711 4.3.1 and B.3 with a key derivation rate of 0: the master salt (left-aligned in
/// a 16-byte block) XOR the label at byte 7, AES-CM keystream under the master key.
fn derive(
    crypto: &dyn RTCCrypto,
    master_key: &[u8],
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), rtc::crypto::CryptoError> {
    let mut input = [0u8; 16];
    let salt_len = master_salt.len().min(14);
    input[..salt_len].copy_from_slice(&master_salt[..salt_len]);
    input[7] ^= label;
    for (counter, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = input;
        block[14..16].copy_from_slice(&(counter as u16).to_be_bytes());
        crypto.block_encrypt(BlockCipherAlgorithm::Aes128, master_key, &mut block)?;
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::shared::marshal::Unmarshal;
    use rtc::srtp::context::Context;
    use rtc::srtp::protection_profile::ProtectionProfile;

    fn keys() -> ([u8; KEY_LEN], [u8; SALT_LEN]) {
        let mut key = [0u8; KEY_LEN];
        let mut salt = [0u8; SALT_LEN];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i * 13 + 5) as u8;
        }
        for (i, b) in salt.iter_mut().enumerate() {
            *b = (i * 29 + 1) as u8;
        }
        (key, salt)
    }

    fn opener() -> Context {
        let (key, salt) = keys();
        let provider = rtc::crypto::default_provider().unwrap();
        Context::new(
            &key,
            &salt,
            ProtectionProfile::AeadAes128Gcm,
            None,
            None,
            provider.crypto(),
        )
        .unwrap()
    }

    fn sealer() -> GcmSealer {
        let (key, salt) = keys();
        let provider = rtc::crypto::default_provider().unwrap();
        GcmSealer::new(provider.crypto(), &key, &salt).unwrap()
    }

    fn header(seq: u16, ssrc: u32) -> rtc::rtp::Header {
        rtc::rtp::Header {
            version: 2,
            payload_type: 111,
            sequence_number: seq,
            timestamp: u32::from(seq).wrapping_mul(960),
            ssrc,
            csrc: vec![3],
            ..Default::default()
        }
    }

    /// rtc-srtp opens what this seals, across a sequence-number wrap (the rollover counter
    /// enters the nonce) and for two SSRCs at once.
    #[test]
    fn rtc_srtp_opens_what_it_seals_across_a_wrap() {
        let mut sealer = sealer();
        let mut opener = opener();
        let mut out = BytesMut::new();
        let mut seqs: Vec<u16> = (65_500..=65_535).collect();
        seqs.extend(0..40);
        for (n, seq) in seqs.into_iter().enumerate() {
            for ssrc in [0x1111_2222, 0x3333_4444] {
                let payload = vec![n as u8 ^ ssrc as u8; 60 + n];
                sealer.seal(&header(seq, ssrc), &payload, &mut out).unwrap();
                assert_eq!(out.len(), 16 + payload.len() + TAG_LEN);
                assert_ne!(&out[16..16 + payload.len()], &payload[..], "encrypted");
                let mut opened = opener.decrypt_rtp(&out).expect("opens");
                let packet = rtc::rtp::Packet::unmarshal(&mut opened).unwrap();
                assert_eq!(packet.header.sequence_number, seq);
                assert_eq!(packet.header.csrc, vec![3]);
                assert_eq!(&packet.payload[..], &payload[..], "seq {seq}");
            }
        }
    }

    #[test]
    fn a_changed_byte_does_not_open() {
        let mut sealer = sealer();
        let mut out = BytesMut::new();
        sealer.seal(&header(7, 9), &[1; 50], &mut out).unwrap();
        for at in [1, 5, 20, out.len() - 1] {
            let mut bad = out.clone();
            bad[at] ^= 0x40;
            assert!(opener().decrypt_rtp(&bad).is_err(), "byte {at} changed");
        }
        assert!(opener().decrypt_rtp(&out).is_ok());
    }

    #[test]
    fn the_rollover_counter_follows_the_sender_rules() {
        let mut s = sealer();
        assert_eq!(s.rollover_counter(1, 65_534), 0);
        assert_eq!(s.rollover_counter(1, 65_535), 0);
        assert_eq!(s.rollover_counter(1, 2), 1, "wrapped");
        assert_eq!(
            s.rollover_counter(1, 65_535),
            0,
            "a late one of the last round"
        );
        assert_eq!(s.rollover_counter(1, 3), 1);
        assert_eq!(s.rollover_counter(1, 3), 1, "the same again");
        assert_eq!(s.rollover_counter(2, 10), 0, "another stream");
        assert_eq!(
            s.rollover_counter(1, 30_000),
            1,
            "a jump under half the space"
        );
        assert_eq!(s.rollover_counter(1, 62_000), 1);
        assert_eq!(s.rollover_counter(1, 100), 2, "then the wrap after it");
        assert_eq!(
            s.rollover_counter(1, 40_000),
            1,
            "more than half behind: the last round"
        );
    }
}
