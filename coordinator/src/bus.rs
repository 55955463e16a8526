//! The coordinator's side of NATS: connecting, and creating the JetStream
//! layout of DESIGN.md (streams, key-value buckets, object stores, and the
//! zones' task consumers) idempotently, so any number of restarts converge
//! on the same layout. The zone consumers' `ack_wait` and `max_deliver`
//! come from the coordinator's `[[zone]]` tables and nowhere else: workers
//! only bind to them and read the settings back.

use crate::config::{JetStreamConfig, ZoneConfig};
use async_nats::jetstream::consumer::{self, AckPolicy};
use async_nats::jetstream::{self, kv, object_store, stream};
use outpost_proto::layout;
use std::time::Duration;
use thiserror::Error;

/// Failures talking to NATS, by what the coordinator was doing.
#[derive(Debug, Error)]
pub enum BusError {
    #[error(transparent)]
    Connect(#[from] outpost_nats::connect::ConnectError),
    #[error("cannot create or open {what}: {message}")]
    Layout { what: String, message: String },
}

/// Handles on everything the coordinator uses.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub jobs: kv::Store,
    /// Cancel records workers read (`outpost_cancels`).
    pub cancels: kv::Store,
    pub workers: kv::Store,
    pub tasks: stream::Stream,
    pub events: stream::Stream,
}

/// Connects to NATS as `security` says (creds, CA; secure unless
/// explicitly insecure on loopback), retrying in the background until the
/// server answers. Credentials in the URL go into the connection options,
/// so neither the client's logs nor an error carry them.
pub async fn connect(
    url: &str,
    security: &outpost_nats::connect::ClientSecurity,
    name: &str,
) -> Result<async_nats::Client, BusError> {
    let prepared = outpost_nats::connect::prepare(url, security, None)?;
    let options = prepared
        .options
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    outpost_nats::connect::Prepared {
        options,
        ..prepared
    }
    .connect()
    .await
    .map_err(BusError::from)
}

pub(crate) fn storage(cfg: &JetStreamConfig) -> stream::StorageType {
    if cfg.memory_storage {
        stream::StorageType::Memory
    } else {
        stream::StorageType::File
    }
}

pub(crate) fn layout_err(what: &str, e: impl std::fmt::Display) -> BusError {
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
            name: layout::TASKS_STREAM.to_string(),
            subjects: vec![layout::TASKS_WILDCARD.to_string()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: storage(cfg),
            num_replicas: cfg.replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| layout_err(layout::TASKS_STREAM, e))?;
    ensure_replicas(&js, layout::TASKS_STREAM, cfg.replicas).await?;
    let events_subjects: Vec<String> = layout::EVENTS_WILDCARDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut events = js
        .get_or_create_stream(stream::Config {
            name: layout::EVENTS_STREAM.to_string(),
            subjects: events_subjects.clone(),
            retention: stream::RetentionPolicy::Limits,
            storage: storage(cfg),
            max_age: Duration::from_secs(cfg.events_max_age_hours * 3600),
            num_replicas: cfg.replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| layout_err(layout::EVENTS_STREAM, e))?;
    // A stream made by an earlier layout lacks the verdict subjects.
    if events.cached_info().config.subjects != events_subjects {
        let mut config = events.cached_info().config.clone();
        config.subjects = events_subjects;
        js.update_stream(config)
            .await
            .map_err(|e| layout_err(layout::EVENTS_STREAM, e))?;
        events = js
            .get_stream(layout::EVENTS_STREAM)
            .await
            .map_err(|e| layout_err(layout::EVENTS_STREAM, e))?;
    }
    ensure_replicas(&js, layout::EVENTS_STREAM, cfg.replicas).await?;
    let jobs = ensure_kv(&js, layout::JOBS_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(
        &js,
        layout::LEASES_BUCKET,
        Duration::from_secs(cfg.lease_ttl_secs),
        cfg,
    )
    .await?;
    let workers = ensure_kv(
        &js,
        layout::WORKERS_BUCKET,
        Duration::from_secs(cfg.presence_ttl_secs),
        cfg,
    )
    .await?;
    ensure_kv(&js, layout::HOSTKEYS_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(&js, layout::INVENTORY_BUCKET, Duration::ZERO, cfg).await?;
    ensure_kv(&js, layout::PINS_BUCKET, Duration::ZERO, cfg).await?;
    // A cancel record matters as long as the job's tasks can be delivered.
    let cancels = ensure_kv(
        &js,
        layout::CANCELS_BUCKET,
        Duration::from_secs(cfg.events_max_age_hours * 3600),
        cfg,
    )
    .await?;
    ensure_kv(&js, layout::DSM_BUCKET, Duration::ZERO, cfg).await?;
    // Delivery records: what `GET /api/v1/notifications` shows, and the
    // claim that makes a notification go out once.
    ensure_kv(
        &js,
        layout::NOTIFY_BUCKET,
        Duration::from_secs(30 * 24 * 3600),
        cfg,
    )
    .await?;
    // A checkpoint matters as long as its task can be redelivered.
    ensure_kv(
        &js,
        layout::CHECKPOINTS_BUCKET,
        Duration::from_secs(cfg.events_max_age_hours * 3600),
        cfg,
    )
    .await?;
    ensure_object_store(&js, layout::FIRMWARE_STORE, Duration::ZERO, cfg).await?;
    Ok(Bus {
        client,
        js,
        jobs,
        cancels,
        workers,
        tasks,
        events,
    })
}

/// Creates object store `name` unless it exists.
pub(crate) async fn ensure_object_store(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
    cfg: &JetStreamConfig,
) -> Result<(), BusError> {
    if js.get_object_store(name).await.is_err() {
        js.create_object_store(object_store::Config {
            bucket: name.to_string(),
            storage: storage(cfg),
            max_age,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| layout_err(name, e))?;
    }
    ensure_replicas(js, &format!("OBJ_{name}"), cfg.replicas).await
}

/// Gives stream `name` `replicas` copies when it has another number (a
/// deployment moved from one server to a cluster, or back): JetStream
/// copies or drops the replicas in the background.
pub async fn ensure_replicas(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> Result<(), BusError> {
    let stream = js.get_stream(name).await.map_err(|e| layout_err(name, e))?;
    let mut config = stream.cached_info().config.clone();
    let have = config.num_replicas.max(1);
    if have == replicas {
        return Ok(());
    }
    tracing::info!(
        stream = name,
        from = have,
        to = replicas,
        "changing the stream's replicas"
    );
    config.num_replicas = replicas;
    js.update_stream(config)
        .await
        .map_err(|e| layout_err(&format!("{name} (replicas {have} -> {replicas})"), e))?;
    Ok(())
}

pub(crate) async fn ensure_kv(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
    cfg: &JetStreamConfig,
) -> Result<kv::Store, BusError> {
    let store = match js.get_key_value(bucket).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: bucket.to_string(),
                history: 1,
                max_age,
                storage: storage(cfg),
                num_replicas: cfg.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| layout_err(bucket, e))?,
    };
    ensure_replicas(js, &format!("KV_{bucket}"), cfg.replicas).await?;
    Ok(store)
}

/// Unacknowledged tasks one (zone, kind) consumer hands out across all
/// the zone's workers.
pub const ZONE_MAX_ACK_PENDING: i64 = 20_000;

/// The consumer of (zone, kind) as the zone's settings want it.
pub fn zone_consumer_config(
    zone: &ZoneConfig,
    kind: &str,
    cfg: &JetStreamConfig,
) -> Result<consumer::pull::Config, BusError> {
    let what = format!("consumer of zone {} kind {kind}", zone.name);
    let name = layout::consumer_name(&zone.name, kind).map_err(|e| layout_err(&what, e))?;
    let filter = layout::task_subject(&zone.name, kind).map_err(|e| layout_err(&what, e))?;
    Ok(consumer::pull::Config {
        durable_name: Some(name),
        filter_subject: filter,
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_secs(zone.ack_wait_secs),
        max_deliver: zone.max_deliver,
        max_ack_pending: ZONE_MAX_ACK_PENDING,
        metadata: zone_settings(cfg),
        ..Default::default()
    })
}

/// Settings a worker reads from its zone's consumers, the only part of the
/// layout's configuration its identity may see.
fn zone_settings(cfg: &JetStreamConfig) -> std::collections::HashMap<String, String> {
    [
        (
            layout::META_LEASE_TTL.to_string(),
            cfg.lease_ttl_secs.to_string(),
        ),
        (
            layout::META_PRESENCE_TTL.to_string(),
            cfg.presence_ttl_secs.to_string(),
        ),
    ]
    .into_iter()
    .collect()
}

/// Creates every configured zone's consumer for every kind, or updates
/// one whose settings differ (a changed `[[zone]]` table takes effect at
/// the coordinator's restart; workers pick it up at theirs), and the zone's
/// captures store.
pub async fn ensure_zones(
    bus: &Bus,
    zones: &[ZoneConfig],
    cfg: &JetStreamConfig,
) -> Result<(), BusError> {
    for zone in zones {
        let captures = layout::captures_store(&zone.name)
            .map_err(|e| layout_err(&format!("captures of zone {}", zone.name), e))?;
        // Captures live as long as the events that point at them, so a
        // replay of the events stream can still write its files.
        ensure_object_store(
            &bus.js,
            &captures,
            Duration::from_secs(cfg.events_max_age_hours * 3600),
            cfg,
        )
        .await?;
        for kind in outpost_kinds::Kind::ALL {
            let config = zone_consumer_config(zone, kind.as_str(), cfg)?;
            let name = config.durable_name.clone().unwrap_or_default();
            bus.tasks
                .create_consumer(config)
                .await
                .map_err(|e| layout_err(&format!("consumer {name}"), e))?;
        }
        tracing::debug!(zone = %zone.name, ack_wait_secs = zone.ack_wait_secs, max_deliver = zone.max_deliver, "zone consumers ready");
    }
    Ok(())
}

/// Retries `ensure_layout` and the zones' consumers with backoff until
/// they succeed or `deadline` passes.
pub async fn ensure_layout_with_retry(
    client: async_nats::Client,
    cfg: &JetStreamConfig,
    zones: &[ZoneConfig],
    deadline: Duration,
) -> Result<Bus, BusError> {
    let until = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(100);
    loop {
        let ready = match ensure_layout(client.clone(), cfg).await {
            Ok(bus) => ensure_zones(&bus, zones, cfg).await.map(|()| bus),
            Err(e) => Err(e),
        };
        match ready {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_consumers_carry_the_zone_settings() {
        let mut zone = ZoneConfig::new("fra1", vec![]);
        zone.ack_wait_secs = 7;
        zone.max_deliver = 3;
        let c = zone_consumer_config(&zone, "ssh.collect", &JetStreamConfig::default()).unwrap();
        assert_eq!(c.durable_name.as_deref(), Some("fra1_ssh-collect"));
        assert_eq!(c.filter_subject, "outpost.task.fra1.ssh.collect");
        assert_eq!(c.ack_wait, Duration::from_secs(7));
        assert_eq!(c.max_deliver, 3);
        assert_eq!(c.ack_policy, AckPolicy::Explicit);
        assert_eq!(c.metadata[layout::META_LEASE_TTL], "30");
    }
}
