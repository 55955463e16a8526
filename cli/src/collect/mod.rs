//! `outpost run-job` and `outpost run-jobs`: VelocityCollector's job
//! runners on the fleet. Same flags, output and exit codes as the seed's
//! `run_job` / `run_jobs_concurrent` (0: every device of every job
//! succeeded; 1: anything else, a run given up at `--wait-timeout` and a
//! refused credential included), but the devices are collected by the
//! workers of their zones: the CLI plans through the coordinator (a dry
//! run), checks the zones' live workers and their credential names, asks
//! for confirmation, submits, follows the job's events and writes each
//! capture under the job file's `storage.base_path`.

mod device;
mod execute;
mod job;
mod readiness;
mod report;
mod run_job;
mod run_jobs;
mod save;

pub use run_job::run_job;
pub use run_jobs::run_jobs;

use std::path::PathBuf;

/// Options shared by both runners.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Credential set name from the zone vaults (default: the job file's
    /// `credentials.credential_set`, else the vault's default credential).
    #[arg(long)]
    pub credential: Option<String>,
    /// Accepted for compatibility: the zone workers unlock their own vaults,
    /// so the runner needs no vault password.
    #[arg(long, env = "VELOCITYCMDB_VAULT_PASS", hide_env_values = true)]
    pub vault_pass: Option<String>,
    /// Show matched devices without executing.
    #[arg(long)]
    pub dry_run: bool,
    /// Process only the first N matched devices (per job).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Show every event of the job (SSH progress, retries) on stderr.
    #[arg(long)]
    pub debug: bool,
    /// Execute but don't save captures to files.
    #[arg(long)]
    pub no_save: bool,
    /// Skip the confirmation prompt.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Give up after this many seconds (per job, from its submission): the
    /// job is cancelled, devices not collected count as failed (exit 1).
    /// Default: wait until every device is done.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_timeout: Option<u64>,
}

/// `outpost run-job`.
#[derive(Debug, clap::Args)]
pub struct RunJobArgs {
    /// Path to a v2.0 job JSON file.
    #[arg(long)]
    pub job: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

/// `outpost run-jobs`.
#[derive(Debug, clap::Args)]
pub struct RunJobsArgs {
    /// Job file(s) to run (quoted glob patterns are expanded too).
    #[arg(long, num_args = 1.., required_unless_present = "jobs_dir", conflicts_with = "jobs_dir")]
    pub jobs: Vec<PathBuf>,
    /// Directory whose `*.json` files are the jobs.
    #[arg(long)]
    pub jobs_dir: Option<PathBuf>,
    /// Max jobs to run in parallel.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_concurrent_jobs: u32,
    /// Minimal output during execution.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Exit code when everything succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code for any failure: a device, a job, the job file, the coordinator,
/// a credential the zone's workers do not have, `--wait-timeout` passing.
pub const EXIT_FAILED: u8 = 1;

/// Asks `question [y/N]: ` on the terminal (or reads a line from stdin).
fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question} [y/N]: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn vault_pass_note(common: &Common) {
    if common.vault_pass.is_some() {
        println!(
            "Note: the vault password is not needed here: each zone's workers unlock their own vault."
        );
    }
}
