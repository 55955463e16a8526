//! `outpost-observability-bench`: what observability costs. Two fleets
//! side by side, each on its own fresh `nats-server` (TLS and identities
//! as deployed; release builds): one with spans off
//! (`OUTPOST_TRACE_FILTER=off`) and no metrics page, one with tracing
//! exported over OTLP/HTTP to a receiver in this process (which decodes
//! every batch) and the worker serving `/metrics`, both pages scraped
//! every second. Rounds alternate between them (off then on, on then
//! off, …), each
//! a `diag.sleep` job of `--tasks` tasks with `ms = 0` from submit until
//! it succeeded in the coordinator's state. Prints each round, the median
//! tasks/s of both, the ratio, and the spans and scrapes received. Run
//! with `cargo run --release -p outpost-tests --bin outpost-observability-bench`.

use anyhow::{Context, Result};
use clap::Parser;
use outpost_tests::bench::{
    CpuUse, coordinator_config, poll_done, spawn_worker_with, submit_sleep,
};
use outpost_tests::fleet::spawn_coordinator;
use outpost_tests::nats::NatsServer;
use outpost_tests::otlp::Receiver;
use outpost_tests::procs::Proc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// Tasks per round.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Rounds per fleet.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The "on" fleet without OTLP export (spans made, not sent): what
    /// the spans alone cost.
    #[arg(long)]
    no_export: bool,
    /// The "on" fleet without the metrics page and scrapes.
    #[arg(long)]
    no_metrics: bool,
    /// Both fleets off: how far apart two identical fleets measure (the
    /// noise floor of the comparison).
    #[arg(long)]
    same: bool,
}

const ZONE: &str = "alpha";

struct Fleet {
    nats: NatsServer,
    coordinator: Proc,
    worker: Proc,
    api: String,
    metrics: Option<String>,
}

impl Fleet {
    /// CPU time of its server, coordinator and worker so far.
    fn cpu(&self) -> Result<CpuUse> {
        let pid = |p: Option<u32>| p.context("a fleet process is gone");
        CpuUse::read(&[
            ("server", pid(self.nats.pid())?),
            ("coordinator", pid(self.coordinator.pid())?),
            ("worker", pid(self.worker.pid())?),
        ])
    }
}

async fn fleet(envs: &[(&str, &str)], metrics: bool, concurrency: usize) -> Result<Fleet> {
    let nats = NatsServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("coordinator.toml");
    std::fs::write(
        &config,
        coordinator_config(
            &nats,
            &format!("[[zone]]\nname = \"{ZONE}\"\ncidrs = [\"127.1.0.0/16\"]\n"),
        ),
    )?;
    let mut env = vec![("RUST_LOG", "warn")];
    env.extend_from_slice(envs);
    let (coordinator, api) = spawn_coordinator(config, None, &env).await?;
    let extra: &[&str] = if metrics {
        &["--metrics-listen", "127.0.0.1:0"]
    } else {
        &[]
    };
    let worker =
        spawn_worker_with(&nats, ZONE, Some("diag.sleep"), concurrency, extra, &env).await?;
    let metrics = worker.stdout().into_iter().find_map(|l| {
        l.strip_prefix("outpost-worker metrics on ")
            .map(str::to_string)
    });
    Ok(Fleet {
        nats,
        coordinator,
        worker,
        api: api.base,
        metrics,
    })
}

async fn round(http: &reqwest::Client, f: &Fleet, tasks: usize) -> Result<f64> {
    let started = Instant::now();
    let id = submit_sleep(http, &f.api, ZONE, tasks).await?;
    poll_done(http, &f.api, &id).await?;
    Ok(tasks as f64 / started.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let machine = outpost_tests::machine();
    println!("machine: {machine}");
    let rx = Receiver::start().await?;
    let endpoint = format!("http://{}", rx.addr);
    let off = fleet(&[("OUTPOST_TRACE_FILTER", "off")], false, args.concurrency).await?;
    let export: &[(&str, &str)] = if args.no_export {
        &[]
    } else {
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]
    };
    let on = if args.same {
        fleet(&[("OUTPOST_TRACE_FILTER", "off")], false, args.concurrency).await?
    } else {
        fleet(export, !args.no_metrics, args.concurrency).await?
    };
    let worker_metrics = match &on.metrics {
        Some(m) => m.clone(),
        None if args.no_metrics || args.same => String::new(),
        None => anyhow::bail!("the worker printed no metrics address"),
    };
    // For a profiler to attach to.
    for (name, f) in [("off", &off), ("on", &on)] {
        println!(
            "{name} fleet pids: server {:?}, coordinator {:?}, worker {:?}",
            f.nats.pid(),
            f.coordinator.pid(),
            f.worker.pid()
        );
    }
    // Scrape both pages every second, as a busy Prometheus would.
    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = {
        let (scrapes, pages) = (
            scrapes.clone(),
            [worker_metrics, format!("{}/metrics", on.api)],
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                for p in pages.iter().filter(|p| !p.is_empty()) {
                    if let Ok(r) = http.get(p).send().await
                        && r.status().is_success()
                        && r.text().await.is_ok()
                    {
                        scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let http = reqwest::Client::new();
    // Warm up both.
    round(&http, &off, 500).await?;
    round(&http, &on, 500).await?;
    let (mut r_off, mut r_on) = (Vec::new(), Vec::new());
    let (cpu_off, cpu_on) = (off.cpu()?, on.cpu()?);
    for i in 0..args.rounds {
        // Which fleet goes first alternates, so a drift of the machine
        // (another tenant, a warming cache) weighs on both alike.
        let (a, b) = if i % 2 == 0 {
            let a = round(&http, &off, args.tasks).await?;
            (a, round(&http, &on, args.tasks).await?)
        } else {
            let b = round(&http, &on, args.tasks).await?;
            (round(&http, &off, args.tasks).await?, b)
        };
        println!(
            "round {}: off {a:.0} tasks/s, on {b:.0} tasks/s ({:+.1} %)",
            i + 1,
            100.0 * (b - a) / a
        );
        r_off.push(a);
        r_on.push(b);
    }
    let total = args.rounds * args.tasks;
    let cpu_off = off.cpu()?.line_since(&cpu_off, "off CPU", total)?;
    let cpu_on = on.cpu()?.line_since(&cpu_on, "on CPU", total)?;
    scraper.abort();
    // What the receiver got, once the exporters' last batches are in (no
    // new span for two seconds, at most 60 s).
    let mut spans = rx.spans();
    let drained = Instant::now() + Duration::from_secs(60);
    while Instant::now() < drained {
        match rx
            .wait(Duration::from_secs(2), |s| s.len() > spans.len())
            .await
        {
            Ok(more) => spans = more,
            Err(_) => break,
        }
    }
    let worker_spans = spans
        .iter()
        .filter(|s| s.service == "outpost-worker")
        .count();
    // Each round pairs two neighbouring runs, so its ratio cancels most of
    // the machine's drift: their median, and the middle half of them.
    let mut paired: Vec<f64> = r_off.iter().zip(&r_on).map(|(a, b)| b / a).collect();
    let m_paired = median(&mut paired);
    let quartile = |q: f64| paired[((paired.len() - 1) as f64 * q).round() as usize];
    let (m_off, m_on) = (median(&mut r_off), median(&mut r_on));
    let slower = 100.0 * (m_off - m_on) / m_off;
    println!(
        "summary ({machine}): {} rounds of {} diag.sleep tasks (ms=0), worker --concurrency {}",
        args.rounds, args.tasks, args.concurrency
    );
    println!("  off (spans off, no metrics page): median {m_off:.0} tasks/s");
    let on_is = match (args.same, args.no_export, args.no_metrics) {
        (true, _, _) => "on (here: spans off and no metrics page too, --same)",
        (_, false, false) => {
            "on (OTLP/HTTP export to a local receiver, worker /metrics, both pages scraped every second)"
        }
        (_, true, false) => "on (spans made, not exported; worker /metrics, scraped)",
        (_, false, true) => "on (OTLP/HTTP export to a local receiver; no metrics page)",
        (_, true, true) => "on (spans made, not exported; no metrics page)",
    };
    println!("  {on_is}: median {m_on:.0} tasks/s");
    println!(
        "  on / off: {:.1} % ({slower:.1} % slower; target <= 5 % slower)",
        100.0 * m_on / m_off
    );
    println!(
        "  paired rounds, on / off: median {:.1} %, middle half {:.1} … {:.1} %",
        100.0 * m_paired,
        100.0 * quartile(0.25),
        100.0 * quartile(0.75)
    );
    // CPU per task varies far less between runs than rates on a shared VM.
    let per_task = |line: &str| -> f64 {
        line.rsplit("= ")
            .next()
            .and_then(|s| s.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    println!("  {cpu_off}");
    println!("  {cpu_on}");
    println!(
        "  CPU per task on / off: {:.1} % ({:+.1} %)",
        100.0 * per_task(&cpu_on) / per_task(&cpu_off),
        100.0 * (per_task(&cpu_on) - per_task(&cpu_off)) / per_task(&cpu_off)
    );
    println!(
        "  received: {} spans ({worker_spans} from the worker), {} malformed exports, {} scrapes",
        spans.len(),
        rx.rejected(),
        scrapes.load(Ordering::Relaxed)
    );
    Ok(())
}
