//! `outpost-bench`: measures, in one run against one fresh `nats-server`
//! secured as deployed (TLS, one nkey identity per zone, the
//! coordinator's), raw JetStream publish + pull-consume + ack throughput
//! over a TLS connection with the coordinator's identity, then the whole
//! fleet (coordinator with its `[nats]` creds and CA, one worker with its
//! zone's; release builds) running `diag.sleep` tasks with `ms = 0`:
//! end-to-end tasks/s with events relayed and state updated, the writes the
//! server stored per task (from every stream's sequence numbers, KV and
//! object stores included, per stream), what was published per subject
//! shape, and submit → worker-start and submit → done latency. Prints the
//! figures, the ratio fleet/raw and the targets. Run with
//! `cargo run --release -p outpost-tests --bin outpost-bench`.

use anyhow::{Context, Result, bail};
use async_nats::jetstream::{self, consumer, stream};
use clap::Parser;
use futures::StreamExt;
use outpost_proto::pb;
use outpost_tests::bench::{
    CpuUse, StoredWrites, Tap, coordinator_config, percentile, spawn_worker, submit_sleep,
    tap_line, writes_line,
};
use outpost_tests::fleet::spawn_coordinator;
use outpost_tests::nats::NatsServer;
use outpost_tests::procs::Proc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Tasks of the job run with the publish tap on, after the measurements.
    #[arg(long, default_value_t = 1_000)]
    anatomy_tasks: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// The zone the fleet runs in.
const ZONE: &str = "alpha";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start().await?;
    let machine = outpost_tests::machine();
    println!(
        "{} at {} (TLS required, nkey identities: coordinator, zones alpha and beta)",
        nats.version(),
        nats.url()
    );
    println!("machine: {machine}");
    let client = nats.client().await?;
    let js = jetstream::new(client.clone());

    let server_pid = nats.pid().context("nats-server is not running")?;
    let raw_procs = [("server", server_pid), ("client", std::process::id())];
    let cpu_before = CpuUse::read(&raw_procs)?;
    let raw = raw_jetstream(&client, args.raw_messages, args.raw_size).await?;
    let raw_cpu = CpuUse::read(&raw_procs)?
        .line_since(&cpu_before, "raw JetStream CPU", args.raw_messages)?
        .replace("per task", "per message");
    let raw_rate = args.raw_messages as f64 / raw.as_secs_f64();
    println!("{raw_cpu}");
    println!(
        "raw JetStream over TLS with the coordinator's identity (one connection): {} msgs of {} B published + pulled + acked (file store, WorkQueue) in {:.2} s = {raw_rate:.0} msg/s",
        args.raw_messages,
        args.raw_size,
        raw.as_secs_f64(),
    );

    let rtt = publish_round_trip(&js, 300).await?;
    println!(
        "raw JetStream publish round trip, one at a time (the floor of one stored write): p50 {rtt:.2} ms"
    );

    let fleet = Fleet::start(&nats, args.concurrency).await?;
    let http = reqwest::Client::new();
    // Warm up: consumers, connections, caches.
    let id = submit_sleep(&http, &fleet.api, ZONE, 100).await?;
    fleet.poll_done(&http, &id).await?;

    let fleet_procs = [
        ("server", server_pid),
        (
            "coordinator",
            fleet.coordinator.pid().context("coordinator gone")?,
        ),
        ("worker", fleet.worker.pid().context("worker gone")?),
    ];
    let before = StoredWrites::read(&js).await?;
    let cpu_before = CpuUse::read(&fleet_procs)?;
    let elapsed = fleet.throughput(&http, args.tasks).await?;
    let fleet_cpu = CpuUse::read(&fleet_procs)?.line_since(&cpu_before, "fleet CPU", args.tasks)?;
    let after = StoredWrites::read(&js).await?;
    let fleet_rate = args.tasks as f64 / elapsed.as_secs_f64();
    println!(
        "fleet (coordinator [nats] creds + CA, worker zone creds + CA, --concurrency {}): {} diag.sleep tasks (ms=0), submit -> job succeeded with every event relayed and state stored, in {:.2} s = {fleet_rate:.0} tasks/s",
        args.concurrency,
        args.tasks,
        elapsed.as_secs_f64(),
    );
    println!("{fleet_cpu}");
    let throughput_writes = after.since(&before);
    println!(
        "{}",
        writes_line(
            &format!("writes, {}-task job", args.tasks),
            &throughput_writes,
            args.tasks
        )
    );

    let before = StoredWrites::read(&js).await?;
    let tap = Tap::start(&client).await?;
    let lat = fleet.latency(&client, &http, args.latency_jobs).await?;
    let latency_tap = tap.stop().await?;
    let after = StoredWrites::read(&js).await?;
    println!(
        "submit -> worker start over {} single-task jobs: p50 {:.2} ms, p99 {:.2} ms ({} from a Started event's at_ms, {} from the result's started_at_ms; worker stamps are whole ms, taken at their midpoint); submit -> 201 (job stored) p50 {:.2} ms",
        args.latency_jobs,
        lat.start_p50,
        lat.start_p99,
        lat.from_started,
        lat.from_result,
        lat.accepted_p50
    );
    println!(
        "submit -> job succeeded (end seen on the job's SSE stream): p50 {:.2} ms, p99 {:.2} ms",
        lat.done_p50, lat.done_p99
    );
    let latency_writes = after.since(&before);
    println!(
        "{}",
        writes_line(
            &format!("writes, {} single-task jobs", args.latency_jobs),
            &latency_writes,
            args.latency_jobs
        )
    );
    println!(
        "{}",
        tap_line(
            &format!("published, {} single-task jobs", args.latency_jobs),
            &latency_tap,
            args.latency_jobs
        )
    );

    let before = StoredWrites::read(&js).await?;
    let tap = Tap::start(&client).await?;
    let id = submit_sleep(&http, &fleet.api, ZONE, args.anatomy_tasks).await?;
    fleet.poll_done(&http, &id).await?;
    let anatomy_tap = tap.stop().await?;
    let after = StoredWrites::read(&js).await?;
    println!(
        "{}",
        writes_line(
            &format!("writes, {}-task job (tap on)", args.anatomy_tasks),
            &after.since(&before),
            args.anatomy_tasks
        )
    );
    println!(
        "{}",
        tap_line(
            &format!("published, {}-task job", args.anatomy_tasks),
            &anatomy_tap,
            args.anatomy_tasks
        )
    );

    let per_task = |w: &[(String, u64)], n: usize| {
        w.iter().map(|(_, k)| k).sum::<u64>() as f64 / n.max(1) as f64
    };
    println!("summary ({machine}, {}):", nats.version());
    println!("  raw JetStream (TLS, coordinator identity): {raw_rate:.0} msg/s");
    println!("  fleet, diag.sleep ms=0, end to end: {fleet_rate:.0} tasks/s");
    println!("  {raw_cpu}");
    println!("  {fleet_cpu}");
    println!(
        "  ratio fleet/raw: {:.1}% (target >= 30%)",
        100.0 * fleet_rate / raw_rate
    );
    println!(
        "  stored writes per task: {:.2} in the {}-task job, {:.2} per single-task job (target <= 2 on the hot path: the task and its result)",
        per_task(&throughput_writes, args.tasks),
        args.tasks,
        per_task(&latency_writes, args.latency_jobs)
    );
    println!(
        "  submit -> worker start: p50 {:.2} ms, p99 {:.2} ms (target p50 < 2 ms); submit -> 201 p50 {:.2} ms; one raw stored write p50 {rtt:.2} ms",
        lat.start_p50, lat.start_p99, lat.accepted_p50
    );
    println!(
        "  submit -> job succeeded: p50 {:.2} ms, p99 {:.2} ms",
        lat.done_p50, lat.done_p99
    );
    Ok(())
}

/// Publishes `n` messages (pipelined) while a pull consumer takes and acks
/// them, both over `client`; returns the time from the first publish to
/// the last ack.
/// p50 of `n` publishes to a stream, each awaited before the next.
async fn publish_round_trip(js: &jetstream::Context, n: usize) -> Result<f64> {
    js.create_stream(stream::Config {
        name: "BENCH_RTT".into(),
        subjects: vec!["bench.rtt".into()],
        max_messages: 1000,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        js.publish("bench.rtt", bytes::Bytes::from_static(b"x"))
            .await?
            .await?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentile(&mut times, 0.5))
}

async fn raw_jetstream(client: &async_nats::Client, n: usize, size: usize) -> Result<Duration> {
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
    coordinator: Proc,
    worker: Proc,
    api: String,
}

struct Latency {
    start_p50: f64,
    start_p99: f64,
    done_p50: f64,
    done_p99: f64,
    /// Submit until the API answered 201 (the job stored).
    accepted_p50: f64,
    /// Jobs whose start came from a `Started` event, and from the result.
    from_started: usize,
    from_result: usize,
}

/// Unix time in milliseconds, with the fraction.
fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl Fleet {
    /// A coordinator for zone `alpha` and one worker of it, each with its
    /// own identity, as deployed.
    async fn start(nats: &NatsServer, concurrency: usize) -> Result<Fleet> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("coordinator.toml");
        std::fs::write(
            &config,
            coordinator_config(
                nats,
                &format!("[[zone]]\nname = \"{ZONE}\"\ncidrs = [\"127.1.0.0/16\"]\n"),
            ),
        )?;
        let (coordinator, api) = spawn_coordinator(config, None, &[("RUST_LOG", "warn")]).await?;
        let worker = spawn_worker(nats, ZONE, Some("diag.sleep"), concurrency).await?;
        // The config file is read at start; the directory can go.
        drop(dir);
        Ok(Fleet {
            coordinator,
            worker,
            api: api.base,
        })
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

    /// Waits for the job's end by polling the job list.
    async fn poll_done(&self, http: &reqwest::Client, id: &str) -> Result<()> {
        outpost_tests::bench::poll_done(http, &self.api, id).await
    }

    /// Time from submitting a job of `tasks` tasks until it succeeded.
    async fn throughput(&self, http: &reqwest::Client, tasks: usize) -> Result<Duration> {
        let started = Instant::now();
        let id = submit_sleep(http, &self.api, ZONE, tasks).await?;
        self.poll_done(http, &id).await?;
        Ok(started.elapsed())
    }

    /// Submits `jobs` single-task jobs one after another. The start of each
    /// is the worker's stamp: a `Started` event's `at_ms`, else (a task
    /// that finished quickly publishes none) its result's `started_at_ms`.
    async fn latency(
        &self,
        client: &async_nats::Client,
        http: &reqwest::Client,
        jobs: usize,
    ) -> Result<Latency> {
        let mut events = client.subscribe(format!("outpost.event.{ZONE}.>")).await?;
        client.flush().await?;
        let mut start = Vec::with_capacity(jobs);
        let mut done = Vec::with_capacity(jobs);
        let mut accepted = Vec::with_capacity(jobs);
        let (mut from_started, mut from_result) = (0, 0);
        for _ in 0..jobs {
            let t0_wall = wall_ms();
            let t0 = Instant::now();
            let id = submit_sleep(http, &self.api, ZONE, 1).await?;
            accepted.push(t0.elapsed().as_secs_f64() * 1000.0);
            let started_ms = 'found: loop {
                let m = tokio::time::timeout(Duration::from_secs(30), events.next())
                    .await
                    .context("no Started event or result within 30 s")?
                    .context("subscription closed")?;
                for ev in outpost_proto::events::decode(m.payload.as_ref())? {
                    if ev.job_id != id {
                        continue;
                    }
                    match ev.body {
                        Some(pb::event::Body::Started(_)) => {
                            from_started += 1;
                            break 'found ev.at_ms;
                        }
                        Some(pb::event::Body::Result(r)) => {
                            if r.started_at_ms == 0 {
                                bail!(
                                    "job {id}: a result without started_at_ms and no Started event"
                                );
                            }
                            from_result += 1;
                            break 'found r.started_at_ms;
                        }
                        _ => {}
                    }
                }
            };
            // The stamp truncates to the millisecond: its midpoint.
            start.push(started_ms as f64 + 0.5 - t0_wall);
            self.wait_done(http, &id).await?;
            done.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(Latency {
            start_p50: percentile(&mut start, 0.50),
            start_p99: percentile(&mut start, 0.99),
            done_p50: percentile(&mut done, 0.50),
            done_p99: percentile(&mut done, 0.99),
            accepted_p50: percentile(&mut accepted, 0.50),
            from_started,
            from_result,
        })
    }
}
