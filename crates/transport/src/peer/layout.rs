//! confab's fixed media layout: the media sections every peer connection carries, in order,
//! so that no slot ever needs renegotiation (docs/protocol.md, "Media layout").
//!
//! The client (browser or bot) offers, in this order:
//! 1. audio `sendrecv`: its microphone up, the mixed audio down;
//! 2. video `sendonly`: its camera (the track may be absent while the camera is off);
//! 3. video `sendonly`: its screen share;
//! 4. `V` × video `recvonly`: the video slots (1 ≤ V ≤ [`MAX_VIDEO_SLOTS`]);
//! 5. video `recvonly`: the screen-share slot;
//! 6. `U` × audio `recvonly`: unmixed-audio slots (0 ≤ U ≤ [`MAX_UNMIXED_SLOTS`]; bots).

/// Most video slots a connection may have.
pub const MAX_VIDEO_SLOTS: u8 = 10;
/// Most unmixed-audio slots a connection may have.
pub const MAX_UNMIXED_SLOTS: u8 = 32;

/// One media section of the layout, named from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// Microphone up, mixed audio down.
    Audio,
    /// Camera video up.
    Camera,
    /// Screen share up.
    Screen,
    /// The n-th video slot down.
    VideoSlot(u8),
    /// The screen-share slot down.
    ScreenSlot,
    /// The n-th unmixed-audio slot down.
    UnmixedAudio(u8),
}

impl Section {
    /// Whether the section carries audio or video.
    pub fn kind(self) -> super::MediaKind {
        match self {
            Section::Audio | Section::UnmixedAudio(_) => super::MediaKind::Audio,
            _ => super::MediaKind::Video,
        }
    }

    /// Whether the client sends on it (else the service does; `Audio` goes both ways).
    pub fn client_sends(self) -> bool {
        matches!(self, Section::Audio | Section::Camera | Section::Screen)
    }

    /// Whether the service sends on it.
    pub fn service_sends(self) -> bool {
        !matches!(self, Section::Camera | Section::Screen)
    }
}

/// How many receive slots a connection has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLayout {
    /// Video slots (default 6).
    pub video_slots: u8,
    /// Unmixed-audio slots (default 0; bots ask for some).
    pub unmixed_slots: u8,
}

impl Default for MediaLayout {
    fn default() -> Self {
        MediaLayout {
            video_slots: 6,
            unmixed_slots: 0,
        }
    }
}

/// Why an offer does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// A media section has no `a=mid`.
    #[error("media section {0} has no mid")]
    MissingMid(usize),
    /// Sections are not in the layout's order or directions.
    #[error("media section {index} ({found}) where the layout expects {expected}")]
    Unexpected {
        /// Index of the section.
        index: usize,
        /// What it is (`kind direction`).
        found: String,
        /// What the layout wants there.
        expected: &'static str,
    },
    /// Too few or too many slots.
    #[error("{what}: {count} (allowed {min}..={max})")]
    SlotCount {
        /// Which slots.
        what: &'static str,
        /// How many were offered.
        count: usize,
        /// Fewest allowed.
        min: u8,
        /// Most allowed.
        max: u8,
    },
}

/// One `m=` section as the scanner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaSection {
    kind: String,
    direction: &'static str,
    mid: Option<String>,
}

/// The media sections of an SDP, in order: kind, direction (default `sendrecv`), mid.
fn scan(sdp: &str) -> Vec<MediaSection> {
    let mut sections: Vec<MediaSection> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("m=") {
            sections.push(MediaSection {
                kind: rest.split(' ').next().unwrap_or_default().to_owned(),
                direction: "sendrecv",
                mid: None,
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            section.mid = Some(mid.trim().to_owned());
        }
        for direction in ["sendrecv", "sendonly", "recvonly", "inactive"] {
            if line.strip_prefix("a=") == Some(direction) {
                section.direction = direction;
            }
        }
    }
    sections
}

impl MediaLayout {
    /// The sections of this layout, in SDP order.
    pub fn sections(&self) -> Vec<Section> {
        let mut out = vec![Section::Audio, Section::Camera, Section::Screen];
        out.extend((0..self.video_slots).map(Section::VideoSlot));
        out.push(Section::ScreenSlot);
        out.extend((0..self.unmixed_slots).map(Section::UnmixedAudio));
        out
    }

    /// Reads the layout of a client's offer: each section's mid and what it is.
    pub fn from_offer(sdp: &str) -> Result<(MediaLayout, Vec<(String, Section)>), LayoutError> {
        let sections = scan(sdp);
        let describe = |s: &MediaSection| format!("{} {}", s.kind, s.direction);
        let expect = |index: usize, kind: &str, directions: &[&str], expected: &'static str| {
            let s = sections.get(index).ok_or(LayoutError::Unexpected {
                index,
                found: "nothing".into(),
                expected,
            })?;
            if s.kind != kind || !directions.contains(&s.direction) {
                return Err(LayoutError::Unexpected {
                    index,
                    found: describe(s),
                    expected,
                });
            }
            Ok(())
        };
        expect(
            0,
            "audio",
            &["sendrecv"],
            "audio sendrecv (microphone, mix)",
        )?;
        expect(1, "video", &["sendonly"], "video sendonly (camera)")?;
        expect(2, "video", &["sendonly"], "video sendonly (screen share)")?;
        let video_down = sections[3..]
            .iter()
            .take_while(|s| s.kind == "video" && s.direction == "recvonly")
            .count();
        // The last of the receive-only video sections is the screen slot.
        let video_slots = video_down.saturating_sub(1);
        if !(1..=usize::from(MAX_VIDEO_SLOTS)).contains(&video_slots) {
            return Err(LayoutError::SlotCount {
                what: "video slots",
                count: video_slots,
                min: 1,
                max: MAX_VIDEO_SLOTS,
            });
        }
        let rest = &sections[3 + video_down..];
        let unmixed = rest
            .iter()
            .take_while(|s| s.kind == "audio" && s.direction == "recvonly")
            .count();
        if unmixed > usize::from(MAX_UNMIXED_SLOTS) {
            return Err(LayoutError::SlotCount {
                what: "unmixed audio slots",
                count: unmixed,
                min: 0,
                max: MAX_UNMIXED_SLOTS,
            });
        }
        if let Some(extra) = rest.get(unmixed) {
            return Err(LayoutError::Unexpected {
                index: 3 + video_down + unmixed,
                found: describe(extra),
                expected: "audio recvonly (unmixed slot) or the end",
            });
        }
        let layout = MediaLayout {
            video_slots: video_slots as u8,
            unmixed_slots: unmixed as u8,
        };
        let mids = sections
            .iter()
            .zip(layout.sections())
            .enumerate()
            .map(|(i, (s, section))| {
                s.mid
                    .clone()
                    .filter(|m| !m.is_empty())
                    .map(|m| (m, section))
                    .ok_or(LayoutError::MissingMid(i))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((layout, mids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(sections: &[(&str, &str)]) -> String {
        let mut sdp = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for (i, (kind, dir)) in sections.iter().enumerate() {
            sdp.push_str(&format!(
                "m={kind} 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{i}\r\na={dir}\r\n"
            ));
        }
        sdp
    }

    fn layout_offer(video: usize, unmixed: usize) -> String {
        let mut s = vec![
            ("audio", "sendrecv"),
            ("video", "sendonly"),
            ("video", "sendonly"),
        ];
        s.extend(std::iter::repeat_n(("video", "recvonly"), video + 1));
        s.extend(std::iter::repeat_n(("audio", "recvonly"), unmixed));
        offer(&s)
    }

    #[test]
    fn reads_slots_and_mids() {
        let (layout, mids) = MediaLayout::from_offer(&layout_offer(6, 4)).unwrap();
        assert_eq!(
            layout,
            MediaLayout {
                video_slots: 6,
                unmixed_slots: 4
            }
        );
        assert_eq!(mids.len(), 3 + 7 + 4);
        assert_eq!(mids[0], ("0".into(), Section::Audio));
        assert_eq!(mids[3], ("3".into(), Section::VideoSlot(0)));
        assert_eq!(mids[9], ("9".into(), Section::ScreenSlot));
        assert_eq!(mids[13], ("13".into(), Section::UnmixedAudio(3)));
        assert_eq!(
            layout.sections(),
            mids.iter().map(|m| m.1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn refuses_other_layouts() {
        // Plain sendrecv audio + video, as a naive client would offer.
        let plain = offer(&[("audio", "sendrecv"), ("video", "sendrecv")]);
        assert!(matches!(
            MediaLayout::from_offer(&plain),
            Err(LayoutError::Unexpected { index: 1, .. })
        ));
        // No video slot besides the screen slot.
        assert!(matches!(
            MediaLayout::from_offer(&layout_offer(0, 0)),
            Err(LayoutError::SlotCount { count: 0, .. })
        ));
        assert!(matches!(
            MediaLayout::from_offer(&layout_offer(11, 0)),
            Err(LayoutError::SlotCount { count: 11, .. })
        ));
        assert!(matches!(
            MediaLayout::from_offer(&layout_offer(2, 33)),
            Err(LayoutError::SlotCount { count: 33, .. })
        ));
        // Something after the unmixed slots.
        let mut trailing = layout_offer(2, 1);
        trailing.push_str("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:x\r\n");
        assert!(matches!(
            MediaLayout::from_offer(&trailing),
            Err(LayoutError::Unexpected { index: 7, .. })
        ));
        let no_mid = layout_offer(1, 0).replace("a=mid:4\r\n", "");
        assert_eq!(
            MediaLayout::from_offer(&no_mid),
            Err(LayoutError::MissingMid(4))
        );
        for garbage in ["", "m=", "m=audio\r\na=mid:", "a=sendonly\r\nm=video"] {
            assert!(MediaLayout::from_offer(garbage).is_err());
        }
    }
}
