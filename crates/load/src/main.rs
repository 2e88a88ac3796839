//! `confab-load`: many lightweight participants in one group call of a running `confab serve`,
//! from a separate process (or machine). Each speaks real WebRTC (ICE, DTLS-SRTP) on its own
//! UDP port; a few media threads carry them all (epoll over their sockets, a deadline heap
//! for their clocks); speakers send a speech fixture's Opus packets, the rest DTX, some a
//! camera; a chosen few decode what they hear. Prints a summary and writes per-participant
//! JSON: join time, mix packets received against expected, loss, late, decode checks.

#![allow(clippy::print_stdout)] // a command-line program prints

mod join;
mod participant;
mod payloads;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use confab_signaling::TokenKey;
use serde::Serialize;
use tokio::sync::watch;

use crate::join::{Plan, Tokens};
use crate::participant::{Report, Role};
use crate::payloads::Payloads;
use crate::worker::Worker;

#[derive(Parser, Debug, Clone, Serialize)]
#[command(
    name = "confab-load",
    version,
    about = "Load a running confab service with many WebRTC participants in one group call"
)]
struct Args {
    /// The service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Participants in the call.
    #[arg(long, default_value_t = 50)]
    participants: usize,
    /// How many of them speak (the rest send DTX).
    #[arg(long, default_value_t = 3)]
    speakers: usize,
    /// How many send a camera (320x240, 15 fps).
    #[arg(long, default_value_t = 0)]
    cameras: usize,
    /// How many listeners decode what they hear (the rest only count packets).
    #[arg(long, default_value_t = 5)]
    decode: usize,
    /// Seconds to stay in the call once everyone has joined.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Participants joining per second.
    #[arg(long, default_value_t = 50.0)]
    ramp: f64,
    /// Media threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The group id (a new one by default).
    #[arg(long)]
    group: Option<uuid::Uuid>,
    /// Mint tokens with the signing key in the service's data directory (same machine).
    #[arg(long, conflicts_with = "admin_key")]
    data_dir: Option<PathBuf>,
    /// Or get them from the service's admin API with its admin key.
    #[arg(long)]
    admin_key: Option<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "load-report.json")]
    json: PathBuf,
    /// A file written once everyone has joined and media has settled (2 s later): scripts
    /// measure the service's steady state from then on.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

/// Percentiles of a list of milliseconds.
fn percentiles(mut values: Vec<u64>) -> serde_json::Value {
    if values.is_empty() {
        return serde_json::Value::Null;
    }
    values.sort_unstable();
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    serde_json::json!({ "p50": at(0.5), "p95": at(0.95), "max": at(1.0) })
}

fn tokens(args: &Args) -> Result<Tokens, String> {
    if let Some(admin) = &args.admin_key {
        return Ok(Tokens::AdminKey(admin.clone()));
    }
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("confab-data"));
    let path = dir.join("secrets.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (give --data-dir of the running service, or --admin-key)",
            path.display()
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let secret = value["signing_secret"]
        .as_str()
        .ok_or_else(|| format!("{}: no signing_secret", path.display()))?;
    TokenKey::from_secret(secret.as_bytes())
        .map(Tokens::Key)
        .map_err(|e| e.to_string())
}

#[allow(clippy::disallowed_methods)] // a driver: it reads the clock
async fn run(args: Args) -> Result<serde_json::Value, String> {
    let tokens = tokens(&args)?;
    let payloads = Arc::new(Payloads::new()?);
    let threads = args.threads.max(1);
    let workers: Vec<Worker> = (0..threads)
        .map(|i| Worker::start(format!("confab-load-{i}"), payloads.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let group = args.group.unwrap_or_else(uuid::Uuid::new_v4);
    let ip = join::local_ip_towards(&args.url);
    let (end_tx, end_rx) = watch::channel(false);
    let started = Instant::now();
    println!(
        "confab-load: {} participants ({} speaking, {} with a camera, {} decoding) into group {group} at {}, {} per second",
        args.participants, args.speakers, args.cameras, args.decode, args.url, args.ramp
    );
    let workers = Arc::new(workers);
    let mut joins = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / args.ramp.max(0.1));
    let listeners_from = args.speakers;
    for index in 0..args.participants {
        let plan = Plan {
            index,
            role: if index < args.speakers {
                Role::Speaker
            } else {
                Role::Listener
            },
            decode: index >= listeners_from && index < listeners_from + args.decode,
            camera: index < args.cameras,
            group,
        };
        let (base, tokens, end) = (args.url.clone(), tokens.clone(), end_rx.clone());
        let workers = workers.clone();
        // Each participant goes to its media thread as soon as it is negotiated.
        joins.spawn(async move {
            let joined = join::join(base, tokens, ip, plan, end).await;
            let handed = joined.and_then(|p| workers[index % workers.len()].add(p));
            (index, handed)
        });
        tokio::time::sleep(gap).await;
    }
    let mut failed: Vec<Report> = Vec::new();
    let mut handed = 0usize;
    while let Some(joined) = joins.join_next().await {
        let Ok((index, result)) = joined else {
            continue;
        };
        match result {
            Ok(()) => handed += 1,
            Err(e) => {
                tracing::warn!(index, "join failed: {e}");
                failed.push(Report {
                    index,
                    error: Some(e),
                    ..Report::default()
                });
            }
        }
    }
    let joined_at = started.elapsed();
    println!(
        "  {handed} negotiated in {:.1} s ({} failed); in the call for {} s",
        joined_at.as_secs_f64(),
        failed.len(),
        args.seconds
    );
    let mut left = args.seconds;
    if let Some(ready) = &args.ready_file {
        let settle = left.min(2);
        tokio::time::sleep(Duration::from_secs(settle)).await;
        left -= settle;
        let connected: usize = workers
            .iter()
            .map(|w| w.connected.load(Ordering::Relaxed))
            .sum();
        std::fs::write(ready, format!("{connected}\n")).map_err(|e| e.to_string())?;
    }
    while left > 0 {
        let step = left.min(5);
        tokio::time::sleep(Duration::from_secs(step)).await;
        left -= step;
        let connected: usize = workers
            .iter()
            .map(|w| w.connected.load(Ordering::Relaxed))
            .sum();
        println!("  {connected} connected, {left} s to go");
    }
    let workers = Arc::try_unwrap(workers).map_err(|_| "media threads still shared".to_string())?;
    let mut reports: Vec<Report> = workers.into_iter().flat_map(Worker::finish).collect();
    let _ = end_tx.send(true);
    reports.extend(failed);
    reports.sort_by_key(|r| r.index);
    // Let the participants' leaves go out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(summarize(&args, group, &reports))
}

fn summarize(args: &Args, group: uuid::Uuid, reports: &[Report]) -> serde_json::Value {
    let joined: Vec<&Report> = reports.iter().filter(|r| r.join_ms.is_some()).collect();
    let received: u64 = joined.iter().map(|r| r.mix_received).sum();
    let expected: u64 = joined.iter().map(|r| r.mix_expected).sum();
    let lost: u64 = joined.iter().map(|r| r.mix_lost).sum();
    let late: u64 = joined.iter().map(|r| r.mix_late).sum();
    let decoders: Vec<&Report> = joined
        .iter()
        .copied()
        .filter(|r| r.decoded.is_some())
        .collect();
    let decoded: u64 = decoders.iter().filter_map(|r| r.decoded).sum();
    let loud: u64 = decoders.iter().filter_map(|r| r.loud).sum();
    let decode_errors: u64 = decoders.iter().filter_map(|r| r.decode_errors).sum();
    let delivered = if expected == 0 {
        0.0
    } else {
        received as f64 / expected as f64
    };
    let summary = serde_json::json!({
        "participants": reports.len(),
        "joined": joined.len(),
        "failed": reports.iter().filter(|r| r.error.is_some()).count(),
        "answer_ms": percentiles(joined.iter().filter_map(|r| r.answer_ms).collect()),
        "join_ms": percentiles(joined.iter().filter_map(|r| r.join_ms).collect()),
        "first_audio_ms": percentiles(joined.iter().filter_map(|r| r.first_audio_ms).collect()),
        "mix_received": received,
        "mix_expected": expected,
        "mix_delivered": delivered,
        "mix_lost": lost,
        "mix_late": late,
        "decoded": decoded,
        "loud_fraction": if decoded == 0 { 0.0 } else { loud as f64 / decoded as f64 },
        "decode_errors": decode_errors,
        "video_received": joined.iter().map(|r| r.video_received).sum::<u64>(),
    });
    serde_json::json!({
        "args": args,
        "group": group,
        "summary": summary,
        "participants": reports,
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.clone())) {
        Ok(report) => {
            let s = &report["summary"];
            println!(
                "joined {}/{} (SDP answer p50 {} ms, p95 {} ms; media up p50 {} ms, p95 {} ms; first audio p50 {} ms, p95 {} ms)",
                s["joined"],
                s["participants"],
                s["answer_ms"]["p50"],
                s["answer_ms"]["p95"],
                s["join_ms"]["p50"],
                s["join_ms"]["p95"],
                s["first_audio_ms"]["p50"],
                s["first_audio_ms"]["p95"]
            );
            println!(
                "mix: {} of {} packets delivered ({:.2} %), {} lost, {} late; decoding sample: {} frames, {:.0} % loud, {} errors",
                s["mix_received"],
                s["mix_expected"],
                s["mix_delivered"].as_f64().unwrap_or(0.0) * 100.0,
                s["mix_lost"],
                s["mix_late"],
                s["decoded"],
                s["loud_fraction"].as_f64().unwrap_or(0.0) * 100.0,
                s["decode_errors"]
            );
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            if let Err(e) = std::fs::write(&args.json, text) {
                eprintln!("confab-load: {}: {e}", args.json.display());
                return ExitCode::FAILURE;
            }
            println!("report: {}", args.json.display());
            if s["failed"].as_u64().unwrap_or(0) > 0 {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confab-load: {e}");
            ExitCode::FAILURE
        }
    }
}
