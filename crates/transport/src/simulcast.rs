//! The simulcast layers of one sender's camera or screen, as an SFU sees them: one
//! RTP stream (SSRC) per layer, its picture size learned from the SPS at each keyframe, and
//! which layer suits a viewer's box. A sender without simulcast is one layer.

use std::time::{Duration, Instant};

/// A layer that sent nothing for this long is paused (browsers stop their upper layers
/// when their estimate of the uplink drops) and is not chosen.
const LIVE_WITHIN: Duration = Duration::from_secs(1);
/// Keyframe requests per layer at most this often: a keyframe costs a sender several
/// normal pictures, and every viewer joining or switching would otherwise ask at once.
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(500);
/// Streams remembered per source (a sender restarting gets new SSRCs; old ones age out).
const MAX_LAYERS: usize = 8;
/// A layer's bit rate is measured over windows this long (keyframes included).
const RATE_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Layer {
    ssrc: u32,
    size: Option<(u32, u32)>,
    seen: Instant,
    keyframe_asked: Option<Instant>,
    /// Bytes since `window_start`, and the rate of the last full window (bits/s).
    window_start: Instant,
    window_bytes: u64,
    rate: Option<u64>,
}

impl Layer {
    fn is_live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.seen) < LIVE_WITHIN
    }

    fn area(&self) -> Option<u64> {
        self.size.map(|(w, h)| u64::from(w) * u64::from(h))
    }
}

/// A layer a viewer could be sent: its stream, picture area and measured bit rate (`0`
/// until a full window was measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The layer's SSRC.
    pub ssrc: u32,
    /// Width × height of its pictures.
    pub area: u64,
    /// Bits per second it sends.
    pub rate: u64,
}

/// Every layer one source sends on one section.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    layers: Vec<Layer>,
}

impl Layers {
    /// A packet of `ssrc` (`bytes` of payload) arrived at `now`; `keyframe_size` when it
    /// starts a keyframe.
    pub fn saw(
        &mut self,
        ssrc: u32,
        now: Instant,
        bytes: usize,
        keyframe_size: Option<(u32, u32)>,
    ) {
        let layer = match self.layers.iter_mut().position(|l| l.ssrc == ssrc) {
            Some(i) => &mut self.layers[i],
            None => {
                if self.layers.len() == MAX_LAYERS
                    && let Some(oldest) =
                        (0..self.layers.len()).min_by_key(|&i| self.layers[i].seen)
                {
                    self.layers.swap_remove(oldest);
                }
                self.layers.push(Layer {
                    ssrc,
                    size: None,
                    seen: now,
                    keyframe_asked: None,
                    window_start: now,
                    window_bytes: 0,
                    rate: None,
                });
                let last = self.layers.len() - 1;
                &mut self.layers[last]
            }
        };
        layer.seen = now;
        if keyframe_size.is_some() {
            layer.size = keyframe_size;
        }
        let window = now.saturating_duration_since(layer.window_start);
        if window >= RATE_WINDOW {
            layer.rate = Some(layer.window_bytes * 8 * 1000 / window.as_millis().max(1) as u64);
            layer.window_start = now;
            layer.window_bytes = 0;
        }
        layer.window_bytes += bytes as u64;
    }

    /// The layers a viewer whose box is at most `max` could be sent, largest first: the
    /// live layers of known size that fit, else the smallest live one.
    pub fn candidates(&self, max: Option<(u32, u32)>, now: Instant) -> Vec<Candidate> {
        let candidate = |l: &Layer| Candidate {
            ssrc: l.ssrc,
            area: l.area().unwrap_or(0),
            rate: l.rate.unwrap_or(0),
        };
        let sized = || {
            self.layers
                .iter()
                .filter(|l| l.is_live(now) && l.size.is_some())
        };
        let mut fitting: Vec<Candidate> = sized()
            .filter(|l| {
                let (w, h) = l.size.unwrap_or_default();
                max.is_none_or(|(max_w, max_h)| w <= max_w && h <= max_h)
            })
            .map(candidate)
            .collect();
        if fitting.is_empty() {
            fitting.extend(sized().min_by_key(|l| l.area()).map(candidate));
        }
        fitting.sort_by_key(|c| std::cmp::Reverse(c.area));
        fitting
    }

    /// `ssrc`'s bit rate over the last full window.
    pub fn rate(&self, ssrc: u32) -> Option<u64> {
        self.layers.iter().find(|l| l.ssrc == ssrc)?.rate
    }

    /// `ssrc`'s picture area, once a keyframe told its size.
    pub fn area(&self, ssrc: u32) -> Option<u64> {
        self.layers.iter().find(|l| l.ssrc == ssrc)?.area()
    }

    /// The layer for a viewer whose box is at most `max` (`None`: as large as there is):
    /// the largest live layer of known size that fits, else the smallest live one; a layer
    /// whose size is not known yet only while no size is known.
    pub fn choose(&self, max: Option<(u32, u32)>, now: Instant) -> Option<u32> {
        let live = || {
            self.layers
                .iter()
                .filter(move |l| now.saturating_duration_since(l.seen) < LIVE_WITHIN)
        };
        let sized = || {
            live().filter_map(|l| {
                l.size
                    .map(|(w, h)| (l.ssrc, u64::from(w) * u64::from(h), (w, h)))
            })
        };
        let fitting = sized()
            .filter(|(_, _, (w, h))| max.is_none_or(|(max_w, max_h)| *w <= max_w && *h <= max_h));
        fitting
            .max_by_key(|(_, area, _)| *area)
            .or_else(|| sized().min_by_key(|(_, area, _)| *area))
            .map(|(ssrc, ..)| ssrc)
            .or_else(|| live().next().map(|l| l.ssrc))
    }

    /// The size of `ssrc`'s pictures, once a keyframe told it.
    pub fn size(&self, ssrc: u32) -> Option<(u32, u32)> {
        self.layers.iter().find(|l| l.ssrc == ssrc)?.size
    }

    /// Whether a keyframe request for `ssrc` may go out now; if so, it counts as sent.
    pub fn may_ask_keyframe(&mut self, ssrc: u32, now: Instant) -> bool {
        let Some(layer) = self.layers.iter_mut().find(|l| l.ssrc == ssrc) else {
            return false;
        };
        let due = layer
            .keyframe_asked
            .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_REQUEST_EVERY);
        if due {
            layer.keyframe_asked = Some(now);
        }
        due
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use super::*;

    fn three_layers(now: Instant) -> Layers {
        let mut layers = Layers::default();
        layers.saw(10, now, 1000, Some((160, 120)));
        layers.saw(20, now, 1000, Some((320, 240)));
        layers.saw(30, now, 1000, Some((640, 480)));
        layers
    }

    #[test]
    fn a_viewer_gets_the_largest_layer_that_fits_its_box() {
        let now = Instant::now();
        let layers = three_layers(now);
        assert_eq!(layers.choose(None, now), Some(30));
        assert_eq!(layers.choose(Some((1280, 720)), now), Some(30));
        assert_eq!(layers.choose(Some((640, 360)), now), Some(20));
        assert_eq!(layers.choose(Some((320, 240)), now), Some(20));
        assert_eq!(layers.choose(Some((320, 180)), now), Some(10));
        // Nothing fits: the smallest there is.
        assert_eq!(layers.choose(Some((100, 100)), now), Some(10));
    }

    #[test]
    fn paused_layers_are_not_chosen_and_sizes_come_from_keyframes() {
        let start = Instant::now();
        let mut layers = three_layers(start);
        let later = start + Duration::from_secs(2);
        // Only the two lower layers keep sending (the sender's uplink dropped).
        layers.saw(10, later, 100, None);
        layers.saw(20, later, 100, None);
        assert_eq!(layers.choose(None, later), Some(20));
        // A stream whose size is unknown is used only while no size is known.
        let mut fresh = Layers::default();
        fresh.saw(7, start, 100, None);
        assert_eq!(fresh.choose(Some((320, 240)), start), Some(7));
        fresh.saw(8, start, 100, Some((320, 240)));
        assert_eq!(fresh.choose(None, start), Some(8));
        assert_eq!(fresh.size(8), Some((320, 240)));
    }

    #[test]
    fn rates_are_measured_per_layer_and_candidates_come_largest_first() {
        let start = Instant::now();
        let mut layers = Layers::default();
        // 30 packets a second: layer 10 of 500 bytes (120 kbit/s), layer 20 of 2000 (480).
        for i in 0..=60u64 {
            let at = start + Duration::from_millis(i * 1000 / 30);
            let key = (i == 0).then_some((320, 180));
            layers.saw(10, at, 500, key);
            layers.saw(20, at, 2000, key.map(|_| (640, 360)));
        }
        let rate = |ssrc| layers.rate(ssrc).unwrap();
        assert!((115_000..=125_000).contains(&rate(10)), "{}", rate(10));
        assert!((460_000..=500_000).contains(&rate(20)), "{}", rate(20));
        let now = start + Duration::from_secs(2);
        let all = layers.candidates(None, now);
        assert_eq!(all.iter().map(|c| c.ssrc).collect::<Vec<_>>(), vec![20, 10]);
        assert_eq!(all[1].area, 320 * 180);
        // Nothing fits: the smallest is the one candidate.
        let tiny = layers.candidates(Some((100, 100)), now);
        assert_eq!(tiny.iter().map(|c| c.ssrc).collect::<Vec<_>>(), vec![10]);
        // Paused layers are no candidates.
        assert!(
            layers
                .candidates(None, now + Duration::from_secs(2))
                .is_empty()
        );
    }

    #[test]
    fn keyframe_requests_are_rate_limited_per_layer() {
        let now = Instant::now();
        let mut layers = three_layers(now);
        assert!(layers.may_ask_keyframe(10, now));
        assert!(!layers.may_ask_keyframe(10, now + Duration::from_millis(100)));
        assert!(layers.may_ask_keyframe(20, now + Duration::from_millis(100)));
        assert!(layers.may_ask_keyframe(10, now + Duration::from_millis(500)));
        assert!(!layers.may_ask_keyframe(99, now), "unknown stream");
    }

    #[test]
    fn streams_of_a_restarted_sender_age_out() {
        let start = Instant::now();
        let mut layers = Layers::default();
        for i in 0..20u32 {
            layers.saw(
                i,
                start + Duration::from_millis(u64::from(i)),
                100,
                Some((320, 240)),
            );
        }
        assert_eq!(layers.layers.len(), MAX_LAYERS);
        assert!(layers.layers.iter().all(|l| l.ssrc >= 12));
    }
}
