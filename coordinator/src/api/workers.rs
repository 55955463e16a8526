//! `GET /api/v1/workers`: the live workers of every zone, from their
//! presence entries in KV `outpost_workers`, with the credential names
//! each can resolve (names only; absent for workers that do not say).

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use outpost_proto::{Message, pb};

pub use outpost_api::{VaultView, WorkerView};

/// Every presence entry that decodes, of the zones `only` names (keys
/// are `<zone>.<worker>`), or of all zones.
pub async fn presence(
    kv: &async_nats::jetstream::kv::Store,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<pb::WorkerPresence>, ApiError> {
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .filter_map(|k| async move { k.ok() })
        .filter(|k| {
            let wanted = only.is_none_or(|zones| {
                k.split_once('.')
                    .is_some_and(|(zone, _)| zones.contains(zone))
            });
            futures::future::ready(wanted)
        })
        .collect()
        .await;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let Ok(Some(bytes)) = kv.get(&key).await else {
            continue;
        };
        if let Ok(p) = pb::WorkerPresence::decode(bytes.as_ref()) {
            out.push(p);
        }
    }
    Ok(out)
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<WorkerView>>, ApiError> {
    let all = presence(&state.bus.workers, None).await?;
    let mut out = Vec::with_capacity(all.len());
    for p in all {
        out.push(WorkerView {
            worker_id: p.worker_id,
            zone: p.zone,
            kinds: p.kinds,
            capacity: p.capacity,
            in_flight: p.in_flight,
            hostname: p.hostname,
            version: p.version,
            draining: p.draining,
            started_at: crate::model::ms_to_rfc3339(p.started_at_ms),
            heartbeat_at: crate::model::ms_to_rfc3339(p.heartbeat_at_ms),
            vault: p.vault.map(|v| VaultView {
                present: v.present,
                names: v.names,
                default: Some(v.default_name).filter(|d| !d.is_empty()),
            }),
        });
    }
    out.sort_by(|a, b| (&a.zone, &a.worker_id).cmp(&(&b.zone, &b.worker_id)));
    Ok(Json(out))
}
