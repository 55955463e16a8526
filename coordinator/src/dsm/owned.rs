//! The DSM jobs this coordinator owns, in KV `outpost_dsm` (key: the DSM
//! job's id): which Outpost job runs it and which `job_tasks` row reports
//! which part. A restarted coordinator resumes exactly these, and never
//! touches a job it does not own.

use super::map::RowSource;
use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedRow {
    pub row_id: Uuid,
    pub server_id: Option<Uuid>,
    pub source: RowSource,
}

/// A vCenter of the app (`vcenters` row) a sync reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VcenterRef {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owned {
    pub dsm_id: Uuid,
    pub job_type: String,
    pub outpost_id: String,
    pub rows: Vec<OwnedRow>,
    /// The DSM job has its final status.
    #[serde(default)]
    pub finished: bool,
    /// The app asked for a graceful cancel (finish the hosts begun, then stop).
    #[serde(default)]
    pub graceful: bool,
    /// Results that could not be written to the app: the job fails.
    #[serde(default)]
    pub write_errors: Vec<String>,
    /// The vCenters a `vcenter_sync` reads, by the address its task targets.
    #[serde(default)]
    pub vcenters: Vec<VcenterRef>,
    /// The app's update-availability scan a `firmware_inventory_scan` reports to.
    #[serde(default)]
    pub scan_id: Option<Uuid>,
    /// What a type's verdict needs: a safety check's clusters and
    /// minimum, a verification's expected versions.
    #[serde(default)]
    pub extra: serde_json::Value,
}

pub async fn save(store: &kv::Store, o: &Owned) -> Result<(), String> {
    let bytes = serde_json::to_vec(o).map_err(|e| e.to_string())?;
    store
        .put(o.dsm_id.simple().to_string(), bytes.into())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Every owned job not yet finished.
pub async fn load(store: &kv::Store) -> Result<Vec<Owned>, String> {
    let mut keys = store.keys().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(k) = keys.next().await {
        let k = k.map_err(|e| e.to_string())?;
        if let Ok(Some(v)) = store.get(&k).await
            && let Ok(o) = serde_json::from_slice::<Owned>(&v)
            && !o.finished
        {
            out.push(o);
        }
    }
    Ok(out)
}
