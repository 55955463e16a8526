//! Test and benchmark harness for whole-fleet tests: a real `nats-server`
//! per test, the real coordinator and worker binaries as child processes,
//! and a small client for the coordinator's HTTP API.

pub mod api;
pub mod fleet;
pub mod inspect;
pub mod nats;
pub mod procs;

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
