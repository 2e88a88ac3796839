//! Any bytes as a (decrypted) RTCP compound packet: a list of packets or an error, never a
//! panic; looking inside for keyframe requests (what the service does) never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

fuzz_target!(|data: &[u8]| {
    let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut &data[..]) else { return };
    for p in &packets {
        let _ = p.destination_ssrc();
        let _ = p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>();
    }
});
