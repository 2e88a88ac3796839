//! Reception statistics of each incoming stream and the RTCP receiver report blocks made
//! from them (RFC 3550 6.4.1 and appendix A.3, A.8).
//!
//! A [`Peer`](super::Peer) keeps these itself rather than through webrtc-rs's report
//! interceptor, because the lean ingress path opens audio without the core ever seeing it:
//! one place counts every packet, whichever way it came in. Time is passed in.

use std::time::Instant;

use rtc::rtcp::reception_report::ReceptionReport;

/// One incoming stream's counters.
#[derive(Debug, Clone)]
pub(super) struct StreamReception {
    ssrc: u32,
    clock_rate: u32,
    /// Extended highest sequence number (cycles ‖ seq) and the first one.
    base: u64,
    highest: u64,
    received: u64,
    /// At the last report: expected and received, for the fraction lost in between.
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in timestamp units, ×16 (RFC 3550 A.8's integer form).
    jitter_x16: u64,
    /// The last packet's arrival and RTP timestamp, for the jitter.
    last_arrival: Option<(Instant, u32)>,
    /// The middle 32 bits of the NTP time of the last sender report, and when it came.
    last_sr: Option<(u32, Instant)>,
}

impl StreamReception {
    fn new(ssrc: u32, clock_rate: u32, seq: u16) -> Self {
        let first = u64::from(seq);
        StreamReception {
            ssrc,
            clock_rate,
            base: first,
            highest: first,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_x16: 0,
            last_arrival: None,
            last_sr: None,
        }
    }

    /// One packet arrived (duplicates count, as RFC 3550 counts them).
    fn packet(&mut self, seq: u16, timestamp: u32, now: Instant) {
        self.received += 1;
        // The extended sequence number nearest the highest so far.
        let cycles = self.highest >> 16;
        let extended = [cycles.checked_sub(1), Some(cycles), Some(cycles + 1)]
            .into_iter()
            .flatten()
            .map(|c| (c << 16) | u64::from(seq))
            .min_by_key(|&e| e.abs_diff(self.highest))
            .unwrap_or(u64::from(seq));
        if extended > self.highest {
            self.highest = extended;
        } else if extended < self.base {
            // Earlier than the first packet seen (reordered at the start).
            self.base = extended;
        }
        if let Some((at, ts)) = self.last_arrival {
            let arrival_units = now.saturating_duration_since(at).as_micros() as i128
                * i128::from(self.clock_rate)
                / 1_000_000;
            let transit_change = arrival_units - i128::from(timestamp.wrapping_sub(ts) as i32);
            let d = transit_change.unsigned_abs() as u64;
            // J += (|D| - J) / 16, kept ×16.
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last_arrival = Some((now, timestamp));
    }

    /// The report block for the interval since the last one (and starts the next).
    fn report(&mut self, now: Instant) -> ReceptionReport {
        let expected = self.highest - self.base + 1;
        let lost = expected.saturating_sub(self.received);
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (last_sender_report, delay) = match self.last_sr {
            Some((ntp_middle, at)) => {
                let since = now.saturating_duration_since(at);
                // In units of 1/65536 s.
                let delay =
                    (since.as_micros() as u64 * 65_536 / 1_000_000).min(u64::from(u32::MAX));
                (ntp_middle, delay as u32)
            }
            None => (0, 0),
        };
        ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost,
            total_lost: lost.min(0x7F_FFFF) as u32,
            last_sequence_number: self.highest as u32,
            jitter: (self.jitter_x16 >> 4) as u32,
            last_sender_report,
            delay,
        }
    }
}

/// Every incoming stream's reception, by SSRC.
#[derive(Debug, Default)]
pub(super) struct Reception {
    streams: Vec<StreamReception>,
}

impl Reception {
    /// One RTP packet of `ssrc` arrived (`clock_rate`: its RTP clock, for the jitter).
    pub(super) fn packet(
        &mut self,
        ssrc: u32,
        clock_rate: u32,
        seq: u16,
        timestamp: u32,
        now: Instant,
    ) {
        let stream = match self.streams.iter().position(|s| s.ssrc == ssrc) {
            Some(at) => &mut self.streams[at],
            None => {
                self.streams
                    .push(StreamReception::new(ssrc, clock_rate, seq));
                let last = self.streams.len() - 1;
                &mut self.streams[last]
            }
        };
        stream.packet(seq, timestamp, now);
    }

    /// A sender report about `ssrc` arrived, stamped `ntp_time` (64-bit NTP format).
    pub(super) fn sender_report(&mut self, ssrc: u32, ntp_time: u64, now: Instant) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) {
            stream.last_sr = Some(((ntp_time >> 16) as u32, now));
        }
    }

    /// A report block for each stream heard from (at most 31: one RTCP packet's worth).
    pub(super) fn reports(&mut self, now: Instant) -> Vec<ReceptionReport> {
        self.streams
            .iter_mut()
            .take(31)
            .map(|s| s.report(now))
            .collect()
    }

    /// Forgets streams silent since `before` (a simulcast layer paused, a source gone).
    pub(super) fn forget_silent(&mut self, before: Instant) {
        self.streams
            .retain(|s| s.last_arrival.is_some_and(|(at, _)| at >= before));
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a real instant as the origin of a virtual timeline
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn losses_are_counted_per_interval_and_in_total() {
        let t0 = Instant::now();
        let mut r = Reception::default();
        // 100 packets with every tenth lost, across a sequence wrap.
        for n in 0..100u16 {
            if n % 10 != 5 {
                let seq = 65_500u16.wrapping_add(n);
                r.packet(
                    9,
                    48_000,
                    seq,
                    u32::from(n) * 960,
                    t0 + Duration::from_millis(20 * u64::from(n)),
                );
            }
        }
        let block = &r.reports(t0 + Duration::from_secs(2))[0];
        assert_eq!(block.ssrc, 9);
        assert_eq!(block.total_lost, 10);
        assert_eq!(block.fraction_lost, (10 * 256 / 100) as u8);
        assert_eq!(
            block.last_sequence_number,
            (1 << 16) | u32::from(65_500u16.wrapping_add(99))
        );
        assert_eq!(block.jitter, 0, "evenly spaced");
        // Nothing lost in the next interval.
        for n in 100..150u16 {
            r.packet(
                9,
                48_000,
                65_500u16.wrapping_add(n),
                u32::from(n) * 960,
                t0 + Duration::from_millis(20 * u64::from(n)),
            );
        }
        let block = &r.reports(t0 + Duration::from_secs(3))[0];
        assert_eq!(block.fraction_lost, 0);
        assert_eq!(block.total_lost, 10);
    }

    #[test]
    fn reordering_is_not_loss_and_jitter_shows_uneven_arrival() {
        let t0 = Instant::now();
        let mut r = Reception::default();
        let order = [0u16, 2, 1, 3, 5, 4, 6, 7];
        for (i, &seq) in order.iter().enumerate() {
            // Arrivals 0 or 30 ms late, alternately.
            let late = if i % 2 == 0 { 0 } else { 30 };
            r.packet(
                1,
                48_000,
                seq,
                u32::from(seq) * 960,
                t0 + Duration::from_millis(20 * u64::from(seq) + late),
            );
        }
        let block = &r.reports(t0 + Duration::from_secs(1))[0];
        assert_eq!(block.total_lost, 0);
        assert_eq!(block.fraction_lost, 0);
        assert!(
            block.jitter > 300,
            "jitter in 48 kHz units: {}",
            block.jitter
        );
    }

    #[test]
    fn the_last_sender_report_and_the_delay_since_are_echoed() {
        let t0 = Instant::now();
        let mut r = Reception::default();
        r.packet(5, 90_000, 10, 0, t0);
        r.sender_report(5, 0x1234_5678_9ABC_DEF0, t0);
        r.sender_report(6, 1, t0); // a stream not heard: ignored
        let block = &r.reports(t0 + Duration::from_millis(500))[0];
        assert_eq!(block.last_sender_report, 0x5678_9ABC);
        assert_eq!(block.delay, 32_768, "half a second in 1/65536 s");
        r.forget_silent(t0 + Duration::from_secs(1));
        assert!(r.reports(t0 + Duration::from_secs(2)).is_empty());
    }
}
