//! [`UnmixedRouter`]: which participants' own streams go into a bot's unmixed slots —
//! every speaker up to the slot count, most recent speakers first, each keeping its slot
//! while it stays in.

use std::collections::HashMap;
use std::time::Instant;

use crate::SourceId;

/// Assigns speakers to a fixed number of slots. Sans-IO.
#[derive(Debug, Clone)]
pub struct UnmixedRouter {
    slots: Vec<Option<SourceId>>,
    last_spoke: HashMap<SourceId, Instant>,
}

impl UnmixedRouter {
    /// A router for `slots` unmixed slots.
    pub fn new(slots: usize) -> Self {
        UnmixedRouter {
            slots: vec![None; slots],
            last_spoke: HashMap::new(),
        }
    }

    /// Who is in each slot.
    pub fn slots(&self) -> &[Option<SourceId>] {
        &self.slots
    }

    /// The slot carrying `id`, if any.
    pub fn slot_of(&self, id: SourceId) -> Option<usize> {
        self.slots.iter().position(|s| *s == Some(id))
    }

    /// Forgets a source (it left); its slot frees up.
    pub fn remove(&mut self, id: SourceId) {
        self.last_spoke.remove(&id);
        for s in &mut self.slots {
            if *s == Some(id) {
                *s = None;
            }
        }
    }

    /// Records who is speaking now; returns whether any slot changed hands.
    pub fn update(&mut self, now: Instant, speaking: impl IntoIterator<Item = SourceId>) -> bool {
        let mut changed = false;
        for id in speaking {
            self.last_spoke.insert(id, now);
            if self.slot_of(id).is_some() {
                continue;
            }
            let free = self.slots.iter().position(Option::is_none);
            // No free slot: take the one whose speaker spoke least recently.
            let slot = free.or_else(|| {
                self.slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.map(|s| (i, self.last_spoke.get(&s).copied())))
                    .min_by_key(|(_, t)| *t)
                    .map(|(i, _)| i)
            });
            if let Some(slot) = slot {
                self.slots[slot] = Some(id);
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant as the origin of a virtual timeline
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_speaker_gets_a_slot_and_the_stalest_is_replaced() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut r = UnmixedRouter::new(3);
        assert!(r.update(at(0), [SourceId(1), SourceId(2)]));
        assert!(r.update(at(100), [SourceId(3)]));
        assert!(
            !r.update(at(200), [SourceId(1), SourceId(3)]),
            "speakers keep their slots"
        );
        // A fourth speaker takes the slot of the one who spoke least recently (2).
        assert!(r.update(at(300), [SourceId(4)]));
        assert_eq!(
            r.slots(),
            &[Some(SourceId(1)), Some(SourceId(4)), Some(SourceId(3))]
        );
        r.remove(SourceId(1));
        assert_eq!(r.slot_of(SourceId(1)), None);
        assert!(r.update(at(400), [SourceId(5)]));
        assert_eq!(r.slot_of(SourceId(5)), Some(0));
    }

    #[test]
    fn sixteen_slots_carry_sixteen_speakers() {
        let t0 = Instant::now();
        let mut r = UnmixedRouter::new(16);
        r.update(t0, (0..16).map(SourceId));
        assert!(r.slots().iter().all(Option::is_some));
    }
}
