//! The `outpost` command line: a client of the coordinator's HTTP API to
//! submit jobs, list and follow them, cancel them and see the workers.
//! Exit codes: 0 the job succeeded (or the command did what was asked),
//! 1 the job failed or was cancelled, 2 usage, connection or API errors,
//! 3 the job is not finished yet.

mod client;
pub mod collect;
mod follow;
mod render;
mod site;
mod sse;
pub mod vault;

pub use client::{Client, ClientError};

use clap::{Parser, Subcommand};
use outpost_api::Status;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when the job failed or was cancelled.
pub const EXIT_JOB_FAILED: u8 = 1;
/// Exit code on usage, connection or API errors.
pub const EXIT_ERROR: u8 = 2;
/// Exit code of `job ID` for a job still running.
pub const EXIT_NOT_FINISHED: u8 = 3;

/// Outpost: run jobs on the fleet and watch them.
#[derive(Debug, Parser)]
#[command(name = "outpost", version)]
pub struct Args {
    /// Coordinator API base URL.
    #[arg(
        long,
        env = "OUTPOST_API",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api: String,
    /// File holding the API's bearer token (else `OUTPOST_API_TOKEN`).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Refused: a token on the command line is readable by every user of
    /// the machine (`ps`, `/proc/PID/cmdline`).
    #[arg(long, global = true, hide = true, value_name = "TOKEN")]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a job document (JSON; `-` reads stdin) and follow it.
    Submit {
        file: PathBuf,
        /// Print the job id and return without following the job.
        #[arg(long)]
        detach: bool,
    },
    /// List jobs, newest first.
    Jobs {
        /// Only jobs in this status (pending, running, succeeded, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one job and its tasks.
    Job {
        id: String,
        /// Follow the job live until it finishes.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job: queued tasks are dropped, running ones stopped.
    Cancel { id: String },
    /// Run a VelocityCollector v2.0 job file on the fleet (as `run_job`).
    RunJob(collect::RunJobArgs),
    /// Run several job files at once (as `run_jobs_concurrent`).
    RunJobs(collect::RunJobsArgs),
    /// Manage a zone's credential vault.
    Vault(vault::VaultArgs),
    /// Prepare a Dell Server Manager database for the bridge.
    Dsm {
        #[command(subcommand)]
        command: DsmCommand,
    },
    /// A zone's key pair for credentials sealed by the coordinator.
    ZoneKey {
        #[command(subcommand)]
        command: ZoneKeyCommand,
    },
    /// List live workers per zone.
    Workers {
        #[arg(long)]
        json: bool,
    },
    /// Pinned iDRAC certificates.
    Pins {
        #[command(subcommand)]
        command: PinsCommand,
    },
    /// NATS identities and the server's TLS and permissions.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// Sites: leaf nodes of the hub, each with its own zones.
    Site {
        #[command(subcommand)]
        command: site::SiteCommand,
    },
    /// Notification channels (`[[notify]]` in the coordinator's config).
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to CHANNEL and print what its receiver answered.
    Test { channel: String },
    /// The latest deliveries: channel, event, job, state, attempts.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The API's JSON as it is.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// Write (or bring up to date) everything a deployment needs: a CA and
    /// the server's certificate, `nats-server.conf` with TLS required and
    /// one user per identity with its permissions, `coordinator.creds` and
    /// `zone-<name>.creds` for every zone of the coordinator's
    /// configuration. Re-running keeps existing keys; `--reissue-zone` and
    /// `--revoke-zone` change one zone's identity only.
    Setup {
        /// The coordinator's configuration, whose `[[zone]]` tables name the zones.
        #[arg(long, short = 'c')]
        config: std::path::PathBuf,
        #[command(flatten)]
        args: outpost_nats::setup::SetupArgs,
    },
}

/// Largest coordinator configuration read for its zones.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;

/// The names of the `[[zone]]` tables of the coordinator's configuration
/// at `path`. Only the zones are read: the coordinator checks the rest of
/// its file when it starts.
fn config_zones(path: &std::path::Path) -> Result<Vec<String>, String> {
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut text = String::new();
    f.take(MAX_CONFIG + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(format!("{shown} is larger than {MAX_CONFIG} bytes"));
    }
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        zone: Vec<Zone>,
    }
    #[derive(serde::Deserialize)]
    struct Zone {
        name: String,
    }
    let config: Config = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    if config.zone.is_empty() {
        return Err(format!("{shown} has no [[zone]] table: nothing to set up"));
    }
    Ok(config.zone.into_iter().map(|z| z.name).collect())
}

fn nats(command: NatsCommand) -> Result<u8, ClientError> {
    match command {
        NatsCommand::Setup { config, args } => {
            let zones = config_zones(&config).map_err(ClientError::Usage)?;
            let report = args
                .run(zones)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            print!("{}", outpost_nats::setup::render_report(&report));
            Ok(0)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PinsCommand {
    /// Accept a new certificate of one iDRAC (a replaced board, a renewed
    /// certificate): with --sha256, pin that fingerprint (as read on the
    /// iDRAC's own console); without, forget the pin so the next connection
    /// pins what it sees.
    Accept {
        address: String,
        #[arg(long, default_value_t = 443)]
        port: u16,
        /// The new certificate's SHA-256 (64 hex digits, colons allowed).
        #[arg(long)]
        sha256: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ZoneKeyCommand {
    /// Write a new secret key to FILE (for the zone's workers,
    /// `--zone-key-file`) and print the public key for the zone's
    /// `public_key` in the coordinator's config.
    Generate {
        /// Where the secret key goes; created with mode 0600, never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
}

fn zone_key(command: ZoneKeyCommand) -> Result<u8, ClientError> {
    match command {
        ZoneKeyCommand::Generate { out } => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let (secret, public) = outpost_vault::sealed::generate();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .map_err(|e| ClientError::Usage(format!("cannot create {}: {e}", out.display())))?;
            f.write_all(format!("{}\n", secret.as_str()).as_bytes())
                .map_err(|e| ClientError::Usage(format!("cannot write {}: {e}", out.display())))?;
            println!("public_key = \"{public}\"");
            Ok(0)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DsmCommand {
    /// Create (or replace) the trigger that notifies coordinators of new
    /// and changed jobs (`NOTIFY outpost_jobs`).
    Install {
        /// PostgreSQL connection string of the app's database
        /// (`sslmode=require` for TLS, as Supabase wants).
        #[arg(long, env = "OUTPOST_DSM_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// CA certificates (PEM) the database's certificate must chain to.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Encrypt without checking the database's certificate.
        #[arg(long)]
        no_tls_verify: bool,
    },
}

async fn dsm(command: DsmCommand) -> Result<u8, ClientError> {
    match command {
        DsmCommand::Install {
            database_url,
            ca_file,
            no_tls_verify,
        } => {
            let fail = |e: outpost_dsm_db::db::DbError| ClientError::Usage(e.to_string());
            let tls = outpost_dsm_db::db::Tls {
                ca_file,
                verify: !no_tls_verify,
            };
            let (client, _) = outpost_dsm_db::db::connect(&database_url, &tls)
                .await
                .map_err(fail)?;
            let problems = outpost_dsm_db::access::check_install(&client)
                .await
                .map_err(fail)?;
            if !problems.is_empty() {
                return Err(ClientError::Usage(format!(
                    "cannot install the trigger:\n  {}",
                    problems.join("\n  ")
                )));
            }
            outpost_dsm_db::install::install(&client)
                .await
                .map_err(fail)?;
            let access = outpost_dsm_db::access::check(&client).await.map_err(fail)?;
            if !access.is_empty() {
                eprintln!(
                    "warning: with this role the bridge would refuse to run:\n  {}",
                    access.join("\n  ")
                );
            }
            println!(
                "trigger outpost_notify_job installed on public.jobs ({})",
                outpost_dsm_db::redact(&database_url)
            );
            Ok(0)
        }
    }
}

/// Runs the command; returns the process exit code.
pub async fn run(args: Args) -> ExitCode {
    match execute(args).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("outpost: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn execute(args: Args) -> Result<u8, ClientError> {
    let token = token(args.token.is_some(), args.token_file.as_deref())?;
    let client = Client::new(&args.api, token.as_deref().map(|t| t.as_str()))?;
    match args.command {
        Command::RunJob(a) => Ok(collect::run_job(&client, a).await),
        Command::Vault(a) => Ok(vault::run(a)),
        Command::Dsm { command } => dsm(command).await,
        Command::ZoneKey { command } => zone_key(command),
        Command::Nats { command } => nats(command),
        Command::Site { command } => site::run(&client, command).await,
        Command::Notify { command } => notify(&client, command).await,
        Command::RunJobs(a) => Ok(collect::run_jobs(&client, a).await),
        Command::Submit { file, detach } => {
            let body = read_document(&file)?;
            let job = client.submit(body).await?;
            println!("job {} submitted", job.id);
            if detach {
                return Ok(0);
            }
            follow::follow(&client, &job.id).await
        }
        Command::Jobs {
            status,
            limit,
            json,
        } => {
            if let Some(s) = &status
                && Status::parse(s).is_none()
            {
                return Err(ClientError::Usage(format!(
                    "unknown status {s:?}: use pending, running, succeeded, failed or cancelled"
                )));
            }
            let (jobs, raw) = client.jobs(status.as_deref(), limit).await?;
            if json {
                println!("{raw}");
            } else {
                print!("{}", render::jobs_table(&jobs));
            }
            Ok(0)
        }
        Command::Job { id, follow, json } => {
            if follow {
                return follow::follow(&client, &id).await;
            }
            let (view, archived, raw) = client.job(&id).await?;
            if json {
                println!("{raw}");
            } else {
                print!("{}", render::job_detail(&view));
                if archived {
                    println!(
                        "archived: its tasks are no longer kept; the failed ones it had are listed"
                    );
                }
            }
            Ok(exit_code(view.job.status))
        }
        Command::Cancel { id } => {
            let job = client.cancel(&id).await?;
            println!("job {} {}: cancel requested", job.id, job.status.as_str());
            Ok(0)
        }
        Command::Pins {
            command:
                PinsCommand::Accept {
                    address,
                    port,
                    sha256,
                },
        } => {
            let v = client.set_pin(&address, port, sha256.as_deref()).await?;
            let old = v.previous_sha256.as_deref().unwrap_or("none");
            match v.cert_sha256.as_deref() {
                Some(new) => println!("{address}:{port}: pinned {new} (was {old})"),
                None => println!(
                    "{address}:{port}: pin {old} forgotten; the next connection pins the certificate it sees"
                ),
            }
            Ok(0)
        }
        Command::Workers { json } => {
            let (workers, raw) = client.workers().await?;
            if json {
                println!("{raw}");
            } else {
                print!("{}", render::workers_table(&workers));
            }
            Ok(0)
        }
    }
}

/// The API token: from `--token-file`, else `OUTPOST_API_TOKEN`, never
/// from the command line.
fn token(
    on_command_line: bool,
    file: Option<&std::path::Path>,
) -> Result<Option<zeroize::Zeroizing<String>>, ClientError> {
    if on_command_line {
        return Err(ClientError::Usage(
            "--token is not accepted: a token in the command line is visible to every user of this machine; set OUTPOST_API_TOKEN or use --token-file FILE".into(),
        ));
    }
    let Some(path) = file else {
        return Ok(std::env::var("OUTPOST_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(zeroize::Zeroizing::new));
    };
    read_token_file(path).map(Some).map_err(ClientError::Usage)
}

pub use outpost_api::auth::read_token_file;

/// The exit code a job in `status` maps to.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Succeeded => 0,
        Status::Failed | Status::Cancelled => EXIT_JOB_FAILED,
        Status::Pending | Status::Running => EXIT_NOT_FINISHED,
    }
}

fn read_document(file: &PathBuf) -> Result<String, ClientError> {
    let mut body = String::new();
    let res = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut body).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|s| body = s)
    };
    res.map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&body) {
        return Err(ClientError::Usage(format!(
            "{} is not valid JSON: {e}",
            file.display()
        )));
    }
    Ok(body)
}

async fn notify(client: &Client, command: NotifyCommand) -> Result<u8, ClientError> {
    match command {
        NotifyCommand::Test { channel } => {
            let a = client.notify_test(&channel).await?;
            let kind = a["kind"].as_str().unwrap_or("?");
            if a["delivered"] == true {
                println!(
                    "{channel} ({kind}): delivered; the receiver answered {}: {}",
                    a["code"],
                    a["answer"].as_str().unwrap_or("")
                );
                Ok(0)
            } else {
                println!(
                    "{channel} ({kind}): not delivered: {}",
                    a["error"].as_str().unwrap_or("unknown error")
                );
                Ok(EXIT_ERROR)
            }
        }
        NotifyCommand::List { limit, json } => {
            let (list, raw) = client.notifications(limit).await?;
            if json {
                println!("{raw}");
                return Ok(0);
            }
            print!("{}", render::notifications_table(&list));
            Ok(0)
        }
    }
}
