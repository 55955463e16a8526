//! `vcenter.maintenance`: what its `status` action reports about the
//! host's cluster, which a rolling update counts hosts out of service by.

use serde::{Deserialize, Serialize};

/// A host's cluster as vCenter shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    pub drs_enabled: bool,
    pub hosts: u32,
    /// Hosts of the cluster out of service: in maintenance or not connected.
    pub out_of_service: u32,
    /// Their names.
    pub out_of_service_hosts: Vec<String>,
}

/// The part of a `status` output others decide on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusOutput {
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
}

impl StatusOutput {
    pub fn from_value(v: &serde_json::Value) -> Option<StatusOutput> {
        StatusOutput::deserialize(v).ok()
    }
}
