//! The layout guard: checks every few seconds that the streams and the
//! relay's consumer exist and how far the relay lags, records it for
//! `/healthz` (with the zones' consumers), and re-creates a layout that
//! went missing (an operator's
//! `nats stream rm`, a server that lost its store). When the tasks stream
//! had to be re-created, the engine publishes every pending task again.

use super::{Command, gave_up};
use crate::bus::{self, Bus};
use crate::config::JetStreamConfig;
use crate::supervise::Health;
use async_nats::jetstream::{self, ErrorCode, context::GetStreamErrorKind};
use futures::StreamExt;
use outpost_proto::layout;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the layout is checked.
const EVERY: Duration = Duration::from_secs(3);
/// How long one check may take.
const CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// What one check found.
struct Found {
    missing: Vec<String>,
    relay_lag: Option<u64>,
}

async fn check(
    js: &jetstream::Context,
    zones: &[crate::config::ZoneConfig],
) -> Result<Found, String> {
    let mut missing = Vec::new();
    for name in [
        layout::TASKS_STREAM,
        layout::EVENTS_STREAM,
        gave_up::ADVISORIES_STREAM,
    ] {
        match js.get_stream(name).await {
            Ok(_) => {}
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    missing.push(format!("stream {name}"))
                }
                _ => return Err(e.to_string()),
            },
        }
    }
    if missing.is_empty() && !zones.is_empty() {
        let tasks = js
            .get_stream(layout::TASKS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        let mut have = std::collections::HashSet::new();
        let mut listed = tasks.consumer_names();
        while let Some(name) = listed.next().await {
            have.insert(name.map_err(|e| e.to_string())?);
        }
        for z in zones {
            for kind in outpost_kinds::Kind::ALL {
                if let Ok(c) = outpost_proto::layout::consumer_name(&z.name, kind.as_str())
                    && !have.contains(&c)
                {
                    missing.push(format!("consumer {c}"));
                }
            }
        }
    }
    let mut relay_lag = None;
    if let Ok(events) = js.get_stream(layout::EVENTS_STREAM).await {
        match events.consumer_info(layout::RELAY_CONSUMER).await {
            Ok(info) => relay_lag = Some(info.num_pending + info.num_ack_pending as u64),
            Err(e) => {
                tracing::debug!(error = %e, "relay consumer not readable (it is created by the relay)")
            }
        }
    }
    Ok(Found { missing, relay_lag })
}

/// The work queue per zone and kind, from the zone consumers: tasks
/// waiting for a worker and tasks a worker holds unacknowledged.
async fn queue_depths(
    js: &async_nats::jetstream::Context,
    zones: &[crate::config::ZoneConfig],
) -> Result<(), String> {
    let tasks = js
        .get_stream(layout::TASKS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let mut named = std::collections::HashMap::new();
    for z in zones {
        for kind in outpost_kinds::Kind::ALL {
            if let Ok(c) = layout::consumer_name(&z.name, kind.as_str()) {
                named.insert(c, (z.name.clone(), kind.as_str()));
            }
        }
    }
    let m = outpost_telemetry::metrics::global();
    let mut infos = tasks.consumers();
    while let Some(info) = infos.next().await {
        let info = info.map_err(|e| e.to_string())?;
        let Some((zone, kind)) = named.get(&info.name) else {
            continue;
        };
        let l = [("zone", zone.as_str()), ("kind", *kind)];
        m.set(
            crate::api::metrics::QUEUE_PENDING.0,
            crate::api::metrics::QUEUE_PENDING.1,
            &l,
            info.num_pending as f64,
        );
        m.set(
            crate::api::metrics::QUEUE_ACK_PENDING.0,
            crate::api::metrics::QUEUE_ACK_PENDING.1,
            &l,
            info.num_ack_pending as f64,
        );
    }
    Ok(())
}

/// Checks and repairs until `stop`.
pub async fn run(
    bus: Bus,
    cfg: JetStreamConfig,
    zones: Vec<crate::config::ZoneConfig>,
    health: Health,
    tx: mpsc::Sender<Command>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let found = match tokio::time::timeout(CHECK_DEADLINE, check(&bus.js, &zones)).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "layout check failed (NATS unreachable?)");
                continue;
            }
            Err(_) => continue,
        };
        health.set_layout(found.missing.clone(), found.relay_lag);
        if let Some(lag) = found.relay_lag {
            outpost_telemetry::metrics::global().set(
                crate::api::metrics::RELAY_PENDING.0,
                crate::api::metrics::RELAY_PENDING.1,
                &[],
                lag as f64,
            );
        }
        if let Ok(Err(e)) =
            tokio::time::timeout(CHECK_DEADLINE, queue_depths(&bus.js, &zones)).await
        {
            tracing::debug!(error = %e, "queue depths not read");
        }
        if found.missing.is_empty() {
            continue;
        }
        tracing::error!(missing = ?found.missing, "JetStream layout is missing parts; re-creating it");
        let repaired = async {
            let fresh = bus::ensure_layout(bus.client.clone(), &cfg)
                .await
                .map_err(|e| e.to_string())?;
            bus::ensure_zones(&fresh, &zones, &cfg)
                .await
                .map_err(|e| e.to_string())?;
            gave_up::ensure_stream(&bus.js, &cfg).await?;
            Ok::<(), String>(())
        };
        match tokio::time::timeout(CHECK_DEADLINE * 2, repaired).await {
            Ok(Ok(())) => {
                tracing::warn!("JetStream layout re-created");
                if found
                    .missing
                    .iter()
                    .any(|m| m.ends_with(layout::TASKS_STREAM))
                {
                    let _ = tx.send(Command::Redispatch).await;
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "JetStream layout not re-created"),
            Err(_) => tracing::error!("re-creating the JetStream layout timed out"),
        }
    }
}
