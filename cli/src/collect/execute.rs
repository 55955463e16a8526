//! Running a planned job: submits it, follows its events, fetches and
//! writes each device's capture as its result arrives, and watches the
//! zones still waiting: a zone with no live worker is said while the run
//! waits (every [`REPEAT_EVERY`]), and `--wait-timeout` cancels the job
//! when it passes, the devices not collected reported as failed.

use super::super::client::{Client, ClientError};
use super::super::follow::{self, Sink};
use super::device::{DeviceResult, TaskInfo};
use super::job::Planned;
use super::readiness::{no_worker, serving};
use super::save;
use futures::StreamExt;
use outpost_api::JobState;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How often the zones still waiting are checked against the live workers.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How often a zone that still has no worker is said again.
pub const REPEAT_EVERY: Duration = Duration::from_secs(30);
/// Captures fetched and written at once.
const PARALLEL_SAVES: usize = 8;

/// How a job is run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Print every event of the job on stderr.
    pub debug: bool,
    /// Give up (cancel the job) this many seconds after submitting it.
    pub wait_timeout: Option<u64>,
}

/// How the run ended.
pub struct Executed {
    /// `--wait-timeout` passed and the job was cancelled.
    pub timed_out: bool,
}

/// What the follower and the zone watch share.
#[derive(Default)]
struct Progress {
    /// Zone → tasks without a result yet.
    waiting: HashMap<String, usize>,
    reported: HashSet<String>,
    /// Zones known to have no live worker, and when that was last said
    /// while waiting (`None`: only when planning).
    unserved: HashMap<String, Option<Instant>>,
}

impl Progress {
    /// Marks `zone` served again; true if it had been said unserved.
    fn served(&mut self, zone: &str) -> bool {
        self.unserved.remove(zone).is_some()
    }
}

struct Follower<'a, N: Fn(&str)> {
    tasks: &'a HashMap<String, TaskInfo>,
    progress: &'a Mutex<Progress>,
    tx: mpsc::UnboundedSender<DeviceResult>,
    on_notice: &'a N,
    debug: bool,
}

impl<N: Fn(&str)> Sink for Follower<'_, N> {
    fn job(&mut self, _job: &JobState) {}
    fn task(&mut self, ev: &Value) {
        if self.debug {
            eprintln!("{}", super::super::render::event_line(ev));
        }
        if ev["type"] == "started" {
            // A zone said to have no worker is served as soon as one starts a task.
            let zone = ev["zone"].as_str().unwrap_or_default();
            let told = self
                .progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .served(zone);
            if told {
                (self.on_notice)(&format!(
                    "Zone {zone:?} is served now ({})",
                    ev["worker_id"].as_str().unwrap_or_default()
                ));
            }
            return;
        }
        if ev["type"] != "result" {
            return;
        }
        let id = ev["task_id"].as_str().unwrap_or_default();
        let info = self.tasks.get(id).cloned().unwrap_or_else(|| TaskInfo {
            address: id.to_string(),
            ..TaskInfo::default()
        });
        {
            let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            if !p.reported.insert(id.to_string()) {
                return;
            }
            if let Some(n) = p.waiting.get_mut(&info.zone) {
                *n = n.saturating_sub(1);
            }
        }
        let _ = self.tx.send(DeviceResult::from_event(ev, &info));
    }
}

/// Submits `planned` and follows it to the end, handing each device's
/// outcome (its capture written) to `on_device` and each notice about the
/// wait to `on_notice`.
pub async fn execute<D, N>(
    client: &Client,
    planned: &Planned,
    opts: Options,
    mut on_device: D,
    on_notice: N,
) -> Result<Executed, ClientError>
where
    D: FnMut(DeviceResult),
    N: Fn(&str),
{
    let job = client.submit(planned.document.clone()).await?;
    let deadline = opts
        .wait_timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let (_, _, raw) = client.job(&job.id).await?;
    let view: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let tasks: HashMap<String, TaskInfo> = view["tasks"]
        .as_array()
        .map_or(&[][..], |v| v.as_slice())
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                TaskInfo::of(t),
            )
        })
        .collect();
    let progress = Mutex::new(Progress::default());
    {
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        for t in tasks.values() {
            *p.waiting.entry(t.zone.clone()).or_insert(0) += 1;
        }
    }
    // Zones without a worker at submit were said when planning; known
    // here so a worker's arrival and a timeout's reason can name them.
    if let Ok((workers, _)) = client.workers().await {
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        let zones: Vec<String> = p.waiting.keys().cloned().collect();
        for zone in zones {
            if serving(&workers, &zone).is_empty() {
                p.unserved.insert(zone, None);
            }
        }
    }
    let timed_out = AtomicBool::new(false);
    let (tx, rx) = mpsc::unbounded_channel();

    // Follows the job, then reports the tasks that ended without a result.
    let follow_all = async {
        let mut follower = Follower {
            tasks: &tasks,
            progress: &progress,
            tx,
            on_notice: &on_notice,
            debug: opts.debug,
        };
        let done = follow::watch(client, &job.id, &mut follower).await?;
        let (_, _, raw) = client.job(&job.id).await?;
        let view: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        for t in view["tasks"].as_array().map_or(&[][..], |v| v.as_slice()) {
            let id = t["id"].as_str().unwrap_or_default();
            if !progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reported
                .insert(id.to_string())
            {
                continue;
            }
            let why = timed_out.load(Ordering::Relaxed).then(|| {
                let zone = t["zone"].as_str().unwrap_or_default();
                let no_worker = progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unserved
                    .contains_key(zone);
                format!(
                    "not collected within --wait-timeout {}s{}",
                    opts.wait_timeout.unwrap_or(0),
                    if no_worker {
                        format!("; no live worker served zone {zone:?}")
                    } else {
                        String::new()
                    }
                )
            });
            let _ = follower
                .tx
                .send(DeviceResult::from_state(t, why.as_deref()));
        }
        Ok::<_, ClientError>(done)
    };

    // Around the follow: the zone watch and the wait timeout.
    let watched = async {
        tokio::pin!(follow_all);
        let mut tick = tokio::time::interval_at(Instant::now() + CHECK_EVERY, CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let expiry = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                r = &mut follow_all => break r,
                _ = tick.tick() => {
                    let waiting: Vec<(String, usize)> = progress
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .waiting
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(z, n)| (z.clone(), *n))
                        .collect();
                    if waiting.is_empty() {
                        continue;
                    }
                    let Ok((workers, _)) = client.workers().await else { continue };
                    for (zone, n) in waiting {
                        let live = serving(&workers, &zone);
                        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                        if live.is_empty() {
                            let due = p
                                .unserved
                                .get(&zone)
                                .is_none_or(|t| t.is_none_or(|t| t.elapsed() >= REPEAT_EVERY));
                            if due {
                                p.unserved.insert(zone.clone(), Some(Instant::now()));
                                drop(p);
                                on_notice(&format!("Waiting: {}", no_worker(&zone, n, opts.wait_timeout)));
                            }
                        } else if p.served(&zone) {
                            drop(p);
                            let ids: Vec<&str> = live.iter().map(|w| w.worker_id.as_str()).collect();
                            on_notice(&format!("Zone {zone:?} is served now ({})", ids.join(", ")));
                        }
                    }
                }
                _ = &mut expiry, if deadline.is_some() && !timed_out.load(Ordering::Relaxed) => {
                    timed_out.store(true, Ordering::Relaxed);
                    let left: usize = progress
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .waiting
                        .values()
                        .sum();
                    on_notice(&format!(
                        "Giving up: --wait-timeout {}s passed with {} not collected; cancelling job {}",
                        opts.wait_timeout.unwrap_or(0),
                        super::readiness::devices(left),
                        job.id
                    ));
                    if let Err(e) = client.cancel(&job.id).await {
                        on_notice(&format!("Cannot cancel job {}: {e}", job.id));
                    }
                }
            }
        }
    };

    // Writes captures as results arrive, a few at a time.
    let base = planned.base.as_deref();
    let job_id = job.id.as_str();
    let saving =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|d| (d, rx)) })
            .map(|d| save_one(client, job_id, base, d))
            .buffer_unordered(PARALLEL_SAVES)
            .for_each(|d| {
                on_device(d);
                futures::future::ready(())
            });

    let (done, ()) = tokio::join!(watched, saving);
    done?;
    Ok(Executed {
        timed_out: timed_out.load(Ordering::Relaxed),
    })
}

/// Writes the capture of a succeeded device under `base`.
async fn save_one(
    client: &Client,
    job: &str,
    base: Option<&std::path::Path>,
    mut d: DeviceResult,
) -> DeviceResult {
    let Some(base) = base else { return d };
    if !d.ok {
        return d;
    }
    let Some(rel) = d.planned_file.clone() else {
        return d;
    };
    if !d.captured {
        d.fail(
            "capture_missing",
            "the worker stored no capture for this device",
        );
        return d;
    }
    let dest = match save::capture_path(base, &rel) {
        Ok(p) => p,
        Err(e) => {
            d.fail("capture_write", &e);
            return d;
        }
    };
    match save::fetch_and_write(client, job, &d.task, &dest, d.sha256.as_deref()).await {
        Ok(n) => {
            d.file = Some(dest.display().to_string());
            d.bytes = Some(n);
        }
        Err(e) => d.fail("capture_write", &e),
    }
    d
}
