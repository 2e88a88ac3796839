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
    /// Requests refused by the abuse limits, by limit.
    pub rate_limited: RateLimited,
    /// `hello`s refused because the person was signed in on too many connections.
    pub sessions_refused: AtomicU64,
    /// TCP connections open on the HTTP port now (HTTP, WebSockets, TLS handshakes).
    pub connections_open: AtomicU64,
    /// Connections refused at accept: the service held its most.
    pub connections_refused_total: AtomicU64,
    /// Connections refused at accept: their address held its most.
    pub connections_refused_address: AtomicU64,
    /// Connections closed for not sending a request's headers in time.
    pub header_timeouts: AtomicU64,
    /// WebSockets closed for not signing in (`hello`) in time.
    pub hello_timeouts: AtomicU64,
    /// WebSockets closed as dead: nothing heard, pings unanswered.
    pub ping_timeouts: AtomicU64,
    /// Relay legs open to other nodes of the cluster (clients' calls hosted there).
    pub cluster_legs_open: AtomicU64,
    /// Relay legs that could not be opened (the node unreachable, or it refused the client).
    pub cluster_legs_failed: AtomicU64,
    /// Signaling frames relayed between clients and the nodes hosting their calls.
    pub cluster_frames_relayed: AtomicU64,
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
    /// Viewer slots that moved to another simulcast layer (at a keyframe).
    pub video_layer_switches: AtomicU64,
    /// Keyframe requests (PLI) the SFU sent to video senders, after rate limiting.
    pub video_keyframe_requests: AtomicU64,
    /// Padding-only video packets left out of forwarding, their gaps closed.
    pub video_padding_absorbed: AtomicU64,
    /// Steps down for a viewer's bandwidth (a slot to a smaller layer, or paused).
    pub video_bandwidth_downgrades: AtomicU64,
    /// Viewer slots that forwarded nothing for a second while their source sent.
    pub video_freezes: AtomicU64,
    /// The SIP gateway's counters, when it runs.
    pub sip: std::sync::OnceLock<std::sync::Arc<confab_sip::metrics::SipMetrics>>,
    /// How long each audio frame the mixer played had waited in its jitter buffer: from
    /// the packet's arrival at the media thread to the tick that mixed it.
    pub mix_wait: LatencyHistogram,
    /// The same, for the voice each room's tick is phase-aligned to (its dominant speaker):
    /// what the mix adds to the voice most listened to.
    pub mix_followed_wait: LatencyHistogram,
    /// From a mixer tick to its packets handed to the socket (mixing, encoding, the hop
    /// to the I/O thread, the fan-out).
    pub mix_out: LatencyHistogram,
}

/// Requests refused by each abuse limit (HTTP 429).
#[derive(Debug, Default)]
pub struct RateLimited {
    /// Guest sign-ins over the per-address rate.
    pub guests: AtomicU64,
    /// WebSocket connects over the per-address rate.
    pub ws_connects: AtomicU64,
    /// Admin requests from an address that gave too many wrong keys.
    pub admin: AtomicU64,
    /// Tokens over the per-identity rate.
    pub tokens: AtomicU64,
}

/// Upper bounds (µs) of the latency histograms' buckets: 1 ms steps where the media path
/// lives, coarser beyond.
pub(crate) const LATENCY_BUCKETS_MICROS: [u64; 34] = [
    1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, 10_000, 12_000, 14_000, 16_000,
    18_000, 20_000, 22_000, 24_000, 26_000, 28_000, 30_000, 32_000, 35_000, 40_000, 45_000, 50_000,
    60_000, 70_000, 80_000, 100_000, 150_000, 200_000, 300_000, 500_000, 1_000_000,
];

/// A latency histogram (Prometheus buckets, cumulative), lock-free.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len()],
    count: AtomicU64,
    micros_sum: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            micros_sum: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, micros: u64) {
        if let Some(i) = LATENCY_BUCKETS_MICROS.iter().position(|&b| micros <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros_sum.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket in microseconds (`None`
    /// with no observations; `u64::MAX` beyond the last bucket).
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS_MICROS) {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(bound);
            }
        }
        Some(u64::MAX)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS_MICROS) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
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
            "confab_signaling_sessions_refused_total",
            "counter",
            "Sign-ins refused: the person was signed in on too many connections.",
            &self.sessions_refused,
        );
        put(
            "confab_http_connections_open",
            "gauge",
            "TCP connections open on the HTTP port.",
            &self.connections_open,
        );
        put(
            "confab_http_timeouts_header_read_total",
            "counter",
            "Connections closed for not sending request headers in time.",
            &self.header_timeouts,
        );
        put(
            "confab_signaling_hello_timeouts_total",
            "counter",
            "WebSockets closed for not signing in in time.",
            &self.hello_timeouts,
        );
        put(
            "confab_signaling_ping_timeouts_total",
            "counter",
            "WebSockets closed as dead (pings unanswered).",
            &self.ping_timeouts,
        );
        put(
            "confab_cluster_legs_open",
            "gauge",
            "Relay legs open to other nodes (clients' calls hosted there).",
            &self.cluster_legs_open,
        );
        put(
            "confab_cluster_legs_failed_total",
            "counter",
            "Relay legs that could not be opened.",
            &self.cluster_legs_failed,
        );
        put(
            "confab_cluster_frames_relayed_total",
            "counter",
            "Signaling frames relayed between clients and the nodes hosting their calls.",
            &self.cluster_frames_relayed,
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
            "confab_video_layer_switches_total",
            "counter",
            "Viewer slots moved to another simulcast layer.",
            &self.video_layer_switches,
        );
        put(
            "confab_video_keyframe_requests_total",
            "counter",
            "Keyframe requests sent to video senders.",
            &self.video_keyframe_requests,
        );
        put(
            "confab_video_padding_absorbed_total",
            "counter",
            "Padding-only video packets left out of viewers' streams (per viewer), their gaps closed.",
            &self.video_padding_absorbed,
        );
        put(
            "confab_video_bandwidth_downgrades_total",
            "counter",
            "Viewers' video stepped down (smaller layer or slot paused) to fit their bandwidth estimate.",
            &self.video_bandwidth_downgrades,
        );
        put(
            "confab_video_freezes_total",
            "counter",
            "Viewer slots that forwarded nothing for a second while their source sent.",
            &self.video_freezes,
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
        self.mix_wait.render(
            &mut out,
            "confab_mix_jitter_wait_seconds",
            "How long a mixed audio frame waited in its jitter buffer (arrival to tick).",
        );
        self.mix_followed_wait.render(
            &mut out,
            "confab_mix_followed_wait_seconds",
            "The jitter-buffer wait of the voice a room's tick is aligned to (its dominant speaker).",
        );
        self.mix_out.render(
            &mut out,
            "confab_mix_out_seconds",
            "From a mixer tick to its packets handed to the socket.",
        );
        let _ = writeln!(
            out,
            "# HELP confab_http_rate_limited_total Requests refused by an abuse limit (429).\n\
             # TYPE confab_http_rate_limited_total counter"
        );
        for (limit, value) in [
            ("guest", &self.rate_limited.guests),
            ("ws_connect", &self.rate_limited.ws_connects),
            ("admin_key", &self.rate_limited.admin),
            ("token", &self.rate_limited.tokens),
        ] {
            let _ = writeln!(
                out,
                "confab_http_rate_limited_total{{limit=\"{limit}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP confab_http_connections_refused_total Connections refused at accept, by limit.\n\
             # TYPE confab_http_connections_refused_total counter"
        );
        for (limit, value) in [
            ("total", &self.connections_refused_total),
            ("address", &self.connections_refused_address),
        ] {
            let _ = writeln!(
                out,
                "confab_http_connections_refused_total{{limit=\"{limit}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        if let Some(sip) = self.sip.get() {
            sip.render(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_come_from_the_buckets() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile_micros(0.5), None);
        for ms in 1..=100u64 {
            h.observe(ms * 1000 - 500); // 0.5 ms .. 99.5 ms
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_micros(0.0), Some(1_000));
        assert_eq!(h.quantile_micros(0.10), Some(10_000));
        assert_eq!(h.quantile_micros(0.5), Some(50_000));
        assert_eq!(h.quantile_micros(0.99), Some(100_000));
        h.observe(5_000_000);
        assert_eq!(
            h.quantile_micros(1.0),
            Some(u64::MAX),
            "beyond the last bucket"
        );
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "x");
        assert!(out.contains("x_seconds_bucket{le=\"0.05\"} 50\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 101\n"));
    }
}
