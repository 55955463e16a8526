//! The worker's presence in KV `outpost_workers` (`<zone>.<worker_id>`):
//! kinds, capacity, tasks in flight and the names in its credential vault
//! (names only, so a job naming a credential the zone lacks is refused
//! before it runs), refreshed at a third of the bucket's TTL so a dead
//! worker disappears on its own, and removed on a clean exit.

use crate::runner::Shared;
use outpost_proto::{Message, layout, now_ms, pb};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Keeps the presence entry fresh until `done` fires, then deletes it.
/// `draining` fires when the worker stops taking tasks.
pub async fn maintain(
    shared: Arc<Shared>,
    ttl: Duration,
    draining: CancellationToken,
    done: CancellationToken,
) {
    let Ok(key) = layout::worker_key(&shared.cfg.zone, &shared.cfg.worker_id) else {
        return;
    };
    let started_at_ms = now_ms();
    let hostname = hostname();
    let every = (ttl / 3).max(Duration::from_millis(200));
    let mut announced_draining = false;
    let vault = shared.env.credentials.names();
    loop {
        let p = pb::WorkerPresence {
            worker_id: shared.cfg.worker_id.clone(),
            zone: shared.cfg.zone.clone(),
            kinds: shared
                .cfg
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            capacity: shared.cfg.concurrency as u32,
            in_flight: shared.running() as u32,
            started_at_ms,
            heartbeat_at_ms: now_ms(),
            hostname: hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            draining: draining.is_cancelled(),
            vault: Some(vault.clone()),
        };
        announced_draining |= p.draining;
        if let Err(e) = shared.bus.workers.put(&key, p.encode_to_vec().into()).await {
            tracing::warn!(error = %e, "presence not refreshed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = draining.cancelled(), if !announced_draining => {}
            _ = done.cancelled() => break,
        }
    }
    if let Err(e) = shared.bus.workers.delete(&key, None).await {
        tracing::debug!(error = %e, "presence not removed; it will expire");
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}
