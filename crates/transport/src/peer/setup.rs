//! What every confab peer connection negotiates: codecs, the audio-level extension, ICE
//! mode and credentials, DTLS-SRTP profiles.

use std::time::Duration;

use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::{SettingEngine, SettingEngineBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};

use super::PeerError;
use super::keyframe_requests::DeliverKeyframeRequests;

/// RFC 6464 client-to-mixer audio level.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

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
/// browsers offer) and the audio-level extension, plus the default interceptors (NACK,
/// reports, TWCC receiver) for them.
pub(crate) fn media_engine() -> Result<(MediaEngine, Registry), PeerError> {
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
    let registry = register_default_interceptors(
        // Application-ward of the defaults: they act on the RTCP first.
        Registry::new().with(Slot::from(14_000), DeliverKeyframeRequests::default()),
        &mut me,
    )
    .map_err(rtc_error("interceptors"))?;
    Ok((me, registry))
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
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            srtp: SrtpPolicy::default(),
            lean_egress: true,
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
