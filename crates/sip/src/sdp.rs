//! SDP for phone legs (RFC 3264 offer/answer, RFC 4566): one plain-RTP audio stream with
//! G.711 and RFC 4733 telephone events. Parsing goes through webrtc-rs's SDP reader; what a
//! phone leg needs is read out of it, checked, and everything else ignored.

use std::fmt::Write as _;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use confab_codecs::AudioCodec;
use rtc::sdp::SessionDescription;

/// An SDP body that cannot carry a phone leg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Not SDP at all (the reader refused it).
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No `m=audio` section with a port.
    #[error("no audio stream offered")]
    NoAudio,
    /// The audio stream is not plain RTP (`RTP/AVP`); SRTP and WebRTC profiles are refused.
    #[error("unsupported media profile {0:?} (plain RTP/AVP only)")]
    Profile(String),
    /// No connection address for the audio stream, or not an IP literal.
    #[error("no usable connection address")]
    Address,
    /// None of the offered codecs is one confab speaks to phones.
    #[error("no common codec (PCMU or PCMA)")]
    NoCommonCodec,
}

/// Which way media flows, as one side's SDP says (RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// This side only sends (it holds the other: RFC 3264 §8.4).
    SendOnly,
    /// This side only receives.
    RecvOnly,
    /// Neither way (held).
    Inactive,
}

impl Direction {
    /// What the other side answers to this offer's direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the side that wrote this puts the other on hold (it no longer receives).
    pub fn holds(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// The far end's audio stream, read from its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    /// Where it wants RTP (the connection address and the `m=` port).
    pub addr: SocketAddr,
    /// Codecs it offers that confab knows, with their payload types, in its order of
    /// preference.
    pub codecs: Vec<(u8, AudioCodec)>,
    /// The payload type of `telephone-event/8000`, when offered.
    pub telephone_event: Option<u8>,
    /// Which way it wants media to flow.
    pub direction: Direction,
    /// Packet time it asks for, in milliseconds.
    pub ptime: Option<u32>,
}

/// What a phone leg sends and expects once offer and answer agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The audio codec.
    pub codec: AudioCodec,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// The telephone-event payload type, if both sides do RFC 4733.
    pub telephone_event: Option<u8>,
    /// Where the far end wants RTP.
    pub remote: SocketAddr,
    /// The far end's direction.
    pub remote_direction: Direction,
}

/// Codecs confab offers and accepts from phones, in its order of preference.
pub const PHONE_CODECS: [AudioCodec; 2] = [AudioCodec::Pcmu, AudioCodec::Pcma];

/// The payload type confab offers for telephone events.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Reads the first audio stream of an SDP body.
pub fn parse(sdp: &str) -> Result<RemoteAudio, SdpError> {
    let session = SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))?;
    let media = session
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value > 0)
        .ok_or(SdpError::NoAudio)?;
    let profile = media.media_name.protos.join("/");
    if profile != "RTP/AVP" {
        return Err(SdpError::Profile(profile));
    }
    let address = media
        .connection_information
        .as_ref()
        .or(session.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .ok_or(SdpError::Address)?;
    let ip: IpAddr = address.address.parse().map_err(|_| SdpError::Address)?;
    let port = u16::try_from(media.media_name.port.value).map_err(|_| SdpError::Address)?;
    let rtpmaps: Vec<(u8, String)> = media
        .attributes
        .iter()
        .filter(|a| a.key == "rtpmap")
        .filter_map(|a| {
            let value = a.value.as_deref()?;
            let (pt, encoding) = value.split_once(' ')?;
            Some((
                pt.trim().parse().ok()?,
                encoding.trim().to_ascii_lowercase(),
            ))
        })
        .collect();
    let encoding_of = |pt: u8| {
        rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, e)| e.as_str())
    };
    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for format in &media.media_name.formats {
        let Ok(pt) = format.parse::<u8>() else {
            continue;
        };
        let codec = match (pt, encoding_of(pt)) {
            (_, Some("pcmu/8000" | "pcmu/8000/1")) | (0, None) => Some(AudioCodec::Pcmu),
            (_, Some("pcma/8000" | "pcma/8000/1")) | (8, None) => Some(AudioCodec::Pcma),
            (_, Some("opus/48000/2")) => Some(AudioCodec::Opus),
            (_, Some("telephone-event/8000" | "telephone-event/8000/1")) => {
                telephone_event.get_or_insert(pt);
                None
            }
            _ => None,
        };
        codecs.extend(codec.map(|c| (pt, c)));
    }
    let direction_of = |attributes: &[rtc::sdp::description::common::Attribute]| {
        attributes.iter().find_map(|a| match a.key.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    };
    let mut direction = direction_of(&media.attributes)
        .or_else(|| direction_of(&session.attributes))
        .unwrap_or(Direction::SendRecv);
    // RFC 2543 hold: a connection address of 0.0.0.0.
    if ip.is_unspecified() && direction == Direction::SendRecv {
        direction = Direction::SendOnly;
    }
    let ptime = media
        .attribute("ptime")
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    Ok(RemoteAudio {
        addr: SocketAddr::new(ip, port),
        codecs,
        telephone_event,
        direction,
        ptime,
    })
}

/// Picks what an answer to `offer` uses: the offerer's first codec confab speaks to phones.
pub fn negotiate(offer: &RemoteAudio) -> Result<Negotiated, SdpError> {
    let (payload_type, codec) = offer
        .codecs
        .iter()
        .copied()
        .find(|(_, c)| PHONE_CODECS.contains(c))
        .ok_or(SdpError::NoCommonCodec)?;
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: offer.telephone_event,
        remote: offer.addr,
        remote_direction: offer.direction,
    })
}

/// Reads an answer to confab's offer: the codec the answerer chose (its first one among those
/// offered), its telephone-event type and address.
pub fn accept_answer(answer: &str) -> Result<Negotiated, SdpError> {
    let remote = parse(answer)?;
    let (payload_type, codec) = remote
        .codecs
        .iter()
        .copied()
        .find(|(pt, c)| {
            PHONE_CODECS.contains(c) && c.static_payload_type().is_none_or(|s| s == *pt)
        })
        .ok_or(SdpError::NoCommonCodec)?;
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: remote.telephone_event,
        remote: remote.addr,
        remote_direction: remote.direction,
    })
}

/// Confab's side of a session: where it receives RTP, and the `o=` line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAudio {
    /// The RTP address written in `c=` and `m=`.
    pub addr: SocketAddr,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version (raise it on every new offer or answer in the dialog).
    pub version: u64,
}

fn header(local: &LocalAudio, out: &mut String) {
    let family = if local.addr.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.addr.ip();
    let _ = write!(
        out,
        "v=0\r\no=confab {} {} IN {family} {ip}\r\ns=confab\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
        local.session_id, local.version
    );
}

/// An offer of PCMU, PCMA and telephone events, 20 ms packets.
pub fn offer(local: &LocalAudio, direction: Direction) -> String {
    let mut out = String::with_capacity(320);
    header(local, &mut out);
    let _ = write!(
        out,
        "m=audio {} RTP/AVP 0 8 {TELEPHONE_EVENT_PT}\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\n\
         a=fmtp:{TELEPHONE_EVENT_PT} 0-16\r\na=ptime:20\r\na={}\r\n",
        local.addr.port(),
        direction.attribute()
    );
    out
}

/// The answer to an offer that negotiated `chosen`, receiving on `local`.
pub fn answer(local: &LocalAudio, chosen: &Negotiated, direction: Direction) -> String {
    let mut out = String::with_capacity(320);
    header(local, &mut out);
    let pt = chosen.payload_type;
    let _ = write!(out, "m=audio {} RTP/AVP {pt}", local.addr.port());
    if let Some(te) = chosen.telephone_event {
        let _ = write!(out, " {te}");
    }
    let _ = write!(
        out,
        "\r\na=rtpmap:{pt} {}/8000\r\n",
        chosen.codec.sdp_name()
    );
    if let Some(te) = chosen.telephone_event {
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.attribute());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sipp's built-in UAC offers.
    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// A trunk's offer: A-law first, telephone events, held with `sendonly`.
    const TRUNK_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=call\r\n\
        c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 31000 RTP/AVP 8 0 18 96\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\n\
        a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:20\r\na=sendonly\r\n";

    #[test]
    fn reads_a_minimal_offer() {
        let remote = parse(SIPP_OFFER).unwrap();
        assert_eq!(remote.addr, "127.0.0.1:6000".parse::<SocketAddr>().unwrap());
        assert_eq!(remote.codecs, vec![(0, AudioCodec::Pcmu)]);
        assert_eq!(remote.telephone_event, None);
        assert_eq!(remote.direction, Direction::SendRecv);
        let chosen = negotiate(&remote).unwrap();
        assert_eq!((chosen.codec, chosen.payload_type), (AudioCodec::Pcmu, 0));
    }

    #[test]
    fn follows_the_offerers_preference_and_sees_hold() {
        let remote = parse(TRUNK_OFFER).unwrap();
        assert_eq!(
            remote.codecs,
            vec![(8, AudioCodec::Pcma), (0, AudioCodec::Pcmu)]
        );
        assert_eq!(remote.telephone_event, Some(96));
        assert_eq!(remote.ptime, Some(20));
        assert!(remote.direction.holds());
        let chosen = negotiate(&remote).unwrap();
        assert_eq!(chosen.codec, AudioCodec::Pcma);
        let local = LocalAudio {
            addr: "198.51.100.7:20002".parse().unwrap(),
            session_id: 7,
            version: 1,
        };
        let answer = answer(&local, &chosen, remote.direction.answer());
        assert!(
            answer.contains("m=audio 20002 RTP/AVP 8 96\r\n"),
            "{answer}"
        );
        assert!(answer.contains("a=recvonly"), "{answer}");
        // What confab answers, confab can read back.
        let back = parse(&answer).unwrap();
        assert_eq!(back.codecs, vec![(8, AudioCodec::Pcma)]);
        assert_eq!(back.telephone_event, Some(96));
    }

    #[test]
    fn an_offer_round_trips_and_an_answer_is_accepted() {
        let local = LocalAudio {
            addr: "127.0.0.1:20000".parse().unwrap(),
            session_id: 1,
            version: 1,
        };
        let ours = offer(&local, Direction::SendRecv);
        let remote = parse(&ours).unwrap();
        assert_eq!(
            remote.codecs,
            vec![(0, AudioCodec::Pcmu), (8, AudioCodec::Pcma)]
        );
        assert_eq!(remote.telephone_event, Some(TELEPHONE_EVENT_PT));
        let chosen = accept_answer(SIPP_OFFER).unwrap();
        assert_eq!(chosen.codec, AudioCodec::Pcmu);
    }

    #[test]
    fn old_style_hold_is_hold() {
        let held = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(&held).unwrap().direction.holds());
    }

    #[test]
    fn unusable_bodies_are_refused_with_a_reason() {
        assert!(matches!(parse("hello"), Err(SdpError::Malformed(_))));
        assert!(matches!(parse(""), Err(SdpError::Malformed(_))));
        let video_only = SIPP_OFFER.replace("m=audio 6000", "m=video 6000");
        assert_eq!(parse(&video_only), Err(SdpError::NoAudio));
        let rejected = SIPP_OFFER.replace("m=audio 6000", "m=audio 0");
        assert_eq!(parse(&rejected), Err(SdpError::NoAudio));
        let srtp = SIPP_OFFER.replace("RTP/AVP", "RTP/SAVP");
        assert!(matches!(parse(&srtp), Err(SdpError::Profile(_))));
        let no_c = SIPP_OFFER.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert_eq!(parse(&no_c), Err(SdpError::Address));
        let hostname = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example");
        assert_eq!(parse(&hostname), Err(SdpError::Address));
        let g729 = SIPP_OFFER
            .replace("RTP/AVP 0", "RTP/AVP 18")
            .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000");
        assert_eq!(
            negotiate(&parse(&g729).unwrap()),
            Err(SdpError::NoCommonCodec)
        );
        // A dynamic type may not claim to be PCMU in an answer to confab's offer.
        let odd = SIPP_OFFER
            .replace("RTP/AVP 0", "RTP/AVP 97")
            .replace("a=rtpmap:0", "a=rtpmap:97");
        assert_eq!(accept_answer(&odd), Err(SdpError::NoCommonCodec));
    }
}
