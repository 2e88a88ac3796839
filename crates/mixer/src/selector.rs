//! [`SpeakerSelector`]: who is mixed — the top K speakers by smoothed level, with hysteresis
//! so the choice does not flap.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::SourceId;

/// One source's standing this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Which source.
    pub id: SourceId,
    /// Smoothed level in dBov (0 loudest, −127 silence).
    pub level_db: f32,
    /// Whether it is speaking (voice activity, with hangover).
    pub speaking: bool,
}

/// Tuning of the selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectorConfig {
    /// Speakers mixed at most.
    pub k: usize,
    /// A challenger must be this many dB louder than the quietest selected speaker...
    pub hysteresis_db: f32,
    /// ...for this long, to take its place.
    pub hold: Duration,
    /// A selected speaker silent this long gives its place up.
    pub release: Duration,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            k: 3,
            hysteresis_db: 6.0,
            hold: Duration::from_millis(400),
            release: Duration::from_millis(1000),
        }
    }
}

/// Picks the speakers to mix. Sans-IO: feed every source's [`Candidate`] each tick.
#[derive(Debug, Clone)]
pub struct SpeakerSelector {
    config: SelectorConfig,
    selected: Vec<SourceId>,
    last_spoke: HashMap<SourceId, Instant>,
    leading_since: HashMap<SourceId, Instant>,
    /// Scratch space of each update, kept so a tick allocates nothing: the selection before
    /// it and the speaking challengers with their levels.
    before: Vec<SourceId>,
    challengers: Vec<(SourceId, f32)>,
}

impl SpeakerSelector {
    /// A selector with nobody selected.
    pub fn new(config: SelectorConfig) -> Self {
        SpeakerSelector {
            config,
            selected: Vec::with_capacity(config.k),
            last_spoke: HashMap::new(),
            leading_since: HashMap::new(),
            before: Vec::with_capacity(config.k),
            challengers: Vec::new(),
        }
    }

    /// The selected speakers, in the order they were selected (slot order).
    pub fn selected(&self) -> &[SourceId] {
        &self.selected
    }

    /// Whether `id` is selected.
    pub fn is_selected(&self, id: SourceId) -> bool {
        self.selected.contains(&id)
    }

    /// Forgets a source (it left or was muted).
    pub fn remove(&mut self, id: SourceId) {
        self.selected.retain(|s| *s != id);
        self.last_spoke.remove(&id);
        self.leading_since.remove(&id);
    }

    /// Updates the selection from this tick's candidates; returns whether it changed.
    /// Costs O(candidates); silent sources are skipped early.
    pub fn update(&mut self, now: Instant, candidates: &[Candidate]) -> bool {
        self.before.clear();
        self.before.extend_from_slice(&self.selected);
        for c in candidates.iter().filter(|c| c.speaking) {
            self.last_spoke.insert(c.id, now);
        }
        // Selected speakers silent for the release time leave.
        let release = self.config.release;
        let last_spoke = &self.last_spoke;
        self.selected.retain(|id| {
            last_spoke
                .get(id)
                .is_some_and(|t| now.saturating_duration_since(*t) < release)
        });

        let level_of = |id: SourceId| {
            candidates
                .iter()
                .find(|c| c.id == id)
                .map_or(-127.0, |c| c.level_db)
        };
        // Speaking challengers, loudest first.
        self.challengers.clear();
        self.challengers.extend(
            candidates
                .iter()
                .filter(|c| c.speaking && !self.selected.contains(&c.id))
                .map(|c| (c.id, c.level_db)),
        );
        self.challengers.sort_by(|a, b| b.1.total_cmp(&a.1));

        // Free slots are filled at once.
        let mut challengers = self.challengers.iter().copied();
        while self.selected.len() < self.config.k {
            let Some((id, _)) = challengers.next() else {
                break;
            };
            self.selected.push(id);
            self.leading_since.remove(&id);
        }

        // Full: the loudest challenger replaces the quietest selected speaker only after
        // leading it by the hysteresis margin for the hold time.
        let mut still_leading = None;
        if let Some((challenger, challenger_db)) = challengers.next() {
            let weakest = self
                .selected
                .iter()
                .copied()
                .min_by(|a, b| level_of(*a).total_cmp(&level_of(*b)));
            if let Some(weakest) = weakest
                && challenger_db >= level_of(weakest) + self.config.hysteresis_db
            {
                let since = *self.leading_since.get(&challenger).unwrap_or(&now);
                if now.saturating_duration_since(since) >= self.config.hold {
                    if let Some(slot) = self.selected.iter_mut().find(|s| **s == weakest) {
                        *slot = challenger;
                    }
                } else {
                    still_leading = Some((challenger, since));
                }
            }
        }
        // Only the challenger leading now keeps its start (cleared in place: no allocation).
        self.leading_since.clear();
        self.leading_since.extend(still_leading);
        self.selected != self.before
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant as the origin of a virtual timeline
mod tests {
    use super::*;

    fn c(id: u32, level_db: f32, speaking: bool) -> Candidate {
        Candidate {
            id: SourceId(id),
            level_db,
            speaking,
        }
    }

    #[test]
    fn free_slots_fill_at_once_and_silence_releases_them() {
        let t0 = Instant::now();
        let mut s = SpeakerSelector::new(SelectorConfig::default());
        assert!(s.update(t0, &[c(1, -20.0, true), c(2, -30.0, false)]));
        assert_eq!(s.selected(), &[SourceId(1)]);
        // Silent for less than the release time: kept.
        assert!(!s.update(t0 + Duration::from_millis(900), &[c(1, -80.0, false)]));
        assert!(s.update(t0 + Duration::from_millis(1100), &[c(1, -80.0, false)]));
        assert!(s.selected().is_empty());
    }

    #[test]
    fn a_louder_challenger_needs_the_margin_and_the_hold() {
        let t0 = Instant::now();
        let mut s = SpeakerSelector::new(SelectorConfig {
            k: 2,
            ..SelectorConfig::default()
        });
        let tick = |n: u64| t0 + Duration::from_millis(20 * n);
        s.update(tick(0), &[c(1, -20.0, true), c(2, -25.0, true)]);
        assert_eq!(s.selected(), &[SourceId(1), SourceId(2)]);
        // Only 3 dB louder than the weakest: never replaces it.
        for n in 1..100 {
            assert!(!s.update(
                tick(n),
                &[c(1, -20.0, true), c(2, -25.0, true), c(3, -22.0, true)]
            ));
        }
        // 10 dB louder: replaces it after the 400 ms hold, not before.
        let mut changed_at = None;
        for n in 100..200 {
            if s.update(
                tick(n),
                &[c(1, -20.0, true), c(2, -25.0, true), c(3, -15.0, true)],
            ) {
                changed_at = Some(n);
                break;
            }
        }
        assert_eq!(
            changed_at,
            Some(120),
            "400 ms = 20 ticks after it started leading"
        );
        assert_eq!(s.selected(), &[SourceId(1), SourceId(3)], "slot order kept");
    }
}
