//! The engine owns job and task state. One actor task is its only writer:
//! it plans nothing, but applies submissions, cancels, dispatch results and
//! worker events to the in-memory [`View`] and writes every change to KV with
//! revision compare-and-set. The API talks to it through [`Engine`].

mod actor;
mod apply;
pub mod captures;
mod chunks;
mod dispatch;
pub mod gave_up;
mod guard;
pub mod objects;
pub mod provenance;
mod reconcile;
mod relay;
mod resubscribe;
pub mod retention;
mod store;
mod view;
pub use view::JobFilter;

pub use apply::apply_event;
pub use view::{Chunk, JobEntry, View};

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
    /// Events not believed (provenance): dropped unapplied.
    pub events_dropped: AtomicU64,
    pub state_writes: AtomicU64,
    pub state_conflicts: AtomicU64,
    pub jobs_evicted: AtomicU64,
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
    Drain {
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
    /// A task ran out of deliveries; `done` is answered once it is failed.
    GaveUp {
        task: pb::Task,
        deliveries: u64,
        /// Where the advisory says the message is, and whose consumer gave
        /// up: checked against the task's own state before it is failed.
        stream_seq: u64,
        consumer: String,
        done: oneshot::Sender<()>,
    },
    /// The tasks stream was re-created empty: publish pending tasks again.
    Redispatch,
}

/// What the engine is started with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where SSH captures are written.
    pub capture_dir: std::path::PathBuf,
    /// The JetStream settings of the layout.
    pub jetstream: crate::config::JetStreamConfig,
    /// When finished jobs leave the hot state.
    pub retention: retention::RetentionConfig,
    /// The zones, whose consumers the layout guard re-creates.
    pub zones: Vec<crate::config::ZoneConfig>,
    /// The leader lease's fence: no state write leaves while it is closed.
    pub fence: crate::leader::Fence,
    /// The site of each zone at a site (its tasks go to the site's stream).
    pub routes: Arc<crate::sites::Routes>,
}

/// A handle on the running engine.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Command>,
    view: Arc<RwLock<View>>,
    changes: broadcast::Sender<String>,
    history: Option<async_nats::jetstream::kv::Store>,
    /// Health of the engine's background tasks and of the layout.
    pub health: crate::supervise::Health,
    pub metrics: Arc<Metrics>,
    /// What workers put in their zones' captures stores.
    pub objects: objects::ZoneObjects,
}

/// Opens (or creates) KV `outpost_history`.
async fn open_history(
    bus: &Bus,
    cfg: &EngineConfig,
) -> Result<async_nats::jetstream::kv::Store, EngineError> {
    use async_nats::jetstream::{kv, stream};
    let name = outpost_proto::layout::HISTORY_BUCKET;
    let store = match bus.js.get_key_value(name).await {
        Ok(store) => store,
        Err(_) => bus
            .js
            .create_key_value(kv::Config {
                bucket: name.to_string(),
                history: 1,
                max_age: std::time::Duration::from_secs(cfg.retention.history_days.max(1) * 86_400),
                storage: if cfg.jetstream.memory_storage {
                    stream::StorageType::Memory
                } else {
                    stream::StorageType::File
                },
                num_replicas: cfg.jetstream.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::Unavailable(format!("{name}: {e}")))?,
    };
    crate::bus::ensure_replicas(&bus.js, &format!("KV_{name}"), cfg.jetstream.replicas)
        .await
        .map_err(|e| EngineError::Unavailable(e.to_string()))?;
    Ok(store)
}

impl Engine {
    /// Loads state from KV, reconciles unfinished jobs with the events
    /// stream, resumes unfinished work and starts the actor, the relay, the
    /// max-deliveries watch and the layout guard (scheduled jobs are kept
    /// by the actor itself).
    pub async fn start(
        bus: Bus,
        cfg: EngineConfig,
        sup: &mut crate::supervise::Supervisor,
        shutdown: CancellationToken,
    ) -> Result<(Engine, tokio::task::JoinHandle<()>), EngineError> {
        let view = store::load_all(&bus.jobs)
            .await
            .map_err(EngineError::Unavailable)?;
        tracing::info!(jobs = view.jobs.len(), "job state loaded");
        let pending: Vec<reconcile::Pending> = view
            .jobs
            .values()
            .filter(|e| !e.job.status.is_terminal())
            .map(|e| reconcile::Pending {
                job_id: e.job.id.clone(),
                since: reconcile::events_since(&e.job.created_at, e.job.schedule_at.as_deref()),
            })
            .collect();
        let relay_start = pending
            .iter()
            .map(|p| p.since)
            .min()
            .unwrap_or_else(|| chrono::Utc::now() - chrono::TimeDelta::seconds(120));
        let relay_start = time::OffsetDateTime::from_unix_timestamp(relay_start.timestamp())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let view = Arc::new(RwLock::new(view));
        let (tx, rx) = mpsc::channel(64);
        let (changes, _) = broadcast::channel(1024);
        let metrics = Arc::new(Metrics::default());
        let history = open_history(&bus, &cfg).await?;
        let engine = Engine {
            tx: tx.clone(),
            view: view.clone(),
            changes: changes.clone(),
            history: Some(history.clone()),
            health: sup.health.clone(),
            metrics: metrics.clone(),
            objects: objects::ZoneObjects::new(bus.js.clone()),
        };
        let writer = captures::CaptureWriter {
            objects: engine.objects.clone(),
            dir: cfg.capture_dir.clone(),
            view: view.clone(),
        };
        let inventory = bus
            .js
            .get_key_value(outpost_proto::layout::INVENTORY_BUCKET)
            .await
            .map_err(|e| EngineError::Unavailable(format!("inventory bucket: {e}")))?;
        let pins = bus
            .js
            .get_key_value(outpost_proto::layout::PINS_BUCKET)
            .await
            .map_err(|e| EngineError::Unavailable(format!("pins bucket: {e}")))?;
        let inventory = crate::redfish::inventory::InventoryWriter {
            store: inventory,
            pins: crate::redfish::pin_stores::PinStores::new(
                bus.client.clone(),
                pins,
                cfg.routes.clone(),
            ),
            view: view.clone(),
            fence: cfg.fence.clone(),
        };
        gave_up::ensure_stream(&bus.js, &cfg.jetstream)
            .await
            .map_err(EngineError::Unavailable)?;
        let mut actor = actor::Actor::new(
            bus.clone(),
            cfg.fence.clone(),
            view,
            changes,
            metrics.clone(),
            tx.clone(),
        );
        let drops = Arc::new(provenance::Drops::default());
        actor.drops = drops.clone();
        actor.routes = cfg.routes.clone();
        actor.max_deliver = cfg
            .zones
            .iter()
            .map(|z| {
                (
                    z.name.clone(),
                    u32::try_from(z.max_deliver).unwrap_or(u32::MAX),
                )
            })
            .collect();
        actor.history = Some(actor::Archive {
            cfg: cfg.retention.clone(),
            history: history.clone(),
            state: bus
                .js
                .get_stream(format!("KV_{}", outpost_proto::layout::JOBS_BUCKET))
                .await
                .map_err(|e| EngineError::Unavailable(format!("state stream: {e}")))?,
        });
        // Reconcile before anything is resumed, so no finished task is
        // dispatched again and no job is judged on stale counts.
        let started = std::time::Instant::now();
        let mut events = reconcile::read_events(&bus.js, &pending, &metrics, &drops)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let replayed = events.len();
        writer.save(&mut events).await;
        inventory.fold(&events).await;
        actor.apply_replayed(events).await;
        tracing::info!(
            jobs = pending.len(),
            events = replayed,
            ms = started.elapsed().as_millis() as u64,
            "unfinished jobs reconciled with the events stream"
        );
        actor.resume().await;
        let stop = sup.stop_token();
        {
            let (js, tx, stop) = (bus.js.clone(), tx.clone(), stop.clone());
            let (metrics, drops) = (metrics.clone(), drops.clone());
            sup.spawn("relay", move || {
                relay::run(
                    js.clone(),
                    relay::Intake {
                        captures: writer.clone(),
                        inventory: inventory.clone(),
                        metrics: metrics.clone(),
                        drops: drops.clone(),
                    },
                    tx.clone(),
                    relay_start,
                    stop.clone(),
                )
            });
        }
        {
            let (js, tx, stop) = (bus.js.clone(), tx.clone(), stop.clone());
            let at_sites = Arc::new(gave_up::site_consumers(&cfg.routes));
            sup.spawn("max_deliveries", move || {
                gave_up::run(js.clone(), at_sites.clone(), tx.clone(), stop.clone())
            });
        }
        {
            let (bus, js_cfg, zones, health, tx) = (
                bus.clone(),
                cfg.jetstream.clone(),
                cfg.zones.clone(),
                sup.health.clone(),
                tx.clone(),
            );
            sup.spawn("layout_guard", move || {
                guard::run(
                    bus.clone(),
                    js_cfg.clone(),
                    zones.clone(),
                    health.clone(),
                    tx.clone(),
                    stop.clone(),
                )
            });
        }
        let handle = tokio::spawn(actor.run(rx, shutdown));
        Ok((engine, handle))
    }

    /// The summary of a job that left the hot state, if it is still kept.
    pub async fn archived(&self, id: &str) -> Result<Option<retention::JobSummary>, EngineError> {
        let Some(history) = &self.history else {
            return Ok(None);
        };
        let Ok(key) = outpost_proto::layout::job_key(id) else {
            return Ok(None);
        };
        let entry = tokio::time::timeout(std::time::Duration::from_secs(5), history.get(&key))
            .await
            .map_err(|_| EngineError::Unavailable("history read timed out".into()))?
            .map_err(|e| EngineError::Unavailable(format!("history read: {e}")))?;
        Ok(entry.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Whether the job is known: in the hot state or in history.
    pub async fn known(&self, id: &str) -> Result<bool, EngineError> {
        if self.read(|v| v.jobs.contains_key(id)) {
            return Ok(true);
        }
        Ok(self.archived(id).await?.is_some())
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

    /// Drains a rollout: the hosts it has begun finish, no other starts,
    /// and nothing running is interrupted.
    pub async fn drain(&self, job_id: &str) -> Result<JobState, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Drain {
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
