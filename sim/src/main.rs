//! `outpost-sim`: serves simulated devices until SIGTERM/SIGINT.
//!
//! `outpost-sim ssh --config devices.toml` or a generated fleet:
//! `outpost-sim ssh --count 500 --first-addr 127.3.0.1 --port 2222 --platform mixed
//!  --username admin --password PASS [--write-inventory fleet.csv]`.
//! `outpost-sim redfish --count 256 --first-addr 127.4.0.1 --port 8443 --password PASS`
//! serves simulated iDRACs (`--tls weak-key` or `--tls tls10` for old ones).
//! Prints `outpost-sim ready ssh=N` (or `redfish=N`) once every listener is bound.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use outpost_sim::ssh::fleet::{self, FleetParams, PlatformChoice};
use outpost_sim::ssh::{DeviceFile, SshSim};

#[derive(Parser)]
#[command(
    name = "outpost-sim",
    about = "Device simulators for Outpost tests and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve simulated network devices (IOS, EOS, Junos) over SSH.
    Ssh(SshArgs),
    /// Serve simulated Dell iDRACs over Redfish (HTTPS).
    Redfish(RedfishArgs),
}

#[derive(Args)]
struct RedfishArgs {
    /// Number of iDRACs, on consecutive addresses.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Address of the first iDRAC.
    #[arg(long, default_value = "127.4.0.1")]
    first_addr: Ipv4Addr,
    #[arg(long, default_value_t = 8443)]
    port: u16,
    #[arg(long, default_value = "root")]
    username: String,
    #[arg(long, env = "OUTPOST_SIM_PASSWORD")]
    password: String,
    /// Device time scale: 0.01 runs a 60 s firmware apply in 0.6 s.
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// TLS of every iDRAC: `modern` (TLS 1.2/1.3, P-256), `weak-key`
    /// (1024-bit RSA factory certificate, TLS 1.2) or `tls10` (only TLS 1.0,
    /// legacy ciphers).
    #[arg(long, value_enum, default_value = "modern")]
    tls: TlsArg,
    /// Listen on addresses outside 127.0.0.0/8, allowed only inside a
    /// network namespace of our own (deploy/local-sites.sh).
    #[arg(long)]
    in_namespace: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TlsArg {
    Modern,
    WeakKey,
    Tls10,
}

#[derive(Args)]
struct SshArgs {
    /// TOML file with `[[device]]` tables (instead of a generated fleet).
    #[arg(long, conflicts_with = "count")]
    config: Option<PathBuf>,
    /// Number of generated devices.
    #[arg(long)]
    count: Option<usize>,
    /// Address of the first generated device; the next ones follow.
    #[arg(long, default_value = "127.3.0.1")]
    first_addr: Ipv4Addr,
    /// Port every generated device listens on.
    #[arg(long, default_value_t = 2222)]
    port: u16,
    /// ios, eos, junos or mixed (cycles ios, eos, junos).
    #[arg(long, default_value = "ios")]
    platform: PlatformChoice,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "OUTPOST_SIM_PASSWORD")]
    password: Option<String>,
    #[arg(long)]
    enable_secret: Option<String>,
    /// Think time before each command's output.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Approximate size of the configuration output.
    #[arg(long, default_value_t = 4096)]
    config_bytes: usize,
    /// Generated names are PREFIX001, PREFIX002, ...
    #[arg(long, default_value = "sw")]
    name_prefix: String,
    /// Write the running devices as a CSV inventory.
    #[arg(long)]
    write_inventory: Option<PathBuf>,
    /// Listen on addresses outside 127.0.0.0/8, allowed only inside a
    /// network namespace of our own (deploy/local-sites.sh).
    #[arg(long)]
    in_namespace: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Ssh(args) => ssh(args).await,
        Command::Redfish(args) => redfish(args).await,
    }
}

async fn redfish(args: RedfishArgs) -> anyhow::Result<()> {
    use outpost_sim::redfish::{IdracSpec, RedfishSim};
    let first = u32::from(args.first_addr);
    let mut specs = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let ip = first
            .checked_add(i as u32)
            .map(Ipv4Addr::from)
            .filter(|ip| outpost_sim::netns::may_listen(*ip, args.in_namespace))
            .with_context(|| {
                format!(
                    "{} iDRACs from {} leave 127.0.0.0/8 (other addresses: --in-namespace, inside a network namespace)",
                    args.count, args.first_addr
                )
            })?;
        let mut spec = IdracSpec::new(
            (ip, args.port).into(),
            &args.username,
            &args.password,
            i as u64 + 1,
        );
        spec.timings.scale = args.scale;
        spec.tls = match args.tls {
            TlsArg::Modern => outpost_sim::redfish::TlsProfile::Modern,
            TlsArg::WeakKey => outpost_sim::redfish::TlsProfile::WeakKey,
            TlsArg::Tls10 => outpost_sim::redfish::TlsProfile::Tls10,
        };
        specs.push(spec);
    }
    let sim = RedfishSim::start(specs).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "outpost-sim ready redfish={}", sim.addrs().len())?;
    out.flush()?;
    drop(out);
    wait_for_signal().await?;
    sim.stop().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}

async fn ssh(args: SshArgs) -> anyhow::Result<()> {
    let specs = match (&args.config, args.count) {
        (Some(path), _) => DeviceFile::load(path)?,
        (None, Some(count)) => {
            let Some(password) = args.password.clone() else {
                bail!("--password (or OUTPOST_SIM_PASSWORD) is required with --count");
            };
            fleet::generate(&FleetParams {
                count,
                first_addr: args.first_addr,
                port: args.port,
                platform: args.platform,
                username: args.username.clone(),
                password,
                enable_secret: args.enable_secret.clone(),
                latency_ms: args.latency_ms,
                config_bytes: args.config_bytes,
                name_prefix: args.name_prefix.clone(),
                in_namespace: args.in_namespace,
            })?
        }
        (None, None) => bail!("give --config FILE or --count N"),
    };
    let sim = SshSim::start(specs).await?;
    if let Some(path) = &args.write_inventory {
        std::fs::write(path, fleet::inventory_csv(&sim.specs()))
            .with_context(|| format!("writing inventory {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "outpost-sim ready ssh={}", sim.addrs().len())?;
    out.flush()?;
    drop(out);

    wait_for_signal().await?;
    sim.stop().await;
    Ok(())
}
