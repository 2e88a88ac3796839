//! SRTP with AEAD_AES_128_GCM (RFC 7714) in the caller's buffer: the lean paths' sealer and
//! opener, with no allocation per packet.
//!
//! rtc-srtp's context returns every packet in a new buffer. These derive the same session
//! key and salt from the DTLS-SRTP master key (RFC 3711 4.3.1, the AES-CM PRF with a key
//! derivation rate of 0, as RFC 7714 section 11 prescribes for the 128-bit profile) and seal
//! or open in place with the crypto provider's AEAD (ring). The sealer keeps each SSRC's
//! rollover counter as a sender does (RFC 3711 3.3.1); the opener estimates each packet's
//! index from the highest one authenticated (RFC 3711 3.3.1, appendix A) and refuses replays
//! in a 64-packet window (3.3.2). The tests check both against rtc-srtp, which is what
//! Chromium interoperates with.

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

/// Why a packet was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("shorter than its header and tag")]
    TooShort,
    #[error("authentication failed")]
    Forged,
    #[error("replayed or too old (more than 64 packets behind)")]
    Replayed,
}

/// The SRTP session key and salt of one direction's master key and salt.
fn session(
    crypto: &dyn RTCCrypto,
    master_key: &[u8],
    master_salt: &[u8],
) -> Result<(Box<dyn AeadCipher>, [u8; SALT_LEN]), rtc::crypto::CryptoError> {
    session_for(
        crypto,
        master_key,
        master_salt,
        (LABEL_SRTP_ENCRYPTION, LABEL_SRTP_SALT),
    )
}

/// The session key and salt derived with `labels` (encryption, salt: RFC 3711 4.3.2) from
/// one direction's master key and salt, and an AES-GCM cipher under that key.
pub(super) fn session_for(
    crypto: &dyn RTCCrypto,
    master_key: &[u8],
    master_salt: &[u8],
    labels: (u8, u8),
) -> Result<(Box<dyn AeadCipher>, [u8; SALT_LEN]), rtc::crypto::CryptoError> {
    let mut session_key = [0u8; KEY_LEN];
    derive(crypto, master_key, master_salt, labels.0, &mut session_key)?;
    let mut session_salt = [0u8; SALT_LEN];
    derive(crypto, master_key, master_salt, labels.1, &mut session_salt)?;
    let cipher = crypto.new_aead(AeadAlgorithm::Aes128Gcm, &session_key);
    session_key.fill(0);
    Ok((cipher?, session_salt))
}

/// RFC 7714 8.1: 00 00 ‖ SSRC ‖ ROC ‖ SEQ, XORed with the session salt.
fn nonce(salt: &[u8; SALT_LEN], ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    iv
}

/// Opens the RTP packets of one direction of one DTLS-SRTP session.
pub(crate) struct GcmOpener {
    cipher: Box<dyn AeadCipher>,
    session_salt: [u8; SALT_LEN],
    /// Per SSRC: its replay window.
    streams: Vec<(u32, ReplayWindow)>,
}

impl std::fmt::Debug for GcmOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmOpener")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// The replay window (RFC 3711 3.3.2 asks for at least 64).
const REPLAY_WINDOW: u64 = 64;

/// One sender's replay window (RFC 3711 3.3.2): the highest packet index authenticated and
/// which of the [`REPLAY_WINDOW`] below it were seen. SRTP and SRTCP openers keep one per
/// SSRC.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplayWindow {
    highest: u64,
    /// Bit n: index `highest - n` seen.
    seen: u64,
}

impl ReplayWindow {
    /// A window whose first authenticated packet had `index`.
    pub(super) fn new(index: u64) -> ReplayWindow {
        ReplayWindow {
            highest: index,
            seen: 1,
        }
    }

    /// The highest index authenticated.
    pub(super) fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether a packet of `index` may be accepted: ahead of the window, or inside it and
    /// not seen yet.
    pub(super) fn allows(&self, index: u64) -> bool {
        index > self.highest || {
            let behind = self.highest - index;
            behind < REPLAY_WINDOW && self.seen & (1 << behind) == 0
        }
    }

    /// Notes `index` seen (only once its packet authenticated).
    pub(super) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW {
                1
            } else {
                (self.seen << ahead) | 1
            };
            self.highest = index;
        } else {
            self.seen |= 1 << (self.highest - index);
        }
    }
}

impl GcmOpener {
    /// An opener for the master key and salt of one direction (from the DTLS-SRTP export).
    pub(crate) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<GcmOpener, rtc::crypto::CryptoError> {
        let (cipher, session_salt) = session(crypto, master_key, master_salt)?;
        Ok(GcmOpener {
            cipher,
            session_salt,
            streams: Vec::new(),
        })
    }

    /// Authenticates and decrypts `packet` in place: an SRTP packet of `ssrc` and `seq`
    /// whose RTP header (with CSRCs and extensions) is `header_len` bytes. On success the
    /// plaintext RTP packet is the first `packet.len() - TAG_LEN` bytes.
    pub(crate) fn open(
        &mut self,
        packet: &mut [u8],
        header_len: usize,
        ssrc: u32,
        seq: u16,
    ) -> Result<(), OpenError> {
        if packet.len() < header_len + TAG_LEN {
            return Err(OpenError::TooShort);
        }
        let stream = self.streams.iter().position(|(s, _)| *s == ssrc);
        let index = match stream {
            Some(at) => {
                let window = self.streams[at].1;
                let index = estimate_index(window.highest(), seq);
                if !window.allows(index) {
                    return Err(OpenError::Replayed);
                }
                index
            }
            None => u64::from(seq),
        };
        let roc = (index >> 16) as u32;
        let nonce = nonce(&self.session_salt, ssrc, roc, seq);
        let tag_at = packet.len() - TAG_LEN;
        let (sealed, tag) = packet.split_at_mut(tag_at);
        let (aad, body) = sealed.split_at_mut(header_len);
        self.cipher
            .open_in_place(&nonce, aad, body, tag)
            .map_err(|_| OpenError::Forged)?;
        // Only what authenticated moves the window.
        match stream {
            Some(at) => self.streams[at].1.accept(index),
            None => self.streams.push((ssrc, ReplayWindow::new(index))),
        }
        Ok(())
    }
}

/// The packet index (ROC ‖ SEQ) of `seq` nearest to the highest index seen (RFC 3711
/// appendix A): one round back, this round, or the next.
fn estimate_index(highest: u64, seq: u16) -> u64 {
    let roc = highest >> 16;
    let candidate = |r: u64| (r << 16) | u64::from(seq);
    [roc.checked_sub(1), Some(roc), Some(roc + 1)]
        .into_iter()
        .flatten()
        .map(candidate)
        .min_by_key(|&i| i.abs_diff(highest))
        .unwrap_or(u64::from(seq))
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
        let (cipher, session_salt) = session(crypto, master_key, master_salt)?;
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
        self.seal_in_place(out, header_len, header.ssrc, header.sequence_number)
    }

    /// Seals `packet` in place: an RTP packet of `ssrc` and `seq` whose header is
    /// `header_len` bytes, followed by [`TAG_LEN`] bytes of room for the tag.
    pub(super) fn seal_in_place(
        &mut self,
        packet: &mut [u8],
        header_len: usize,
        ssrc: u32,
        seq: u16,
    ) -> Result<(), SealError> {
        let roc = self.rollover_counter(ssrc, seq);
        let nonce = nonce(&self.session_salt, ssrc, roc, seq);
        let tag_at = packet.len().saturating_sub(TAG_LEN).max(header_len);
        let (sealed, tag) = packet.split_at_mut(tag_at);
        let (aad, body) = sealed.split_at_mut(header_len.min(tag_at));
        self.cipher.seal_in_place(&nonce, aad, body, tag)?;
        Ok(())
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

    fn rtc_sealer() -> Context {
        opener()
    }

    fn own_opener() -> GcmOpener {
        let (key, salt) = keys();
        let provider = rtc::crypto::default_provider().unwrap();
        GcmOpener::new(provider.crypto(), &key, &salt).unwrap()
    }

    fn rtc_sealed(context: &mut Context, seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut plain = BytesMut::new();
        let header = header(seq, ssrc);
        plain.resize(header.marshal_size(), 0);
        header.marshal_to(&mut plain).unwrap();
        plain.extend_from_slice(payload);
        context.encrypt_rtp(&plain).unwrap().to_vec()
    }

    /// What rtc-srtp seals (as a browser would) opens here, across a wrap and with
    /// packets reordered within the window.
    #[test]
    fn it_opens_what_rtc_srtp_seals_across_a_wrap_and_reordering() {
        let mut sealer = rtc_sealer();
        let mut opener = own_opener();
        let mut seqs: Vec<u16> = (65_000..=65_535).chain(0..300).collect();
        // Swap neighbours now and then: late packets within the window still open.
        for i in (10..seqs.len() - 1).step_by(17) {
            seqs.swap(i, i + 1);
        }
        let sealed: Vec<(u16, Vec<u8>)> = seqs
            .iter()
            .map(|&seq| (seq, rtc_sealed(&mut sealer, seq, 0xABCD, &[seq as u8; 90])))
            .collect();
        for (seq, mut packet) in sealed {
            opener.open(&mut packet, 16, 0xABCD, seq).expect("opens");
            assert_eq!(&packet[16..packet.len() - TAG_LEN], &[seq as u8; 90][..]);
        }
    }

    #[test]
    fn replays_forgeries_and_stubs_are_refused() {
        let mut sealer = rtc_sealer();
        let mut opener = own_opener();
        let packets: Vec<Vec<u8>> = (0..100u16)
            .map(|seq| rtc_sealed(&mut sealer, seq, 7, b"payload"))
            .collect();
        let mut first = packets[0].clone();
        opener.open(&mut first, 16, 7, 0).unwrap();
        let mut again = packets[0].clone();
        assert_eq!(opener.open(&mut again, 16, 7, 0), Err(OpenError::Replayed));
        let mut forged = packets[1].clone();
        forged[20] ^= 1;
        assert_eq!(opener.open(&mut forged, 16, 7, 1), Err(OpenError::Forged));
        // The forgery did not move the window: the genuine packet still opens.
        let mut genuine = packets[1].clone();
        opener.open(&mut genuine, 16, 7, 1).unwrap();
        for seq in 2..100u16 {
            let mut p = packets[usize::from(seq)].clone();
            opener.open(&mut p, 16, 7, seq).unwrap();
        }
        let mut old = packets[10].clone();
        assert_eq!(
            opener.open(&mut old, 16, 7, 10),
            Err(OpenError::Replayed),
            "89 behind: outside the window"
        );
        let mut stub = vec![0x80; 20];
        assert_eq!(opener.open(&mut stub, 16, 7, 100), Err(OpenError::TooShort));
    }

    #[test]
    fn indexes_are_estimated_around_the_highest() {
        assert_eq!(estimate_index(65_535, 0), 65_536);
        assert_eq!(estimate_index(65_536, 65_535), 65_535);
        assert_eq!(
            estimate_index(5, 65_530),
            65_530,
            "no round before the first"
        );
        assert_eq!(estimate_index(3 << 16 | 100, 200), 3 << 16 | 200);
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
