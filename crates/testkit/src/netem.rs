//! A seeded network emulator: loss, burst loss, jitter, reordering and duplication of any
//! datagrams, on virtual time. The same seed always gives the same network.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How the emulated network misbehaves. All probabilities are 0..=1.
#[derive(Debug, Clone, PartialEq)]
pub struct NetemConfig {
    /// One-way delay every packet gets.
    pub base_delay: Duration,
    /// Extra delay, uniform in `0..=jitter`, drawn per packet (packets may overtake).
    pub jitter: Duration,
    /// Independent random loss.
    pub loss: f64,
    /// Gilbert–Elliott burst loss: chance per packet of entering the bad state...
    pub burst_enter: f64,
    /// ...and of leaving it. In the bad state every packet is lost.
    pub burst_exit: f64,
    /// Chance a packet is held back by `reorder_delay` (so later ones overtake it).
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Chance a packet arrives twice.
    pub duplicate: f64,
    /// Link rate in bits per second (0: unlimited). Packets queue behind each other at this
    /// rate (sized by [`NetworkEmulator::send_sized`]); past `queue_limit` they are dropped.
    pub rate_bps: u64,
    /// The longest a packet may wait in the rate-limited queue before it is dropped (tail drop).
    pub queue_limit: Duration,
}

impl Default for NetemConfig {
    /// A perfect network with 10 ms of delay.
    fn default() -> Self {
        NetemConfig {
            base_delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            burst_enter: 0.0,
            burst_exit: 1.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(30),
            duplicate: 0.0,
            rate_bps: 0,
            queue_limit: Duration::from_millis(200),
        }
    }
}

/// What happened to the packets sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetemStats {
    /// Packets handed to the emulator.
    pub sent: u64,
    /// Packets it dropped (random and burst).
    pub dropped: u64,
    /// Extra copies it made.
    pub duplicated: u64,
    /// Packets held back to be overtaken.
    pub reordered: u64,
    /// Packets delivered so far (copies included).
    pub delivered: u64,
    /// Of the dropped, those the rate-limited queue had no room for.
    pub dropped_by_rate: u64,
}

/// SplitMix64: a tiny, good, seedable generator (no dependency, identical everywhere).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// Carries packets of type `T` across an emulated network. Sans-IO: `send` at a time,
/// `poll` what has arrived by a time.
#[derive(Debug)]
pub struct NetworkEmulator<T> {
    config: NetemConfig,
    rng: Rng,
    in_burst: bool,
    order: u64,
    queue: BinaryHeap<Reverse<(Instant, u64, Slot<T>)>>,
    /// When the rate-limited link is free again.
    link_free: Option<Instant>,
    stats: NetemStats,
}

/// Heap entries compare by time and order only.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T: Clone> NetworkEmulator<T> {
    /// An emulator with `config`, seeded with `seed`.
    pub fn new(config: NetemConfig, seed: u64) -> Self {
        NetworkEmulator {
            config,
            rng: Rng::new(seed),
            in_burst: false,
            order: 0,
            queue: BinaryHeap::new(),
            link_free: None,
            stats: NetemStats::default(),
        }
    }

    /// Changes the network's behaviour from now on (packets in flight keep their times).
    pub fn set_config(&mut self, config: NetemConfig) {
        self.config = config;
    }

    /// Sends a packet at `now`. Returns `false` if the network dropped it.
    pub fn send(&mut self, now: Instant, packet: T) -> bool {
        self.send_sized(now, packet, 0)
    }

    /// Sends a packet of `bytes` at `now`: like [`send`](Self::send), and it takes its
    /// time on a rate-limited link.
    pub fn send_sized(&mut self, now: Instant, packet: T, bytes: usize) -> bool {
        self.stats.sent += 1;
        let mut now = now;
        if self.config.rate_bps > 0 {
            let start = self.link_free.map_or(now, |free| free.max(now));
            if start.saturating_duration_since(now) > self.config.queue_limit {
                self.stats.dropped += 1;
                self.stats.dropped_by_rate += 1;
                return false;
            }
            let on_wire = Duration::from_secs_f64(bytes as f64 * 8.0 / self.config.rate_bps as f64);
            self.link_free = Some(start + on_wire);
            now = start + on_wire;
        }
        let c = &self.config;
        if self.in_burst {
            self.in_burst = !self.rng.chance(c.burst_exit);
        } else {
            self.in_burst = self.rng.chance(c.burst_enter);
        }
        if self.in_burst || self.rng.chance(c.loss) {
            self.stats.dropped += 1;
            return false;
        }
        let copies = if self.rng.chance(c.duplicate) { 2 } else { 1 };
        self.stats.duplicated += copies - 1;
        for _ in 0..copies {
            let c = &self.config;
            let jitter = c.jitter.mul_f64(self.rng.unit());
            let mut at = now + c.base_delay + jitter;
            if self.rng.chance(self.config.reorder) {
                at += self.config.reorder_delay;
                self.stats.reordered += 1;
            }
            self.order += 1;
            self.queue
                .push(Reverse((at, self.order, Slot(packet.clone()))));
        }
        true
    }

    /// The next packet that has arrived by `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        let Reverse((at, _, _)) = self.queue.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, _, Slot(packet))) = self.queue.pop()?;
        self.stats.delivered += 1;
        Some(packet)
    }

    /// When the next packet arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// What happened so far.
    pub fn stats(&self) -> NetemStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VirtualClock;

    #[test]
    fn a_rate_limit_queues_then_drops_at_the_tail() {
        let config = NetemConfig {
            base_delay: Duration::ZERO,
            rate_bps: 80_000, // 10 bytes per ms
            queue_limit: Duration::from_millis(50),
            ..NetemConfig::default()
        };
        let mut net = NetworkEmulator::new(config, 1);
        let clock = VirtualClock::new();
        // 20 packets of 100 bytes at once: 10 ms each on the wire.
        let sent: Vec<bool> = (0..20)
            .map(|i| net.send_sized(clock.now(), i, 100))
            .collect();
        // Each waits behind the others; from the seventh on, the wait exceeds 50 ms.
        assert_eq!(sent.iter().filter(|s| **s).count(), 6);
        assert_eq!(net.stats().dropped_by_rate, 14);
        assert_eq!(
            net.next_arrival(),
            Some(clock.now() + Duration::from_millis(10))
        );
    }

    #[test]
    fn perfect_network_delivers_in_order_after_the_delay() {
        let clock = VirtualClock::new();
        let mut net = NetworkEmulator::new(NetemConfig::default(), 1);
        for i in 0..10u32 {
            net.send(clock.now() + Duration::from_millis(u64::from(i)), i);
        }
        assert_eq!(net.poll(clock.now() + Duration::from_millis(9)), None);
        let got: Vec<u32> =
            std::iter::from_fn(|| net.poll(clock.now() + Duration::from_secs(1))).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn loss_jitter_reorder_and_duplicates_follow_the_config_and_the_seed() {
        let clock = VirtualClock::new();
        let config = NetemConfig {
            jitter: Duration::from_millis(50),
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.05,
            ..NetemConfig::default()
        };
        let run = |seed| {
            let mut net = NetworkEmulator::new(config.clone(), seed);
            for i in 0..10_000u32 {
                net.send(clock.now() + Duration::from_millis(u64::from(i) * 20), i);
            }
            let out: Vec<u32> =
                std::iter::from_fn(|| net.poll(clock.now() + Duration::from_secs(1000))).collect();
            (net.stats(), out)
        };
        let (stats, out) = run(7);
        assert!((900..1100).contains(&stats.dropped), "{stats:?}");
        assert!((400..600).contains(&stats.duplicated), "{stats:?}");
        assert_eq!(
            out.len() as u64,
            stats.sent - stats.dropped + stats.duplicated
        );
        assert!(
            out.windows(2).any(|w| w[1] < w[0]),
            "jitter and reordering let packets overtake"
        );
        assert_eq!(run(7).1, out, "same seed, same network");
        assert_ne!(run(8).1, out);
    }

    #[test]
    fn bursts_drop_runs_of_packets() {
        let clock = VirtualClock::new();
        let config = NetemConfig {
            burst_enter: 0.02,
            burst_exit: 0.25,
            ..NetemConfig::default()
        };
        let mut net = NetworkEmulator::new(config, 3);
        let delivered: Vec<bool> = (0..5000).map(|_| net.send(clock.now(), ())).collect();
        let longest_gap = delivered
            .split(|d| *d)
            .map(<[bool]>::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest_gap >= 5,
            "bursts, not single losses: longest run {longest_gap}"
        );
    }
}
