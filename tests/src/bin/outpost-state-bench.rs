//! `outpost-state-bench`: what history and followers cost the coordinator.
//! In one run against one fresh `nats-server` secured as deployed (TLS, the
//! coordinator's and each zone's nkey identity; release builds):
//! 1. start-up time and RSS of a coordinator with no history (baseline);
//! 2. a history of `--history-tasks` finished `diag.sleep` tasks run
//!    through the fleet, with retention moving finished jobs out of the hot
//!    state; coordinator RSS after it, then start-up time and RSS of a
//!    restarted coordinator over that history, and the ratio to baseline;
//! 3. RSS with one live (pending) job of `--live-tasks` tasks;
//! 4. `--followers` SSE followers of one job: coordinator RSS and the
//!    number of consumers on nats-server while they follow and after they
//!    left, against the baseline.
//!
//! Run with `cargo run --release -p outpost-tests --bin outpost-state-bench`.

use anyhow::{Result, bail};
use async_nats::jetstream;
use clap::Parser;
use futures::StreamExt;
use outpost_tests::bench::{coordinator_config, spawn_worker, submit_sleep};
use outpost_tests::fleet::spawn_coordinator;
use outpost_tests::nats::NatsServer;
use outpost_tests::procs::Proc;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// Finished tasks in the history.
    #[arg(long, default_value_t = 1_000_000)]
    history_tasks: usize,
    /// Tasks per history job.
    #[arg(long, default_value_t = 20_000)]
    job_tasks: usize,
    /// Tasks of the live job.
    #[arg(long, default_value_t = 100_000)]
    live_tasks: usize,
    /// SSE followers of one job.
    #[arg(long, default_value_t = 1000)]
    followers: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

fn rss_mb(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn start(config: &Path) -> Result<(Proc, String, Duration)> {
    let t0 = Instant::now();
    let (c, api) = spawn_coordinator(config.to_path_buf(), None, &[("RUST_LOG", "warn")]).await?;
    Ok((c, api.base, t0.elapsed()))
}

async fn wait_succeeded(http: &reqwest::Client, api: &str, id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let j: serde_json::Value = http
            .get(format!("{api}/api/v1/jobs/{id}"))
            .send()
            .await?
            .json()
            .await?;
        match j["status"].as_str() {
            Some("succeeded") => return Ok(()),
            Some("failed" | "cancelled") => bail!("job {id} did not succeed"),
            _ => {}
        }
        if Instant::now() > deadline {
            bail!("job {id} did not finish in time");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn consumers(js: &jetstream::Context) -> Result<usize> {
    let mut events = js.get_stream("OUTPOST_EVENTS").await?;
    Ok(events.info().await?.state.consumer_count)
}

async fn hot_jobs(js: &jetstream::Context) -> Result<usize> {
    let kv = js.get_key_value("outpost_jobs").await?;
    let mut keys = kv.keys().await?;
    let mut n = 0;
    while let Some(k) = keys.next().await {
        if k?.starts_with("job.") {
            n += 1;
        }
    }
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Secure as deployed: TLS, an identity for each zone, the coordinator's.
    let nats = NatsServer::start_with_zones(&["alpha", "idle"]).await?;
    println!("{} at {}", nats.version(), nats.url());
    println!("machine: {}", outpost_tests::machine());
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("coordinator.toml");
    std::fs::write(
        &config,
        coordinator_config(
            &nats,
            "[retention]\nhot_jobs = 10\nhot_tasks = 100000\nmin_hot_secs = 0\n[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n[[zone]]\nname = \"idle\"\n",
        ),
    )?;
    let js = jetstream::new(nats.client().await?);
    let http = reqwest::Client::new();

    let (mut c, api, base_start) = start(&config).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base_rss = rss_mb(c.pid());
    let base_consumers = consumers(&js).await?;
    println!(
        "baseline: start-up {:.0} ms, RSS {base_rss:.1} MB, {base_consumers} consumers on OUTPOST_EVENTS",
        base_start.as_secs_f64() * 1000.0
    );

    let mut worker = spawn_worker(&nats, "alpha", None, args.concurrency).await?;
    let t0 = Instant::now();
    let jobs = args.history_tasks.div_ceil(args.job_tasks);
    let mut peak = 0.0f64;
    for _ in 0..jobs {
        let id = submit_sleep(&http, &api, "alpha", args.job_tasks).await?;
        wait_succeeded(&http, &api, &id).await?;
        peak = peak.max(rss_mb(c.pid()));
    }
    let history_s = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    while hot_jobs(&js).await? > 10 {
        if Instant::now() > deadline {
            bail!("finished jobs did not leave the hot state");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after_history = rss_mb(c.pid());
    println!(
        "history: {} tasks in {jobs} jobs run in {history_s:.1} s; coordinator RSS after: {after_history:.1} MB (peak while running {peak:.1} MB)",
        jobs * args.job_tasks
    );
    worker.kill9().await?;
    c.kill9().await?;
    let (mut c, api, hist_start) = start(&config).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hist_rss = rss_mb(c.pid());
    println!(
        "restart over that history: start-up {:.0} ms (baseline {:.0} ms, ratio {:.2}, target < 2000 ms), RSS {hist_rss:.1} MB (baseline {base_rss:.1} MB, ratio {:.2})",
        hist_start.as_secs_f64() * 1000.0,
        base_start.as_secs_f64() * 1000.0,
        hist_start.as_secs_f64() / base_start.as_secs_f64(),
        hist_rss / base_rss
    );

    let live = submit_sleep(&http, &api, "idle", args.live_tasks).await?;
    let live_rss = rss_mb(c.pid());
    println!(
        "one live job of {} pending tasks: RSS {live_rss:.1} MB (+{:.1} MB, {:.0} B per task)",
        args.live_tasks,
        live_rss - hist_rss,
        (live_rss - hist_rss) * 1024.0 * 1024.0 / args.live_tasks as f64
    );

    // Followers of the live job: held open, then dropped.
    let mut streams = Vec::with_capacity(args.followers);
    let mut refused = 0usize;
    for _ in 0..args.followers {
        let r = http
            .get(format!("{api}/api/v1/jobs/{live}/events"))
            .send()
            .await?;
        if r.status().is_success() {
            streams.push(r);
        } else {
            refused += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_rss = rss_mb(c.pid());
    let during_consumers = consumers(&js).await?;
    println!(
        "{} SSE followers of one job ({} refused): coordinator RSS {during_rss:.1} MB (+{:.1} MB), {during_consumers} consumers on OUTPOST_EVENTS (baseline {base_consumers})",
        streams.len(),
        refused,
        during_rss - live_rss
    );
    drop(streams);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after_consumers = consumers(&js).await?;
    while after_consumers > base_consumers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after_consumers = consumers(&js).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_rss = rss_mb(c.pid());
    println!(
        "after the followers left: coordinator RSS {after_rss:.1} MB, {after_consumers} consumers on OUTPOST_EVENTS (baseline {base_consumers}; target: back to baseline)"
    );
    c.kill9().await?;
    Ok(())
}
