//! What a node says about itself in Redis: where it is and how loaded it is.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// One node's entry in the cluster (`confab:node:<id>`, rewritten every heartbeat and
/// expiring with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    /// The node's name.
    pub(crate) id: String,
    /// Where other nodes reach its HTTP API and WebSocket.
    pub(crate) url: String,
    /// Calls it hosts.
    pub(crate) calls: u64,
    /// Participants in those calls.
    pub(crate) participants: u64,
    /// Signaling connections it holds (its own clients; relayed legs among them).
    pub(crate) connections: u64,
    /// The process's CPU over the last heartbeat interval, percent of one core.
    pub(crate) cpu_percent: f64,
    /// The media thread's mean mixer tick over the last interval, microseconds.
    pub(crate) tick_mean_micros: u64,
    /// When the node started (Unix milliseconds).
    pub(crate) started_unix_ms: u64,
    /// When this record was written (Unix milliseconds).
    pub(crate) heartbeat_unix_ms: u64,
}

/// Samples a node's load between heartbeats: counters from the metrics, CPU from
/// `/proc/self/stat` (zero where there is none).
#[derive(Debug)]
pub(crate) struct LoadSampler {
    metrics: Arc<Metrics>,
    last_cpu_ticks: Option<u64>,
    last_ticks: (u64, u64),
    last_at: std::time::Instant,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

impl LoadSampler {
    pub(crate) fn new(metrics: Arc<Metrics>, now: std::time::Instant) -> LoadSampler {
        LoadSampler {
            metrics,
            last_cpu_ticks: process_cpu_ticks(),
            last_ticks: (0, 0),
            last_at: now,
        }
    }

    /// `(cpu_percent, tick_mean_micros)` since the last sample.
    pub(crate) fn sample(&mut self, now: std::time::Instant) -> (f64, u64) {
        let elapsed = now.duration_since(self.last_at).as_secs_f64();
        self.last_at = now;
        let cpu_ticks = process_cpu_ticks();
        let cpu = match (cpu_ticks, self.last_cpu_ticks) {
            (Some(now_ticks), Some(before)) if elapsed > 0.0 => {
                now_ticks.saturating_sub(before) as f64 / CLOCK_TICKS_PER_SECOND / elapsed * 100.0
            }
            _ => 0.0,
        };
        self.last_cpu_ticks = cpu_ticks;
        let ticks = self.metrics.mixer_ticks.load(Ordering::Relaxed);
        let sum = self.metrics.mixer_tick_micros_sum.load(Ordering::Relaxed);
        let (before_ticks, before_sum) = std::mem::replace(&mut self.last_ticks, (ticks, sum));
        let tick_mean = sum
            .saturating_sub(before_sum)
            .checked_div(ticks.saturating_sub(before_ticks))
            .unwrap_or(0);
        ((cpu * 10.0).round() / 10.0, tick_mean)
    }
}

/// User plus system time of this process in clock ticks (fields 14 and 15 of
/// `/proc/self/stat`, counted after the parenthesised command name).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        // A command name with spaces and a parenthesis must not shift the fields.
        let stat = "1234 (confab (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        assert!(process_cpu_ticks().is_some());
    }
}
