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
    /// Media datagrams received on the shared port.
    pub media_datagrams_in: AtomicU64,
    /// Media datagrams sent.
    pub media_datagrams_out: AtomicU64,
    /// Media datagrams dropped as unroutable or malformed.
    pub media_datagrams_dropped: AtomicU64,
    /// Mixer ticks, and their durations by bucket (see [`TICK_BUCKETS_MICROS`]).
    pub mixer_tick_buckets: [AtomicU64; TICK_BUCKETS_MICROS.len()],
    /// Sum of mixer tick durations, in microseconds.
    pub mixer_tick_micros_sum: AtomicU64,
    /// Mixer ticks run.
    pub mixer_ticks: AtomicU64,
    /// Media rounds that finished after their 20 ms deadline had passed.
    pub tick_overruns: AtomicU64,
    /// Audio packets lost on the way in (jitter buffers, all participants).
    pub jitter_lost: AtomicU64,
    /// Lost audio frames concealed or rebuilt (PLC and FEC) by the mixer.
    pub jitter_concealed: AtomicU64,
    /// RTP packets phones sent that never arrived (all legs, RFC 3550 counting).
    pub pstn_rtp_lost: AtomicU64,
    /// The SIP gateway's counters, when it runs.
    pub sip: std::sync::OnceLock<std::sync::Arc<confab_sip::metrics::SipMetrics>>,
}

/// Upper bounds (µs) of the mixer tick-time histogram buckets.
pub const TICK_BUCKETS_MICROS: [u64; 8] = [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000];

impl Metrics {
    /// Records one mixer tick's duration.
    pub fn observe_tick(&self, micros: u64) {
        for (bucket, bound) in self.mixer_tick_buckets.iter().zip(TICK_BUCKETS_MICROS) {
            if micros <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.mixer_tick_micros_sum
            .fetch_add(micros, Ordering::Relaxed);
        self.mixer_ticks.fetch_add(1, Ordering::Relaxed);
    }
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
        put(
            "confab_media_datagrams_received_total",
            "counter",
            "Media datagrams received.",
            &self.media_datagrams_in,
        );
        put(
            "confab_media_datagrams_sent_total",
            "counter",
            "Media datagrams sent.",
            &self.media_datagrams_out,
        );
        put(
            "confab_media_datagrams_dropped_total",
            "counter",
            "Media datagrams dropped (unroutable or malformed).",
            &self.media_datagrams_dropped,
        );
        put(
            "confab_media_tick_overruns_total",
            "counter",
            "Media rounds finished after their deadline.",
            &self.tick_overruns,
        );
        put(
            "confab_audio_packets_lost_total",
            "counter",
            "Audio packets lost on the way in.",
            &self.jitter_lost,
        );
        put(
            "confab_audio_frames_concealed_total",
            "counter",
            "Lost audio frames concealed or rebuilt by FEC.",
            &self.jitter_concealed,
        );
        put(
            "confab_pstn_rtp_lost_total",
            "counter",
            "RTP packets phones sent that never arrived.",
            &self.pstn_rtp_lost,
        );
        let _ = writeln!(
            out,
            "# HELP confab_mixer_tick_seconds Time to mix and encode one room for 20 ms."
        );
        let _ = writeln!(out, "# TYPE confab_mixer_tick_seconds histogram");
        for (bucket, bound) in self.mixer_tick_buckets.iter().zip(TICK_BUCKETS_MICROS) {
            let le = bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "confab_mixer_tick_seconds_bucket{{le=\"{le}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.mixer_ticks.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "confab_mixer_tick_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.mixer_tick_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "confab_mixer_tick_seconds_sum {sum}");
        let _ = writeln!(out, "confab_mixer_tick_seconds_count {count}");
        if let Some(sip) = self.sip.get() {
            sip.render(&mut out);
        }
        out
    }
}
