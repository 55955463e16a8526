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

use super::event_reader::{Shared, read_job};
use super::{ApiConfig, ApiError, AppState};
use crate::bus::Bus;
use crate::engine::Engine;
use crate::model::ms_to_rfc3339;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use outpost_proto::layout;
use outpost_proto::pb::{self, event::Body};
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
        let shared = Arc::new(Shared::new(self.buffer_bytes));
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

pub async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let f = &state.followers;
    if !state.engine.read(|v| v.jobs.contains_key(&id)) {
        return Err(ApiError::NotFound(format!("no job {id:?}")));
    }
    layout::job_events_filters(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
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
