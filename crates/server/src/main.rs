//! `confab`: the call service (`confab serve`) and its tools (`confab token`).

#![allow(clippy::print_stdout)] // a command-line program prints

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use confab_server::{Secrets, ServerConfig};
use confab_signaling::{Identity, Scope};

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "Self-hosted group calls with raw-media bots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines (stderr) are written: `text` for people, `json` (one object per line)
    /// for log collectors. Which lines: `RUST_LOG` (e.g. `RUST_LOG=info,confab_server=debug`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
enum Command {
    /// Run the call service.
    Serve {
        /// A JSON config file (settings below override it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP and WebSocket address.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Media UDP address.
        #[arg(long)]
        media_udp: Option<SocketAddr>,
        /// Address advertised to peers.
        #[arg(long)]
        public_ip: Option<IpAddr>,
        /// Directory for the signing and admin keys, created with fresh keys on first start
        /// [default: confab-data in the working directory, or the config file's `data_dir`].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TLS certificate (PEM).
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Do not host the 8:echo123 echo test service.
        #[arg(long)]
        no_echo: bool,
        /// SIP over UDP for phone participants (the trunk, routes and allow-list come from
        /// the config file's `sip` object).
        #[arg(long)]
        sip_udp: Option<SocketAddr>,
        /// SIP over TCP too.
        #[arg(long)]
        sip_tcp: Option<SocketAddr>,
        /// Serve plain HTTP on an address other than loopback (only behind a TLS proxy: the
        /// admin key and tokens would otherwise cross the network in clear text).
        #[arg(long)]
        insecure_http: bool,
        /// Join a cluster of nodes sharing this Redis (`redis://host:6379`, or `rediss://`
        /// for TLS): calls are placed on the least loaded node and any node takes any client
        /// [default: one node, state in memory].
        #[arg(long)]
        redis: Option<String>,
        /// For a rediss:// URL: a PEM file of the CA that Redis's certificate chains to
        /// [default: the system's roots].
        #[arg(long)]
        redis_ca: Option<PathBuf>,
        /// For a rediss:// URL to a Redis that asks for client certificates: this node's
        /// certificate (PEM), with --redis-client-key.
        #[arg(long)]
        redis_client_cert: Option<PathBuf>,
        /// The private key (PEM) of --redis-client-cert.
        #[arg(long)]
        redis_client_key: Option<PathBuf>,
        /// A PEM file of the CA the other nodes' HTTPS certificates come from, trusted
        /// besides the system's [default: the system's alone].
        #[arg(long)]
        node_ca: Option<PathBuf>,
        /// This node's name in the cluster [default: node- and 8 random hex digits].
        #[arg(long)]
        node_id: Option<String>,
        /// The URL other nodes reach this one on [default: http(s):// and the --http address].
        #[arg(long)]
        advertise_url: Option<String>,
    },
    /// Run the demo: the service in-process, three synthetic participants, the recorder and
    /// an echo bot in one call; prints a summary and leaves the recording in --out.
    Demo {
        /// Length of the call in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Where the recorder writes (mixed.wav, participants/, manifest.json).
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
    },
    /// Mint an access token with the service's signing key.
    Token {
        /// The identity (`8:confab:<uuid>`, `28:<app>`, `4:+<E.164>`, `8:echo123`); a new user if omitted.
        #[arg(long)]
        identity: Option<Identity>,
        /// The scope: voip, bot or admin (repeatable).
        #[arg(long, value_parser = parse_scope, required = true)]
        scope: Vec<Scope>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The data directory of the service that will check the token (its signing key is
        /// there: `confab serve` creates it on first start).
        #[arg(long, default_value = "confab-data")]
        data_dir: PathBuf,
        /// Create a signing key if the data directory has none (for a service not started
        /// yet, which will then use it). Without it, a missing key is an error: a token
        /// signed with a new key would be refused by the running service.
        #[arg(long)]
        create_key: bool,
    },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s}: voip, bot or admin"))
}

#[allow(clippy::disallowed_methods)] // the binary's edge reads the wall clock
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The WebRTC core narrates every state change at info: keep it to warnings. The demo
    // shows only its own progress; its summary goes to stdout.
    let default_filter = match cli.command {
        Command::Demo { .. } => "warn,confab_server::demo=info",
        _ => "info,rtc=warn,rtc_ice=warn,rtc_dtls=warn,rtc_srtp=warn,rtc_sctp=warn,rsipstack=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        // Colours only for a terminal: a file or a pipe gets plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match cli.command {
        Command::Demo { seconds, out } => demo(seconds, out),
        Command::Token {
            identity,
            scope,
            ttl,
            data_dir,
            create_key,
        } => {
            let identity = identity.unwrap_or_else(Identity::new_user);
            let secrets = if create_key {
                Secrets::load_or_create(&data_dir).map(Some)
            } else {
                Secrets::load(&data_dir)
            };
            let minted = secrets
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    s.ok_or_else(|| {
                        format!(
                            "no signing key in {}: pass the --data-dir of the running service \
                             (`confab serve` creates its key there on first start), or \
                             --create-key for a service that will start on this directory",
                            data_dir.join("secrets.json").display()
                        )
                    })
                })
                .and_then(|s| s.token_key().map_err(|e| e.to_string()))
                .and_then(|key| {
                    key.mint(&identity, &scope, unix_now(), ttl)
                        .map_err(|e| e.to_string())
                });
            match minted {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("confab token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            config,
            http,
            media_udp,
            public_ip,
            data_dir,
            tls_cert,
            tls_key,
            no_echo,
            sip_udp,
            sip_tcp,
            insecure_http,
            redis,
            redis_ca,
            redis_client_cert,
            redis_client_key,
            node_ca,
            node_id,
            advertise_url,
        } => {
            let mut settings = match config {
                Some(path) => match ServerConfig::from_file(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("confab serve: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => ServerConfig::default(),
            };
            if let Err(e) = settings.apply_env(|name| std::env::var(name).ok()) {
                eprintln!("confab serve: {e}");
                return ExitCode::FAILURE;
            }
            settings.http = http.unwrap_or(settings.http);
            settings.media_udp = media_udp.unwrap_or(settings.media_udp);
            settings.public_ip = public_ip.or(settings.public_ip);
            settings.data_dir = data_dir.unwrap_or(settings.data_dir);
            settings.tls_cert = tls_cert.or(settings.tls_cert);
            settings.tls_key = tls_key.or(settings.tls_key);
            settings.echo_service &= !no_echo;
            settings.sip.udp = sip_udp.or(settings.sip.udp);
            settings.sip.tcp = sip_tcp.or(settings.sip.tcp);
            settings.insecure_http |= insecure_http;
            settings.cluster.redis = redis.or(settings.cluster.redis);
            settings.cluster.redis_ca = redis_ca.or(settings.cluster.redis_ca);
            settings.cluster.redis_client_cert =
                redis_client_cert.or(settings.cluster.redis_client_cert);
            settings.cluster.redis_client_key =
                redis_client_key.or(settings.cluster.redis_client_key);
            settings.cluster.node_ca = node_ca.or(settings.cluster.node_ca);
            settings.cluster.node_id = node_id.or(settings.cluster.node_id);
            settings.cluster.advertise_url = advertise_url.or(settings.cluster.advertise_url);
            serve(settings)
        }
    }
}

fn demo(seconds: u32, out: PathBuf) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = confab_server::demo::DemoOptions { seconds, out };
    match runtime.block_on(confab_server::demo::run(&options)) {
        Ok(report) => {
            println!("{}", report.summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confab demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: ServerConfig) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match confab_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("confab serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "confab serving on http://{} (Ctrl-C to stop)",
            server.http_addr()
        );
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: ending calls");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
