//! Any bytes as an (already decrypted) RTP packet, the way the service reads them: the
//! header and extensions parse or fail, the audio-level extension parses or fails, and
//! what parses marshals back to a packet that parses the same. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::shared::marshal::{Marshal, Unmarshal};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut &data[..]) else { return };
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
