//! The engine's actor: the single writer of job and task state. Every
//! change is made to the in-memory view first and then written to KV with
//! the entry's revision; a conflict reloads the entry and re-applies the
//! change, which is safe because every change here is idempotent.

use super::chunks;
use super::store::{self, WriteError};
use super::{Command, EngineError, Metrics, View, apply_event, dispatch, retention};
use crate::bus::Bus;
use crate::leader::Fence;
use crate::model::{JobRules, NewTask};
use crate::model::{JobState, Status, TaskState, count, now_rfc3339};
use crate::plan::Plan;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use outpost_kinds::ErrorClass;
use outpost_proto::{layout, pb};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// KV writes in flight at once.
const WINDOW: usize = 512;
/// How long a submission may wait for the state store.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a failed submission may spend removing the task entries it wrote.
const PURGE_DEADLINE: Duration = Duration::from_secs(5);
/// Rounds of reload-and-reapply before a conflicting write is given up.
const CONFLICT_ROUNDS: usize = 8;
/// How long a state read or write may wait for NATS; what could not be
/// written by then stays in memory, is written again at the next
/// retention tick, and its events are not acknowledged.
const STORE_DEADLINE: Duration = Duration::from_secs(20);

/// How often finished jobs are checked against retention.
const RETENTION_TICK: Duration = Duration::from_secs(2);
/// Jobs evicted per check at most.
const EVICT_BATCH: usize = 2048;
/// How long archiving one job may take.
const ARCHIVE_DEADLINE: Duration = Duration::from_secs(10);

type TaskRef = (String, String);

/// The history bucket and the state stream, for eviction.
#[derive(Clone)]
pub struct Archive {
    pub cfg: super::retention::RetentionConfig,
    pub history: async_nats::jetstream::kv::Store,
    pub state: async_nats::jetstream::stream::Stream,
}

impl Archive {
    /// Writes `summary` and purges the job's state; true when both held.
    async fn archive(&self, id: &str, summary: &super::retention::JobSummary) -> bool {
        let work = async {
            let key = layout::job_key(id).map_err(|e| e.to_string())?;
            let bytes = serde_json::to_vec(summary).map_err(|e| e.to_string())?;
            // The first summary wins: after a kill between it and the
            // purge, the job is evicted again from state that may have lost
            // its tasks, and must not overwrite what was kept.
            match self.history.create(&key, bytes.into()).await {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        async_nats::jetstream::kv::CreateErrorKind::AlreadyExists
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
            let bucket = format!("$KV.{}.", outpost_proto::layout::JOBS_BUCKET);
            for filter in [format!("{bucket}tasks.{id}.>"), format!("{bucket}{key}")] {
                self.state
                    .purge()
                    .filter(filter)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        match tokio::time::timeout(ARCHIVE_DEADLINE, work).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(job = %id, error = %e, "finished job not archived; will retry");
                false
            }
            Err(_) => {
                tracing::warn!(job = %id, "archiving a finished job timed out; will retry");
                false
            }
        }
    }
}

pub struct Actor {
    bus: Bus,
    /// Where finished jobs go when they leave the hot state.
    pub history: Option<Archive>,
    /// Events not believed: counted and logged once per subject.
    pub drops: Arc<super::provenance::Drops>,
    /// Each zone's `max_deliver`: no worker event can come from a later
    /// delivery than that.
    pub max_deliver: HashMap<String, u32>,
    /// Tasks and jobs whose state in memory is ahead of KV (a write that
    /// missed its deadline): written again at every retention tick.
    unsynced_tasks: BTreeSet<TaskRef>,
    unsynced_jobs: BTreeSet<String>,
    /// Writes that missed their deadline so far: an event batch is acked
    /// only when this did not move while it was stored.
    missed_writes: u64,
    view: Arc<RwLock<View>>,
    changes: broadcast::Sender<String>,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<Command>,
    /// Jobs waiting for their `schedule_at`, earliest first: the actor's
    /// loop wakes for the first (no separate task that could die alone).
    scheduled: BTreeSet<(DateTime<Utc>, String)>,
    /// Open while this coordinator holds the leader lease: every state
    /// write asks it first.
    fence: Fence,
    /// The site of each zone at a site (its tasks go to the site's stream).
    pub routes: Arc<crate::sites::Routes>,
}

impl Actor {
    pub fn new(
        bus: Bus,
        fence: Fence,
        view: Arc<RwLock<View>>,
        changes: broadcast::Sender<String>,
        metrics: Arc<Metrics>,
        tx: mpsc::Sender<Command>,
    ) -> Self {
        Self {
            bus,
            history: None,
            drops: Arc::default(),
            max_deliver: HashMap::new(),
            unsynced_tasks: BTreeSet::new(),
            unsynced_jobs: BTreeSet::new(),
            missed_writes: 0,
            view,
            changes,
            metrics,
            tx,
            scheduled: BTreeSet::new(),
            fence,
            routes: Arc::default(),
        }
    }

    fn view(&self) -> RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies events read back from the stream at start-up (nothing to
    /// acknowledge: they are not the relay's deliveries).
    pub async fn apply_replayed(&mut self, mut events: Vec<pb::Event>) {
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(4096));
            self.events(Vec::new(), events).await;
            events = rest;
        }
    }

    /// After a restart: re-derives every unfinished job's status from its
    /// tasks and dispatches (or schedules) jobs that were not dispatched.
    pub async fn resume(&mut self) {
        let (unfinished, to_dispatch): (Vec<String>, Vec<(String, Option<String>)>) = {
            let v = self.view();
            let unfinished = v
                .jobs
                .values()
                .filter(|e| !e.job.status.is_terminal())
                .map(|e| e.job.id.clone())
                .collect();
            let to_dispatch = v
                .jobs
                .values()
                .filter(|e| !e.job.dispatched && !e.job.cancel_requested)
                .map(|e| (e.job.id.clone(), e.job.schedule_at.clone()))
                .collect();
            (unfinished, to_dispatch)
        };
        self.refresh_jobs(unfinished).await;
        for (job_id, schedule_at) in to_dispatch {
            self.start_or_schedule(job_id, schedule_at.as_deref());
        }
        // Rolling updates: publish again the steps that had not started
        // (the stream de-duplicates by task id), then carry on.
        let rolling = self.pending_of(|e| e.job.open && e.job.dispatched);
        for (job_id, pending) in &rolling {
            if !pending.is_empty() {
                self.spawn_publish(job_id, pending.clone());
            }
        }
        self.advance_rollouts(rolling.into_iter().map(|(j, _)| j).collect())
            .await;
    }

    /// The pending tasks of every job `select` picks.
    fn pending_of(
        &self,
        select: impl Fn(&super::JobEntry) -> bool,
    ) -> Vec<(String, Vec<TaskState>)> {
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        v.jobs
            .values()
            .filter(|e| select(e))
            .map(|e| {
                let pending = e
                    .tasks
                    .values()
                    .filter(|(t, _)| t.status == Status::Pending)
                    .map(|(t, _)| t.clone())
                    .collect();
                (e.job.id.clone(), pending)
            })
            .collect()
    }

    /// Publishes again every pending task of dispatched, unfinished jobs
    /// (after the tasks stream was re-created empty).
    fn redispatch(&self) {
        let jobs = self.pending_of(|e| e.job.dispatched && !e.job.status.is_terminal());
        for (job_id, pending) in jobs {
            if !pending.is_empty() {
                tracing::warn!(job = %job_id, tasks = pending.len(), "publishing pending tasks again");
                self.spawn_publish(&job_id, pending);
            }
        }
    }

    /// Publishes `tasks` of a job; their sequences come back as `Dispatched`.
    fn spawn_publish(&self, job_id: &str, tasks: Vec<TaskState>) {
        let job = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            match v.jobs.get(job_id) {
                Some(e) => e.job.clone(),
                None => return,
            }
        };
        let tasks = tasks
            .iter()
            .map(|t| dispatch::Outgoing::new(t, &self.routes))
            .collect();
        let js = self.bus.js.clone();
        let tx = self.tx.clone();
        let job_id = job_id.to_string();
        tokio::spawn(async move {
            let seqs = dispatch::publish_tasks(js, job, tasks).await;
            let _ = tx.send(Command::Dispatched { job_id, seqs }).await;
        });
    }

    /// Runs the workflow of open rolling updates among `jobs`: writes and
    /// publishes the steps it adds, records each host's progress, and
    /// closes the job when every host is done.
    async fn advance_rollouts(&mut self, jobs: Vec<String>) {
        for job_id in jobs {
            // A step refused by a rule is recorded as failed at once and
            // may decide the next: run again until nothing is added that way.
            for _ in 0..8 {
                let decided = {
                    let v = self.view.read().unwrap_or_else(|p| p.into_inner());
                    let Some(e) = v.jobs.get(&job_id) else { break };
                    if !e.job.open || !(e.job.dispatched || e.job.cancel_requested) {
                        break;
                    }
                    match serde_json::from_value::<crate::rolling::Rollout>(e.job.params.clone()) {
                        Ok(r) => Ok(crate::rolling::advance(&r, &e.job, &e.tasks)),
                        Err(err) => Err(err.to_string()),
                    }
                };
                let decided = match decided {
                    Ok(d) => d,
                    Err(err) => {
                        // Damaged stored state: the job fails, naming why,
                        // rather than stay open for ever.
                        tracing::error!(job = %job_id, error = %err, "rolling update plan unreadable; failing the job");
                        self.fail_workflow(&job_id, &err).await;
                        break;
                    }
                };
                let again = decided.new_tasks.iter().any(|t| t.status.is_terminal());
                let added = self.add_tasks(&job_id, decided.new_tasks.clone()).await;
                // A step the workflow refused itself never reaches a worker:
                // its result goes on the events stream all the same, so
                // followers, SSE and the DSM console see why.
                let refused: Vec<&TaskState> =
                    added.iter().filter(|t| t.status.is_terminal()).collect();
                if !refused.is_empty() {
                    self.publish_refusals(&refused).await;
                }
                let pending: Vec<TaskState> = added
                    .into_iter()
                    .filter(|t| t.status == Status::Pending)
                    .collect();
                if !pending.is_empty() {
                    self.spawn_publish(&job_id, pending);
                }
                let changed = {
                    let now = now_rfc3339();
                    let mut v = self.view();
                    let Some(e) = v.jobs.get_mut(&job_id) else {
                        break;
                    };
                    let summary = Some(decided.summary());
                    let mut changed = e.job.rollout != summary;
                    e.job.rollout = summary;
                    if decided.done && e.job.open {
                        e.job.open = false;
                        changed = true;
                    }
                    let counts = count(e.tasks.values().map(|(t, _)| t));
                    e.job.derive_status(counts, &now) || changed
                };
                if changed {
                    self.write_jobs(vec![job_id.clone()]).await;
                    let _ = self.changes.send(job_id.clone());
                }
                if !again {
                    break;
                }
            }
        }
    }

    /// Publishes the result of tasks the coordinator decided itself (a
    /// workflow's refused step) as verdicts of worker `coordinator`, on the
    /// subject only the coordinator may publish to.
    async fn publish_refusals(&self, tasks: &[&TaskState]) {
        for t in tasks {
            let Ok(subj) = layout::verdict_subject(&t.zone, &t.job_id) else {
                continue;
            };
            let outcome = match t.status {
                Status::Succeeded => pb::Outcome::Succeeded,
                Status::Cancelled => pb::Outcome::Cancelled,
                _ => pb::Outcome::Failed,
            };
            let ev = pb::Event {
                job_id: t.job_id.clone(),
                task_id: t.id.clone(),
                zone: t.zone.clone(),
                worker_id: "coordinator".into(),
                attempt: 0,
                seq: 1,
                at_ms: outpost_proto::now_ms(),
                body: Some(pb::event::Body::Result(pb::Result {
                    outcome: outcome as i32,
                    error_kind: t.error_kind.clone().unwrap_or_default(),
                    error: t.error.clone().unwrap_or_default(),
                    output_json: Vec::new(),
                    kind: t.kind.clone(),
                    started_at_ms: 0,
                })),
                ..Default::default()
            };
            let payload = outpost_proto::events::encode_one(ev);
            let sent = tokio::time::timeout(STORE_DEADLINE, async {
                self.bus.js.publish(subj, payload.into()).await?.await
            })
            .await;
            if !matches!(sent, Ok(Ok(_))) {
                tracing::warn!(job = %t.job_id, task = %t.id, "refused step not published as an event");
            }
        }
    }

    /// Closes a workflow whose stored plan cannot be read: one failed
    /// task records why, and the job ends `failed`.
    async fn fail_workflow(&mut self, job_id: &str, why: &str) {
        let zone = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            v.jobs
                .get(job_id)
                .and_then(|e| e.job.zones.first().cloned())
                .unwrap_or_default()
        };
        let now = now_rfc3339();
        let mut task = TaskState::pending(
            format!("{job_id}-plan"),
            job_id,
            zone,
            crate::plan::ROLLING_UPDATE,
            String::new(),
            serde_json::Value::Null,
        );
        task.status = Status::Failed;
        task.finished_at = Some(now.clone());
        task.error_kind = Some(ErrorClass::PlanInvalid.as_str().into());
        task.error = Some(format!("the stored rollout plan cannot be read: {why}"));
        self.add_tasks(job_id, vec![task]).await;
        {
            let mut v = self.view();
            if let Some(e) = v.jobs.get_mut(job_id) {
                e.job.open = false;
                let counts = count(e.tasks.values().map(|(t, _)| t));
                e.job.derive_status(counts, &now);
            }
        }
        self.write_jobs(vec![job_id.to_string()]).await;
        let _ = self.changes.send(job_id.to_string());
    }

    /// Creates task entries of a job (revision 0); an entry that already
    /// exists (written before a restart) is taken as stored. Returns the
    /// tasks now in the view.
    /// Adds a workflow's next tasks to its job and stores them; returns
    /// those that were stored (the others are taken out again and the
    /// workflow tries later).
    async fn add_tasks(&mut self, job_id: &str, tasks: Vec<TaskState>) -> Vec<TaskState> {
        if tasks.is_empty() {
            return Vec::new();
        }
        let refs: Vec<TaskRef> = tasks
            .iter()
            .map(|t| (job_id.to_string(), t.id.clone()))
            .collect();
        {
            let mut v = self.view();
            let Some(e) = v.jobs.get_mut(job_id) else {
                return Vec::new();
            };
            let fresh: Vec<TaskState> = tasks
                .into_iter()
                .filter(|t| !e.tasks.contains_key(&t.id))
                .collect();
            e.append(fresh);
        }
        let written = self.write_tasks(refs.clone(), &|_| false).await;
        let mut v = self.view();
        let Some(e) = v.jobs.get_mut(job_id) else {
            return Vec::new();
        };
        let mut added = Vec::new();
        for r in &refs {
            let stored = e
                .tasks
                .get(&r.1)
                .is_some_and(|(t, _)| written.contains(&(job_id.to_string(), t.chunk)));
            if stored {
                if let Some((t, _)) = e.tasks.get(&r.1) {
                    added.push(t.clone());
                }
            } else if let Some((t, _)) = e.tasks.remove(&r.1) {
                if let Some(c) = e.chunks.get_mut(t.chunk as usize) {
                    c.ids.retain(|id| *id != t.id);
                }
                tracing::error!(job = %job_id, task = %t.id, "workflow step not written; will retry");
            }
        }
        drop(v);
        for r in &refs {
            if !added.iter().any(|t| t.id == r.1) {
                self.unsynced_tasks.remove(r);
            }
        }
        added
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut retention = tokio::time::interval(RETENTION_TICK);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.scheduled.first().map(|(when, _)| {
                let left = (*when - Utc::now()).to_std().unwrap_or_default();
                Instant::now() + left
            });
            let cmd = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    if let Some((_, job_id)) = self.scheduled.pop_first() {
                        self.handle(Command::Due { job_id }).await;
                    }
                    continue;
                }
                _ = retention.tick() => {
                    self.resync().await;
                    self.evict().await;
                    continue;
                }
                cmd = rx.recv() => cmd,
            };
            let Some(cmd) = cmd else { break };
            self.handle(cmd).await;
        }
        tracing::info!("engine stopped");
    }

    /// Writes again the state that missed its deadline. Memory is ahead of
    /// KV there (every event it holds was applied), so on a conflict the
    /// stored entry is kept only if it went further.
    async fn resync(&mut self) {
        if !self.unsynced_tasks.is_empty() {
            let todo: Vec<TaskRef> = self.unsynced_tasks.iter().cloned().collect();
            let ours: HashMap<TaskRef, TaskState> = {
                let v = self.view.read().unwrap_or_else(|p| p.into_inner());
                todo.iter()
                    .filter_map(|(j, t)| {
                        let (task, _) = v.jobs.get(j)?.tasks.get(t)?;
                        Some(((j.clone(), t.clone()), task.clone()))
                    })
                    .collect()
            };
            self.unsynced_tasks.retain(|r| ours.contains_key(r));
            let redo =
                |fresh: &mut TaskState| match ours.get(&(fresh.job_id.clone(), fresh.id.clone())) {
                    Some(o)
                        if o.applied > fresh.applied
                            || (o.status.is_terminal() && !fresh.status.is_terminal()) =>
                    {
                        *fresh = o.clone();
                        true
                    }
                    _ => false,
                };
            self.write_tasks(todo, &redo).await;
        }
        if !self.unsynced_jobs.is_empty() {
            let todo: Vec<String> = self.unsynced_jobs.iter().cloned().collect();
            {
                let v = self.view.read().unwrap_or_else(|p| p.into_inner());
                self.unsynced_jobs.retain(|j| v.jobs.contains_key(j));
            }
            self.write_jobs(todo).await;
        }
    }

    /// Moves finished jobs past retention out of the hot state: summary
    /// into `outpost_history` first, then the job's state purged from KV
    /// and dropped from the view.
    async fn evict(&mut self) {
        let Some(archive) = self.history.clone() else {
            return;
        };
        let chosen: Vec<(String, retention::JobSummary)> = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            let finished = v
                .jobs
                .values()
                .filter_map(|e| {
                    retention::finished_at(&e.job).map(|at| retention::Finished {
                        id: &e.job.id,
                        finished_at: at,
                        tasks: e.tasks.len(),
                    })
                })
                .collect();
            retention::select(finished, Utc::now(), &archive.cfg, EVICT_BATCH)
                .into_iter()
                .filter(|id| {
                    !self.unsynced_jobs.contains(*id)
                        && !self.unsynced_tasks.iter().any(|(j, _)| j == id)
                })
                .filter_map(|id| {
                    let e = v.jobs.get(id)?;
                    Some((
                        id.to_string(),
                        retention::summarize(&e.job, e.tasks.values().map(|(t, _)| t)),
                    ))
                })
                .collect()
        };
        if chosen.is_empty() || self.fence.check().is_err() {
            return;
        }
        let results: Vec<(String, bool)> =
            futures::stream::iter(chosen.into_iter().map(|(id, summary)| {
                let archive = archive.clone();
                async move {
                    let ok = archive.archive(&id, &summary).await;
                    (id, ok)
                }
            }))
            .buffer_unordered(64)
            .collect()
            .await;
        let mut evicted = 0u64;
        {
            let mut v = self.view();
            for (id, ok) in results {
                if ok {
                    v.jobs.remove(&id);
                    evicted += 1;
                }
            }
        }
        Metrics::inc(&self.metrics.jobs_evicted, evicted);
        tracing::debug!(evicted, "finished jobs left the hot state");
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Submit { plan, reply } => {
                let r = self.submit(*plan).await;
                let _ = reply.send(r);
            }
            Command::Cancel { job_id, reply } => {
                let r = self.cancel(&job_id).await;
                let _ = reply.send(r);
            }
            Command::Drain { job_id, reply } => {
                let r = self.drain(&job_id).await;
                let _ = reply.send(r);
            }
            Command::Dispatched { job_id, seqs } => self.dispatched(&job_id, seqs).await,
            Command::Due { job_id } => {
                let ready = self
                    .view()
                    .jobs
                    .get(&job_id)
                    .is_some_and(|e| !e.job.dispatched && !e.job.cancel_requested);
                if ready {
                    self.spawn_dispatch(&job_id);
                }
            }
            Command::Events(msgs, events) => self.events(msgs, events).await,
            Command::Redispatch => self.redispatch(),
            Command::GaveUp {
                task,
                deliveries,
                stream_seq,
                consumer,
                done,
            } => {
                self.gave_up(task, deliveries, stream_seq, &consumer).await;
                let _ = done.send(());
            }
        }
    }

    async fn submit(&mut self, plan: Plan) -> Result<JobState, EngineError> {
        let deadline = Some(Instant::now() + SUBMIT_DEADLINE);
        let kv = self.bus.jobs.clone();
        let mut entry = super::JobEntry::new(plan.job, plan.tasks);
        // The job and its chunks go in one round: the job names how many
        // chunks it was written with, and loading leaves out a job that
        // lacks one (a submission cut short, never answered).
        entry.job.task_chunks = entry.chunks.len() as u32;
        let mut writes = Vec::with_capacity(entry.chunks.len() + 1);
        for n in 0..entry.chunks.len() as u32 {
            let (key, bytes) = chunks::encode(&entry, n)
                .ok_or_else(|| EngineError::Unavailable("cannot encode the job's tasks".into()))?;
            writes.push(store::Write { key, bytes, rev: 0 });
        }
        let job_key =
            layout::job_key(&entry.job.id).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let bytes = store::encode(&job_key, &entry.job)
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        writes.push(store::Write {
            key: job_key,
            bytes,
            rev: 0,
        });
        let keys: Vec<String> = writes.iter().map(|w| w.key.clone()).collect();
        let mut results = store::write_all(&kv, &self.fence, writes, WINDOW, deadline).await;
        Metrics::inc(&self.metrics.state_writes, results.len() as u64);
        let job_rev = results.pop().unwrap_or_else(|| {
            Err(WriteError::Encode {
                key: String::new(),
                message: "no job write".into(),
            })
        });
        let failure = results
            .iter()
            .chain(std::iter::once(&job_rev))
            .find_map(|r| r.as_ref().err().map(|e| e.to_string()));
        let job_rev = match (failure, job_rev) {
            (None, Ok(rev)) => rev,
            (failure, job_rev) => {
                let e = failure
                    .or_else(|| job_rev.err().map(|e| e.to_string()))
                    .unwrap_or_default();
                // Leave nothing half-created: the job entry and every chunk
                // are removed, also those whose create timed out: the
                // client may still send them once NATS is back, and the
                // purges follow them on the same connection. Bounded in
                // time; what stays is left out at load (a job without all
                // its chunks, chunks without their job).
                let purges = futures::stream::iter(keys.into_iter().rev().map(|key| {
                    let kv = kv.clone();
                    async move {
                        let _ = kv.purge(key).await;
                    }
                }))
                .buffer_unordered(WINDOW)
                .collect::<Vec<()>>();
                let _ = tokio::time::timeout(PURGE_DEADLINE, purges).await;
                return Err(EngineError::Unavailable(e));
            }
        };
        Metrics::inc(&self.metrics.jobs_submitted, 1);
        entry.rev = job_rev;
        for (n, r) in results.into_iter().enumerate() {
            let rev = r.unwrap_or(0);
            entry.chunks[n].rev = rev;
            for id in &entry.chunks[n].ids {
                if let Some((_, r)) = entry.tasks.get_mut(id) {
                    *r = rev;
                }
            }
        }
        let job = entry.job.clone();
        self.view().jobs.insert(job.id.clone(), entry);
        self.start_or_schedule(job.id.clone(), job.schedule_at.as_deref());
        let _ = self.changes.send(job.id.clone());
        Ok(job)
    }

    fn start_or_schedule(&mut self, job_id: String, schedule_at: Option<&str>) {
        let when = schedule_at
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        match when {
            Some(when) if when > Utc::now() => {
                self.scheduled.insert((when, job_id));
            }
            _ => self.spawn_dispatch(&job_id),
        }
    }

    fn spawn_dispatch(&self, job_id: &str) {
        let (job, tasks) = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            let Some(e) = v.jobs.get(job_id) else { return };
            let tasks: Vec<dispatch::Outgoing> = e
                .tasks
                .values()
                .filter(|(t, _)| t.status == Status::Pending)
                .map(|(t, _)| dispatch::Outgoing::new(t, &self.routes))
                .collect();
            (e.job.clone(), tasks)
        };
        let js = self.bus.js.clone();
        let tx = self.tx.clone();
        let job_id = job_id.to_string();
        tokio::spawn(async move {
            let seqs = dispatch::publish_tasks(js, job, tasks).await;
            let _ = tx.send(Command::Dispatched { job_id, seqs }).await;
        });
    }

    async fn dispatched(&mut self, job_id: &str, seqs: Vec<(String, u64)>) {
        Metrics::inc(&self.metrics.tasks_dispatched, seqs.len() as u64);
        let seqs: HashMap<String, u64> = seqs.into_iter().collect();
        let mut dirty = Vec::new();
        {
            let mut v = self.view();
            let Some(e) = v.jobs.get_mut(job_id) else {
                return;
            };
            for (task_id, seq) in &seqs {
                if let Some((t, _)) = e.tasks.get_mut(task_id)
                    && t.stream_seq != Some(*seq)
                {
                    t.stream_seq = Some(*seq);
                    dirty.push((job_id.to_string(), task_id.clone()));
                }
            }
            e.job.dispatched = true;
        }
        // Stored with the tasks: their results may all have been written
        // before the publish acknowledgements came back, and a cancel after
        // a restart needs the sequences to take pending messages back.
        let redo = |t: &mut TaskState| match seqs.get(&t.id) {
            Some(seq) if t.job_id == job_id && t.stream_seq != Some(*seq) => {
                t.stream_seq = Some(*seq);
                true
            }
            _ => false,
        };
        self.write_tasks(dirty, &redo).await;
        self.write_jobs(vec![job_id.to_string()]).await;
        self.advance_rollouts(vec![job_id.to_string()]).await;
    }

    async fn drain(&mut self, job_id: &str) -> Result<JobState, EngineError> {
        let job = {
            let mut v = self.view();
            let e = v
                .jobs
                .get_mut(job_id)
                .ok_or_else(|| EngineError::NotFound(job_id.to_string()))?;
            if e.job.status.is_terminal() || e.job.drain_requested {
                return Ok(e.job.clone());
            }
            e.job.drain_requested = true;
            e.job.clone()
        };
        self.write_jobs(vec![job_id.to_string()]).await;
        self.advance_rollouts(vec![job_id.to_string()]).await;
        Ok(job)
    }

    async fn cancel(&mut self, job_id: &str) -> Result<JobState, EngineError> {
        let now = now_rfc3339();
        let zones: Vec<String>;
        let (dirty, seqs) = {
            let mut v = self.view();
            let e = v
                .jobs
                .get_mut(job_id)
                .ok_or_else(|| EngineError::NotFound(job_id.to_string()))?;
            if e.job.status.is_terminal() {
                return Ok(e.job.clone());
            }
            e.job.cancel_requested = true;
            zones = e.job.zones.clone();
            let mut dirty = Vec::new();
            let mut seqs = Vec::new();
            for (t, _) in e.tasks.values_mut() {
                if cancel_pending(t, &now) {
                    dirty.push((t.job_id.clone(), t.id.clone()));
                    if let Some(seq) = t.stream_seq {
                        // A site's task waits in the hub's stream of that site.
                        let stream = match self.routes.get(&t.zone) {
                            Some(site) => layout::site_tasks_stream(site),
                            None => layout::TASKS_STREAM.to_string(),
                        };
                        seqs.push((stream, seq));
                    }
                }
            }
            let counts = count(e.tasks.values().map(|(t, _)| t));
            e.job.derive_status(counts, &now);
            (dirty, seqs)
        };
        // Each zone's workers learn of the cancel from their own zone's
        // record (the job documents are not theirs to read).
        for zone in &zones {
            let Ok(key) = layout::cancel_key(zone, job_id) else {
                continue;
            };
            if self.fence.check().is_err() {
                break;
            }
            let put = tokio::time::timeout(
                STORE_DEADLINE,
                self.bus.cancels.put(key, now.clone().into_bytes().into()),
            )
            .await;
            if !matches!(put, Ok(Ok(_))) {
                tracing::warn!(job = %job_id, zone = %zone, "cancel record not written; running tasks still get the signal");
            }
        }
        let redo = |t: &mut TaskState| cancel_pending(t, &now);
        self.write_tasks(dirty, &redo).await;
        self.write_jobs(vec![job_id.to_string()]).await;
        // Queued messages of cancelled tasks are dropped from the work queue
        // (or from the hub's stream of their site, before the site has
        // them); a worker that already holds one sees the job's cancel and
        // skips it.
        let deletes: Vec<_> = seqs
            .into_iter()
            .map(|(stream, seq)| {
                let (js, tasks) = (self.bus.js.clone(), self.bus.tasks.clone());
                async move {
                    if stream == layout::TASKS_STREAM {
                        let _ = tasks.delete_message(seq).await;
                    } else if let Ok(s) = js.get_stream_no_info(&stream).await {
                        let _ = s.delete_message(seq).await;
                    }
                }
            })
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        for zone in &zones {
            if let Ok(subj) = layout::cancel_subject(zone, job_id) {
                let _ = self.bus.client.publish(subj, bytes::Bytes::new()).await;
            }
        }
        let _ = self.bus.client.flush().await;
        Metrics::inc(&self.metrics.jobs_cancelled, 1);
        self.advance_rollouts(vec![job_id.to_string()]).await;
        let _ = self.changes.send(job_id.to_string());
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        v.jobs
            .get(job_id)
            .map(|e| e.job.clone())
            .ok_or_else(|| EngineError::NotFound(job_id.to_string()))
    }

    async fn events(&mut self, msgs: Vec<async_nats::jetstream::Message>, events: Vec<pb::Event>) {
        Metrics::inc(&self.metrics.events_relayed, events.len() as u64);
        // The events applied, in order; a write that meets a newer stored
        // chunk applies them again to what it read (rare: the index that
        // finds a task's events is built only then).
        let mut applied: Vec<pb::Event> = Vec::with_capacity(events.len());
        let mut dirty = Vec::new();
        let mut seen: HashSet<TaskRef> = HashSet::new();
        let mut jobs = BTreeSet::new();
        let mut moves: HashMap<String, Vec<(Status, Status)>> = HashMap::new();
        // Failed tasks not sampled into their job's trace: recorded there now.
        let mut failed_untraced = Vec::new();
        {
            let mut v = self.view();
            for ev in events {
                if !jobs.contains(&ev.job_id) {
                    jobs.insert(ev.job_id.clone());
                }
                let Some(e) = v.jobs.get_mut(&ev.job_id) else {
                    continue;
                };
                let Some((t, _)) = e.tasks.get_mut(&ev.task_id) else {
                    continue;
                };
                let limit = self.max_deliver.get(&t.zone).copied();
                let checked = super::provenance::against_task(t, &ev).and(match limit {
                    Some(max) if ev.attempt > max => {
                        Err(super::provenance::Refusal::Attempt(ev.attempt))
                    }
                    _ => Ok(()),
                });
                if let Err(why) = checked {
                    let subj = layout::event_subject(&ev.zone, &ev.job_id).unwrap_or_default();
                    self.drops.drop_event(&self.metrics, &subj, &why);
                    continue;
                }
                let before = t.status;
                if apply_event(t, &ev) {
                    if t.status != before {
                        moves
                            .entry(ev.job_id.clone())
                            .or_default()
                            .push((before, t.status));
                        if t.status == Status::Failed
                            && let Some(tp) = &e.job.traceparent
                            && !outpost_telemetry::sampling::configured().traced(&t.job_id, &t.id)
                        {
                            failed_untraced.push((
                                tp.clone(),
                                t.clone(),
                                ev.worker_id.clone(),
                                ev.attempt,
                            ));
                        }
                    }
                    let r = (ev.job_id.clone(), ev.task_id.clone());
                    if !seen.contains(&r) {
                        seen.insert(r.clone());
                        dirty.push(r);
                    }
                }
                applied.push(ev);
            }
        }
        for (traceparent, t, worker, attempt) in &failed_untraced {
            record_failed(traceparent, t, worker, *attempt);
        }
        let index: std::sync::OnceLock<HashMap<TaskRef, Vec<&pb::Event>>> =
            std::sync::OnceLock::new();
        let redo = |t: &mut TaskState| {
            let by_task = index.get_or_init(|| {
                let mut m: HashMap<TaskRef, Vec<&pb::Event>> = HashMap::new();
                for e in &applied {
                    m.entry((e.job_id.clone(), e.task_id.clone()))
                        .or_default()
                        .push(e);
                }
                m
            });
            // Every event must be applied: no short-circuit.
            let mut changed = false;
            let key = (t.job_id.clone(), t.id.clone());
            for e in by_task.get(&key).into_iter().flatten() {
                changed |= apply_event(t, e);
            }
            changed
        };
        let conflicts = self.metrics.state_conflicts.load(Ordering::Relaxed);
        let missed_before = self.missed_writes;
        self.write_tasks(dirty, &redo).await;
        let exact = conflicts == self.metrics.state_conflicts.load(Ordering::Relaxed);
        let jobs: Vec<String> = jobs.into_iter().collect();
        self.refresh_jobs_moved(jobs.clone(), moves, exact).await;
        // Every message is acked on its own: acking the last of a batch for
        // all (AckPolicy::All) would also ack messages a coordinator that
        // died had pulled but not applied, before they are redelivered.
        // When a write missed its deadline nothing is acked: the events
        // come again (applying them is idempotent) while the state is
        // written again from memory.
        let stored = self.missed_writes == missed_before;
        let acks = msgs.iter().filter(|_| stored).map(|m| m.ack());
        for r in futures::future::join_all(acks).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "relay ack failed; the event will be applied again (idempotent)");
            }
        }
        self.advance_rollouts(jobs.clone()).await;
        for j in jobs {
            let _ = self.changes.send(j);
        }
    }

    async fn gave_up(&mut self, task: pb::Task, deliveries: u64, seq: u64, consumer: &str) {
        // The message names a task; the coordinator's state must agree:
        // same zone and kind as planned, and the zone's own consumer gave
        // up. (A recorded stream sequence is not required to match: it can
        // be stale after a re-dispatch the coordinator did not record.)
        let genuine = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            v.jobs
                .get(&task.job_id)
                .and_then(|e| e.tasks.get(&task.task_id))
                .is_some_and(|(t, _)| {
                    t.zone == task.zone
                        && t.kind == task.kind
                        && layout::consumer_name(&t.zone, &t.kind).is_ok_and(|c| c == consumer)
                })
        };
        if !genuine {
            tracing::warn!(job = %task.job_id, task = %task.task_id, seq, consumer, "max-deliveries advisory does not match the task's state; ignored");
            return;
        }
        let now = now_rfc3339();
        let message = format!(
            "gave up after {deliveries} deliveries: every worker that took the task stopped answering"
        );
        let fail = |t: &mut TaskState| {
            if t.status.is_terminal() {
                return false;
            }
            t.status = Status::Failed;
            t.error_kind = Some(ErrorClass::MaxDeliver.as_str().into());
            t.error = Some(message.clone());
            t.finished_at = Some(now.clone());
            true
        };
        let changed = {
            let mut v = self.view();
            v.jobs
                .get_mut(&task.job_id)
                .and_then(|e| e.tasks.get_mut(&task.task_id))
                .is_some_and(|(t, _)| fail(t))
        };
        if changed {
            tracing::warn!(job = %task.job_id, task = %task.task_id, deliveries, "task ran out of deliveries");
            self.write_tasks(vec![(task.job_id.clone(), task.task_id.clone())], &fail)
                .await;
            self.refresh_jobs(vec![task.job_id.clone()]).await;
            self.advance_rollouts(vec![task.job_id.clone()]).await;
            let _ = self.changes.send(task.job_id);
        }
    }

    /// Writes the chunks holding `dirty` tasks from the cached state; on a
    /// conflict reloads the chunk from KV and applies `redo` to its dirty
    /// tasks before writing again. A chunk that splits is written shrunk
    /// only in a later round, once the chunk taking its tasks is stored, so
    /// a kill between the two writes leaves a task twice, never nowhere.
    /// Returns the chunks stored.
    async fn write_tasks(
        &mut self,
        dirty: Vec<TaskRef>,
        redo: &(dyn Fn(&mut TaskState) -> bool + Sync),
    ) -> BTreeSet<(String, u32)> {
        let mut todo: BTreeSet<(String, u32)> = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            dirty
                .iter()
                .filter_map(|(j, t)| Some((j.clone(), v.jobs.get(j)?.tasks.get(t)?.0.chunk)))
                .collect()
        };
        let dirty: HashSet<TaskRef> = dirty.into_iter().collect();
        let mut written = BTreeSet::new();
        for _ in 0..CONFLICT_ROUNDS {
            if todo.is_empty() {
                return written;
            }
            // Shrunk chunks waiting for the chunks their tasks moved to.
            let mut shrunk: Vec<((String, u32), u32)> = Vec::new();
            let (refs, writes): (Vec<(String, u32, String)>, Vec<store::Write>) = {
                let mut v = self.view();
                let mut out = Vec::new();
                let mut queue: Vec<(String, u32)> = todo.iter().cloned().collect();
                while let Some((j, n)) = queue.pop() {
                    let Some(e) = v.jobs.get_mut(&j) else {
                        continue;
                    };
                    let Some((key, bytes)) = chunks::encode(e, n) else {
                        continue;
                    };
                    if let Some(new) = chunks::split_if_big(e, n, bytes.len()) {
                        shrunk.push(((j.clone(), n), new));
                        queue.push((j, new));
                        continue;
                    }
                    let rev = e.chunks[n as usize].rev;
                    out.push(((j, n, key.clone()), store::Write { key, bytes, rev }));
                }
                out.into_iter().unzip()
            };
            Metrics::inc(&self.metrics.state_writes, writes.len() as u64);
            let kv = self.bus.jobs.clone();
            let deadline = Instant::now() + STORE_DEADLINE;
            let results = store::write_all(&kv, &self.fence, writes, WINDOW, Some(deadline)).await;
            let mut again = BTreeSet::new();
            for ((j, n, key), res) in refs.into_iter().zip(results) {
                match res {
                    Ok(rev) => {
                        let ids = self.set_chunk_rev(&j, n, rev);
                        if !self.unsynced_tasks.is_empty() {
                            for id in ids {
                                self.unsynced_tasks.remove(&(j.clone(), id));
                            }
                        }
                        written.insert((j, n));
                    }
                    Err(WriteError::Conflict { .. }) => {
                        Metrics::inc(&self.metrics.state_conflicts, 1);
                        let fresh = store::read_raw(&kv, &key, deadline).await;
                        match fresh {
                            Some((bytes, rev)) => {
                                let tasks = chunks::decode(&bytes).unwrap_or_default();
                                self.take_chunk(&j, n, rev, tasks, &dirty, redo);
                                again.insert((j, n));
                            }
                            None => {
                                self.missed_writes += 1;
                                self.mark_unsynced(&j, n);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, job = %j, chunk = n, "task state not written; will write it again");
                        self.missed_writes += 1;
                        self.mark_unsynced(&j, n);
                    }
                }
            }
            for ((j, n), new) in shrunk {
                if written.contains(&(j.clone(), new)) {
                    again.insert((j, n));
                } else {
                    self.mark_unsynced(&j, n);
                }
            }
            todo = again;
        }
        if !todo.is_empty() {
            tracing::error!(
                chunks = todo.len(),
                "task state writes kept conflicting; gave up"
            );
        }
        written
    }

    /// Records `rev` as chunk `n`'s revision; returns its task ids.
    fn set_chunk_rev(&self, job: &str, n: u32, rev: u64) -> Vec<String> {
        let mut v = self.view();
        let Some(e) = v.jobs.get_mut(job) else {
            return Vec::new();
        };
        let Some(c) = e.chunks.get_mut(n as usize) else {
            return Vec::new();
        };
        c.rev = rev;
        let ids = c.ids.clone();
        for id in &ids {
            if let Some((_, r)) = e.tasks.get_mut(id) {
                *r = rev;
            }
        }
        ids
    }

    /// Marks every task of chunk `n` as ahead of KV.
    fn mark_unsynced(&mut self, job: &str, n: u32) {
        let ids = {
            let v = self.view.read().unwrap_or_else(|p| p.into_inner());
            v.jobs
                .get(job)
                .and_then(|e| e.chunks.get(n as usize))
                .map(|c| c.ids.clone())
                .unwrap_or_default()
        };
        for id in ids {
            self.unsynced_tasks.insert((job.to_string(), id));
        }
    }

    /// Takes the stored version of chunk `n` (another writer was first),
    /// re-applying `redo` to the tasks this writer changed.
    fn take_chunk(
        &self,
        job: &str,
        n: u32,
        rev: u64,
        stored: Vec<TaskState>,
        dirty: &HashSet<TaskRef>,
        redo: &(dyn Fn(&mut TaskState) -> bool + Sync),
    ) {
        let mut v = self.view();
        let Some(e) = v.jobs.get_mut(job) else {
            return;
        };
        for mut t in stored {
            if t.job_id != job || !e.tasks.contains_key(&t.id) {
                continue;
            }
            t.chunk = n;
            if dirty.contains(&(job.to_string(), t.id.clone())) {
                redo(&mut t);
            }
            e.tasks.insert(t.id.clone(), (t, rev));
        }
        if let Some(c) = e.chunks.get_mut(n as usize) {
            c.rev = rev;
        }
    }

    /// Re-derives the status and counts of `jobs` from their tasks and
    /// writes those that changed.
    /// Like `refresh_jobs`, but updates the counts from the status moves
    /// of an event batch instead of counting every task of the job again
    /// (which made big jobs quadratic). Counts are recounted when they may
    /// be off: a conflict re-applied events onto stored state (`exact` is
    /// false), a move did not fit, the job looks finished, or it is small.
    async fn refresh_jobs_moved(
        &mut self,
        jobs: Vec<String>,
        moves: HashMap<String, Vec<(Status, Status)>>,
        exact: bool,
    ) {
        let now = now_rfc3339();
        let changed: Vec<String> = {
            let mut v = self.view();
            jobs.into_iter()
                .filter(|id| {
                    v.jobs.get_mut(id).is_some_and(|e| {
                        let mut counts = e.job.counts.clone();
                        let fits = moves
                            .get(id)
                            .is_none_or(|m| m.iter().all(|(a, b)| counts.shift(*a, *b)));
                        if !exact
                            || !fits
                            || counts.unfinished() == 0
                            || e.tasks.len() <= 1000
                            || counts.total() != e.tasks.len() as u64
                        {
                            counts = count(e.tasks.values().map(|(t, _)| t));
                        }
                        e.job.derive_status(counts, &now)
                    })
                })
                .collect()
        };
        self.write_jobs(changed).await;
    }

    async fn refresh_jobs(&mut self, jobs: Vec<String>) {
        let now = now_rfc3339();
        let changed: Vec<String> = {
            let mut v = self.view();
            jobs.into_iter()
                .filter(|id| {
                    v.jobs.get_mut(id).is_some_and(|e| {
                        let counts = count(e.tasks.values().map(|(t, _)| t));
                        e.job.derive_status(counts, &now)
                    })
                })
                .collect()
        };
        self.write_jobs(changed).await;
    }

    /// Writes the cached state of `jobs`; on a conflict merges with the
    /// stored entry (flags are sticky) and re-derives before writing again.
    async fn write_jobs(&mut self, jobs: Vec<String>) {
        let mut todo = jobs;
        for _ in 0..CONFLICT_ROUNDS {
            if todo.is_empty() {
                return;
            }
            let (refs, writes): (Vec<(String, String)>, Vec<store::Write>) = {
                let v = self.view();
                todo.iter()
                    .filter_map(|id| {
                        let e = v.jobs.get(id)?;
                        let key = layout::job_key(id).ok()?;
                        let bytes = store::encode(&key, &e.job).ok()?;
                        Some((
                            (id.clone(), key.clone()),
                            store::Write {
                                key,
                                bytes,
                                rev: e.rev,
                            },
                        ))
                    })
                    .unzip()
            };
            Metrics::inc(&self.metrics.state_writes, writes.len() as u64);
            let kv = self.bus.jobs.clone();
            let deadline = Instant::now() + STORE_DEADLINE;
            let results = store::write_all(&kv, &self.fence, writes, WINDOW, Some(deadline)).await;
            let mut again = Vec::new();
            let now = now_rfc3339();
            for ((id, key), res) in refs.into_iter().zip(results) {
                match res {
                    Ok(rev) => {
                        self.unsynced_jobs.remove(&id);
                        if let Some(e) = self.view().jobs.get_mut(&id) {
                            e.rev = rev;
                        }
                    }
                    Err(WriteError::Conflict { .. }) => {
                        Metrics::inc(&self.metrics.state_conflicts, 1);
                        if let Some((mut fresh, rev)) =
                            store::read::<JobState>(&kv, &key, deadline).await
                        {
                            let mut v = self.view();
                            if let Some(e) = v.jobs.get_mut(&id) {
                                fresh.dispatched |= e.job.dispatched;
                                fresh.cancel_requested |= e.job.cancel_requested;
                                // A workflow only ever closes; its progress is ours.
                                fresh.open &= e.job.open;
                                fresh.rollout = e.job.rollout.clone();
                                let counts = count(e.tasks.values().map(|(t, _)| t));
                                fresh.derive_status(counts, &now);
                                e.job = fresh;
                                e.rev = rev;
                                again.push(id);
                            }
                        } else {
                            self.missed_writes += 1;
                            self.unsynced_jobs.insert(id);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "job state not written; will write it again");
                        self.missed_writes += 1;
                        self.unsynced_jobs.insert(id);
                    }
                }
            }
            todo = again;
        }
    }
}

/// Cancels a task that has not started; returns whether it changed.
fn cancel_pending(t: &mut TaskState, now: &str) -> bool {
    if t.status != Status::Pending || t.cleanup {
        return false;
    }
    t.status = Status::Cancelled;
    t.error_kind = Some(ErrorClass::Cancelled.as_str().into());
    t.error = Some("cancelled before it started".into());
    t.finished_at = Some(now.to_string());
    true
}

/// Puts failed task `t`, which was not sampled into its job's trace, into
/// that trace from its start to its end.
fn record_failed(traceparent: &str, t: &TaskState, worker: &str, attempt: u32) {
    let at = |ts: &Option<String>| {
        ts.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(std::time::SystemTime::from)
    };
    let finished = at(&t.finished_at).unwrap_or_else(std::time::SystemTime::now);
    let started = at(&t.started_at).unwrap_or(finished);
    outpost_telemetry::record_failed_task(&outpost_telemetry::FailedTask {
        traceparent,
        zone: &t.zone,
        job: &t.job_id,
        task: &t.id,
        kind: &t.kind,
        target: &t.target,
        worker,
        attempt,
        error_kind: t.error_kind.as_deref().unwrap_or_default(),
        error: t.error.as_deref().unwrap_or_default(),
        started,
        finished,
    });
}
