//! Receive slots of one participant's connection: who is in each video slot, the screen slot
//! and each unmixed-audio slot, and which slots just changed source.

use confab_signaling::protocol::{ParticipantId, SlotAssignment, SlotKind};
use std::time::Instant;

use confab_transport::peer::{MediaLayout, Peer, Section};

use super::video_budget::Target;

/// One slot: its occupant, whether the occupant changed since the last packet sent (the
/// next forwarded packet must rebase timestamps), and for video the occupant's stream
/// (simulcast layer, by SSRC) it carries now, the one it should carry (it moves there at
/// that layer's next keyframe), and when it last forwarded a packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) occupant: Option<ParticipantId>,
    pub(crate) switched: bool,
    pub(crate) layer: Option<u32>,
    pub(crate) target: Target,
    pub(crate) last_sent: Option<Instant>,
    /// Counted as frozen (nothing forwarded for a second while its source sends), until
    /// it forwards again.
    pub(crate) frozen: bool,
}

impl Slot {
    /// A new occupant (or none): nothing carried yet.
    fn vacate(&mut self) {
        self.switched = true;
        self.layer = None;
        self.target = Target::Auto;
        self.last_sent = None;
        self.frozen = false;
    }

    /// Gives the slot `occupant` (or none), from scratch.
    pub(crate) fn set_occupant(&mut self, occupant: Option<ParticipantId>) {
        self.occupant = occupant;
        self.vacate();
    }
}

/// Every receive slot of a connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots {
    pub(crate) video: Vec<Slot>,
    pub(crate) screen: Slot,
    pub(crate) unmixed: Vec<Slot>,
    /// The last change could not be announced yet (`media_slots` is owed).
    pub(crate) unannounced: bool,
}

/// Places `wanted` (in priority order) into `slots`, keeping everyone who stays where they
/// are (a viewer's tiles do not jump around); returns the slots whose occupant changed.
/// Newcomers take slots that were already empty before slots just vacated: media of the one
/// who left may still be on its way in a vacated slot, and would be taken for theirs.
pub(crate) fn place(slots: &mut [Slot], wanted: &[ParticipantId]) -> Vec<usize> {
    let chosen: Vec<ParticipantId> = wanted.iter().copied().take(slots.len()).collect();
    let mut changed = Vec::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        if slot.occupant.is_some_and(|p| !chosen.contains(&p)) {
            slot.occupant = None;
            changed.push(i);
        }
    }
    for p in chosen {
        if slots.iter().any(|s| s.occupant == Some(p)) {
            continue;
        }
        let free = |i: &usize| slots[*i].occupant.is_none();
        let long_free = (0..slots.len()).find(|i| free(i) && !changed.contains(i));
        if let Some(i) = long_free.or_else(|| (0..slots.len()).find(free)) {
            slots[i].occupant = Some(p);
            if !changed.contains(&i) {
                changed.push(i);
            }
        }
    }
    for &i in &changed {
        slots[i].vacate();
    }
    changed.sort_unstable();
    changed
}

impl Slots {
    pub(crate) fn new(layout: MediaLayout) -> Slots {
        Slots {
            video: vec![Slot::default(); usize::from(layout.video_slots)],
            screen: Slot::default(),
            unmixed: vec![Slot::default(); usize::from(layout.unmixed_slots)],
            unannounced: false,
        }
    }

    /// The stream (simulcast layer, by SSRC) the video or screen slot `section` carries.
    pub(crate) fn layer_in(&self, section: Section) -> Option<u32> {
        match section {
            Section::VideoSlot(i) => self.video.get(usize::from(i))?.layer,
            Section::ScreenSlot => self.screen.layer,
            _ => None,
        }
    }

    /// The slot (and its section) that carries `source`'s `upstream` video (its camera, or
    /// its screen share in the screen slot), if any.
    pub(crate) fn carrying(
        &mut self,
        upstream: Section,
        source: ParticipantId,
    ) -> Option<(Section, &mut Slot)> {
        if upstream == Section::Screen {
            let slot = &mut self.screen;
            (slot.occupant == Some(source)).then_some((Section::ScreenSlot, slot))
        } else {
            self.video_of(source)
        }
    }

    /// The slot (and its section) that carries `source`'s camera, if any.
    pub(crate) fn video_of(&mut self, source: ParticipantId) -> Option<(Section, &mut Slot)> {
        let i = self.video.iter().position(|s| s.occupant == Some(source))?;
        Some((Section::VideoSlot(i as u8), &mut self.video[i]))
    }

    /// The unmixed slot that carries `source`'s audio, if any.
    pub(crate) fn unmixed_of(&mut self, source: ParticipantId) -> Option<(Section, &mut Slot)> {
        let i = self
            .unmixed
            .iter()
            .position(|s| s.occupant == Some(source))?;
        Some((Section::UnmixedAudio(i as u8), &mut self.unmixed[i]))
    }

    /// `source` now sends new RTP streams (its connection was replaced): the slots carrying
    /// it rebase their numbering and timestamps with the next packet, as for a new occupant.
    pub(crate) fn source_restarted(&mut self, source: ParticipantId) {
        let carrying = self
            .video
            .iter_mut()
            .chain(self.unmixed.iter_mut())
            .chain(std::iter::once(&mut self.screen));
        for slot in carrying.filter(|s| s.occupant == Some(source)) {
            slot.switched = true;
        }
    }

    /// Who is in the slot of `section`.
    pub(crate) fn occupant(&self, section: Section) -> Option<ParticipantId> {
        match section {
            Section::VideoSlot(i) => self.video.get(usize::from(i))?.occupant,
            Section::ScreenSlot => self.screen.occupant,
            Section::UnmixedAudio(i) => self.unmixed.get(usize::from(i))?.occupant,
            _ => None,
        }
    }

    /// The `media_slots` message body: every receive section by mid.
    pub(crate) fn assignments(&self, peer: &Peer) -> Vec<SlotAssignment> {
        peer.layout()
            .sections()
            .into_iter()
            .filter_map(|section| {
                let kind = match section {
                    Section::Audio => SlotKind::MixedAudio,
                    Section::VideoSlot(_) => SlotKind::Video,
                    Section::ScreenSlot => SlotKind::Screen,
                    Section::UnmixedAudio(_) => SlotKind::UnmixedAudio,
                    Section::Camera | Section::Screen => return None,
                };
                Some(SlotAssignment {
                    mid: peer.mid(section)?.to_owned(),
                    kind,
                    participant: self.occupant(section),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u32) -> ParticipantId {
        ParticipantId(n)
    }

    fn occupants(slots: &[Slot]) -> Vec<Option<u32>> {
        slots.iter().map(|s| s.occupant.map(|p| p.0)).collect()
    }

    #[test]
    fn those_who_stay_keep_their_slot() {
        let mut slots = vec![Slot::default(); 3];
        assert_eq!(place(&mut slots, &[p(1), p(2)]), vec![0, 1]);
        assert_eq!(occupants(&slots), vec![Some(1), Some(2), None]);
        // 3 becomes most important; 1 and 2 stay put, 3 takes the free slot.
        assert_eq!(place(&mut slots, &[p(3), p(2), p(1)]), vec![2]);
        assert_eq!(occupants(&slots), vec![Some(1), Some(2), Some(3)]);
        // 4 pushes out the least important (1): only that slot changes.
        slots.iter_mut().for_each(|s| s.switched = false);
        assert_eq!(place(&mut slots, &[p(4), p(3), p(2), p(1)]), vec![0]);
        assert_eq!(occupants(&slots), vec![Some(4), Some(2), Some(3)]);
        // With a slot to spare, a newcomer does not take the one just vacated.
        let mut four = vec![Slot::default(); 4];
        place(&mut four, &[p(1), p(2)]);
        place(&mut four, &[p(2), p(3)]);
        assert_eq!(occupants(&four), vec![None, Some(2), Some(3), None]);
        assert_eq!(
            slots.iter().map(|s| s.switched).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        // Nothing wanted: all empty.
        assert_eq!(place(&mut slots, &[]), vec![0, 1, 2]);
        assert_eq!(occupants(&slots), vec![None, None, None]);
        // No change, no report.
        assert!(place(&mut slots, &[]).is_empty());
    }
}
