//! `confab-relay`: an impaired network in front of a service, for real peers (browsers,
//! bots, SIP phones) on a machine without kernel netem.
//!
//!   confab-relay --listen 127.0.0.2:40000 --upstream 127.0.0.1:40000 --loss 0.05 --jitter-ms 50
//!
//! with the service started as `confab serve --media-udp 127.0.0.1:40000 --public-ip
//! 127.0.0.2`, so that it advertises the relay. The same impairment applies both ways.
//! Options: --loss P, --burst-enter P, --burst-exit P (Gilbert–Elliott), --delay-ms N,
//! --jitter-ms N, --reorder P, --duplicate P, --rate-kbps N, --queue-ms N, --seed N, --media-only 1 (impair RTP/RTCP only),
//! --seconds N (0: until killed), --drop-at S --drop-for S (the whole network drops out S
//! seconds after start, for S seconds: a reconnect scenario). It prints its counters every
//! 5 s and at the end.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confab_testkit::{NetemConfig, Relay, RelayConfig, RelayStats};

fn usage(problem: &str) -> ! {
    eprintln!(
        "confab-relay: {problem}\nusage: confab-relay --listen ADDR --upstream ADDR [--loss P] [--burst-enter P] [--burst-exit P] [--delay-ms N] [--jitter-ms N] [--reorder P] [--duplicate P] [--rate-kbps N] [--queue-ms N] [--seed N] [--media-only 1] [--seconds N] [--drop-at S --drop-for S]"
    );
    std::process::exit(2);
}

fn report(stats: &RelayStats) -> String {
    format!(
        "{{\"clients\":{},\"blackholed\":{},\"up\":{{\"sent\":{},\"dropped\":{},\"delivered\":{}}},\"down\":{{\"sent\":{},\"dropped\":{},\"delivered\":{}}}}}",
        stats.clients,
        stats.blackholed,
        stats.up.sent,
        stats.up.dropped,
        stats.up.delivered,
        stats.down.sent,
        stats.down.dropped,
        stats.down.delivered
    )
}

fn main() {
    let mut listen: Option<SocketAddr> = None;
    let mut upstream: Option<SocketAddr> = None;
    let mut net = NetemConfig {
        base_delay: Duration::ZERO,
        ..NetemConfig::default()
    };
    let mut seed = 1u64;
    let mut seconds = 0u64;
    let mut media_only = false;
    let mut drop_at: Option<Duration> = None;
    let mut drop_for = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: &str| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        let ms = |v: &str| Duration::from_secs_f64(number(v) / 1000.0);
        match flag.as_str() {
            "--listen" => listen = value.parse().ok(),
            "--upstream" => upstream = value.parse().ok(),
            "--loss" => net.loss = number(&value),
            "--burst-enter" => net.burst_enter = number(&value),
            "--burst-exit" => net.burst_exit = number(&value),
            "--delay-ms" => net.base_delay = ms(&value),
            "--jitter-ms" => net.jitter = ms(&value),
            "--reorder" => net.reorder = number(&value),
            "--duplicate" => net.duplicate = number(&value),
            "--rate-kbps" => net.rate_bps = (number(&value) * 1000.0) as u64,
            "--queue-ms" => net.queue_limit = ms(&value),
            "--seed" => seed = number(&value) as u64,
            "--seconds" => seconds = number(&value) as u64,
            "--media-only" => media_only = value == "1" || value == "true",
            "--drop-at" => drop_at = Some(Duration::from_secs_f64(number(&value))),
            "--drop-for" => drop_for = Duration::from_secs_f64(number(&value)),
            other => usage(&format!("unknown option {other}")),
        }
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        usage("--listen and --upstream are required");
    };
    let relay = Relay::start(RelayConfig {
        listen,
        upstream,
        up: net.clone(),
        down: net,
        seed,
        media_only,
    })
    .unwrap_or_else(|e| usage(&format!("cannot listen on {listen}: {e}")));
    println!("confab-relay: {listen} -> {upstream}");
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(5);
    let mut cut = false;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = start.elapsed();
        let dropping = drop_at.is_some_and(|at| elapsed >= at && elapsed < at + drop_for);
        if dropping != cut {
            cut = dropping;
            relay.cut(cut);
            println!(
                "confab-relay: network {} at {:.1} s",
                if cut { "down" } else { "up" },
                elapsed.as_secs_f64()
            );
        }
        if Instant::now() < next_report && (seconds == 0 || elapsed < Duration::from_secs(seconds))
        {
            continue;
        }
        next_report += Duration::from_secs(5);
        println!("{}", report(&relay.stats()));
        if seconds > 0 && start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
}
