//! `confab-echo`: the echo bot from the command line.
//!
//! Live echo in a group call:  confab-echo --server URL --token T --identity 28:echo --group G
//! The echo test service:      confab-echo --server URL --token T --service

use std::time::Duration;

use clap::Parser;
use confab_bot::{BotClient, BotConfig, CallId, Identity};
use confab_echo::{LiveEcho, serve_echo_test};

#[derive(Debug, Parser)]
#[command(version, about = "The confab echo bot")]
struct Args {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CONFAB_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A token for the identity (`confab token --identity 28:echo --scope bot`).
    #[arg(long, env = "CONFAB_TOKEN")]
    token: String,
    /// A PEM file of CA certificates to trust for an https:// service besides the
    /// system's (a service with a private CA).
    #[arg(long, env = "CONFAB_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Who the bot is.
    #[arg(long, default_value = "28:echo")]
    identity: String,
    /// Join this group's call (live echo).
    #[arg(long, conflicts_with_all = ["call", "service"])]
    group: Option<uuid::Uuid>,
    /// Join this call (live echo).
    #[arg(long, conflicts_with = "service")]
    call: Option<uuid::Uuid>,
    /// Answer every call as the echo test service (identity 8:echo123 unless given).
    #[arg(long)]
    service: bool,
    /// Live echo delay.
    #[arg(long, default_value_t = 2000)]
    delay_ms: u64,
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
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ca_certificates = match &args.ca_file {
        Some(path) => std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => Vec::new(),
    };
    if args.service {
        let identity = if args.identity == "28:echo" {
            Identity::EchoService
        } else {
            args.identity.parse()?
        };
        let mut config = BotConfig::new(args.server, identity, args.token);
        config.ca_certificates = ca_certificates;
        serve_echo_test(config, Duration::from_secs(5)).await?;
        return Ok(());
    }
    let identity: Identity = args.identity.parse()?;
    let mut config = BotConfig::new(args.server, identity, args.token);
    config.display_name = "Echo".into();
    config.unmixed_slots = 0;
    config.ca_certificates = ca_certificates;
    let client = BotClient::connect(config).await?;
    let bot = LiveEcho::new(Duration::from_millis(args.delay_ms));
    let task = match (args.group, args.call) {
        (Some(group), _) => client.join_group(group, bot).await?,
        (None, Some(call)) => client.join_call(CallId(call), bot).await?,
        (None, None) => return Err("give --group, --call or --service".into()),
    };
    tokio::select! {
        report = task.finished() => tracing::info!("call over: {:?}", report?.reason),
        _ = tokio::signal::ctrl_c() => {},
    }
    Ok(())
}
