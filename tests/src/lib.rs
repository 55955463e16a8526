//! Test and benchmark harness for whole-fleet tests: a real `nats-server`
//! per test, the real coordinator and worker binaries as child processes,
//! and a small client for the coordinator's HTTP API.

pub mod api;
pub mod attacker;
pub mod bench;
pub mod browser;
pub mod chaos;
pub mod collect;
pub mod dsm;
pub mod fleet;
pub mod hub;
pub mod idracs;
pub mod inspect;
pub mod nats;
pub mod otlp;
pub mod pg;
pub mod procs;
pub mod receivers;
pub mod rolling;
pub mod sites;
pub mod sshd;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// Path of a workspace binary (`outpost-coordinator`, `outpost-worker`,
/// `outpost`) built next to the running test or benchmark executable.
pub fn fleet_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut dir = exe
        .parent()
        .context("executable has no folder")?
        .to_path_buf();
    // Test executables live in target/<profile>/deps.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: build the workspace first (cargo build --workspace, or run the tests with cargo nextest run --workspace)",
            path.display()
        );
    }
    Ok(path)
}

/// Polls `check` every 100 ms until it gives a value; after `deadline`
/// fails with `what` and the last thing `check` reported.
pub async fn wait_until<T>(
    what: &str,
    deadline: std::time::Duration,
    mut check: impl AsyncFnMut() -> std::result::Result<T, String>,
) -> Result<T> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(last) if tokio::time::Instant::now() >= until => {
                bail!("{what} did not happen within {deadline:?} (last: {last})")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// `N cores, <CPU model>` of this machine, for benchmark reports.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores, {model}")
}

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
