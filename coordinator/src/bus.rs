//! The coordinator's side of NATS: connecting, and creating the JetStream
//! layout of DESIGN.md (streams, key-value buckets, object stores)
//! idempotently, so any number of restarts converge on the same layout.

use crate::config::JetStreamConfig;
use async_nats::jetstream::{self, kv, object_store, stream};
use outpost_proto::{names, subject};
use std::time::Duration;
use thiserror::Error;

/// Failures talking to NATS, by what the coordinator was doing.
#[derive(Debug, Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot create or open {what}: {message}")]
    Layout { what: String, message: String },
}

/// Handles on everything the coordinator uses.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub jobs: kv::Store,
    pub workers: kv::Store,
    pub tasks: stream::Stream,
    pub events: stream::Stream,
}

/// Connects to NATS, retrying in the background until the server answers.
/// Credentials in the URL are handed over apart from it, so the client's
/// own log lines never carry them; errors name the URL without them.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, BusError> {
    let split = outpost_proto::nats_url::split(url);
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    if let Some((user, pass)) = split.user.clone() {
        opts = opts.user_and_password(user, pass);
    }
    opts.connect(split.address.as_str())
        .await
        .map_err(|source| BusError::Connect {
            url: split.address.clone(),
            source,
        })
}

fn storage(cfg: &JetStreamConfig) -> stream::StorageType {
    if cfg.memory_storage {
        stream::StorageType::Memory
    } else {
        stream::StorageType::File
    }
}

fn layout_err(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Layout {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Creates (or opens) the whole layout. Existing streams and buckets are
/// opened as they are, so a restart never rewrites their configuration.
pub async fn ensure_layout(
    client: async_nats::Client,
    cfg: &JetStreamConfig,
) -> Result<Bus, BusError> {
    let js = jetstream::new(client.clone());
    let tasks = js
        .get_or_create_stream(stream::Config {
            name: names::TASKS_STREAM.to_string(),
            subjects: vec![subject::TASKS_WILDCARD.to_string()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: storage(cfg),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| layout_err(names::TASKS_STREAM, e))?;
    let events = js
        .get_or_create_stream(stream::Config {
            name: names::EVENTS_STREAM.to_string(),
            subjects: vec![subject::EVENTS_WILDCARD.to_string()],
            retention: stream::RetentionPolicy::Limits,
            storage: storage(cfg),
            max_age: Duration::from_secs(cfg.events_max_age_hours * 3600),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| layout_err(names::EVENTS_STREAM, e))?;
    let jobs = ensure_kv(&js, names::JOBS_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(
        &js,
        names::LEASES_BUCKET,
        Duration::from_secs(cfg.lease_ttl_secs),
        cfg,
    )
    .await?;
    let workers = ensure_kv(
        &js,
        names::WORKERS_BUCKET,
        Duration::from_secs(cfg.presence_ttl_secs),
        cfg,
    )
    .await?;
    ensure_kv(&js, names::HOSTKEYS_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(&js, names::INVENTORY_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(&js, names::DSM_BUCKET, Duration::ZERO, cfg).await?;
    // A checkpoint matters as long as its task can be redelivered.
    ensure_kv(
        &js,
        names::CHECKPOINTS_BUCKET,
        Duration::from_secs(cfg.events_max_age_hours * 3600),
        cfg,
    )
    .await?;
    for bucket in [names::CAPTURES_STORE, names::FIRMWARE_STORE] {
        if js.get_object_store(bucket).await.is_err() {
            // Captures live as long as the events that point at them, so a
            // replay of the events stream can still write its files.
            let max_age = if bucket == names::CAPTURES_STORE {
                Duration::from_secs(cfg.events_max_age_hours * 3600)
            } else {
                Duration::ZERO
            };
            js.create_object_store(object_store::Config {
                bucket: bucket.to_string(),
                storage: storage(cfg),
                max_age,
                ..Default::default()
            })
            .await
            .map_err(|e| layout_err(bucket, e))?;
        }
    }
    Ok(Bus {
        client,
        js,
        jobs,
        workers,
        tasks,
        events,
    })
}

async fn ensure_kv(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
    cfg: &JetStreamConfig,
) -> Result<kv::Store, BusError> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: bucket.to_string(),
        history: 1,
        max_age,
        storage: storage(cfg),
        ..Default::default()
    })
    .await
    .map_err(|e| layout_err(bucket, e))
}

/// Retries `ensure_layout` with backoff until it succeeds or `deadline` passes.
pub async fn ensure_layout_with_retry(
    client: async_nats::Client,
    cfg: &JetStreamConfig,
    deadline: Duration,
) -> Result<Bus, BusError> {
    let until = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(100);
    loop {
        match ensure_layout(client.clone(), cfg).await {
            Ok(bus) => return Ok(bus),
            Err(e) if tokio::time::Instant::now() + delay < until => {
                tracing::warn!(error = %e, "JetStream layout not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}
