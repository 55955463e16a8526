//! `GET /api/v1/jobs/{id}/events`: the job's events as Server-Sent Events,
//! from the first one (history from the events stream) and then live, with
//! `job` events when the job's status or counts change. The stream ends with
//! an `end` event once the job is finished and every one of its events has
//! been sent, and when the coordinator shuts down.
//!
//! Followers of one job share one reader ([`Hub`]): one ordered consumer on
//! the events stream and one log of rendered events, which every follower
//! reads at its own pace. The log keeps at most `api.follow_buffer_bytes`;
//! a follower that falls behind its start gets a `lagged` event saying how
//! many events it missed. The reader stops, and its consumer is deleted,
//! when the job's last event was read or its last follower left. Followers
//! are capped by `api.max_followers` (503 beyond).

use super::{ApiConfig, ApiError, AppState};
use crate::bus::Bus;
use crate::engine::Engine;
use crate::model::{JobState, ms_to_rfc3339};
use async_nats::jetstream::consumer;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use outpost_proto::pb::{self, event::Body};
use outpost_proto::{Message, names, subject};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

/// Events a follower takes from the log at once.
const BATCH: usize = 256;

/// The live followers of every job and their shared readers.
#[derive(Clone)]
pub struct Followers {
    hubs: Arc<Mutex<HashMap<String, Weak<Hub>>>>,
    permits: Arc<Semaphore>,
    max: usize,
    buffer_bytes: usize,
    refused: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Followers {
    /// Followers as `cfg` bounds them; their streams end when `shutdown` is cancelled.
    pub fn new(cfg: &ApiConfig, shutdown: CancellationToken) -> Followers {
        Followers {
            hubs: Arc::default(),
            permits: Arc::new(Semaphore::new(cfg.max_followers)),
            max: cfg.max_followers,
            buffer_bytes: cfg.follow_buffer_bytes,
            refused: Arc::default(),
            shutdown,
        }
    }

    /// Followers now, jobs followed now, followers refused so far.
    pub fn stats(&self) -> (usize, usize, u64) {
        let jobs = self.hubs.lock().map(|h| h.len()).unwrap_or(0);
        (
            self.max - self.permits.available_permits(),
            jobs,
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// The reader of job `id`, started if nobody follows the job yet.
    fn hub(&self, engine: &Engine, bus: &Bus, id: &str) -> Arc<Hub> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = hubs.get(id).and_then(Weak::upgrade) {
            return h;
        }
        let (grew, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                base: 0,
                entries: VecDeque::new(),
                bytes: 0,
                cap: self.buffer_bytes,
            }),
            grew,
        });
        let stop = CancellationToken::new();
        let span = tracing::info_span!("follow_job", job = %id);
        tokio::spawn(
            read_job(
                shared.clone(),
                engine.clone(),
                bus.clone(),
                id.to_string(),
                stop.clone(),
            )
            .instrument(span),
        );
        let hub = Arc::new(Hub {
            id: id.to_string(),
            shared,
            hubs: Arc::downgrade(&self.hubs),
            _stop: stop.drop_guard(),
        });
        hubs.insert(id.to_string(), Arc::downgrade(&hub));
        hub
    }
}

/// One followed job: held by its followers; the last one to leave stops
/// the reader and removes the entry.
struct Hub {
    id: String,
    shared: Arc<Shared>,
    hubs: Weak<Mutex<HashMap<String, Weak<Hub>>>>,
    _stop: DropGuard,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(hubs) = self.hubs.upgrade() {
            let mut hubs = hubs.lock().unwrap_or_else(|p| p.into_inner());
            // A new hub may have taken the place meanwhile.
            if hubs.get(&self.id).is_some_and(|w| w.strong_count() == 0) {
                hubs.remove(&self.id);
            }
        }
    }
}

/// What the reader writes and the followers read.
struct Shared {
    log: Mutex<Log>,
    /// Number of entries ever appended.
    grew: watch::Sender<u64>,
}

struct Entry {
    event: SseEvent,
    bytes: usize,
    /// Nothing follows: the follower ends after sending it.
    last: bool,
}

/// The rendered events, oldest dropped first beyond `cap` bytes.
struct Log {
    /// Index of `entries[0]` among all entries ever appended.
    base: u64,
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    cap: usize,
}

impl Shared {
    fn push(&self, name: &str, data: String, last: bool) {
        let bytes = data.len() + name.len() + 16;
        let entry = Arc::new(Entry {
            event: SseEvent::default().event(name).data(data),
            bytes,
            last,
        });
        let total = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.bytes += bytes;
            log.entries.push_back(entry);
            while log.bytes > log.cap && log.entries.len() > 1 {
                if let Some(old) = log.entries.pop_front() {
                    log.bytes -= old.bytes;
                    log.base += 1;
                }
            }
            log.base + log.entries.len() as u64
        };
        self.grew.send_replace(total);
    }

    fn job(&self, name: &str, job: &JobState, last: bool) {
        self.push(name, serde_json::to_string(job).unwrap_or_default(), last);
    }
}

pub async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let f = &state.followers;
    if !state.engine.read(|v| v.jobs.contains_key(&id)) {
        return Err(ApiError::NotFound(format!("no job {id:?}")));
    }
    subject::job_events_filter(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Ok(permit) = f.permits.clone().try_acquire_owned() else {
        f.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            limit = f.max,
            "event follower refused: follower limit reached"
        );
        return Err(ApiError::Unavailable(format!(
            "the coordinator serves at most {} live event followers at once (api.max_followers); retry later",
            f.max
        )));
    };
    let hub = f.hub(&state.engine, &state.bus, &id);
    let follower = Follower {
        grew: hub.shared.grew.subscribe(),
        hub,
        next: 0,
        pending: VecDeque::new(),
        done: false,
        shutdown: f.shutdown.clone(),
        _permit: permit,
    };
    let out = futures::stream::unfold(follower, |mut f| async move {
        f.next_event().await.map(|e| (Ok(e), f))
    });
    Ok(Sse::new(out).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// One follower's place in its job's log.
struct Follower {
    hub: Arc<Hub>,
    grew: watch::Receiver<u64>,
    /// Index of the next entry to send.
    next: u64,
    pending: VecDeque<SseEvent>,
    done: bool,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
}

impl Follower {
    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            self.grew.borrow_and_update();
            self.take_batch();
            if !self.pending.is_empty() {
                continue;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    self.done = true;
                    return Some(SseEvent::default().event("error").data("coordinator shutting down"));
                }
                r = self.grew.changed() => {
                    if r.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    fn take_batch(&mut self) {
        let log = self
            .hub
            .shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.next < log.base {
            let skipped = log.base - self.next;
            self.pending.push_back(
                SseEvent::default()
                    .event("lagged")
                    .data(serde_json::json!({ "skipped": skipped }).to_string()),
            );
            self.next = log.base;
        }
        let start = (self.next - log.base) as usize;
        for e in log.entries.iter().skip(start).take(BATCH) {
            self.pending.push_back(e.event.clone());
            self.next += 1;
            if e.last {
                self.done = true;
                break;
            }
        }
    }
}

/// Reads job `id`'s events into `shared` until the job is finished and
/// every event of it was read, or `stop`; then deletes its consumer.
async fn read_job(
    shared: Arc<Shared>,
    engine: Engine,
    bus: Bus,
    id: String,
    stop: CancellationToken,
) {
    let mut changes = engine.subscribe();
    let Some(mut job) = engine.read(|v| v.jobs.get(&id).map(|e| e.job.clone())) else {
        shared.push("error", format!("no job {id:?}"), true);
        return;
    };
    shared.job("job", &job, false);
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "{what}");
        shared.push("error", format!("{what}: {e}"), true);
    };
    let stream = match bus.js.get_stream(names::EVENTS_STREAM).await {
        Ok(s) => s,
        Err(e) => return fail("cannot read the events stream", &e),
    };
    let Ok(filter) = subject::job_events_filter(&id) else {
        return fail("job id unusable in a subject", &id);
    };
    let name = format!("outpost_follow_{}", uuid::Uuid::now_v7().simple());
    let events = stream
        .create_consumer(consumer::pull::OrderedConfig {
            name: Some(name.clone()),
            filter_subject: filter,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await;
    let events = match events {
        Ok(c) => c.messages().await,
        Err(e) => return fail("cannot follow the events stream", &e),
    };
    match events {
        Ok(events) => {
            pump(
                &shared,
                &engine,
                &stream,
                events,
                &mut changes,
                &mut job,
                &stop,
            )
            .await;
        }
        Err(e) => fail("cannot follow the events stream", &e),
    }
    delete_consumer(&stream, &name).await;
}

async fn pump(
    shared: &Shared,
    engine: &Engine,
    stream: &async_nats::jetstream::stream::Stream,
    mut events: consumer::pull::Ordered,
    changes: &mut tokio::sync::broadcast::Receiver<String>,
    job: &mut JobState,
    stop: &CancellationToken,
) {
    // Stream sequence of the newest event read.
    let mut read_upto = 0u64;
    // Once the job is finished: the sequence of its last event in the stream.
    let mut last_needed: Option<u64> = None;
    loop {
        if job.status.is_terminal() && last_needed.is_none() {
            last_needed = Some(last_event_seq(stream, job).await);
        }
        if let Some(last) = last_needed
            && read_upto >= last
        {
            shared.job("end", job, true);
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            m = events.next() => {
                let Some(Ok(m)) = m else {
                    // The ordered consumer recovers by itself; an end means the server is gone.
                    shared.push("error", "event stream interrupted".into(), true);
                    return;
                };
                if let Ok(info) = m.info() {
                    read_upto = read_upto.max(info.stream_sequence);
                }
                if let Ok(ev) = pb::Event::decode(m.payload.as_ref()) {
                    shared.push("task", event_json(&ev).to_string(), false);
                }
            }
            c = changes.recv() => {
                let relevant = match c {
                    Ok(changed) => changed == job.id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(_) => return,
                };
                if !relevant {
                    continue;
                }
                let Some(now) = engine.read(|v| v.jobs.get(&job.id).map(|e| e.job.clone())) else {
                    shared.push("error", "the job is gone".into(), true);
                    return;
                };
                if now.status != job.status || now.counts != job.counts {
                    *job = now;
                    shared.job("job", job, false);
                }
            }
        }
    }
}

/// Deletes the reader's consumer (or its replacement `{name}_{n}` after
/// the ordered consumer recreated itself), so nothing stays on the server.
async fn delete_consumer(stream: &async_nats::jetstream::stream::Stream, name: &str) {
    if stream.delete_consumer(name).await.is_ok() {
        return;
    }
    let prefix = format!("{name}_");
    let mut names = stream.consumer_names();
    while let Some(Ok(n)) = names.next().await {
        if n.starts_with(&prefix)
            && let Err(e) = stream.delete_consumer(&n).await
        {
            tracing::debug!(consumer = %n, error = %e, "cannot delete a follower consumer");
        }
    }
}

/// Sequence of the newest event of `job` in the events stream (0: none).
async fn last_event_seq(stream: &async_nats::jetstream::stream::Stream, job: &JobState) -> u64 {
    let mut last = 0;
    for zone in &job.zones {
        if let Ok(subj) = subject::event_subject(zone, &job.id)
            && let Ok(m) = stream.get_last_raw_message_by_subject(&subj).await
        {
            last = last.max(m.sequence);
        }
    }
    last
}

/// An event as JSON, the form SSE followers and the CLI read.
pub fn event_json(ev: &pb::Event) -> serde_json::Value {
    let mut v = serde_json::json!({
        "job_id": ev.job_id,
        "task_id": ev.task_id,
        "zone": ev.zone,
        "worker_id": ev.worker_id,
        "attempt": ev.attempt,
        "seq": ev.seq,
        "at": ms_to_rfc3339(ev.at_ms),
    });
    let extra = match &ev.body {
        Some(Body::Started(_)) => serde_json::json!({ "type": "started" }),
        Some(Body::Progress(p)) => {
            serde_json::json!({ "type": "progress", "percent": p.percent, "step": p.step })
        }
        Some(Body::Log(l)) => {
            serde_json::json!({ "type": "log", "level": l.level, "line": l.line })
        }
        Some(Body::Retrying(r)) => serde_json::json!({
            "type": "retrying", "error_kind": r.error_kind, "error": r.error, "delay_ms": r.delay_ms
        }),
        Some(Body::Result(r)) => {
            let outcome = match pb::Outcome::try_from(r.outcome) {
                Ok(pb::Outcome::Succeeded) => "succeeded",
                Ok(pb::Outcome::Cancelled) => "cancelled",
                _ => "failed",
            };
            let output: serde_json::Value =
                serde_json::from_slice(&r.output_json).unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "type": "result", "outcome": outcome, "error_kind": r.error_kind,
                "error": r.error, "output": output
            })
        }
        None => serde_json::json!({ "type": "unknown" }),
    };
    if let (Some(a), Some(b)) = (v.as_object_mut(), extra.as_object()) {
        a.extend(b.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_drops_its_oldest_events_beyond_its_cap() {
        let (grew, _) = watch::channel(0);
        let s = Shared {
            log: Mutex::new(Log {
                base: 0,
                entries: VecDeque::new(),
                bytes: 0,
                cap: 1000,
            }),
            grew,
        };
        for _ in 0..100 {
            s.push("task", "x".repeat(100), false);
        }
        let log = s.log.lock().unwrap();
        assert!(log.bytes <= 1000, "{}", log.bytes);
        assert!(log.base > 90, "{}", log.base);
        assert_eq!(log.base + log.entries.len() as u64, 100);
        assert_eq!(*s.grew.borrow(), 100);
    }
}
