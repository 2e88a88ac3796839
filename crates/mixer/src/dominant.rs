//! [`DominantSpeaker`]: who holds the floor — sustained speech, not the loudest 20 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::SourceId;
use crate::selector::Candidate;

/// Tuning of dominant-speaker detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DominantConfig {
    /// Per-frame decay of speech activity (0.98 per 20 ms ≈ a 1 s memory).
    pub decay: f32,
    /// A challenger's activity must exceed the dominant speaker's by this factor.
    pub margin: f32,
    /// And the dominant speaker holds the floor at least this long after a change.
    pub hold: Duration,
}

impl Default for DominantConfig {
    fn default() -> Self {
        DominantConfig {
            decay: 0.98,
            margin: 1.2,
            hold: Duration::from_secs(1),
        }
    }
}

/// Tracks each source's recent speech activity (an exponentially decaying count of
/// speaking frames) and names the dominant speaker, changing only for sustained speech.
#[derive(Debug, Clone)]
pub struct DominantSpeaker {
    config: DominantConfig,
    activity: HashMap<SourceId, f32>,
    current: Option<SourceId>,
    changed_at: Option<Instant>,
}

impl DominantSpeaker {
    /// Nobody dominant yet.
    pub fn new(config: DominantConfig) -> Self {
        DominantSpeaker {
            config,
            activity: HashMap::new(),
            current: None,
            changed_at: None,
        }
    }

    /// The dominant speaker.
    pub fn current(&self) -> Option<SourceId> {
        self.current
    }

    /// Forgets a source; if it was dominant, nobody is until someone speaks.
    pub fn remove(&mut self, id: SourceId) {
        self.activity.remove(&id);
        if self.current == Some(id) {
            self.current = None;
        }
    }

    /// One tick's voice activity; returns the new dominant speaker when it changes.
    pub fn update(&mut self, now: Instant, candidates: &[Candidate]) -> Option<SourceId> {
        let decay = self.config.decay;
        for a in self.activity.values_mut() {
            *a *= decay;
        }
        for c in candidates.iter().filter(|c| c.speaking) {
            *self.activity.entry(c.id).or_insert(0.0) += 1.0;
        }
        self.activity.retain(|_, a| *a > 0.01);
        let speaking = |id: SourceId| candidates.iter().any(|c| c.id == id && c.speaking);
        let best = self
            .activity
            .iter()
            .filter(|(id, _)| speaking(**id))
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(id, a)| (*id, *a))?;
        let current_activity = self
            .current
            .and_then(|c| self.activity.get(&c))
            .copied()
            .unwrap_or(0.0);
        let held = self
            .changed_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.hold);
        let wins = self.current.is_none() || best.1 > current_activity * self.config.margin;
        if Some(best.0) != self.current && wins && !held && best.1 >= 5.0 {
            self.current = Some(best.0);
            self.changed_at = Some(now);
            return self.current;
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant as the origin of a virtual timeline
mod tests {
    use super::*;

    fn run(
        d: &mut DominantSpeaker,
        t0: Instant,
        from: u64,
        to: u64,
        speakers: &[u32],
    ) -> Vec<(u64, SourceId)> {
        (from..to)
            .filter_map(|n| {
                let cs: Vec<Candidate> = (1..=4)
                    .map(|id| Candidate {
                        id: SourceId(id),
                        level_db: -20.0,
                        speaking: speakers.contains(&id),
                    })
                    .collect();
                d.update(t0 + Duration::from_millis(20 * n), &cs)
                    .map(|s| (n, s))
            })
            .collect()
    }

    #[test]
    fn changes_once_per_turn_and_ignores_interjections() {
        let t0 = Instant::now();
        let mut d = DominantSpeaker::new(DominantConfig::default());
        let mut events = run(&mut d, t0, 0, 150, &[1]); // 3 s of speaker 1
        events.extend(run(&mut d, t0, 150, 160, &[1, 2])); // 200 ms interjection by 2
        events.extend(run(&mut d, t0, 160, 300, &[1]));
        events.extend(run(&mut d, t0, 300, 450, &[3])); // speaker 3 takes over
        let who: Vec<SourceId> = events.iter().map(|e| e.1).collect();
        assert_eq!(who, vec![SourceId(1), SourceId(3)], "{events:?}");
        // The turn is recognised within a second of it starting.
        assert!(events[1].0 - 300 <= 50, "{events:?}");
    }
}
