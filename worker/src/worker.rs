//! One worker process from start to stop: connect, bind the zone's
//! consumers (created by the coordinator), run the claim loops, presence and cancel listener, and on
//! shutdown drain: stop pulling, let running tasks finish until the drain
//! deadline, then hand the rest back.

use crate::bus::{self, BusError};
use crate::cancel::Cancels;
use crate::claim::ClaimLoop;
use crate::config::ConsumerSettings;
use crate::config::WorkerConfig;
use crate::credentials::Credentials;
use crate::ops::OpEnv;
use crate::ops::ssh::hostkeys::HostKeys;
use crate::runner::Shared;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use outpost_proto::layout;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long handed-back tasks get to report before the process exits.
const HAND_BACK_GRACE: Duration = Duration::from_secs(15);

/// Why a worker could not run.
#[derive(Debug, Error)]
pub enum WorkerError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot bind consumer {name}: {message}")]
    Consumer { name: String, message: String },
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Runs the worker until `stop` fires, then drains.
pub async fn run(
    cfg: WorkerConfig,
    credentials: Credentials,
    stop: CancellationToken,
) -> Result<(), WorkerError> {
    let (client, reconnects) = bus::connect(
        &cfg.nats_url,
        &cfg.nats_security,
        &format!("outpost-worker {}", cfg.worker_id),
        &cfg.zone,
    )
    .await?;
    let js = bus::jetstream(client.clone(), &cfg.nats_security);
    let tasks = js
        .get_stream_no_info(layout::TASKS_STREAM)
        .await
        .map_err(|e| BusError::Zone(e.to_string()))?;
    let mut consumers = Vec::with_capacity(cfg.kinds.len());
    for kind in &cfg.kinds {
        consumers.push((*kind, bind(&tasks, &cfg, kind.as_str(), &stop).await?));
    }
    // The coordinator made the zone's stores before its consumers.
    let bus = bus::wait_for_layout(client, js, &cfg.zone, cfg.consumer_wait, &stop).await?;
    // The coordinator writes the buckets' TTLs into the zone's consumers.
    let lease_ttl = consumers
        .first()
        .map(|(_, (_, s))| s.lease_ttl)
        .unwrap_or(Duration::from_secs(30));
    let presence_ttl = consumers
        .first()
        .map(|(_, (_, s))| s.presence_ttl)
        .unwrap_or(Duration::from_secs(15));

    let cancels = Cancels::new(bus.cancels.clone(), cfg.zone.clone());
    let mut env = OpEnv::new(
        credentials,
        HostKeys {
            kv: Some(bus.hostkeys.clone()),
            zone: cfg.zone.clone(),
            worker: cfg.worker_id.clone(),
            policy: cfg.ssh.host_key_policy,
            known_hosts_file: cfg.ssh.known_hosts.clone(),
        },
        Some(bus.captures.clone()),
        cfg.ssh.max_output,
    );
    env.checkpoints = crate::ops::checkpoint::Checkpoints::Kv {
        store: Box::new(bus.checkpoints.clone()),
        zone: cfg.zone.clone(),
    };
    env.locks = crate::ops::redfish::guard::Locks::Kv {
        store: Box::new(bus.leases.clone()),
        ttl: lease_ttl,
    };
    env.pins = crate::ops::redfish::pins::Pins::Kv {
        store: Box::new(bus.pins.clone()),
        zone: cfg.zone.clone(),
    };
    env.firmware = Some(bus.firmware.clone());
    env.zone_key = cfg.zone_key.clone();
    let shared = Arc::new(Shared::new(
        cfg.clone(),
        bus.clone(),
        cancels.clone(),
        lease_ttl,
        Arc::new(env),
    ));
    let done = CancellationToken::new();
    tokio::spawn(cancels.listen(bus.client.clone(), done.clone()));
    let presence = tokio::spawn(crate::presence::maintain(
        shared.clone(),
        presence_ttl,
        stop.clone(),
        done.clone(),
    ));

    if let Some(addr) = cfg.metrics_listen {
        let local = crate::metrics::serve(addr, shared.clone(), done.clone())
            .await
            .map_err(|source| WorkerError::Metrics { addr, source })?;
        tracing::info!(%local, "metrics served on /metrics");
        println!("outpost-worker metrics on http://{local}/metrics");
    }
    let capacity = Arc::new(Semaphore::new(cfg.concurrency));
    let tracker = TaskTracker::new();
    let mut loops = Vec::new();
    for (kind, (consumer, settings)) in consumers {
        let claim = ClaimLoop {
            shared: shared.clone(),
            kind,
            consumer,
            settings,
            capacity: capacity.clone(),
            freed: shared.freed.subscribe(),
            kinds: cfg.kinds.len(),
            reconnects: reconnects.clone(),
            tracker: tracker.clone(),
            stop: stop.clone(),
        };
        loops.push(tokio::spawn(claim.run()));
    }
    tracing::info!(zone = %cfg.zone, worker = %cfg.worker_id, concurrency = cfg.concurrency, "worker ready");
    // Tests and scripts wait for this line.
    println!(
        "outpost-worker ready zone={} worker={} kinds={}",
        cfg.zone,
        cfg.worker_id,
        cfg.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let _ = std::io::stdout().flush();

    stop.cancelled().await;
    tracing::info!(running = shared.running(), "draining: no new tasks");
    for l in loops {
        let _ = l.await;
    }
    tracker.close();
    if tokio::time::timeout(cfg.drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = shared.running(),
            "drain deadline passed; handing running tasks back"
        );
        shared.hand_back.cancel();
        if tokio::time::timeout(HAND_BACK_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(
                running = shared.running(),
                "tasks did not stop; they will be redelivered after their ack wait"
            );
        }
    }
    done.cancel();
    let _ = presence.await;
    if let Err(e) = bus.client.flush().await {
        tracing::warn!(error = %e, "final flush failed");
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Binds to the shared durable consumer of (zone, kind), which the
/// coordinator creates for the zones in its configuration. Waits for the
/// tasks stream as long as it takes (the coordinator may start later), then
/// for the consumer up to `--consumer-wait-secs` (a coordinator that has
/// just created the streams creates the consumers right after); a worker
/// never creates one itself, so no worker's flags decide how the zone
/// retries.
async fn bind(
    tasks: &async_nats::jetstream::stream::Stream<()>,
    cfg: &WorkerConfig,
    kind: &str,
    stop: &CancellationToken,
) -> Result<(PullConsumer, ConsumerSettings), WorkerError> {
    let err = |name: &str, message: String| WorkerError::Consumer {
        name: name.to_string(),
        message,
    };
    let name = layout::consumer_name(&cfg.zone, kind).map_err(|e| err(kind, e.to_string()))?;
    let filter = layout::task_subject(&cfg.zone, kind).map_err(|e| err(&name, e.to_string()))?;
    // Counted from when the stream exists.
    let mut until: Option<tokio::time::Instant> = None;
    let mut delay = Duration::from_millis(50);
    let mut logged = false;
    let consumer: PullConsumer = loop {
        // Not found, or NATS busy: both are worth another look.
        match tasks.consumer_info(&name).await {
            Ok(_) => match tasks.get_consumer(&name).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::debug!(consumer = %name, error = %e, "consumer not available yet")
                }
            },
            Err(e) if e.kind() == ConsumerInfoErrorKind::StreamNotFound => {
                tracing::debug!("tasks stream not created yet");
            }
            Err(e) => {
                until.get_or_insert_with(|| tokio::time::Instant::now() + cfg.consumer_wait);
                tracing::debug!(consumer = %name, error = %e, "consumer not available yet");
            }
        }
        if until.is_some_and(|u| tokio::time::Instant::now() + delay > u) {
            return Err(err(
                &name,
                format!(
                    "it is not available after {} s; the coordinator creates it for zones declared in its configuration: add [[zone]] name = \"{}\" there",
                    cfg.consumer_wait.as_secs(),
                    cfg.zone
                ),
            ));
        }
        if !logged {
            tracing::info!(consumer = %name, zone = %cfg.zone, "waiting for the coordinator to create the zone's consumer (is the zone in its configuration?)");
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return Err(WorkerError::Bus(BusError::Stopped)),
        }
        delay = (delay * 2).min(Duration::from_secs(1));
    };
    let config = &consumer.cached_info().config;
    if config.filter_subject != filter || config.ack_policy != AckPolicy::Explicit {
        return Err(err(
            &name,
            format!(
                "it does not have the expected settings (filter {:?}, explicit acks); was it created by hand?",
                config.filter_subject
            ),
        ));
    }
    let settings = ConsumerSettings::of(config);
    tracing::info!(
        consumer = %name,
        ack_wait_secs = settings.ack_wait.as_secs(),
        max_deliver = settings.max_deliver,
        "bound to the zone's consumer"
    );
    Ok((consumer, settings))
}
