//! Sites benchmark (release build): a hub `nats-server` (JetStream domain
//! `hub`) with one zone of its own, and one site whose leaf `nats-server`
//! serves the other zone, joined to the hub through a cuttable link. In
//! the same run, for each zone: tasks/s of one big `diag.sleep` job (one
//! worker, the same concurrency) and submit → worker start of single-task
//! jobs; the ratios leaf/direct. Then the site is cut, a job's tasks run
//! there during the cut, the link heals, and the time from `heal` until
//! the hub holds every result is printed.
//!
//! `outpost-sites-bench [--tasks 20000] [--latency-jobs 200] [--concurrency 64] [--backlog 5000]`

use anyhow::{Context, Result};
use clap::Parser;
use futures::StreamExt;
use outpost_proto::{layout, pb};
use outpost_tests::bench::{percentile, poll_done, submit_sleep};
use outpost_tests::fleet::spawn_coordinator;
use outpost_tests::procs::Proc;
use outpost_tests::sites::Sites;
use std::ffi::OsStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    #[arg(long, default_value_t = 200)]
    latency_jobs: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Tasks whose results wait at the cut-off site.
    #[arg(long, default_value_t = 5_000)]
    backlog: usize,
}

const DIRECT: &str = "hubzone";
const LEAF: &str = "sitezone";

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

async fn worker(url: &str, zone: &str, concurrency: usize) -> Result<Proc> {
    let c = concurrency.to_string();
    let flags = [
        "--zone",
        zone,
        "--worker-id",
        zone,
        "--kinds",
        "diag.sleep",
        "--concurrency",
        &c,
        "--nats",
        url,
        "--nats-insecure",
    ];
    let args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    let mut w = Proc::spawn(
        zone,
        outpost_tests::fleet_bin("outpost-worker")?,
        &args,
        &[("RUST_LOG", "warn")],
    )?;
    w.wait_for_line(
        |l| l.starts_with("outpost-worker ready"),
        Duration::from_secs(120),
    )
    .await?;
    Ok(w)
}

/// Tasks/s of one job of `tasks` tasks in `zone`.
async fn throughput(http: &reqwest::Client, api: &str, zone: &str, tasks: usize) -> Result<f64> {
    let t0 = Instant::now();
    let id = submit_sleep(http, api, zone, tasks).await?;
    poll_done(http, api, &id).await?;
    Ok(tasks as f64 / t0.elapsed().as_secs_f64())
}

/// Submit → worker start (the worker's stamp, read from the events as the
/// hub stores them) of `jobs` single-task jobs, one after another: p50,
/// p99.
async fn latency(
    client: &async_nats::Client,
    http: &reqwest::Client,
    api: &str,
    zone: &str,
    jobs: usize,
) -> Result<(f64, f64)> {
    // The hub's events stream, for both zones alike: a site's events
    // reach the hub by sourcing, never as core messages.
    let js = async_nats::jetstream::new(client.clone());
    let mut events = js
        .get_stream(layout::EVENTS_STREAM)
        .await?
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("outpost.event.{zone}.>"),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let mut start = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let t0 = wall_ms();
        let id = submit_sleep(http, api, zone, 1).await?;
        let at = 'found: loop {
            let m = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .context("no event within 30 s")?
                .context("consumer closed")?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for ev in outpost_proto::events::decode(m.payload.as_ref())? {
                if ev.job_id != id {
                    continue;
                }
                match ev.body {
                    Some(pb::event::Body::Started(_)) => break 'found ev.at_ms,
                    Some(pb::event::Body::Result(r)) if r.started_at_ms > 0 => {
                        break 'found r.started_at_ms;
                    }
                    _ => {}
                }
            }
        };
        start.push(at as f64 + 0.5 - t0);
        poll_done(http, api, &id).await?;
    }
    Ok((percentile(&mut start, 0.5), percentile(&mut start, 0.99)))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sites = Sites::start(&[("s1", &[LEAF])]).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("coordinator.toml");
    let mut config = sites.config_toml();
    for zone in [DIRECT, LEAF] {
        config.push_str(&format!("[[zone]]\nname = \"{zone}\"\ncidrs = []\n"));
    }
    std::fs::write(&path, config)?;
    let (_coordinator, api) = spawn_coordinator(path, None, &[("RUST_LOG", "warn")]).await?;
    let api = api.base.clone();
    // The site's consumers exist once the coordinator reached the site.
    let hub = sites.hub.client().await?;
    let consumer = layout::consumer_name(LEAF, "diag.sleep")?;
    outpost_tests::wait_until("the site's layout", Duration::from_secs(120), async || {
        let js = async_nats::jetstream::with_domain(hub.clone(), "s1");
        let s = js
            .get_stream(layout::TASKS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        s.get_consumer::<async_nats::jetstream::consumer::pull::Config>(&consumer)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await?;
    let site = sites.site("s1");
    let _direct = worker(&sites.hub.url(), DIRECT, args.concurrency).await?;
    let _leaf = worker(&site.leaf.url(), LEAF, args.concurrency).await?;
    let http = reqwest::Client::new();
    println!(
        "machine: {}; nats-server {}",
        outpost_tests::machine(),
        sites.hub.version()
    );
    // Warm both paths up.
    for zone in [DIRECT, LEAF] {
        throughput(&http, &api, zone, 500).await?;
    }
    let direct = throughput(&http, &api, DIRECT, args.tasks).await?;
    let leaf = throughput(&http, &api, LEAF, args.tasks).await?;
    println!(
        "tasks/s, one job of {} tasks, one worker with {} slots: direct {direct:.0}, through the leaf {leaf:.0} (leaf/direct {:.2})",
        args.tasks,
        args.concurrency,
        leaf / direct
    );
    let (d50, d99) = latency(&hub, &http, &api, DIRECT, args.latency_jobs).await?;
    let (l50, l99) = latency(&hub, &http, &api, LEAF, args.latency_jobs).await?;
    println!(
        "submit -> worker start, {} single-task jobs: direct p50 {d50:.2} ms p99 {d99:.2} ms; through the leaf p50 {l50:.2} ms p99 {l99:.2} ms (leaf/direct p50 {:.2})",
        args.latency_jobs,
        l50 / d50
    );

    // The backlog: tasks reach the site, the link is cut, they run there.
    let id = submit_sleep(&http, &api, LEAF, args.backlog).await?;
    let leaf_client = site.leaf.client().await?;
    let leaf_js = async_nats::jetstream::new(leaf_client);
    outpost_tests::wait_until(
        "the tasks at the site",
        Duration::from_secs(300),
        async || {
            let mut s = leaf_js
                .get_stream(layout::TASKS_STREAM)
                .await
                .map_err(|e| e.to_string())?;
            let info = s.info().await.map_err(|e| e.to_string())?;
            // Limits retention: every task the site ever received is counted.
            let sourced = info.state.last_sequence;
            if sourced as usize >= args.backlog + args.tasks + 500 + args.latency_jobs {
                Ok(())
            } else {
                Err(format!("{sourced} task messages at the site"))
            }
        },
    )
    .await?;
    site.link.partition();
    // Every task of the job has run at the site: nothing pending or
    // unacknowledged on its consumer.
    outpost_tests::wait_until(
        "the backlog run at the site",
        Duration::from_secs(600),
        async || {
            let s = leaf_js
                .get_stream(layout::TASKS_STREAM)
                .await
                .map_err(|e| e.to_string())?;
            let mut c: async_nats::jetstream::consumer::PullConsumer =
                s.get_consumer(&consumer).await.map_err(|e| e.to_string())?;
            let info = c.info().await.map_err(|e| e.to_string())?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} pending, {} unacked",
                    info.num_pending, info.num_ack_pending
                ))
            }
        },
    )
    .await?;
    let healed = Instant::now();
    site.link.heal();
    poll_done(&http, &api, &id).await?;
    println!(
        "heal -> the hub holds all {} results that waited at the cut-off site: {:.2} s",
        args.backlog,
        healed.elapsed().as_secs_f64()
    );
    Ok(())
}
