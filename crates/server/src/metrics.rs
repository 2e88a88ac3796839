//! Service counters and their Prometheus text rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges shared by the service's tasks (atomics: no lock on any hot path).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Calls running (gauge).
    pub calls: AtomicU64,
    /// Participants in calls, ringing ones excluded (gauge).
    pub participants: AtomicU64,
    /// Open signaling connections (gauge).
    pub connections: AtomicU64,
    /// Signaling connections accepted since start.
    pub connections_total: AtomicU64,
    /// Signaling messages received.
    pub messages_in: AtomicU64,
    /// Signaling messages sent.
    pub messages_out: AtomicU64,
    /// Messages dropped because a connection's outbox was full (a slow client).
    pub messages_dropped: AtomicU64,
    /// HTTP API requests refused for a missing or wrong admin key.
    pub admin_refusals: AtomicU64,
}

impl Metrics {
    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        };
        put("confab_calls", "gauge", "Calls running.", &self.calls);
        put(
            "confab_participants",
            "gauge",
            "Participants in calls (ringing excluded).",
            &self.participants,
        );
        put(
            "confab_signaling_connections",
            "gauge",
            "Open signaling connections.",
            &self.connections,
        );
        put(
            "confab_signaling_connections_total",
            "counter",
            "Signaling connections accepted.",
            &self.connections_total,
        );
        put(
            "confab_signaling_messages_received_total",
            "counter",
            "Signaling messages received.",
            &self.messages_in,
        );
        put(
            "confab_signaling_messages_sent_total",
            "counter",
            "Signaling messages sent.",
            &self.messages_out,
        );
        put(
            "confab_signaling_messages_dropped_total",
            "counter",
            "Signaling messages dropped for slow clients.",
            &self.messages_dropped,
        );
        put(
            "confab_http_admin_refusals_total",
            "counter",
            "Admin API requests refused.",
            &self.admin_refusals,
        );
        out
    }
}
