//! Any bytes as a (decrypted) RTCP compound packet: a list of packets or an error, never a
//! panic; looking inside for keyframe requests (what the service does) never panics either.
//! The lean ingress path's framing check (`reports_only`) never panics, and a compound it
//! passes holds only reports, as it says.
#![no_main]

use confab_transport::peer::rtcp_view::reports_only;
use libfuzzer_sys::fuzz_target;
use rtc::rtcp::header::PacketType;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

fuzz_target!(|data: &[u8]| {
    let lean = reports_only(data);
    let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut &data[..]) else { return };
    for p in &packets {
        let _ = p.destination_ssrc();
        let _ = p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>();
        if lean {
            assert!(matches!(
                p.header().packet_type,
                PacketType::SenderReport
                    | PacketType::ReceiverReport
                    | PacketType::SourceDescription
            ));
        }
    }
});
