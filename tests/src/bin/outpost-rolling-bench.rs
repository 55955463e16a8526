//! `outpost-rolling-bench`: the rolling-update benchmark of issue 5,
//! through the whole fleet (coordinator, a worker in the iDRACs' zone and
//! one in the vCenter's zone, govmomi's vCenter simulator, release builds).
//!
//! 1. T: one host's whole update (pre-checks, maintenance, firmware with
//!    its reboot, reconnect, verify, exit) on its own.
//! 2. Three clusters of eight hosts, `max_parallel` 1: the makespan, against
//!    8 × T (clusters in parallel; target at most 8 × T + 10 %) and 24 × T
//!    (the seed executor's one host at a time across all clusters).
//!
//! Run with `cargo run --release -p outpost-tests --bin outpost-rolling-bench`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use outpost_tests::fleet::SETTLE;
use outpost_tests::rolling::{Rig, RigOptions, hosts};
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Parser)]
struct Args {
    /// Device time scale of the simulated iDRACs (0.01: a 60 s apply takes 0.6 s).
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    #[arg(long, default_value_t = 3)]
    clusters: usize,
    #[arg(long, default_value_t = 8)]
    hosts: usize,
}

async fn run(rig: &Rig, job: serde_json::Value) -> Result<f64> {
    let t0 = Instant::now();
    let id = rig.f.fleet.api.submit_ok(&job).await?;
    let done = rig.f.fleet.api.wait_finished(&id, SETTLE * 4).await?;
    let secs = t0.elapsed().as_secs_f64();
    if done["status"] != "succeeded" {
        bail!("rolling update did not succeed: {done:#}");
    }
    let h = hosts(&done);
    if h.iter().any(|x| x["state"] != "succeeded") {
        bail!("a host did not succeed: {done:#}");
    }
    Ok(secs)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    println!("machine: {}", outpost_tests::machine());

    // 1. One host alone.
    let single = Rig::start(RigOptions {
        net: 80,
        clusters: 1,
        hosts_per_cluster: 1,
        scale: args.scale,
        worker_concurrency: 8,
        ..RigOptions::default()
    })
    .await?;
    let t = run(&single, single.job(json!({"min_healthy_hosts": 0}))).await?;
    println!(
        "T, one host's whole update: {t:.2} s (device scale {})",
        args.scale
    );
    drop(single);

    // 2. Clusters x hosts, max_parallel 1.
    let rig = Rig::start(RigOptions {
        net: 81,
        clusters: args.clusters,
        hosts_per_cluster: args.hosts,
        scale: args.scale,
        worker_concurrency: 16,
        ..RigOptions::default()
    })
    .await?;
    let min_healthy = args.hosts.saturating_sub(1);
    let makespan = run(
        &rig,
        rig.job(json!({"max_parallel": 1, "min_healthy_hosts": min_healthy})),
    )
    .await?;
    let n = args.clusters * args.hosts;
    for i in 0..n {
        if rig.bios(i) != "2.19.1" {
            bail!("host {i} runs {}", rig.bios(i));
        }
    }
    let peak = rig.peak();
    let ideal = args.hosts as f64 * t;
    let seed = n as f64 * t;
    println!(
        "{} clusters x {} hosts, max_parallel 1, min_healthy_hosts {min_healthy}: makespan {makespan:.2} s",
        args.clusters, args.hosts
    );
    println!(
        "  makespan / ({} x T = {ideal:.2} s) = {:.3}  (target <= 1.10)",
        args.hosts,
        makespan / ideal
    );
    println!(
        "  seed's host-by-host order, {n} x T = {seed:.2} s: Outpost {:.2}x faster",
        seed / makespan
    );
    println!(
        "  most hosts in maintenance at once per cluster: {}",
        peak.iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let worst = peak
        .values()
        .copied()
        .max()
        .context("no maintenance seen")?;
    if worst > 1 {
        bail!("a cluster had {worst} hosts in maintenance at once");
    }
    Ok(())
}
