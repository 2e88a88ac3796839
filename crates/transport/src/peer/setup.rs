//! What every confab peer connection negotiates: codecs, the audio-level extension, ICE
//! mode and credentials, DTLS-SRTP profiles.

use std::time::Duration;

use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    CongestionControlBuilder, NackGeneratorBuilder, NackResponderBuilder, Registry,
    SenderReportBuilder, Slot, TwccReceiverBuilder, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::{SettingEngine, SettingEngineBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sdp::extmap::TRANSPORT_CC_URI;

use super::PeerError;
use super::bandwidth::{EstimateCell, PublishedGcc};
use super::keyframe_requests::DeliverKeyframeRequests;
use super::retransmissions::LimitRetransmissions;

/// RFC 6464 client-to-mixer audio level.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// How often one missing packet is asked for (NACK) before it is given up.
const NACKS_PER_PACKET: u16 = 3;

/// Payload types we offer (answers use the offerer's).
pub(crate) const OPUS_PT: u8 = 111;
pub(crate) const H264_PT: u8 = 102;
const H264_ALT_PT: u8 = 108;

/// The Opus codec: 48 kHz, stereo-capable, in-band FEC.
pub(crate) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// H.264 constrained baseline, packetization-mode 1, with a given profile-level-id.
pub(crate) fn h264_codec(profile_level_id: &str) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!(
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile_level_id}"
        ),
        rtcp_feedback: vec![RTCPFeedback {
            typ: "ccm".into(),
            parameter: "fir".into(),
        }],
    }
}

fn rtc_error(context: &'static str) -> impl FnOnce(rtc::shared::error::Error) -> PeerError {
    move |e| PeerError::Rtc {
        context,
        message: e.to_string(),
    }
}

/// A media engine with Opus, H.264 (`42e01f` and `42001f`, the two constrained-baseline ids
/// browsers offer) and the audio-level extension, plus interceptors for them: NACK (each
/// missing packet asked for at most three times), sender reports, transport-wide feedback
/// on incoming video, transport-wide sequence numbers on what this side sends through
/// webrtc-rs and a bandwidth estimate from the remote's feedback on them (no pacer: the SFU
/// fits what it forwards to the estimate by choosing layers).
pub(crate) fn media_engine() -> Result<(MediaEngine, Registry, EstimateCell), PeerError> {
    let mut me = MediaEngine::default();
    let codec = |rtp_codec, payload_type| RTCRtpCodecParameters {
        rtp_codec,
        payload_type,
    };
    me.register_codec(codec(opus_codec(), OPUS_PT), RtpCodecKind::Audio)
        .map_err(rtc_error("register opus"))?;
    me.register_codec(codec(h264_codec("42e01f"), H264_PT), RtpCodecKind::Video)
        .map_err(rtc_error("register h264"))?;
    me.register_codec(
        codec(h264_codec("42001f"), H264_ALT_PT),
        RtpCodecKind::Video,
    )
    .map_err(rtc_error("register h264"))?;
    me.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )
    .map_err(rtc_error("register audio level"))?;
    // The defaults of `register_default_interceptors`, but a missing packet is asked for
    // at most `NACKS_PER_PACKET` times: unlimited, on a link at its limit each lost
    // retransmission is asked for again every 100 ms and the retransmissions crowd out
    // the media (measured: 1,200 datagrams/s of them on a 300 kbit/s link).
    for parameter in ["", "pli"] {
        me.register_feedback(
            RTCPFeedback {
                typ: "nack".into(),
                parameter: parameter.into(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(&mut me).map_err(rtc_error("simulcast extensions"))?;
    let (estimator, estimate) = PublishedGcc::new();
    let registry = Registry::new()
        // Application-ward of the defaults: they act on the RTCP first.
        .with(Slot::from(14_000), DeliverKeyframeRequests::default())
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
        )
        // Wire-ward of the responder: its resends pass here.
        .with(
            Slot::from(3_500),
            LimitRetransmissions::new(estimate.clone()),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        );
    // Transport-wide feedback on video only: audio may arrive on the lean ingress path,
    // which the core's feedback generator never sees (a sender would count it lost).
    me.register_feedback(
        RTCPFeedback {
            typ: "transport-cc".into(),
            parameter: String::new(),
        },
        RtpCodecKind::Video,
    );
    me.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: TRANSPORT_CC_URI.to_owned(),
        },
        RtpCodecKind::Video,
        None,
    )
    .map_err(rtc_error("transport-cc extension"))?;
    // Sender reports from the core for what it sends; receiver reports are the Peer's own
    // (`connection/rtcp.rs`), for the same reason.
    let registry = registry
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
        .with(Slot::SenderReport, SenderReportBuilder::new().build());
    Ok((me, registry, estimate))
}

/// ICE role of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceMode {
    /// The call service: ICE-lite on a shared port, answers offers.
    Lite,
    /// A bot or test client: full ICE agent, makes offers.
    Full,
}

/// Which SRTP protection profiles a peer accepts (RFC 5764 / RFC 7714).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// AEAD_AES_128_GCM first, AES_CM_128_HMAC_SHA1_80 as fallback. Note: a Chromium peer
    /// then picks AES-CM (it lists AES-CM first, and picks it as DTLS server too).
    #[default]
    PreferGcm,
    /// AEAD_AES_128_GCM only: every current browser negotiates it, and it is the cheaper
    /// profile per packet; peers without GCM cannot connect.
    GcmOnly,
}

/// How a peer is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerOptions {
    /// SRTP profiles accepted.
    pub srtp: SrtpPolicy,
    /// Outgoing audio sealed and queued by confab itself rather than through webrtc-rs's
    /// sender pipeline (about twice the packets per core; see `peer/lean.rs`). On by
    /// default; off sends everything through webrtc-rs (to compare, or to rule it out).
    pub lean_egress: bool,
    /// Incoming audio opened by confab itself rather than through webrtc-rs's read
    /// pipeline, once the core has delivered a stream's first packet (AES-GCM only; see
    /// `peer/lean_ingress.rs`). On by default; off reads everything through webrtc-rs.
    pub lean_ingress: bool,
    /// A client's camera in this many simulcast layers (1: no simulcast; at most
    /// [`MAX_SEND_LAYERS`]): RID-based, one SSRC each, sent with
    /// [`Peer::send_video_layer`](crate::peer::Peer::send_video_layer), smallest first.
    pub camera_layers: u8,
}

/// The most simulcast layers a client sends of its camera.
pub const MAX_SEND_LAYERS: u8 = 3;

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            srtp: SrtpPolicy::default(),
            lean_egress: true,
            lean_ingress: true,
            camera_layers: 1,
        }
    }
}

/// Settings for one peer connection: ICE mode and credentials, no mDNS ever (no `.local`
/// resolution, no multicast), and the DTLS-SRTP profiles of `srtp`.
pub(crate) fn setting_engine(
    mode: IceMode,
    ufrag: &str,
    pwd: &str,
    srtp: SrtpPolicy,
) -> SettingEngine {
    let profiles = match srtp {
        SrtpPolicy::PreferGcm => vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ],
        SrtpPolicy::GcmOnly => vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm],
    };
    // A full-ICE client checks every 50 ms (webrtc-rs waits 200 ms between checks by
    // default: a join then takes 200 ms longer than the handshakes need), for as long
    // overall as the default (1.4 s per candidate).
    let (check_interval, attempts) = match mode {
        IceMode::Full => (Some(Duration::from_millis(50)), Some(28)),
        IceMode::Lite => (None, None),
    };
    // ICE-lite (the service): no ICE timeouts in the core; the peer judges liveness from
    // everything the remote sends (`LITE_SILENCE_FAILS`).
    let timeouts = match mode {
        IceMode::Full => (None, None),
        IceMode::Lite => (Some(Duration::ZERO), Some(Duration::ZERO)),
    };
    SettingEngineBuilder::new()
        .with_lite(mode == IceMode::Lite)
        .with_ice_timeouts(timeouts.0, timeouts.1, None)
        .with_ice_connection_attempts(check_interval, attempts)
        .with_ice_credentials(ufrag.to_owned(), pwd.to_owned())
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_srtp_protection_profiles(profiles)
        .build()
}
