//! `outpost-bench`: measures, in one run against one fresh `nats-server`,
//! raw JetStream publish + pull-consume + ack throughput, then the whole
//! fleet (coordinator + worker, release builds) running `diag.sleep` tasks
//! with `ms = 0`: end-to-end tasks/s with events relayed and state updated,
//! and submit → worker-start latency. Prints the figures and the ratio
//! fleet/raw. Run with `cargo run --release -p outpost-tests --bin outpost-bench`.

use anyhow::{Context, Result, bail};
use async_nats::jetstream::{self, consumer, stream};
use clap::Parser;
use futures::StreamExt;
use outpost_proto::{Message, pb};
use outpost_tests::fleet::spawn_coordinator;
use outpost_tests::fleet_bin;
use outpost_tests::nats::NatsServer;
use outpost_tests::procs::Proc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// Messages in the raw JetStream run.
    #[arg(long, default_value_t = 50_000)]
    raw_messages: usize,
    /// Payload size of the raw run, bytes.
    #[arg(long, default_value_t = 256)]
    raw_size: usize,
    /// Tasks in the fleet throughput job.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Single-task jobs submitted one after another for the latency figures.
    #[arg(long, default_value_t = 300)]
    latency_jobs: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start().await?;
    println!("nats-server {} at {}", nats.version(), nats.url());
    println!("machine: {}", outpost_tests::machine());

    let raw = raw_jetstream(&nats.url(), args.raw_messages, args.raw_size).await?;
    println!(
        "raw JetStream: {} msgs of {} B published + pulled + acked (file store, WorkQueue) in {:.2} s = {:.0} msg/s",
        args.raw_messages,
        args.raw_size,
        raw.as_secs_f64(),
        args.raw_messages as f64 / raw.as_secs_f64()
    );
    let raw_rate = args.raw_messages as f64 / raw.as_secs_f64();

    let fleet = Fleet::start(&nats.url(), args.concurrency).await?;
    let (elapsed, api) = fleet.throughput(args.tasks).await?;
    let fleet_rate = args.tasks as f64 / elapsed.as_secs_f64();
    println!(
        "fleet: {} diag.sleep tasks (ms=0), submit -> job succeeded with every event relayed and state stored, in {:.2} s = {:.0} tasks/s",
        args.tasks,
        elapsed.as_secs_f64(),
        fleet_rate
    );
    let lat = fleet.latency(&api, args.latency_jobs).await?;
    println!(
        "submit -> worker start over {} single-task jobs: p50 {:.2} ms, p99 {:.2} ms (submit -> job succeeded: p50 {:.2} ms, p99 {:.2} ms)",
        args.latency_jobs, lat.start_p50, lat.start_p99, lat.done_p50, lat.done_p99
    );
    println!(
        "ratio fleet/raw: {:.1}% (target >= 30%); submit->start p50 {:.2} ms (target < 5 ms)",
        100.0 * fleet_rate / raw_rate,
        lat.start_p50
    );
    Ok(())
}

/// Publishes `n` messages (pipelined) while a pull consumer takes and acks
/// them; returns the time from the first publish to the last ack.
async fn raw_jetstream(url: &str, n: usize, size: usize) -> Result<Duration> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client.clone());
    let s = js
        .create_stream(stream::Config {
            name: "BENCH_RAW".into(),
            subjects: vec!["bench.raw".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let c: consumer::PullConsumer = s
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await?;
    let payload = bytes::Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let consume = tokio::spawn(async move {
        let mut got = 0usize;
        let mut msgs = c.stream().max_messages_per_batch(512).messages().await?;
        while got < n {
            let Some(m) = msgs.next().await else {
                bail!("consumer ended")
            };
            m.map_err(|e| anyhow::anyhow!("{e}"))?
                .ack()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            got += 1;
        }
        anyhow::Ok(())
    });
    let mut acks = Vec::with_capacity(1024);
    for _ in 0..n {
        acks.push(js.publish("bench.raw", payload.clone()).await?);
        if acks.len() == 1024 {
            for a in acks.drain(..) {
                a.await?;
            }
        }
    }
    for a in acks.drain(..) {
        a.await?;
    }
    consume.await??;
    client.flush().await?;
    let elapsed = started.elapsed();
    js.delete_stream("BENCH_RAW").await?;
    Ok(elapsed)
}

struct Fleet {
    _coordinator: Proc,
    _worker: Proc,
    api: String,
    nats_url: String,
}

struct Latency {
    start_p50: f64,
    start_p99: f64,
    done_p50: f64,
    done_p99: f64,
}

impl Fleet {
    async fn start(nats_url: &str, concurrency: usize) -> Result<Fleet> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("coordinator.toml");
        std::fs::write(
            &config,
            format!(
                "nats_url = \"{nats_url}\"\n[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n"
            ),
        )?;
        let (coordinator, api) = spawn_coordinator(config, None, &[("RUST_LOG", "warn")]).await?;
        let api = api.base;
        let mut worker = Proc::spawn(
            "worker",
            fleet_bin("outpost-worker")?,
            &[
                "--zone".as_ref(),
                "alpha".as_ref(),
                "--kinds".as_ref(),
                "diag.sleep".as_ref(),
                "--concurrency".as_ref(),
                concurrency.to_string().as_ref(),
                "--nats".as_ref(),
                nats_url.as_ref(),
            ],
            &[("RUST_LOG", "warn")],
        )?;
        worker
            .wait_for_line(
                |l| l.starts_with("outpost-worker ready"),
                Duration::from_secs(60),
            )
            .await?;
        // The config file is read at start; the directory can go.
        drop(dir);
        Ok(Fleet {
            _coordinator: coordinator,
            _worker: worker,
            api,
            nats_url: nats_url.to_string(),
        })
    }

    async fn submit(&self, http: &reqwest::Client, count: usize) -> Result<String> {
        let r = http
            .post(format!("{}/api/v1/jobs", self.api))
            .json(&serde_json::json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": count, "ms": 0}}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "submit: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        let v: serde_json::Value = r.json().await?;
        v["id"].as_str().map(str::to_string).context("job id")
    }

    /// Waits for the job's end through its SSE stream (`end` event).
    async fn wait_done(&self, http: &reqwest::Client, id: &str) -> Result<()> {
        let r = http
            .get(format!("{}/api/v1/jobs/{id}/events", self.api))
            .send()
            .await?;
        let mut body = r.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk?));
            if let Some(i) = buf.find("event: end") {
                let rest = &buf[i..];
                if rest.contains("\n\n") {
                    if rest.contains("\"status\":\"succeeded\"") {
                        return Ok(());
                    }
                    bail!("job {id} did not succeed: {rest}");
                }
            }
            // Only the tail can hold the `end` event: keep the scan cheap.
            if buf.len() > 32 * 1024 {
                let mut cut = buf.len() - 16 * 1024;
                while !buf.is_char_boundary(cut) {
                    cut += 1;
                }
                buf.drain(..cut);
            }
        }
        bail!("event stream of {id} ended without `end`")
    }

    /// Waits for the job's end by polling the job list (without tasks):
    /// cheap, so the measurement does not load the fleet it measures the
    /// way following 40 000 events over SSE would.
    async fn poll_done(&self, http: &reqwest::Client, id: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let jobs: Vec<serde_json::Value> = http
                .get(format!("{}/api/v1/jobs?limit=5", self.api))
                .send()
                .await?
                .json()
                .await?;
            if let Some(j) = jobs.iter().find(|j| j["id"] == id) {
                match j["status"].as_str() {
                    Some("succeeded") => return Ok(()),
                    Some("failed" | "cancelled") => bail!("job {id} did not succeed: {j}"),
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                bail!("job {id} did not finish within 600 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn throughput(&self, tasks: usize) -> Result<(Duration, reqwest::Client)> {
        let http = reqwest::Client::new();
        // Warm up: consumers, connections, caches.
        let id = self.submit(&http, 100).await?;
        self.poll_done(&http, &id).await?;
        let started = Instant::now();
        let id = self.submit(&http, tasks).await?;
        self.poll_done(&http, &id).await?;
        Ok((started.elapsed(), http))
    }

    async fn latency(&self, http: &reqwest::Client, jobs: usize) -> Result<Latency> {
        let client = async_nats::connect(&self.nats_url).await?;
        let mut events = client.subscribe("outpost.event.alpha.>").await?;
        client.flush().await?;
        let mut start = Vec::with_capacity(jobs);
        let mut done = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            let t0 = Instant::now();
            let id = self.submit(http, 1).await?;
            loop {
                let m = tokio::time::timeout(Duration::from_secs(30), events.next())
                    .await
                    .context("no Started event within 30 s")?
                    .context("subscription closed")?;
                let ev = pb::Event::decode(m.payload.as_ref())?;
                if ev.job_id == id && matches!(ev.body, Some(pb::event::Body::Started(_))) {
                    start.push(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            self.wait_done(http, &id).await?;
            done.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(Latency {
            start_p50: percentile(&mut start, 0.50),
            start_p99: percentile(&mut start, 0.99),
            done_p50: percentile(&mut done, 0.50),
            done_p99: percentile(&mut done, 0.99),
        })
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}
