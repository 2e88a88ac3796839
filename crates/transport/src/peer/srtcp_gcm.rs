//! SRTCP with AEAD_AES_128_GCM (RFC 7714 section 9): the lean paths' reports, sealed, and
//! the remote's, opened in the caller's buffer.
//!
//! An SRTCP packet is the first RTCP header and sender SSRC in the clear (8 octets), the
//! rest of the compound encrypted, the 16-octet tag, then the E flag and the 31-bit SRTCP
//! index (4 octets). The nonce is the session salt XOR `00 00 ‖ SSRC ‖ 00 00 ‖ index`; the
//! associated data is the clear 8 octets followed by the E flag and index. Keys come from
//! the DTLS-SRTP master key with the SRTCP labels (RFC 3711 4.3.2). Replays are refused in a
//! 64-packet window per sender SSRC (RFC 3711 3.3.2); the index never wraps (2^31 reports).
//! The tests check it against rtc-srtp, which is what Chromium interoperates with.

use bytes::BytesMut;
use rtc::crypto::{AeadCipher, RTCCrypto};

use super::srtp_gcm::{ReplayWindow, SALT_LEN, TAG_LEN, session_for};

/// RFC 3711 4.3.2 labels for the SRTCP session key and salt.
const LABEL_SRTCP_ENCRYPTION: u8 = 0x03;
const LABEL_SRTCP_SALT: u8 = 0x05;

/// The E flag and SRTCP index after the tag.
const TRAILER_LEN: usize = 4;
/// The RTCP header and sender SSRC, in the clear.
const CLEAR_LEN: usize = 8;

/// Why an SRTCP packet was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RtcpOpenError {
    #[error("shorter than its header, tag and index")]
    TooShort,
    #[error("not encrypted (E flag clear)")]
    NotEncrypted,
    #[error("authentication failed")]
    Forged,
    #[error("replayed or too old (more than 64 reports behind)")]
    Replayed,
}

/// Why an RTCP compound could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RtcpSealError {
    #[error("an RTCP packet is at least its header and sender SSRC (8 bytes)")]
    TooShort,
    #[error("crypto: {0}")]
    Crypto(#[from] rtc::crypto::CryptoError),
}

/// Opens the SRTCP packets of one direction of one DTLS-SRTP session.
pub(crate) struct GcmRtcpOpener {
    cipher: Box<dyn AeadCipher>,
    session_salt: [u8; SALT_LEN],
    /// Per sender SSRC: its replay window over SRTCP indexes.
    senders: Vec<(u32, ReplayWindow)>,
}

impl std::fmt::Debug for GcmRtcpOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmRtcpOpener")
            .field("senders", &self.senders.len())
            .finish_non_exhaustive()
    }
}

impl GcmRtcpOpener {
    /// An opener for the master key and salt of one direction (from the DTLS-SRTP export).
    pub(crate) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<GcmRtcpOpener, rtc::crypto::CryptoError> {
        let (cipher, session_salt) = rtcp_session(crypto, master_key, master_salt)?;
        Ok(GcmRtcpOpener {
            cipher,
            session_salt,
            senders: Vec::new(),
        })
    }

    /// Authenticates and decrypts the SRTCP `packet` in place. On success the plain RTCP
    /// compound is the first `n` bytes, `n` returned.
    pub(crate) fn open(&mut self, packet: &mut [u8]) -> Result<usize, RtcpOpenError> {
        if packet.len() < CLEAR_LEN + TAG_LEN + TRAILER_LEN {
            return Err(RtcpOpenError::TooShort);
        }
        let trailer_at = packet.len() - TRAILER_LEN;
        let e_and_index = u32::from_be_bytes([
            packet[trailer_at],
            packet[trailer_at + 1],
            packet[trailer_at + 2],
            packet[trailer_at + 3],
        ]);
        if e_and_index & 0x8000_0000 == 0 {
            return Err(RtcpOpenError::NotEncrypted);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let index = e_and_index & 0x7FFF_FFFF;
        let sender = self.senders.iter().position(|(s, _)| *s == ssrc);
        if sender.is_some_and(|at| !self.senders[at].1.allows(u64::from(index))) {
            return Err(RtcpOpenError::Replayed);
        }
        let nonce = rtcp_nonce(&self.session_salt, ssrc, index);
        let mut aad = [0u8; CLEAR_LEN + TRAILER_LEN];
        aad[..CLEAR_LEN].copy_from_slice(&packet[..CLEAR_LEN]);
        aad[CLEAR_LEN..].copy_from_slice(&e_and_index.to_be_bytes());
        let tag_at = trailer_at - TAG_LEN;
        let (sealed, rest) = packet.split_at_mut(tag_at);
        let tag = &rest[..TAG_LEN];
        self.cipher
            .open_in_place(&nonce, &aad, &mut sealed[CLEAR_LEN..], tag)
            .map_err(|_| RtcpOpenError::Forged)?;
        // Only what authenticated moves the window.
        match sender {
            Some(at) => self.senders[at].1.accept(u64::from(index)),
            None => self
                .senders
                .push((ssrc, ReplayWindow::new(u64::from(index)))),
        }
        Ok(tag_at)
    }
}

/// Seals the SRTCP packets of one direction of one DTLS-SRTP session.
pub(crate) struct GcmRtcpSealer {
    cipher: Box<dyn AeadCipher>,
    session_salt: [u8; SALT_LEN],
    /// Per sender SSRC: the SRTCP index of its next packet.
    senders: Vec<(u32, u32)>,
}

impl std::fmt::Debug for GcmRtcpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmRtcpSealer")
            .field("senders", &self.senders.len())
            .finish_non_exhaustive()
    }
}

impl GcmRtcpSealer {
    /// A sealer for the master key and salt of one direction (from the DTLS-SRTP export).
    pub(crate) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<GcmRtcpSealer, rtc::crypto::CryptoError> {
        let (cipher, session_salt) = rtcp_session(crypto, master_key, master_salt)?;
        Ok(GcmRtcpSealer {
            cipher,
            session_salt,
            senders: Vec::new(),
        })
    }

    /// Appends the RTCP compound `plain` (at least its first header and sender SSRC) to
    /// `out` as one SRTCP packet, under its sender's next index.
    pub(crate) fn seal(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), RtcpSealError> {
        if plain.len() < CLEAR_LEN {
            return Err(RtcpSealError::TooShort);
        }
        let ssrc = u32::from_be_bytes([plain[4], plain[5], plain[6], plain[7]]);
        let index = match self.senders.iter_mut().find(|(s, _)| *s == ssrc) {
            Some((_, next)) => {
                let index = *next;
                *next = (*next + 1) & 0x7FFF_FFFF;
                index
            }
            None => {
                self.senders.push((ssrc, 1));
                0
            }
        };
        let e_and_index = 0x8000_0000 | index;
        let start = out.len();
        out.extend_from_slice(plain);
        out.extend_from_slice(&[0; TAG_LEN]);
        out.extend_from_slice(&e_and_index.to_be_bytes());
        let mut aad = [0u8; CLEAR_LEN + TRAILER_LEN];
        aad[..CLEAR_LEN].copy_from_slice(&plain[..CLEAR_LEN]);
        aad[CLEAR_LEN..].copy_from_slice(&e_and_index.to_be_bytes());
        let packet = &mut out[start..];
        let tag_at = plain.len();
        let (sealed, rest) = packet.split_at_mut(tag_at);
        self.cipher.seal_in_place(
            &rtcp_nonce(&self.session_salt, ssrc, index),
            &aad,
            &mut sealed[CLEAR_LEN..],
            &mut rest[..TAG_LEN],
        )?;
        Ok(())
    }
}

/// The SRTCP session cipher and salt of one direction's master key and salt.
fn rtcp_session(
    crypto: &dyn RTCCrypto,
    master_key: &[u8],
    master_salt: &[u8],
) -> Result<(Box<dyn AeadCipher>, [u8; SALT_LEN]), rtc::crypto::CryptoError> {
    session_for(
        crypto,
        master_key,
        master_salt,
        (LABEL_SRTCP_ENCRYPTION, LABEL_SRTCP_SALT),
    )
}

/// RFC 7714 9.1: 00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ SRTCP index, XORed with the session salt.
fn rtcp_nonce(salt: &[u8; SALT_LEN], ssrc: u32, index: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[2..6].copy_from_slice(&ssrc.to_be_bytes());
    nonce[8..12].copy_from_slice(&index.to_be_bytes());
    for (n, s) in nonce.iter_mut().zip(salt) {
        *n ^= s;
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::rtcp::sender_report::SenderReport;
    use rtc::shared::marshal::Marshal;
    use rtc::srtp::context::Context;
    use rtc::srtp::protection_profile::ProtectionProfile;

    fn keys() -> ([u8; 16], [u8; SALT_LEN]) {
        let mut key = [0u8; 16];
        let mut salt = [0u8; SALT_LEN];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        for (i, b) in salt.iter_mut().enumerate() {
            *b = (i * 31 + 11) as u8;
        }
        (key, salt)
    }

    fn rtc_context() -> Context {
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

    fn own_opener() -> GcmRtcpOpener {
        let (key, salt) = keys();
        let provider = rtc::crypto::default_provider().unwrap();
        GcmRtcpOpener::new(provider.crypto(), &key, &salt).unwrap()
    }

    fn compound(sender: u32, n: u32) -> Bytes {
        let sr = SenderReport {
            ssrc: sender,
            ntp_time: 0x1122_3344_5566_7788 + u64::from(n),
            rtp_time: n * 960,
            packet_count: n,
            octet_count: n * 80,
            reports: vec![ReceptionReport {
                ssrc: 0xAAAA_0001,
                fraction_lost: 12,
                last_sequence_number: n,
                ..Default::default()
            }],
            ..Default::default()
        };
        let rr = ReceiverReport {
            ssrc: sender,
            reports: vec![ReceptionReport {
                ssrc: 0xAAAA_0002,
                fraction_lost: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = sr.marshal().unwrap().to_vec();
        out.extend_from_slice(&rr.marshal().unwrap());
        Bytes::from(out)
    }

    /// What rtc-srtp seals (as a browser would) opens here to the same compound, for two
    /// senders interleaved and with reports reordered within the window.
    #[test]
    fn it_opens_what_rtc_srtp_seals() {
        let mut sealer = rtc_context();
        let mut opener = own_opener();
        let mut sealed = Vec::new();
        for n in 0..200u32 {
            for sender in [0x0102_0304, 0x0506_0708] {
                let plain = compound(sender, n);
                let packet = sealer.encrypt_rtcp(&plain).unwrap().to_vec();
                assert_ne!(&packet[8..plain.len()], &plain[8..], "encrypted");
                sealed.push((plain, packet));
            }
        }
        for i in (10..sealed.len() - 1).step_by(13) {
            sealed.swap(i, i + 1);
        }
        for (plain, mut packet) in sealed {
            let n = opener.open(&mut packet).expect("opens");
            assert_eq!(&packet[..n], &plain[..]);
        }
    }

    /// rtc-srtp opens what this seals (two senders interleaved, each with its own index),
    /// and so does this side's opener.
    #[test]
    fn rtc_srtp_opens_what_it_seals() {
        let (key, salt) = keys();
        let provider = rtc::crypto::default_provider().unwrap();
        let mut sealer = GcmRtcpSealer::new(provider.crypto(), &key, &salt).unwrap();
        let mut rtc_opener = rtc_context();
        let mut opener = own_opener();
        for n in 0..100u32 {
            for sender in [0x0102_0304, 0x0506_0708] {
                let plain = compound(sender, n);
                let mut packet = BytesMut::new();
                sealer.seal(&plain, &mut packet).unwrap();
                assert_eq!(packet.len(), plain.len() + TAG_LEN + TRAILER_LEN);
                assert_ne!(&packet[8..plain.len()], &plain[8..], "encrypted");
                let opened = rtc_opener.decrypt_rtcp(&packet).expect("rtc-srtp opens it");
                assert_eq!(&opened[..], &plain[..]);
                let n = opener.open(&mut packet).expect("opens");
                assert_eq!(&packet[..n], &plain[..]);
            }
        }
        assert!(
            sealer
                .seal(&[0x80, 200, 0, 0], &mut BytesMut::new())
                .is_err()
        );
    }

    #[test]
    fn replays_forgeries_stubs_and_clear_reports_are_refused() {
        let mut sealer = rtc_context();
        let mut opener = own_opener();
        let packets: Vec<Vec<u8>> = (0..100)
            .map(|n| sealer.encrypt_rtcp(&compound(9, n)).unwrap().to_vec())
            .collect();
        let mut first = packets[0].clone();
        opener.open(&mut first).unwrap();
        let mut again = packets[0].clone();
        assert_eq!(opener.open(&mut again), Err(RtcpOpenError::Replayed));
        for at in [1, 6, 12, packets[1].len() - 20, packets[1].len() - 1] {
            let mut forged = packets[1].clone();
            forged[at] ^= 0x08;
            assert!(
                matches!(
                    opener.open(&mut forged),
                    Err(RtcpOpenError::Forged | RtcpOpenError::Replayed)
                ),
                "byte {at} changed"
            );
        }
        // No forgery moved the window: the genuine report still opens, and the rest.
        for p in &packets[1..] {
            opener.open(&mut p.clone()).unwrap();
        }
        let mut old = packets[20].clone();
        assert_eq!(
            opener.open(&mut old),
            Err(RtcpOpenError::Replayed),
            "79 behind: outside the window"
        );
        let mut clear = packets[99].clone();
        let last = clear.len() - 4;
        clear[last] &= 0x7F;
        assert_eq!(opener.open(&mut clear), Err(RtcpOpenError::NotEncrypted));
        for len in [0, 7, 8, 27] {
            let mut stub = vec![0x80; len];
            assert_eq!(opener.open(&mut stub), Err(RtcpOpenError::TooShort));
        }
    }

    /// Whatever arrives (every length, any bytes) is refused with an error, never a panic.
    #[test]
    fn arbitrary_bytes_are_refused_without_a_panic() {
        let mut opener = own_opener();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..80 {
            for _ in 0..20 {
                let mut bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                assert!(opener.open(&mut bytes).is_err(), "{len} random bytes");
            }
        }
    }
}
