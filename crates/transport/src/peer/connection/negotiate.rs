//! How a [`Peer`] comes to be: its webrtc-rs core built with confab's fixed layout (one
//! transceiver per section, simulcast layers on the sending side), its host candidate, and
//! the offer/answer that starts it, as the service (ICE-lite, answering) or as a client.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};

use rtc::rtp_transceiver::{
    RTCRtpReceiverId, RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverId,
    RTCRtpTransceiverInit,
};

use crate::peer::layout::{MediaLayout, Section};
use crate::peer::lean::LeanPath;
use crate::peer::lean_ingress::LeanIngress;
use crate::peer::outgoing::{Outgoing, SendLayer, Streams};
use crate::peer::reception::Reception;
use crate::peer::setup::{
    IceMode, MAX_SEND_LAYERS, PeerOptions, h264_codec, media_engine, opus_codec, setting_engine,
};
use crate::peer::{MediaKind, PeerError};

use super::{
    H264Packetizer, INGRESS_SLAB_BYTES, PacketSlab, Peer, RTP_PAYLOAD_MTU, random_hex, rtc_error,
    ssrc,
};

impl Peer {
    fn build(
        mode: IceMode,
        local_addr: SocketAddr,
        layout: MediaLayout,
        options: PeerOptions,
        now: Instant,
    ) -> Result<Peer, PeerError> {
        let ufrag = random_hex(4);
        let pwd = random_hex(12);
        let (media_engine, registry, estimate) = media_engine()?;
        let pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_setting_engine(setting_engine(mode, &ufrag, &pwd, options.srtp))
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(rtc_error("create peer connection"))?;
        let mut peer = Peer {
            pc,
            local_addr,
            ufrag,
            layout,
            mids: HashMap::new(),
            outgoing: Streams::default(),
            incoming: HashMap::new(),
            packetizer: H264Packetizer::new(RTP_PAYLOAD_MTU),
            events: VecDeque::new(),
            state: RTCPeerConnectionState::New,
            last_input: None,
            heard: (mode == IceMode::Lite).then_some(now),
            lean: LeanPath::default(),
            lean_in: LeanIngress::default(),
            lean_ingress: options.lean_ingress,
            reception: Reception::default(),
            report_ssrc: ssrc(),
            ingress: PacketSlab::new(INGRESS_SLAB_BYTES),
            lean_egress: options.lean_egress,
            next_lean_report: None,
            rtcp_plain: Vec::new(),
            lean_reports_out: 0,
            wall_clock: None,
            sender_reports: HashMap::new(),
            incoming_ssrcs: HashMap::new(),
            estimate,
        };
        match mode {
            // The service adds a sending track per section it sends on, in layout order;
            // applying the offer pairs them with the offer's receive sections in that order.
            IceMode::Lite => {
                for section in layout.sections() {
                    if section.service_sends() {
                        let (track, ssrc) = Peer::track(section);
                        let sender = peer.pc.add_track(track).map_err(rtc_error("add track"))?;
                        peer.outgoing.insert(section, Outgoing::new(sender, ssrc));
                    }
                }
            }
            // The client creates every section itself, in layout order.
            IceMode::Full => {
                for section in layout.sections() {
                    let transceiver = if section.client_sends() {
                        let direction = if section == Section::Audio {
                            RTCRtpTransceiverDirection::Sendrecv
                        } else {
                            RTCRtpTransceiverDirection::Sendonly
                        };
                        let layers = if section == Section::Camera {
                            options.camera_layers.clamp(1, MAX_SEND_LAYERS)
                        } else {
                            1
                        };
                        let (track, ssrcs) = Peer::simulcast_track(section, layers);
                        let ssrc = ssrcs[0].1;
                        let id = peer
                            .pc
                            .add_transceiver_from_track(
                                track,
                                Some(RTCRtpTransceiverInit {
                                    direction,
                                    streams: vec![],
                                    send_encodings: vec![],
                                }),
                            )
                            .map_err(rtc_error("add transceiver"))?;
                        let mut out = Outgoing::new(RTCRtpSenderId::from(id), ssrc);
                        if layers > 1 {
                            out.layers = ssrcs
                                .into_iter()
                                .map(|(rid, ssrc)| SendLayer {
                                    rid,
                                    ssrc,
                                    seq: (ssrc >> 16) as u16,
                                })
                                .collect();
                        }
                        peer.outgoing.insert(section, out);
                        id
                    } else {
                        let kind = match section.kind() {
                            MediaKind::Audio => RtpCodecKind::Audio,
                            MediaKind::Video => RtpCodecKind::Video,
                        };
                        peer.pc
                            .add_transceiver_from_kind(kind, None)
                            .map_err(rtc_error("add transceiver"))?
                    };
                    let _: RTCRtpTransceiverId = transceiver;
                }
            }
        }
        Ok(peer)
    }

    /// A sending track for `section`, with its SSRC.
    fn track(section: Section) -> (MediaStreamTrack, u32) {
        let ssrc = ssrc();
        let (kind, codec) = match section.kind() {
            MediaKind::Audio => (RtpCodecKind::Audio, opus_codec()),
            MediaKind::Video => (RtpCodecKind::Video, h264_codec("42e01f")),
        };
        let name = format!("confab-{section:?}");
        let track = MediaStreamTrack::new(
            "confab".to_owned(),
            name.clone(),
            name,
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        );
        (track, ssrc)
    }

    /// A sending track for `section` in `layers` simulcast layers (RIDs `l0`, `l1`, ...,
    /// smallest first; one plain encoding when `layers` is 1), with each layer's RID and SSRC.
    fn simulcast_track(section: Section, layers: u8) -> (MediaStreamTrack, Vec<(String, u32)>) {
        if layers <= 1 {
            let (track, ssrc) = Peer::track(section);
            return (track, vec![(String::new(), ssrc)]);
        }
        let ssrcs: Vec<(String, u32)> = (0..layers).map(|i| (format!("l{i}"), ssrc())).collect();
        let name = format!("confab-{section:?}");
        let encodings = ssrcs
            .iter()
            .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: rid.clone(),
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: h264_codec("42e01f"),
                ..Default::default()
            })
            .collect();
        let track = MediaStreamTrack::new(
            "confab".to_owned(),
            name.clone(),
            name,
            RtpCodecKind::Video,
            encodings,
        );
        (track, ssrcs)
    }

    /// The mid of the transceiver that holds `sender`, once negotiated.
    fn mid_of_sender(&mut self, sender: RTCRtpSenderId) -> Option<String> {
        let ids: Vec<RTCRtpTransceiverId> = self.pc.get_transceivers().collect();
        ids.into_iter().find_map(|id| {
            let t = self.pc.rtp_transceiver(id)?;
            (t.sender() == Some(sender))
                .then(|| t.mid().clone())
                .flatten()
        })
    }

    /// The section of the transceiver that holds `receiver`.
    pub(super) fn section_of_receiver(&mut self, receiver: RTCRtpReceiverId) -> Option<Section> {
        let ids: Vec<RTCRtpTransceiverId> = self.pc.get_transceivers().collect();
        let mid = ids.into_iter().find_map(|id| {
            let t = self.pc.rtp_transceiver(id)?;
            (t.receiver() == Some(receiver))
                .then(|| t.mid().clone())
                .flatten()
        })?;
        self.mids.get(&mid).copied()
    }

    /// After the local description is set: checks that every sending section landed on the
    /// mid the layout says, so slot assignments by mid are right.
    fn check_mids(&mut self, expected: &HashMap<Section, String>) -> Result<(), PeerError> {
        let sections: Vec<(Section, RTCRtpSenderId)> =
            self.outgoing.iter().map(|(s, o)| (*s, o.sender)).collect();
        for (section, sender) in sections {
            let mid = self.mid_of_sender(sender);
            if mid.as_ref() != expected.get(&section) {
                return Err(PeerError::Layout(format!(
                    "{section:?} negotiated on mid {mid:?}, expected {:?}",
                    expected.get(&section)
                )));
            }
        }
        self.mids = expected.iter().map(|(s, m)| (m.clone(), *s)).collect();
        Ok(())
    }

    fn add_host_candidate(&mut self) -> Result<(), PeerError> {
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: self.local_addr.ip().to_string(),
                port: self.local_addr.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .map_err(rtc_error("host candidate"))?;
        let init = RTCIceCandidate::from(&candidate)
            .to_json()
            .map_err(rtc_error("host candidate"))?;
        self.pc
            .add_local_candidate(init)
            .map_err(rtc_error("add local candidate"))?;
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())
            .map_err(rtc_error("end of candidates"))?;
        Ok(())
    }

    /// The service side: answers `offer_sdp` as an ICE-lite peer reachable at `local_addr`
    /// (the shared port's advertised address).
    pub fn answer(
        offer_sdp: &str,
        local_addr: SocketAddr,
        options: PeerOptions,
        now: Instant,
    ) -> Result<(Peer, String), PeerError> {
        let (layout, mids) =
            MediaLayout::from_offer(offer_sdp).map_err(|e| PeerError::Layout(e.to_string()))?;
        let mut peer = Peer::build(IceMode::Lite, local_addr, layout, options, now)?;
        let offer = RTCSessionDescription::offer(offer_sdp.to_owned())
            .map_err(|e| PeerError::Sdp(e.to_string()))?;
        peer.pc
            .set_remote_description(now, offer)
            .map_err(|e| PeerError::Sdp(e.to_string()))?;
        peer.add_host_candidate()?;
        let answer = peer
            .pc
            .create_answer(None)
            .map_err(rtc_error("create answer"))?;
        peer.pc
            .set_local_description(now, answer)
            .map_err(rtc_error("set answer"))?;
        peer.check_mids(&mids.into_iter().map(|(m, s)| (s, m)).collect())?;
        let sdp = peer
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or(PeerError::Sdp("no local description".into()))?;
        Ok((peer, sdp))
    }

    /// The client side (a bot): a full-ICE peer on its own socket at `local_addr`, making
    /// an offer with `layout`'s sections.
    pub fn offer(
        local_addr: SocketAddr,
        layout: MediaLayout,
        options: PeerOptions,
        now: Instant,
    ) -> Result<(Peer, String), PeerError> {
        let mut peer = Peer::build(IceMode::Full, local_addr, layout, options, now)?;
        let offer = peer
            .pc
            .create_offer(None)
            .map_err(rtc_error("create offer"))?;
        peer.pc
            .set_local_description(now, offer)
            .map_err(rtc_error("set offer"))?;
        let ids: Vec<RTCRtpTransceiverId> = peer.pc.get_transceivers().collect();
        let mut mids = HashMap::new();
        for (id, section) in ids.into_iter().zip(layout.sections()) {
            let mid = peer.pc.rtp_transceiver(id).and_then(|t| t.mid().clone());
            mids.insert(
                section,
                mid.ok_or(PeerError::Layout(format!("{section:?} has no mid")))?,
            );
        }
        peer.check_mids(&mids)?;
        peer.add_host_candidate()?;
        let sdp = peer
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or(PeerError::Sdp("no local description".into()))?;
        Ok((peer, sdp))
    }

    /// The client side: takes the service's answer.
    pub fn accept_answer(&mut self, answer_sdp: &str, now: Instant) -> Result<(), PeerError> {
        let answer = RTCSessionDescription::answer(answer_sdp.to_owned())
            .map_err(|e| PeerError::Sdp(e.to_string()))?;
        self.pc
            .set_remote_description(now, answer)
            .map_err(|e| PeerError::Sdp(e.to_string()))
    }
}
