//! Fitting one viewer's video to its link: which simulcast layer each of its slots carries,
//! or none, within the bandwidth estimate of its connection (decision 0007).
//!
//! Slots are served in priority order (screen share first, then cameras loudest first),
//! each the largest layer that fits its box and the bits left; a slot nothing fits is
//! paused, except the first picture, which keeps its smallest layer. Audio needs no share:
//! the estimate counts only video (the mix does not carry transport-wide sequence numbers),
//! so what the link delivers of it is what remains beside the audio. Going down is at once;
//! going up needs a quarter of headroom, and after a step down for bandwidth no step up
//! comes for a hold time that doubles when a step up is soon followed by one down (the
//! estimator cannot know a higher layer fits until it is sent: each step up is a probe).

use std::time::{Duration, Instant};

use confab_transport::simulcast::Layers;

/// What a video slot should carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Target {
    /// No estimate yet: the largest layer that fits the viewer's box.
    #[default]
    Auto,
    /// This layer (by SSRC).
    Layer(u32),
    /// Nothing: the link has no room for this slot.
    Paused,
}

/// The first hold after a step down for bandwidth.
const HOLD: Duration = Duration::from_secs(8);
/// The longest hold (a link that stays capped is probed this rarely).
const MAX_HOLD: Duration = Duration::from_secs(64);
/// A step down this soon after a step up means the step up did not fit: hold twice as long.
const FAILED_UPGRADE_WITHIN: Duration = Duration::from_secs(10);

/// One slot's wish: its source's layers, the viewer's box for it, what it carries now.
pub(crate) struct Want<'a> {
    pub(crate) layers: &'a Layers,
    pub(crate) max: Option<(u32, u32)>,
    pub(crate) current: Target,
}

/// A viewer's state across allocations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budget {
    hold: Option<Duration>,
    no_upgrade_before: Option<Instant>,
    last_upgrade: Option<Instant>,
    /// Steps down for bandwidth (a layer down, or a slot paused), for the media report.
    pub(crate) downgrades: u64,
}

impl Budget {
    /// The target of each slot in `wants` (priority order) within `estimate` bits/s.
    pub(crate) fn allocate(
        &mut self,
        estimate: u64,
        wants: &[Want<'_>],
        now: Instant,
    ) -> Vec<Target> {
        let may_upgrade = self.no_upgrade_before.is_none_or(|t| now >= t);
        let mut remaining = estimate;
        let mut showing = false;
        let (mut down, mut up) = (false, false);
        let mut targets = Vec::with_capacity(wants.len());
        for want in wants {
            let candidates = want.layers.candidates(want.max, now);
            if candidates.is_empty() {
                // Nothing of known size is live: whatever comes, as without an estimate.
                targets.push(Target::Auto);
                continue;
            }
            let current = match want.current {
                Target::Layer(ssrc) => candidates.iter().find(|c| c.ssrc == ssrc).copied(),
                _ => None,
            };
            let is_up = |area: u64| {
                want.current == Target::Paused || current.is_some_and(|c| area > c.area)
            };
            let mut pick = candidates.iter().copied().find(|c| {
                if is_up(c.area) {
                    may_upgrade && c.rate.saturating_add(c.rate / 4) <= remaining
                } else {
                    c.rate <= remaining
                }
            });
            if pick.is_none() && !showing {
                // The most important picture stays, at its smallest.
                pick = candidates.last().copied();
            }
            match pick {
                Some(c) => {
                    remaining = remaining.saturating_sub(c.rate);
                    showing = true;
                    down |= current.is_some_and(|cur| c.area < cur.area);
                    up |= is_up(c.area);
                    targets.push(Target::Layer(c.ssrc));
                }
                None => {
                    down |= current.is_some();
                    targets.push(Target::Paused);
                }
            }
        }
        if up {
            self.last_upgrade = Some(now);
        }
        if down {
            self.downgrades += 1;
            let failed_upgrade = self
                .last_upgrade
                .is_some_and(|t| now.saturating_duration_since(t) < FAILED_UPGRADE_WITHIN);
            let hold = match self.hold {
                Some(hold) if failed_upgrade => (hold * 2).min(MAX_HOLD),
                _ => HOLD,
            };
            self.hold = Some(hold);
            self.no_upgrade_before = Some(now + hold);
        }
        targets
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use super::*;

    /// A source sending 320x180 at 150 kbit/s and 640x360 at 600 kbit/s for two seconds
    /// up to `now`.
    fn source(now: Instant, small: u32, large: u32) -> Layers {
        let mut layers = Layers::default();
        let start = now - Duration::from_secs(2);
        for i in 0..=60u64 {
            let at = start + Duration::from_millis(i * 1000 / 30);
            let key = i == 0;
            layers.saw(small, at, 625, key.then_some((320, 180)));
            layers.saw(large, at, 2500, key.then_some((640, 360)));
        }
        layers
    }

    fn want(layers: &Layers, current: Target) -> Want<'_> {
        Want {
            layers,
            max: None,
            current,
        }
    }

    #[test]
    fn a_roomy_link_gets_the_large_layers() {
        let now = Instant::now();
        let (a, b) = (source(now, 1, 2), source(now, 3, 4));
        let mut budget = Budget::default();
        let targets = budget.allocate(
            2_000_000,
            &[want(&a, Target::Auto), want(&b, Target::Auto)],
            now,
        );
        assert_eq!(targets, vec![Target::Layer(2), Target::Layer(4)]);
    }

    #[test]
    fn a_capped_link_gets_smaller_layers_then_fewer_slots() {
        let now = Instant::now();
        let (a, b) = (source(now, 1, 2), source(now, 3, 4));
        let mut budget = Budget::default();
        let large = [want(&a, Target::Layer(2)), want(&b, Target::Layer(4))];
        // 900 kbit/s: the first keeps its large layer, the second goes small.
        assert_eq!(
            budget.allocate(900_000, &large, now),
            vec![Target::Layer(2), Target::Layer(3)]
        );
        // 250 kbit/s: the first small, the second paused.
        assert_eq!(
            budget.allocate(250_000, &large, now),
            vec![Target::Layer(1), Target::Paused]
        );
        // 50 kbit/s: the first picture stays at its smallest.
        assert_eq!(
            budget.allocate(50_000, &large, now),
            vec![Target::Layer(1), Target::Paused]
        );
        assert_eq!(budget.downgrades, 3);
    }

    #[test]
    fn steps_up_wait_for_the_hold_and_a_failed_one_doubles_it() {
        let start = Instant::now();
        let mut budget = Budget::default();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let a = source(at(0), 1, 2);
        // Down at t=0 (capped).
        assert_eq!(
            budget.allocate(300_000, &[want(&a, Target::Layer(2))], at(0)),
            vec![Target::Layer(1)]
        );
        // The estimate recovers at once, but the hold (8 s) keeps the small layer...
        let a = source(at(5), 1, 2);
        assert_eq!(
            budget.allocate(2_000_000, &[want(&a, Target::Layer(1))], at(5)),
            vec![Target::Layer(1)]
        );
        // ...until it ends.
        let a = source(at(9), 1, 2);
        assert_eq!(
            budget.allocate(2_000_000, &[want(&a, Target::Layer(1))], at(9)),
            vec![Target::Layer(2)]
        );
        // Up without a quarter of headroom: no (600 kbit/s needs 750).
        let a = source(at(30), 1, 2);
        let mut fresh = Budget::default();
        assert_eq!(
            fresh.allocate(700_000, &[want(&a, Target::Layer(1))], at(30)),
            vec![Target::Layer(1)]
        );
        // The step up at t=9 did not fit: down at t=12 holds 16 s, not 8.
        let a = source(at(12), 1, 2);
        budget.allocate(300_000, &[want(&a, Target::Layer(2))], at(12));
        let a = source(at(25), 1, 2);
        assert_eq!(
            budget.allocate(2_000_000, &[want(&a, Target::Layer(1))], at(25)),
            vec![Target::Layer(1)],
            "still held at t=25"
        );
        let a = source(at(29), 1, 2);
        assert_eq!(
            budget.allocate(2_000_000, &[want(&a, Target::Layer(1))], at(29)),
            vec![Target::Layer(2)]
        );
    }

    #[test]
    fn a_box_limits_before_the_budget_does() {
        let now = Instant::now();
        let a = source(now, 1, 2);
        let mut budget = Budget::default();
        let small_box = Want {
            layers: &a,
            max: Some((320, 180)),
            current: Target::Layer(2),
        };
        assert_eq!(
            budget.allocate(5_000_000, &[small_box], now),
            vec![Target::Layer(1)]
        );
        assert_eq!(
            budget.downgrades, 0,
            "a smaller box is no step down for bandwidth"
        );
    }
}
