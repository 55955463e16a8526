//! The engine owns job and task state. One actor task is its only writer:
//! it plans nothing, but applies submissions, cancels, dispatch results and
//! worker events to the in-memory [`View`] and writes every change to KV with
//! revision compare-and-set. The API talks to it through [`Engine`].

mod actor;
mod apply;
pub mod captures;
mod dispatch;
mod relay;
mod schedule;
mod store;
mod view;

pub use apply::apply_event;
pub use view::{JobEntry, View};

use crate::bus::Bus;
use crate::model::JobState;
use crate::plan::Plan;
use outpost_proto::pb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Why the engine could not do what was asked.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("no job {0:?}")]
    NotFound(String),
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("the coordinator is shutting down")]
    Stopped,
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub jobs_submitted: AtomicU64,
    pub jobs_rejected: AtomicU64,
    pub jobs_cancelled: AtomicU64,
    pub tasks_dispatched: AtomicU64,
    pub events_relayed: AtomicU64,
    pub state_writes: AtomicU64,
    pub state_conflicts: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the actor is asked to do.
pub enum Command {
    Submit {
        plan: Box<Plan>,
        reply: oneshot::Sender<Result<JobState, EngineError>>,
    },
    Cancel {
        job_id: String,
        reply: oneshot::Sender<Result<JobState, EngineError>>,
    },
    Dispatched {
        job_id: String,
        seqs: Vec<(String, u64)>,
    },
    Due {
        job_id: String,
    },
    /// Event messages (for the ack) and their decoded events, captures saved.
    Events(Vec<async_nats::jetstream::Message>, Vec<pb::Event>),
    GaveUp {
        task: pb::Task,
        deliveries: u64,
    },
}

/// A handle on the running engine.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Command>,
    view: Arc<RwLock<View>>,
    changes: broadcast::Sender<String>,
    pub metrics: Arc<Metrics>,
}

impl Engine {
    /// Loads state from KV, resumes unfinished work and starts the actor,
    /// the relay, the scheduler and the advisory watcher.
    pub async fn start(
        bus: Bus,
        capture_dir: std::path::PathBuf,
        shutdown: CancellationToken,
    ) -> Result<(Engine, tokio::task::JoinHandle<()>), EngineError> {
        let view = store::load_all(&bus.jobs)
            .await
            .map_err(EngineError::Unavailable)?;
        tracing::info!(jobs = view.jobs.len(), "job state loaded");
        let view = Arc::new(RwLock::new(view));
        let (tx, rx) = mpsc::channel(64);
        let (sched_tx, sched_rx) = mpsc::unbounded_channel();
        let (changes, _) = broadcast::channel(1024);
        let metrics = Arc::new(Metrics::default());
        let engine = Engine {
            tx: tx.clone(),
            view: view.clone(),
            changes: changes.clone(),
            metrics: metrics.clone(),
        };
        let mut actor =
            actor::Actor::new(bus.clone(), view, changes, metrics, tx.clone(), sched_tx);
        actor.resume().await;
        tokio::spawn(schedule::run(sched_rx, tx.clone(), shutdown.clone()));
        let captures = bus
            .js
            .get_object_store(outpost_proto::names::CAPTURES_STORE)
            .await
            .map_err(|e| EngineError::Unavailable(format!("captures object store: {e}")))?;
        let writer = captures::CaptureWriter {
            store: captures,
            dir: capture_dir,
        };
        let inventory = bus
            .js
            .get_key_value(outpost_proto::names::INVENTORY_BUCKET)
            .await
            .map_err(|e| EngineError::Unavailable(format!("inventory bucket: {e}")))?;
        tokio::spawn(relay::run(
            bus.js.clone(),
            writer,
            crate::redfish::inventory::InventoryWriter { store: inventory },
            tx.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(relay::watch_max_deliveries(
            bus.client.clone(),
            bus.js.clone(),
            tx.clone(),
            shutdown.clone(),
        ));
        let handle = tokio::spawn(actor.run(rx, shutdown));
        Ok((engine, handle))
    }

    /// Writes a planned job and dispatches it (now or at `schedule_at`).
    pub async fn submit(&self, plan: Plan) -> Result<JobState, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Submit {
                plan: Box::new(plan),
                reply,
            })
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Cancels a job: queued tasks are dropped, running ones are signalled.
    pub async fn cancel(&self, job_id: &str) -> Result<JobState, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Cancel {
                job_id: job_id.to_string(),
                reply,
            })
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Reads the current state.
    pub fn read<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        f(&view)
    }

    /// Ids of jobs whose state changed, as they change.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }
}
