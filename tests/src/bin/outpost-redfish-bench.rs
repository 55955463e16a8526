//! `outpost-redfish-bench`: the discovery benchmark of issue 4, through the
//! whole fleet (coordinator, one zone worker, release builds).
//!
//! 1. A /16 of loopback addresses (127.20.0.0/16) with 256 simulated
//!    iDRACs (one per /24) and every other address closed.
//! 2. A /22 (127.21.0.0/22) where every address drops the handshake (a
//!    listener whose accept queue is full never answers a SYN), with a
//!    2 s connect timeout; the target is under 2 x (addresses x timeout /
//!    concurrency).
//!
//! Prints wall time, probes per second and the worker's peak RSS.
//! Run with `cargo run --release -p outpost-tests --bin outpost-redfish-bench`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use outpost_sim::redfish::{IdracSpec, RedfishSim};
use outpost_tests::collect::{CollectFleet, Cred};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// Probes in flight per discovery task.
    #[arg(long, default_value_t = 256)]
    probe_concurrency: usize,
    /// Discovery tasks a worker runs at once.
    #[arg(long, default_value_t = 4)]
    worker_concurrency: usize,
    /// Connect timeout of the dropped /22, ms.
    #[arg(long, default_value_t = 2000)]
    drop_timeout_ms: u64,
}

fn peak_rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0)
}

/// Listeners on every address of 127.21.0.0/22 whose accept queues are
/// full: further SYNs are dropped, as by a firewall.
async fn dropping(port: u16) -> Result<(Vec<tokio::net::TcpListener>, Vec<tokio::net::TcpStream>)> {
    let mut listeners = Vec::new();
    for i in 0..1024u32 {
        let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 21, 0, 0)) + i);
        let s = tokio::net::TcpSocket::new_v4()?;
        s.bind((ip, port).into())?;
        listeners.push(s.listen(0)?);
    }
    let mut held = Vec::new();
    for round in 0..3 {
        let fills = futures::future::join_all((0..1024u32).map(|i| async move {
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 21, 0, 0)) + i);
            tokio::time::timeout(
                Duration::from_millis(300),
                tokio::net::TcpStream::connect((ip, port)),
            )
            .await
            .ok()
            .and_then(|r| r.ok())
        }))
        .await;
        let n = fills.iter().filter(|c| c.is_some()).count();
        held.extend(fills.into_iter().flatten());
        if n == 0 {
            break;
        }
        if round == 2 {
            bail!("accept queues never filled");
        }
    }
    Ok((listeners, held))
}

async fn run(f: &CollectFleet, doc: serde_json::Value) -> Result<(f64, serde_json::Value)> {
    let t = Instant::now();
    let id = f.fleet.api.submit_ok(&doc).await?;
    let job = f
        .fleet
        .api
        .wait_finished(&id, Duration::from_secs(600))
        .await?;
    Ok((t.elapsed().as_secs_f64(), job))
}

fn sum(job: &serde_json::Value, field: &str) -> u64 {
    job["tasks"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["output"][field].as_u64()).sum())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // 256 iDRACs, one per /24 of the /16, all on one port.
    let probe = RedfishSim::start(vec![IdracSpec::new(
        "127.20.0.7:0".parse()?,
        "root",
        "bench-pass",
        0,
    )])
    .await?;
    let port = probe.addrs()[0].port();
    probe.stop().await;
    let specs: Vec<IdracSpec> = (0..256u64)
        .map(|i| {
            IdracSpec::new(
                format!("127.20.{i}.7:{port}").parse().expect("addr"),
                "root",
                "bench-pass",
                i + 1,
            )
        })
        .collect();
    let sim = RedfishSim::start(specs).await?;
    let (_listeners, _held) = dropping(port).await.context("dropping /22")?;

    let dir = tempfile::tempdir()?;
    let creds = [Cred {
        name: "lab",
        username: "root",
        password: "bench-pass",
        enable_secret: None,
        default: true,
    }];
    let mut f = CollectFleet::start_with_zones(
        dir.path(),
        &creds,
        &[],
        "[[zone]]\nname = \"lab\"\ncidrs = [\"127.20.0.0/15\"]\n",
    )
    .await?;
    let conc = args.worker_concurrency.to_string();
    f.worker("lab", "w-lab", &["--concurrency", &conc]).await?;
    let pid = f.fleet.workers[0].pid().context("worker pid")?;

    let (wall16, job) = run(
        &f,
        serde_json::json!({"type": "redfish.discover", "targets": ["127.20.0.0/16"],
            "params": {"port": port, "concurrency": args.probe_concurrency, "credentials": ["lab"],
                       "connect_timeout_ms": 2000}}),
    )
    .await?;
    let found = sum(&job, "idrac");
    let authed: u64 = job["tasks"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| {
                    t["output"]["found"]
                        .as_array()
                        .map_or(0, |a| a.len() as u64)
                })
                .sum()
        })
        .unwrap_or(0);
    if job["status"] != "succeeded" || authed != 256 {
        bail!(
            "/16 discovery: status {}, {found} iDRACs, {authed} authenticated",
            job["status"]
        );
    }
    let rss16 = peak_rss_mb(pid)?;

    let (wall22, job) = run(
        &f,
        serde_json::json!({"type": "redfish.discover", "targets": ["127.21.0.0/22"],
            "params": {"port": port, "concurrency": args.probe_concurrency, "credentials": ["lab"],
                       "connect_timeout_ms": args.drop_timeout_ms}}),
    )
    .await?;
    let filtered = sum(&job, "filtered");
    let rss22 = peak_rss_mb(pid)?;
    let in_flight = (args.probe_concurrency * args.worker_concurrency) as f64;
    let bound22 = 1024.0 * args.drop_timeout_ms as f64 / 1000.0 / in_flight;

    println!("machine: {}", outpost_tests::machine());
    println!(
        "probe concurrency {} per task x {} tasks per worker = {} probes in flight; slices of 256 addresses",
        args.probe_concurrency, args.worker_concurrency, in_flight
    );
    println!(
        "/16 (65536 addresses, 256 simulated iDRACs, rest closed): wall {wall16:.2} s, {:.0} probes/s, {authed} iDRACs authenticated and read; target < 30 s -> {:.2}x of target; worker peak RSS {rss16:.1} MB",
        65536.0 / wall16,
        wall16 / 30.0
    );
    println!(
        "/22 dropped (1024 addresses, {} ms connect timeout): wall {wall22:.2} s, {:.0} probes/s, {filtered} filtered; bound 2 x {bound22:.2} s = {:.2} s -> {:.2}x of bound; worker peak RSS {rss22:.1} MB",
        args.drop_timeout_ms,
        1024.0 / wall22,
        2.0 * bound22,
        wall22 / (2.0 * bound22)
    );
    println!(
        "seed tool for comparison (documented): 20 threads, so a dropped /22 at 2 s per address takes 1024 x 2 s / 20 = {:.0} s",
        1024.0 * 2.0 / 20.0
    );
    drop(sim);
    Ok(())
}
