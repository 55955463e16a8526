//! What the fleet benchmarks (`outpost-bench`, `outpost-state-bench`) share:
//! a coordinator configuration and a worker connected to the secure
//! `nats-server` as deployed (TLS, the coordinator's and the zone's nkey
//! identities), job submission over the HTTP API, the server's count of
//! stored writes per stream, a tap counting what is published per subject
//! shape, and percentiles.

use crate::fleet_bin;
use crate::nats::NatsServer;
use crate::procs::Proc;
use anyhow::{Context, Result, bail};
use async_nats::jetstream;
use futures::StreamExt;
use outpost_proto::{layout, pb};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::Duration;

/// A coordinator configuration for `nats`: its URL, the `[nats]` table with
/// the coordinator's creds and CA, then `tables` (`[[zone]]`, `[retention]`
/// and the like), as an operator writes it.
pub fn coordinator_config(nats: &NatsServer, tables: &str) -> String {
    format!(
        "nats_url = {:?}\n{}{tables}",
        nats.url_with_auth(),
        nats.coordinator_toml()
    )
}

/// Starts a worker of `zone` (its creds and CA) with `concurrency` slots,
/// limited to `kinds` when given, and waits until it is ready.
pub async fn spawn_worker(
    nats: &NatsServer,
    zone: &str,
    kinds: Option<&str>,
    concurrency: usize,
) -> Result<Proc> {
    spawn_worker_with(nats, zone, kinds, concurrency, &[], &[("RUST_LOG", "warn")]).await
}

/// As [`spawn_worker`], with more flags and this environment.
pub async fn spawn_worker_with(
    nats: &NatsServer,
    zone: &str,
    kinds: Option<&str>,
    concurrency: usize,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Result<Proc> {
    let concurrency = concurrency.to_string();
    let nats_args = nats.worker_args(zone);
    let mut args: Vec<&OsStr> = vec![
        "--zone".as_ref(),
        zone.as_ref(),
        "--concurrency".as_ref(),
        concurrency.as_ref(),
    ];
    if let Some(k) = kinds {
        args.extend([OsStr::new("--kinds"), OsStr::new(k)]);
    }
    args.extend(extra.iter().map(OsStr::new));
    args.extend(nats_args.iter().map(OsStr::new));
    let mut worker = Proc::spawn("worker", fleet_bin("outpost-worker")?, &args, envs)?;
    worker
        .wait_for_line(
            |l| l.starts_with("outpost-worker ready"),
            Duration::from_secs(60),
        )
        .await?;
    Ok(worker)
}

/// Submits a `diag.sleep` job of `count` tasks with `ms = 0` to `zone`;
/// returns its id.
pub async fn submit_sleep(
    http: &reqwest::Client,
    api: &str,
    zone: &str,
    count: usize,
) -> Result<String> {
    let r = http
        .post(format!("{api}/api/v1/jobs"))
        .json(&serde_json::json!({"type": "diag.sleep", "zone": zone, "params": {"count": count, "ms": 0}}))
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

/// Polls the job list (without tasks) until job `id` succeeded: cheap, so
/// the measurement does not load the fleet it measures the way following
/// tens of thousands of events over SSE would.
pub async fn poll_done(http: &reqwest::Client, api: &str, id: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    loop {
        let jobs: Vec<serde_json::Value> = http
            .get(format!("{api}/api/v1/jobs?limit=5"))
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
        if tokio::time::Instant::now() > deadline {
            bail!("job {id} did not finish within 900 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `p` quantile (0..=1) of `v`, nearest rank; NaN when empty.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Every stream's last sequence number: how many messages it ever stored
/// (KV puts, deletes and purges included, whatever limits removed since).
#[derive(Debug, Clone, Default)]
pub struct StoredWrites(BTreeMap<String, u64>);

impl StoredWrites {
    /// Reads every stream's state from the server.
    pub async fn read(js: &jetstream::Context) -> Result<StoredWrites> {
        let mut out = BTreeMap::new();
        let mut streams = js.streams();
        while let Some(info) = streams.next().await {
            let info = info.map_err(|e| anyhow::anyhow!("listing streams: {e}"))?;
            out.insert(info.config.name.clone(), info.state.last_sequence);
        }
        Ok(StoredWrites(out))
    }

    /// Writes stored per stream since `before` (a stream created since
    /// counts from 0; one deleted since is left out), busiest first.
    pub fn since(&self, before: &StoredWrites) -> Vec<(String, u64)> {
        let mut d: Vec<(String, u64)> = self
            .0
            .iter()
            .map(|(name, &last)| {
                let was = before.0.get(name).copied().unwrap_or(0);
                (name.clone(), last.saturating_sub(was))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        d.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        d
    }
}

/// `label: T stored writes = X per task (S1 a, S2 b, ...)` for the writes
/// of `delta` over `tasks` tasks.
pub fn writes_line(label: &str, delta: &[(String, u64)], tasks: usize) -> String {
    let total: u64 = delta.iter().map(|(_, n)| n).sum();
    let per = |n: u64| n as f64 / tasks.max(1) as f64;
    let parts: Vec<String> = delta
        .iter()
        .map(|(name, n)| format!("{name} {:.3}", per(*n)))
        .collect();
    format!(
        "{label}: {total} stored writes over {tasks} tasks = {:.3} per task; per stream per task: {}",
        per(total),
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    )
}

/// The shape of a subject: every token holding a digit (ids, addresses,
/// sequence numbers) or longer than 24 characters becomes `*`.
pub fn subject_shape(subject: &str) -> String {
    subject
        .split('.')
        .map(|t| {
            if t.len() > 24 || t.bytes().any(|b| b.is_ascii_digit()) {
                "*"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A core subscription to every subject a stream stores, counting the
/// messages published there per subject shape (events also per body:
/// `[started]`, `[result]`, ...). It counts publishes, not stored writes:
/// a duplicate a stream drops or a refused compare-and-set counts here
/// only. Meant for phases whose rate it does not disturb.
pub struct Tap {
    subscriber: async_nats::Client,
    counts: tokio::task::JoinHandle<BTreeMap<String, u64>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Tap {
    /// Subscribes, with `client`, to the subjects of every stream on the
    /// server.
    pub async fn start(client: &async_nats::Client) -> Result<Tap> {
        let js = jetstream::new(client.clone());
        let mut subjects = Vec::new();
        let mut streams = js.streams();
        while let Some(info) = streams.next().await {
            let info = info.map_err(|e| anyhow::anyhow!("listing streams: {e}"))?;
            subjects.extend(info.config.subjects);
        }
        let mut subs = Vec::with_capacity(subjects.len());
        for s in subjects {
            subs.push(client.subscribe(s).await?);
        }
        client.flush().await?;
        let mut all = futures::stream::select_all(subs);
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let counts = tokio::spawn(async move {
            let mut counts = BTreeMap::new();
            let mut count = |m: async_nats::Message| {
                *counts.entry(tap_class(&m)).or_insert(0u64) += 1;
            };
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    m = all.next() => match m {
                        Some(m) => count(m),
                        None => break,
                    },
                }
            }
            // What arrived before the stop and is still buffered.
            while let Some(Some(m)) = futures::FutureExt::now_or_never(all.next()) {
                count(m);
            }
            counts
        });
        Ok(Tap {
            subscriber: client.clone(),
            counts,
            stop,
        })
    }

    /// Stops counting; returns the counts, most frequent first.
    pub async fn stop(self) -> Result<Vec<(String, u64)>> {
        // A round trip: what the server sent before it is in the buffer.
        self.subscriber.flush().await?;
        let _ = self.stop.send(());
        let mut v: Vec<(String, u64)> = self.counts.await?.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(v)
    }
}

fn tap_class(m: &async_nats::Message) -> String {
    let subject = m.subject.as_str();
    let shape = subject_shape(subject);
    if layout::parse_event_subject(subject).is_err() {
        return shape;
    }
    // A batch is named by the bodies it holds: `[result]`, `[started+result]`.
    let body = match outpost_proto::events::decode(m.payload.as_ref()) {
        Ok(evs) => {
            let mut names: Vec<&str> = evs
                .iter()
                .map(|e| match &e.body {
                    Some(pb::event::Body::Started(_)) => "started",
                    Some(pb::event::Body::Progress(_)) => "progress",
                    Some(pb::event::Body::Log(_)) => "log",
                    Some(pb::event::Body::Result(_)) => "result",
                    Some(pb::event::Body::Retrying(_)) => "retrying",
                    None => "empty",
                })
                .collect();
            names.sort_unstable();
            names.dedup();
            names.join("+")
        }
        Err(_) => "undecodable".to_string(),
    };
    format!("{shape} [{body}]")
}

/// `label: published per task: shape a, shape b, ...` for a tap's counts
/// over `tasks` tasks.
pub fn tap_line(label: &str, counts: &[(String, u64)], tasks: usize) -> String {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{s} {:.3}", *n as f64 / tasks.max(1) as f64))
        .collect();
    format!(
        "{label}: {:.3} publishes to stream subjects per task: {}",
        total as f64 / tasks.max(1) as f64,
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    )
}

/// CPU time (user + system) process `pid` has used so far, from
/// `/proc/<pid>/stat` (clock ticks of 10 ms).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))
    };
    let hz = 100; // USER_HZ on Linux
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 1000 / hz))
}

/// CPU time used by several processes, by name.
pub struct CpuUse(Vec<(String, u32, Duration)>);

impl CpuUse {
    pub fn read(procs: &[(&str, u32)]) -> Result<CpuUse> {
        procs
            .iter()
            .map(|(n, p)| Ok((n.to_string(), *p, cpu_time(*p)?)))
            .collect::<Result<_>>()
            .map(CpuUse)
    }

    /// `label: server 41 µs, coordinator 20 µs, ... = total per task`.
    pub fn line_since(&self, before: &CpuUse, label: &str, tasks: usize) -> Result<String> {
        let mut parts = Vec::new();
        let mut total = 0.0;
        for ((name, _, now), (_, _, then)) in self.0.iter().zip(&before.0) {
            let us = now.saturating_sub(*then).as_secs_f64() * 1e6 / tasks.max(1) as f64;
            total += us;
            parts.push(format!("{name} {us:.0} µs"));
        }
        Ok(format!(
            "{label}: {} = {total:.0} µs per task",
            parts.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hide_ids() {
        assert_eq!(
            subject_shape("$KV.outpost_jobs.task.0193a1b2c3.0193a1b2c3-17"),
            "$KV.outpost_jobs.task.*.*"
        );
        assert_eq!(
            subject_shape("outpost.task.alpha.diag.sleep"),
            "outpost.task.alpha.diag.sleep"
        );
    }

    #[test]
    fn writes_since_counts_new_streams_from_zero() {
        let before = StoredWrites(BTreeMap::from([
            ("A".to_string(), 10),
            ("B".to_string(), 5),
        ]));
        let after = StoredWrites(BTreeMap::from([
            ("A".to_string(), 30),
            ("B".to_string(), 5),
            ("C".to_string(), 7),
        ]));
        assert_eq!(
            after.since(&before),
            vec![("A".to_string(), 20), ("C".to_string(), 7)]
        );
    }
}
