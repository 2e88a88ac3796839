//! Any bytes as an (already decrypted) RTP packet, the way the service reads them: the
//! header and extensions parse or fail, the audio-level extension parses or fails, and
//! what parses marshals back to a packet that parses the same. confab's own borrowed view
//! (the lean ingress path's parser) reads the same bytes: it never panics, agrees with
//! webrtc-rs on the fixed header wherever both accept the packet, and every part it points
//! at lies inside the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use confab_transport::peer::rtp_view::RtpView;
use rtc::shared::marshal::{Marshal, Unmarshal};

fuzz_target!(|data: &[u8]| {
    let view = RtpView::parse(data, 0).ok().map(|mut view| {
        let _ = view.read_padding(data);
        assert!(view.header_len <= data.len());
        let payload = view.payload(data);
        assert!(payload.len() <= data.len());
        for id in 0..=15 {
            if let Some(value) = view.extension(data, id) {
                assert!(value.len() <= data.len());
            }
            let _ = view.audio_level(data, id);
        }
        view
    });
    let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut &data[..]) else { return };
    if let Some(view) = view {
        assert_eq!(view.sequence_number, packet.header.sequence_number);
        assert_eq!(view.timestamp, packet.header.timestamp);
        assert_eq!(view.ssrc, packet.header.ssrc);
        assert_eq!(view.payload_type, packet.header.payload_type);
    }
    for id in packet.header.get_extension_ids() {
        if let Some(mut raw) = packet.header.get_extension(id) {
            let _ = AudioLevelExtension::unmarshal(&mut raw);
        }
    }
    if let Ok(bytes) = packet.marshal() {
        let again = rtc::rtp::Packet::unmarshal(&mut &bytes[..]).expect("our own marshal parses");
        assert_eq!(again.header.sequence_number, packet.header.sequence_number);
        assert_eq!(again.payload, packet.payload);
    }
});
