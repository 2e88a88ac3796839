//! How fast a connection's receiver can take what this side sends it: Google Congestion
//! Control over the remote's transport-wide congestion-control feedback — a trendline
//! overuse detector (`trendline.rs`) driving webrtc-rs's AIMD rate controller, and its
//! loss controller, the lower of the two — published where the SFU can read it between
//! packets.
//!
//! Only packets that go through webrtc-rs's send pipeline carry transport-wide sequence
//! numbers (the forwarded video); the lean audio path does not, so the estimate is the room
//! the link has for video beside the audio already on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{
    ArrivalGroupAccumulator, BandwidthEstimator, EstimatorStats, LossController, PacketReport,
    RateCalculator, RateController,
};

mod trendline;
use trendline::Trendline;

/// Where the estimate starts. High, as on the networks most viewers have: a link that
/// cannot take it shows queueing within a round of feedback and the delay half backs off
/// to what actually arrived; starting low instead would hold every viewer on small layers
/// for the ~20 s multiplicative growth takes to reach a few Mbit/s.
pub const INITIAL_BITS_PER_SECOND: f64 = 2_500_000.0;
/// The floor: below this the estimate is not worth acting on more finely.
pub const MIN_BITS_PER_SECOND: f64 = 100_000.0;
/// The ceiling.
pub const MAX_BITS_PER_SECOND: f64 = 50_000_000.0;

/// The latest estimate of one connection, readable from anywhere (0: no feedback yet).
#[derive(Debug, Clone, Default)]
pub(crate) struct EstimateCell(Arc<AtomicU64>);

impl EstimateCell {
    /// Bits per second, once the remote has reported on anything.
    pub(crate) fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            bits => Some(bits),
        }
    }

    /// A cell holding `bits` (tests of what reads it).
    #[cfg(test)]
    pub(crate) fn fixed(bits: u64) -> EstimateCell {
        let cell = EstimateCell::default();
        cell.0.store(bits, Ordering::Relaxed);
        cell
    }
}

/// The estimator, publishing its target to an [`EstimateCell`] after every batch of
/// feedback.
pub(crate) struct PublishedGcc {
    groups: ArrivalGroupAccumulator,
    trendline: Trendline,
    received: RateCalculator,
    delay: RateController,
    loss: LossController,
    target: f64,
    cell: EstimateCell,
}

impl PublishedGcc {
    pub(crate) fn new() -> (PublishedGcc, EstimateCell) {
        let cell = EstimateCell::default();
        let (initial, min, max) = (
            INITIAL_BITS_PER_SECOND,
            MIN_BITS_PER_SECOND,
            MAX_BITS_PER_SECOND,
        );
        (
            PublishedGcc {
                groups: ArrivalGroupAccumulator::default(),
                trendline: Trendline::default(),
                received: RateCalculator::default(),
                delay: RateController::new(initial, min, max),
                loss: LossController::new(initial, min, max),
                target: initial,
                cell: cell.clone(),
            },
            cell,
        )
    }
}

impl BandwidthEstimator for PublishedGcc {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        if reports.is_empty() {
            return;
        }
        let mut usage = None;
        for report in reports {
            if report.arrived {
                self.received.add(now, report.size);
            }
            if let Some(delay) = self.groups.accumulate(report) {
                usage = Some(self.trendline.update(&delay));
            }
        }
        let received = self.received.rate_bits_per_second(now);
        if let Some(usage) = usage {
            self.delay.update(now, usage, received);
        }
        let lost = reports.iter().filter(|r| !r.arrived).count();
        let loss_target = self.loss.update(now, lost, reports.len());
        self.target = self
            .delay
            .target()
            .min(loss_target)
            .clamp(MIN_BITS_PER_SECOND, MAX_BITS_PER_SECOND);
        self.cell.0.store(self.target as u64, Ordering::Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn stats(&self) -> EstimatorStats {
        let mut stats = EstimatorStats::default();
        stats.delay_based_bitrate = Some(self.delay.target());
        stats.loss_based_bitrate = Some(self.loss.target());
        stats.packet_loss = self.loss.average_loss();
        stats
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start their clock somewhere
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(id: u64, departure: Instant, arrival: Option<Duration>) -> PacketReport {
        PacketReport {
            ssrc: 1,
            id,
            rtp_sequence_number: id as u16,
            is_twcc: true,
            twcc_sequence_number: id as u16,
            size: 1200,
            arrived: arrival.is_some(),
            departure,
            arrival,
            ecn: Default::default(),
        }
    }

    /// Nothing is published before the remote reports; a link that delivers at 300 kbit/s
    /// while 1.2 Mbit/s is sent (its queue growing) brings the estimate down near 300 kbit/s.
    #[test]
    fn a_congested_link_brings_the_published_estimate_down() {
        let (mut gcc, cell) = PublishedGcc::new();
        assert_eq!(cell.get(), None);
        let epoch = Instant::now();
        // 1200-byte packets every 8 ms (1.2 Mbit/s) into a 300 kbit/s bottleneck: each
        // leaves it 32 ms after the one before; feedback every 100 ms names what arrived.
        let mut arrivals = Vec::new();
        let mut free_at = Duration::ZERO;
        for id in 0..1250u64 {
            let departure = Duration::from_millis(id * 8);
            free_at =
                free_at.max(departure + Duration::from_millis(20)) + Duration::from_millis(32);
            arrivals.push((id, departure, free_at));
        }
        let mut next = 0;
        for tick in 1..=100u64 {
            let now = Duration::from_millis(tick * 100);
            let mut reports = Vec::new();
            while next < arrivals.len() && arrivals[next].2 <= now {
                let (id, departure, arrival) = arrivals[next];
                reports.push(report(id, epoch + departure, Some(arrival)));
                next += 1;
            }
            gcc.on_reports(epoch + now, &reports);
        }
        let estimate = cell.get().expect("published after feedback");
        assert!(
            estimate < 450_000,
            "estimate {estimate} bit/s on a 300 kbit/s link"
        );
    }
}
