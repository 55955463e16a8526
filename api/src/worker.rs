//! `GET /api/v1/workers`: the live workers of every zone.

use serde::{Deserialize, Serialize};

/// A worker as its presence entry describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    pub worker_id: String,
    pub zone: String,
    #[serde(default)]
    pub kinds: Vec<String>,
    pub capacity: u32,
    pub in_flight: u32,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub draining: bool,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub heartbeat_at: String,
    /// The worker's credential vault, when the worker reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultView>,
}

/// The names in a worker's vault (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultView {
    /// False: the worker runs without a vault.
    pub present: bool,
    #[serde(default)]
    pub names: Vec<String>,
    /// The default credential, if the vault has one.
    #[serde(default)]
    pub default: Option<String>,
}
