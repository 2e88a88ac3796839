//! `confab-recorder --server URL --call ID --out DIR`: records a call (see the crate docs
//! for the layout). Needs a bot token: `--token` or `CONFAB_TOKEN` (`confab token
//! --identity 28:recorder --scope bot --data-dir <the service's>`). Exits non-zero when the
//! service refuses it or the call cannot be joined.

use std::path::PathBuf;

use clap::Parser;
use confab_bot::{BotClient, BotConfig, CallId, Identity};
use confab_recorder::Recorder;

#[derive(Debug, Parser)]
#[command(version, about = "Records a confab call: WAVs, H.264 and a manifest")]
struct Args {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CONFAB_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The call to record (its id).
    #[arg(long, required_unless_present = "group")]
    call: Option<uuid::Uuid>,
    /// Or the group whose call to record.
    #[arg(long, conflicts_with = "call")]
    group: Option<uuid::Uuid>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// A bot token from the service (`confab token --identity 28:recorder --scope bot
    /// --data-dir <the service's data dir>`).
    #[arg(long, env = "CONFAB_TOKEN")]
    token: String,
    /// A PEM file of CA certificates to trust for an https:// service besides the
    /// system's (a service with a private CA).
    #[arg(long, env = "CONFAB_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Who the recorder is: must be the identity the token names [default: the token's
    /// identity].
    #[arg(long)]
    identity: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The WebRTC core narrates every state change at info: keep it to warnings.
    let default_filter = "info,rtc=warn,rtc_ice=warn,rtc_dtls=warn,rtc_srtp=warn,rtc_sctp=warn";
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let identity: Identity = match &args.identity {
        Some(identity) => identity.parse()?,
        None => confab_bot::token_identity(&args.token)
            .ok_or("the token is not a confab token (see `confab token --help`)")?,
    };
    let mut config = BotConfig::new(args.server, identity, args.token);
    config.display_name = "Recorder".into();
    if let Some(path) = &args.ca_file {
        config.ca_certificates =
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Recorder::configure(&mut config);
    let recorder = Recorder::new(&args.out)?;
    let client = BotClient::connect(config).await?;
    let task = match (args.call, args.group) {
        (Some(call), _) => client.join_call(CallId(call), recorder).await?,
        (None, Some(group)) => client.join_group(group, recorder).await?,
        (None, None) => return Err("give --call or --group".into()),
    };
    tracing::info!(call_id = %task.call_id(), out = %args.out.display(), "recording");
    let handle = task.handle().clone();
    let finished = task.finished();
    tokio::pin!(finished);
    let report = tokio::select! {
        report = &mut finished => report?,
        _ = tokio::signal::ctrl_c() => {
            // Leave properly: the files are closed when the call ends for the recorder.
            handle.hang_up().await?;
            finished.await?
        }
    };
    tracing::info!(reason = ?report.reason, stats = ?report.stats, "call over");
    Ok(())
}
