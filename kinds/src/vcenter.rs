//! The vCenter kinds' contracts. `vcenter.maintenance`: what its `status`
//! action reports about the host's cluster, which a rolling update counts
//! hosts out of service by. `vcenter.inventory`: its parameters (checked
//! by the coordinator with the very struct the worker reads), the bounds
//! on what one vCenter may hold, and its output (what Dell Server
//! Manager's `vcenter_sync` reads a vCenter's clusters, hosts, VMs,
//! datastores and networks from).

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

/// A `vcenter.inventory` task's parameters. The target is the vCenter's
/// address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryParams {
    #[serde(default = "default_port")]
    pub port: u16,
    /// Vault credential name; the vault's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default = "yes")]
    pub tls_pinning: bool,
    /// Timeout of one SOAP call.
    #[serde(default = "default_http_ms")]
    pub http_timeout_ms: u64,
    /// How long the whole read may take.
    #[serde(default = "default_inventory_timeout_s")]
    pub timeout_s: u64,
    /// Objects per `RetrievePropertiesEx` page (`maxObjects`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The sections to read; all of them when absent.
    #[serde(default = "Section::all")]
    pub include: Vec<Section>,
    /// Largest inventory (JSON bytes) the task may return. One larger than
    /// [`InventoryParams::INLINE_BYTES`] does not travel in its result
    /// message: it goes to the zone's captures store and the result says
    /// where ([`StoredInventory`]).
    #[serde(default = "default_max_output")]
    pub max_output_bytes: u64,
}

fn default_port() -> u16 {
    443
}
fn yes() -> bool {
    true
}
fn default_http_ms() -> u64 {
    60_000
}
fn default_inventory_timeout_s() -> u64 {
    900
}
fn default_page_size() -> u32 {
    500
}
fn default_max_output() -> u64 {
    InventoryParams::DEFAULT_MAX_OUTPUT
}

impl Default for InventoryParams {
    fn default() -> Self {
        InventoryParams {
            port: default_port(),
            credential: None,
            tls_pinning: true,
            http_timeout_ms: default_http_ms(),
            timeout_s: default_inventory_timeout_s(),
            page_size: default_page_size(),
            include: Section::all(),
            max_output_bytes: default_max_output(),
        }
    }
}

impl InventoryParams {
    /// The largest vCenter (some 45 000 VMs at about a kilobyte each).
    pub const DEFAULT_MAX_OUTPUT: u64 = 64 << 20;
    /// The most a task may be allowed to return.
    pub const MAX_OUTPUT: u64 = 64 << 20;
    /// The largest inventory that travels in its result message (and so in
    /// the job's state); a larger one is stored. Well under NATS's default
    /// 1 MiB `max_payload`.
    pub const INLINE_BYTES: u64 = 256 << 10;

    pub fn validate(&self) -> Result<(), crate::Invalid> {
        if self.port == 0 {
            return Err(crate::Invalid::new(
                "port",
                "must be a port number (1-65535)",
            ));
        }
        if !(100..=600_000).contains(&self.http_timeout_ms) {
            return Err(crate::Invalid::new(
                "http_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if !(1..=86_400).contains(&self.timeout_s) {
            return Err(crate::Invalid::new(
                "timeout_s",
                "must be between 1 and 86400",
            ));
        }
        if !(1..=10_000).contains(&self.page_size) {
            return Err(crate::Invalid::new(
                "page_size",
                "must be between 1 and 10000",
            ));
        }
        if self.include.is_empty() {
            return Err(crate::Invalid::new(
                "include",
                "names no section; leave it out to read them all",
            ));
        }
        if !(1024..=Self::MAX_OUTPUT).contains(&self.max_output_bytes) {
            return Err(crate::Invalid::new(
                "max_output_bytes",
                format!("must be between 1024 and {}", Self::MAX_OUTPUT),
            ));
        }
        if self
            .credential
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(crate::Invalid::new("credential", "is empty"));
        }
        Ok(())
    }

    pub fn wants(&self, s: Section) -> bool {
        self.include.contains(&s)
    }
}

/// A part of a vCenter's inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Clusters,
    Hosts,
    Vms,
    Datastores,
    Networks,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Clusters,
        Section::Hosts,
        Section::Vms,
        Section::Datastores,
        Section::Networks,
    ];

    pub fn all() -> Vec<Section> {
        Section::ALL.to_vec()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Clusters => "clusters",
            Section::Hosts => "hosts",
            Section::Vms => "vms",
            Section::Datastores => "datastores",
            Section::Networks => "networks",
        }
    }

    /// The most objects of the section one vCenter may legitimately hold,
    /// with room above vSphere 8's configuration maximums (2,500 hosts,
    /// 45,000 registered VMs per vCenter); more is refused as a bad answer.
    pub fn max_objects(self) -> usize {
        match self {
            Section::Clusters => 5_000,
            Section::Hosts => 5_000,
            Section::Vms => 100_000,
            Section::Datastores => 20_000,
            Section::Networks => 20_000,
        }
    }
}

/// Most datacenters, folders and resource pools read to place objects.
pub const MAX_CONTAINERS: usize = 50_000;

/// What `vcenter.inventory` returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryOutput {
    pub vcenter: VcenterAbout,
    /// Sections not read (left out by `include`) are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<InventoryCluster>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<InventoryHost>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vms: Option<Vec<InventoryVm>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastores: Option<Vec<InventoryDatastore>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<InventoryNetwork>>,
}

impl InventoryOutput {
    pub fn from_value(v: &serde_json::Value) -> Option<InventoryOutput> {
        InventoryOutput::deserialize(v).ok()
    }
}

/// The result of an inventory too large to travel inline: the vCenter,
/// how many objects of each section were read, and where the whole
/// [`InventoryOutput`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredInventory {
    pub vcenter: VcenterAbout,
    /// Objects read per section (`vms`: 4000).
    pub counts: std::collections::BTreeMap<String, usize>,
    pub stored: crate::stored::Stored,
}

/// vCenter's `about` (`ServiceContent.about`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcenterAbout {
    pub full_name: String,
    pub version: String,
    pub build: String,
    pub instance_uuid: String,
    pub api_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCluster {
    pub moid: String,
    pub name: String,
    pub datacenter: Option<String>,
    pub ha_enabled: bool,
    pub drs_enabled: bool,
    /// `drsConfig.defaultVmBehavior` (`manual`, `partiallyAutomated`,
    /// `fullyAutomated`); null when vCenter does not say.
    pub drs_automation_level: Option<String>,
    pub total_cpu_mhz: Option<u64>,
    pub total_memory_bytes: Option<u64>,
    pub host_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryHost {
    pub moid: String,
    pub name: String,
    /// The cluster's name; null for a standalone host.
    pub cluster: Option<String>,
    pub datacenter: Option<String>,
    pub connection_state: String,
    pub power_state: String,
    pub maintenance_mode: bool,
    /// `config.product.version`; empty while the host is not connected.
    pub esxi_version: String,
    pub esxi_build: String,
    pub vendor: String,
    pub model: String,
    /// `hardware.systemInfo.serialNumber`, else the `ServiceTag` entry of
    /// `otherIdentifyingInfo` (a Dell's service tag).
    pub serial_number: Option<String>,
    pub uuid: String,
    pub cpu_cores: Option<u32>,
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryVm {
    pub moid: String,
    pub name: String,
    /// The host's managed object id; null when the VM has none.
    pub host: Option<String>,
    /// The host's cluster name.
    pub cluster: Option<String>,
    pub power_state: String,
    pub guest_os: String,
    pub cpu_count: u32,
    pub memory_mb: u64,
    pub ip_address: Option<String>,
    pub tools_status: Option<String>,
    /// The BIOS UUID (`config.uuid`).
    pub uuid: Option<String>,
    pub is_template: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDatastore {
    pub moid: String,
    pub name: String,
    /// `VMFS`, `NFS`, `NFS41`, `vsan`, `VVOL`, ...
    #[serde(rename = "type")]
    pub ds_type: String,
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    pub accessible: bool,
    /// Managed object ids of the hosts that mount it.
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNetwork {
    pub moid: String,
    pub name: String,
    /// The managed object type: `Network`, `DistributedVirtualPortgroup`,
    /// `OpaqueNetwork`.
    #[serde(rename = "type")]
    pub net_type: String,
    pub accessible: bool,
    pub hosts: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_params_default_and_refuse_what_cannot_work() {
        let p: InventoryParams = serde_json::from_str("{}").unwrap();
        assert_eq!(p, InventoryParams::default());
        assert!(p.validate().is_ok());
        assert_eq!(p.include.len(), 5);
        let p: InventoryParams =
            serde_json::from_str(r#"{"include":["hosts","vms"],"credential":"vc"}"#).unwrap();
        assert!(p.wants(Section::Hosts) && !p.wants(Section::Clusters));
        assert!(serde_json::from_str::<InventoryParams>(r#"{"include":["disks"]}"#).is_err());
        assert!(serde_json::from_str::<InventoryParams>(r#"{"colour":1}"#).is_err());
        for (json, field) in [
            (r#"{"port":0}"#, "port"),
            (r#"{"page_size":0}"#, "page_size"),
            (r#"{"include":[]}"#, "include"),
            (r#"{"timeout_s":0}"#, "timeout_s"),
            (r#"{"http_timeout_ms":5}"#, "http_timeout_ms"),
            (r#"{"max_output_bytes":10}"#, "max_output_bytes"),
            (r#"{"credential":" "}"#, "credential"),
        ] {
            let p: InventoryParams = serde_json::from_str(json).unwrap();
            assert_eq!(p.validate().unwrap_err().field, field, "{json}");
        }
    }

    #[test]
    fn inventory_output_round_trips_with_wire_names() {
        let out = InventoryOutput {
            datastores: Some(vec![InventoryDatastore {
                ds_type: "VMFS".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["datastores"][0]["type"], "VMFS");
        assert!(v.get("vms").is_none());
        assert_eq!(InventoryOutput::from_value(&v), Some(out));
    }
}
