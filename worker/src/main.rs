//! `outpost-worker`: the process placed inside a zone that runs its tasks.

use clap::Parser;
use outpost_worker::ops::ssh::hostkeys::HostKeyPolicy;
use outpost_worker::{Credentials, SshSettings, WorkerConfig, secrets};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// Outpost zone worker: claims the zone's tasks from NATS JetStream and runs them.
/// mimalloc: glibc's malloc took a third of this process's CPU on the hot
/// path (many small short-lived buffers, freed on other threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Zone this worker serves (a NATS token: lowercase letters, digits, `_`, `-`).
    #[arg(long, env = "OUTPOST_ZONE")]
    zone: String,
    /// Task kinds to run, comma separated (default: all this worker knows).
    #[arg(long, env = "OUTPOST_KINDS", default_value = "")]
    kinds: String,
    /// Tasks run at once, all kinds together.
    #[arg(long, env = "OUTPOST_CONCURRENCY", default_value_t = 32)]
    concurrency: usize,
    /// NATS server URL.
    #[arg(
        long,
        env = "OUTPOST_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// The zone's NATS creds file (`zone-<zone>.creds` from `outpost nats
    /// setup`). With it, the worker is in its zone's own NATS account and
    /// reaches the coordinator's JetStream under `JS.OUTPOST.API`, as that
    /// setup exports it.
    #[arg(long, env = "OUTPOST_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
    /// CA certificate of the NATS server (`ca.pem`); makes TLS mandatory.
    #[arg(long, env = "OUTPOST_NATS_CA")]
    nats_ca: Option<PathBuf>,
    /// Connect without credentials or TLS: loopback servers only
    /// (development and tests).
    #[arg(long, env = "OUTPOST_NATS_INSECURE")]
    nats_insecure: bool,
    /// This worker's id (default: host name and a random suffix).
    #[arg(long, env = "OUTPOST_WORKER_ID")]
    worker_id: Option<String>,
    /// Deprecated and ignored: the coordinator sets the ack wait per zone
    /// (`[[zone]] ack_wait_secs`) on the zone's consumers.
    #[arg(long, hide = true)]
    ack_wait_secs: Option<u64>,
    /// Deprecated and ignored: the coordinator sets it per zone (`[[zone]] max_deliver`).
    #[arg(long, hide = true)]
    max_deliver: Option<i64>,
    /// Seconds to wait for the coordinator to create the zone's consumers
    /// before giving up with an error.
    #[arg(long, default_value_t = 60)]
    consumer_wait_secs: u64,
    /// Seconds a stopping worker lets running tasks finish before it hands them back.
    #[arg(long, default_value_t = 30)]
    drain_timeout_secs: u64,
    /// First retry delay in milliseconds after a retryable failure; doubles per attempt.
    #[arg(long, default_value_t = 500)]
    retry_base_ms: u64,
    /// The zone's credential vault (`outpost vault init`); unlocked once at
    /// start with the password from --vault-pass-file, systemd's
    /// credential `outpost-vault-pass`, OUTPOST_VAULT_PASS (erased from the
    /// environment at start) or a prompt on the terminal, in that order.
    #[arg(long, env = "OUTPOST_VAULT")]
    vault: Option<PathBuf>,
    /// A file whose first line is the vault password.
    #[arg(long, env = "OUTPOST_VAULT_PASS_FILE")]
    vault_pass_file: Option<PathBuf>,
    /// Unknown device host keys: trusted on first use, or refused (strict).
    #[arg(long, value_enum, default_value = "tofu")]
    host_keys: HostKeyPolicy,
    /// An OpenSSH known_hosts file whose device keys are trusted too.
    #[arg(long)]
    known_hosts: Option<PathBuf>,
    /// The zone's secret key (`outpost zone-key generate`), for credentials
    /// the coordinator sealed to this zone (jobs from Dell Server Manager).
    #[arg(long, env = "OUTPOST_ZONE_KEY_FILE")]
    zone_key_file: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (`/metrics`), e.g.
    /// 127.0.0.1:9464 or 0.0.0.0:9464 for a scraper on another host; off
    /// unless given. The page holds counts and timings, never a secret.
    #[arg(long, env = "OUTPOST_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Largest output accepted from one device, in bytes.
    #[arg(long, default_value_t = outpost_worker::ops::ssh::DEFAULT_MAX_OUTPUT)]
    ssh_max_output_bytes: usize,
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before the runtime or anything else
    // starts a thread.
    let env_pass = unsafe { secrets::take_env(secrets::VAULT_PASS_ENV) };
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("outpost-worker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, env_pass))
}

async fn run(args: Args, env_pass: Option<Zeroizing<String>>) -> ExitCode {
    let _telemetry = outpost_telemetry::init("outpost-worker");
    for (flag, given) in [
        ("--ack-wait-secs", args.ack_wait_secs.is_some()),
        ("--max-deliver", args.max_deliver.is_some()),
    ] {
        if given {
            tracing::warn!(
                flag,
                "deprecated flag ignored: the coordinator sets ack_wait_secs and max_deliver per zone in its [[zone]] tables"
            );
        }
    }
    let kinds = match WorkerConfig::parse_kinds(&args.kinds) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let zone_key = match &args.zone_key_file {
        None => None,
        Some(path) => match read_zone_key(path) {
            Ok(k) => Some(k),
            Err(e) => return fail(&e),
        },
    };
    let cfg = WorkerConfig {
        zone: args.zone,
        worker_id: args.worker_id.unwrap_or_else(default_worker_id),
        kinds,
        concurrency: args.concurrency,
        nats_url: args.nats,
        nats_security: outpost_nats::connect::ClientSecurity {
            creds: args.nats_creds,
            ca: args.nats_ca,
            insecure: args.nats_insecure,
        },
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
        consumer_wait: Duration::from_secs(args.consumer_wait_secs),
        retry_base: Duration::from_millis(args.retry_base_ms),
        ssh: SshSettings {
            host_key_policy: args.host_keys,
            known_hosts: args.known_hosts,
            max_output: args.ssh_max_output_bytes,
        },
        zone_key,
        metrics_listen: args.metrics_listen,
    };
    let cfg = match cfg.validate() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let credentials = match &args.vault {
        None => Credentials::None,
        Some(path) => match unlock(path, args.vault_pass_file.as_deref(), env_pass) {
            Ok(v) => v,
            Err(e) => return fail(&e),
        },
    };
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested");
        signal.cancel();
    });
    match outpost_worker::run(cfg, credentials, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Reads and checks the zone's secret key.
fn read_zone_key(path: &std::path::Path) -> Result<outpost_vault::Secret, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read zone key {}: {e}", path.display()))?,
    );
    let public = outpost_vault::sealed::public_of(text.trim())
        .map_err(|e| format!("zone key {}: {e}", path.display()))?;
    tracing::info!(public_key = %public, "zone key loaded");
    Ok(outpost_vault::Secret::new(text.trim()))
}

/// Opens the zone's vault; the password is not kept once the vault is open.
fn unlock(
    path: &Path,
    pass_file: Option<&Path>,
    env_pass: Option<Zeroizing<String>>,
) -> Result<Credentials, String> {
    let systemd = secrets::credentials_file(std::env::var_os("CREDENTIALS_DIRECTORY").as_deref());
    let pass = if let Some(file) = pass_file {
        secrets::read_file(file)?
    } else if let Some(file) = systemd {
        secrets::read_file(&file)?
    } else if let Some(p) = env_pass {
        p
    } else if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("Vault password for {}: ", path.display()))
                .map_err(|e| format!("cannot read the vault password: {e}"))?,
        )
    } else {
        return Err(format!(
            "vault {} needs a password: use --vault-pass-file, systemd's credential {}, OUTPOST_VAULT_PASS, or start the worker on a terminal",
            path.display(),
            secrets::CREDENTIAL_NAME
        ));
    };
    let vault = outpost_vault::Vault::open(path, &pass)
        .map_err(|e| format!("cannot unlock vault {}: {e}", path.display()))?;
    tracing::info!(vault = %path.display(), credentials = vault.list().len(), "vault unlocked");
    Ok(Credentials::Vault(Arc::new(vault)))
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{e}");
    eprintln!("outpost-worker: {e}");
    ExitCode::FAILURE
}

fn default_worker_id() -> String {
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[24..];
    if host.is_empty() {
        format!("worker-{suffix}")
    } else {
        format!("{host}-{suffix}")
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
