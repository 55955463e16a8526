//! `outpost-coordinator`: the process that takes jobs and runs the fleet.

use clap::Parser;
use outpost_coordinator::config::Config;
use outpost_coordinator::server::{self, Options};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Outpost coordinator: job intake, dispatch over NATS JetStream, job state.
/// mimalloc: glibc's malloc took a third of this process's CPU on the hot
/// path (many small short-lived buffers, freed on other threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML): zones and their CIDRs, NATS, JetStream settings.
    #[arg(long, short = 'c', env = "OUTPOST_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP API address (default 127.0.0.1:8080, or `listen` in the config).
    #[arg(long)]
    listen: Option<String>,
    /// NATS server URL (default: `nats_url` in the config, else nats://127.0.0.1:4222).
    #[arg(long, env = "OUTPOST_NATS_URL")]
    nats: Option<String>,
    /// The coordinator's NATS creds file (`outpost nats setup` writes
    /// `coordinator.creds`); default: `[nats] creds` in the config.
    #[arg(long, env = "OUTPOST_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
    /// CA certificate of the NATS server (`ca.pem`); makes TLS mandatory.
    #[arg(long, env = "OUTPOST_NATS_CA")]
    nats_ca: Option<PathBuf>,
    /// Connect without credentials or TLS: loopback servers only.
    #[arg(long)]
    nats_insecure: bool,
    /// File holding the API token (one line), e.g. a systemd credential;
    /// instead of `OUTPOST_API_TOKEN`.
    #[arg(long, env = "OUTPOST_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// The URL other coordinators forward API requests to while this one
    /// leads (default: `api.advertise`, else the listen address).
    #[arg(long, env = "OUTPOST_API_ADVERTISE")]
    advertise: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _telemetry = outpost_telemetry::init("outpost-coordinator");
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("outpost-coordinator: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    outpost_telemetry::sampling::TaskSampling::from_env().map_err(anyhow::Error::msg)?;
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::parse("", "(defaults)")?,
    };
    if let Some(creds) = args.nats_creds {
        config.nats.creds = Some(creds);
    }
    if let Some(ca) = args.nats_ca {
        config.nats.ca = Some(ca);
    }
    config.nats.insecure |= args.nats_insecure;
    if config.zones.is_empty() {
        tracing::warn!("no zones configured: every job will be refused");
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    let token = match &args.api_token_file {
        Some(path) => Some(
            outpost_api::auth::read_token_file(path)
                .map_err(anyhow::Error::msg)?
                .to_string(),
        ),
        None => std::env::var("OUTPOST_API_TOKEN").ok(),
    };
    server::run(
        Options {
            config,
            listen: args.listen,
            nats_url: args.nats,
            token,
            advertise: args.advertise,
        },
        shutdown,
    )
    .await?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
