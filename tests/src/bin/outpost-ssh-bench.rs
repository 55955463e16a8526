//! `outpost-ssh-bench`: the SSH collection benchmark of issue 3. Simulated
//! network devices (default 500, 100 ms per command) collected by one zone
//! worker through the whole fleet (`outpost run-job`, release builds), a
//! 3-command job with `max_workers` 100. Prints wall time against the ideal
//! (devices / max_workers x the time of one device alone, measured in the
//! same run), the worker's CPU seconds and peak RSS, and failures.
//! Run with `cargo run --release -p outpost-tests --bin outpost-ssh-bench`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use outpost_sim::ssh::{DeviceSpec, Fault, Platform, SshSim};
use outpost_tests::collect::{CollectFleet, Cred, Row};
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 500)]
    devices: usize,
    /// Simulated think time of every command, ms.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// The job's `execution.max_workers`.
    #[arg(long, default_value_t = 100)]
    max_workers: u32,
}

fn job(max_workers: u32, name_pattern: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "job_id": "bench",
        "capture_type": "configs",
        "device_filter": { "vendor": "cisco", "name_pattern": name_pattern },
        "commands": {
            "command": "show version,show ip interface brief,show running-config",
            "output_directory": "bench",
            "paging_disable": "terminal length 0"
        },
        "execution": { "timeout": 30, "inter_command_time": 0, "max_workers": max_workers },
        "storage": { "filename_pattern": "{device_name}.txt" }
    })
}

/// utime + stime of `pid` in seconds, and its peak RSS in MB.
fn cpu_and_peak(pid: u32) -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit(')').next().context("stat")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f[11].parse::<f64>()? + f[12].parse::<f64>()?) / tick;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    Ok((cpu, hwm))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let specs: Vec<DeviceSpec> = (0..args.devices)
        .map(|i| DeviceSpec {
            name: format!("sw{i:04}"),
            listen: format!("127.3.{}.{}:2222", i / 250, i % 250 + 1)
                .parse::<SocketAddr>()
                .expect("address"),
            platform: Platform::Ios,
            username: "bench".into(),
            password: "bench-pass".into(),
            enable_secret: Some("bench-enable".into()),
            latency_ms: args.latency_ms,
            config_bytes: 8192,
            paging: true,
            legacy_only: false,
            host_key_seed: i as u64,
            fault: Fault::None,
        })
        .collect();
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let ips: Vec<String> = bound.iter().map(|(_, a)| a.ip().to_string()).collect();
    let rows: Vec<Row> = bound
        .iter()
        .zip(&ips)
        .map(|((name, addr), ip)| Row {
            name,
            ip,
            port: addr.port(),
            vendor: "cisco",
            platform: "cisco_ios",
            zone: "gamma",
            legacy: false,
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let creds = [Cred {
        name: "lab",
        username: "bench",
        password: "bench-pass",
        enable_secret: Some("bench-enable"),
        default: true,
    }];
    let mut f = CollectFleet::start_with_zones(
        dir.path(),
        &creds,
        &rows,
        "[[zone]]\nname = \"gamma\"\ncidrs = [\"127.3.0.0/16\"]\n",
    )
    .await?;
    let conc = (args.max_workers as usize + 16).to_string();
    f.worker("gamma", "w-gamma", &["--concurrency", &conc])
        .await?;
    let worker_pid = f.fleet.workers[0].pid().context("worker pid")?;
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs)?;

    // One device alone: the per-device time the ideal is built on.
    let one = jobs.join("one.json");
    std::fs::write(&one, job(args.max_workers, Some("sw0000")).to_string())?;
    let t = Instant::now();
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &one.to_string_lossy(), "-y"], "")
        .await?;
    let single = t.elapsed().as_secs_f64();
    if code != 0 {
        bail!("single-device run failed:\n{out}\n{err}");
    }
    let (cpu0, _) = cpu_and_peak(worker_pid)?;

    let all = jobs.join("all.json");
    std::fs::write(&all, job(args.max_workers, None).to_string())?;
    let t = Instant::now();
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &all.to_string_lossy(), "-y"], "")
        .await?;
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, peak) = cpu_and_peak(worker_pid)?;
    let failed = out
        .lines()
        .find_map(|l| l.strip_prefix("Results: "))
        .unwrap_or("?")
        .to_string();
    if code != 0 {
        eprintln!("{out}\n{err}");
    }
    let waves = (args.devices as f64 / args.max_workers as f64).ceil();
    let ideal = waves * single;
    let floor = waves * (4.0 * args.latency_ms as f64 / 1000.0);
    println!("machine: {}", outpost_tests::machine());
    println!(
        "ssh.collect: {} simulated devices, {} ms per command, 3 commands (+ paging disable), max_workers {}",
        args.devices, args.latency_ms, args.max_workers
    );
    println!("one device alone (submit -> job finished, via outpost run-job): {single:.2} s");
    println!(
        "all devices: wall {wall:.2} s; ideal {ideal:.2} s ({waves} waves x {single:.2} s) -> {:.2}x ideal; command-latency floor {floor:.2} s -> {:.2}x floor",
        wall / ideal,
        wall / floor
    );
    println!(
        "worker CPU: {:.2} s for the run; worker peak RSS {peak:.1} MB",
        cpu1 - cpu0
    );
    println!("results: {failed}");
    println!(
        "seed tool for comparison (documented): about 5 s per device with 12 workers -> {:.0} s for {} devices",
        (args.devices as f64 / 12.0).ceil() * 5.0,
        args.devices
    );
    Ok(())
}
