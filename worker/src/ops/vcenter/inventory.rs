//! Task kind `vcenter.inventory`, run by a worker in the vCenter's zone
//! (the task's target is the vCenter's address): logs in and reads what
//! the vCenter manages through the PropertyCollector (a container view
//! per object type, `RetrievePropertiesEx` in pages of `page_size`
//! objects, `ContinueRetrievePropertiesEx` for the rest): its `about`,
//! clusters, hosts, VMs, datastores and networks, each object with the
//! datacenter and cluster it belongs to. Read only, so a redelivered task
//! simply reads again.
//!
//! Every answer is a device's word: each section is bounded by what one
//! vCenter may legitimately hold ([`Section::max_objects`]), missing or
//! malformed properties become empty values rather than failures, parent
//! chains are walked a bounded number of steps, and the output is refused
//! with a clear error past `max_output_bytes`. An inventory larger than
//! one result message should carry (`InventoryParams::INLINE_BYTES`) goes
//! to the zone's captures store, and the result names it
//! (`StoredInventory`). The parsing of property sets into the output
//! types is pure ([`Containers`], [`cluster_from`], [`host_from`],
//! [`vm_from`], [`datastore_from`], [`network_from`]) and unit-tested on
//! sample answers.

use super::api::{Bounds, Props};
use super::client::{MoRef, VimClient};
use super::error::VimError;
use super::session::{Endpoint, connect};
use super::xml::Node;
use crate::ops::{OpCtx, OpError};
use outpost_kinds::ErrorClass;
use outpost_kinds::stored::Stored;
use outpost_kinds::vcenter::{
    InventoryCluster, InventoryDatastore, InventoryHost, InventoryNetwork, InventoryOutput,
    InventoryParams, InventoryVm, MAX_CONTAINERS, Section, StoredInventory, VcenterAbout,
};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Most steps walked up a parent chain (folders nest far less deep).
const MAX_DEPTH: usize = 64;

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: InventoryParams = ctx.params()?;
    p.validate().map_err(|e| {
        OpError::permanent(
            ErrorClass::Params,
            format!("params.{}: {}", e.field, e.message),
        )
    })?;
    ctx.progress(0, "logging in to vCenter");
    let mut client = connect(
        ctx,
        &Endpoint {
            port: p.port,
            credential: p.credential.as_deref(),
            tls_pinning: p.tls_pinning,
            http_timeout_ms: p.http_timeout_ms,
        },
    )
    .await?;
    let deadline = Duration::from_secs(p.timeout_s);
    let r = tokio::select! {
        r = tokio::time::timeout(deadline, read(ctx, &mut client, &p)) => match r {
            Ok(r) => r,
            Err(_) => Err(VimError::Timeout {
                addr: client.addr().to_string(),
                method: "the inventory".into(),
                secs: p.timeout_s,
            }.into()),
        },
        _ = ctx.cancel.cancelled() => Err(OpError::Cancelled),
    };
    client.logout().await;
    let out = r?;
    let body = serde_json::to_vec(&out).map_err(|e| {
        OpError::permanent(
            ErrorClass::Malformed,
            format!("cannot encode the inventory: {e}"),
        )
    })?;
    let bytes = body.len() as u64;
    if bytes > p.max_output_bytes {
        return Err(OpError::permanent(
            ErrorClass::ResponseTooLarge,
            format!(
                "the inventory of vCenter {} is {bytes} bytes of JSON ({}), more than \
                 max_output_bytes {}: read fewer sections at a time (params.include) \
                 or raise max_output_bytes",
                client.addr(),
                counts(&out),
                p.max_output_bytes
            ),
        ));
    }
    if bytes <= InventoryParams::INLINE_BYTES {
        ctx.progress(100, format!("read {}", counts(&out)));
        return serde_json::to_value(&out).map_err(|e| {
            OpError::permanent(
                ErrorClass::Malformed,
                format!("cannot encode the inventory: {e}"),
            )
        });
    }
    // Too large for the result message: the whole inventory goes to the
    // zone's captures store, the result says where and sums it up.
    ctx.progress(99, format!("read {}; storing {bytes} bytes", counts(&out)));
    let sha256 = outpost_kinds::stored::sha256_hex(&body);
    let object = crate::ops::captures::put(ctx, body).await?;
    ctx.progress(100, format!("read {}", counts(&out)));
    let stub = StoredInventory {
        counts: section_counts(&out),
        vcenter: out.vcenter,
        stored: Stored {
            object,
            bytes,
            sha256,
        },
    };
    serde_json::to_value(&stub).map_err(|e| {
        OpError::permanent(
            ErrorClass::Malformed,
            format!("cannot encode the inventory: {e}"),
        )
    })
}

/// Objects read per section, by the section's output name.
fn section_counts(out: &InventoryOutput) -> std::collections::BTreeMap<String, usize> {
    [
        ("clusters", out.clusters.as_ref().map(Vec::len)),
        ("hosts", out.hosts.as_ref().map(Vec::len)),
        ("vms", out.vms.as_ref().map(Vec::len)),
        ("datastores", out.datastores.as_ref().map(Vec::len)),
        ("networks", out.networks.as_ref().map(Vec::len)),
    ]
    .into_iter()
    .filter_map(|(k, n)| Some((k.to_string(), n?)))
    .collect()
}

fn counts(out: &InventoryOutput) -> String {
    let parts: Vec<String> = section_counts(out)
        .iter()
        .map(|(k, n)| format!("{n} {}", if k == "vms" { "VMs" } else { k }))
        .collect();
    if parts.is_empty() {
        "about only".to_string()
    } else {
        parts.join(", ")
    }
}

const CLUSTER_PATHS: [&str; 6] = [
    "name",
    "parent",
    "configurationEx",
    "summary.totalCpu",
    "summary.totalMemory",
    "host",
];
const HOST_PATHS: [&str; 9] = [
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.powerState",
    "runtime.inMaintenanceMode",
    "config.product",
    "summary.config.product",
    "summary.hardware",
    "hardware.systemInfo",
];
const VM_PATHS: [&str; 5] = [
    "name",
    "runtime.host",
    "runtime.powerState",
    "summary.config",
    "summary.guest",
];
const DATASTORE_PATHS: [&str; 3] = ["name", "summary", "host"];
const NETWORK_PATHS: [&str; 3] = ["name", "summary.accessible", "host"];

fn bounds(p: &InventoryParams, max_objects: usize, what: &'static str) -> Bounds {
    Bounds {
        max_objects,
        page_size: Some(p.page_size),
        what,
    }
}

async fn read(
    ctx: &OpCtx,
    client: &mut VimClient,
    p: &InventoryParams,
) -> Result<InventoryOutput, OpError> {
    let sc = client.content().await?;
    let mut out = InventoryOutput {
        vcenter: VcenterAbout {
            full_name: sc.full_name.clone(),
            version: sc.version.clone(),
            build: sc.build.clone(),
            instance_uuid: sc.instance_uuid.clone(),
            api_version: sc.api_version.clone(),
        },
        ..InventoryOutput::default()
    };
    let need_tree = p.wants(Section::Clusters) || p.wants(Section::Hosts) || p.wants(Section::Vms);
    let mut containers = Containers::default();
    if need_tree {
        ctx.progress(5, "reading datacenters and folders");
        let b = bounds(
            p,
            MAX_CONTAINERS,
            "datacenters, folders and compute resources",
        );
        let dcs = client
            .retrieve_bounded("Datacenter", &["name", "parent"], None, b)
            .await?;
        let folders = client
            .retrieve_bounded("Folder", &["parent"], None, b)
            .await?;
        let crs = client
            .retrieve_bounded("ComputeResource", &["name", "parent"], None, b)
            .await?;
        containers = Containers::new(dcs.iter().chain(&folders).chain(&crs));
    }
    if p.wants(Section::Clusters) {
        ctx.progress(15, "reading clusters");
        let rows = client
            .retrieve_bounded(
                "ClusterComputeResource",
                &CLUSTER_PATHS,
                None,
                bounds(p, Section::Clusters.max_objects(), "clusters"),
            )
            .await?;
        let mut c: Vec<InventoryCluster> = rows
            .iter()
            .map(|(o, props)| cluster_from(o, props, &containers))
            .collect();
        c.sort_by(|a, b| a.name.cmp(&b.name).then(a.moid.cmp(&b.moid)));
        out.clusters = Some(c);
    }
    let mut hosts = Vec::new();
    if p.wants(Section::Hosts) || p.wants(Section::Vms) {
        ctx.progress(30, "reading hosts");
        let rows = client
            .retrieve_bounded(
                "HostSystem",
                &HOST_PATHS,
                None,
                bounds(p, Section::Hosts.max_objects(), "hosts"),
            )
            .await?;
        hosts = rows
            .iter()
            .map(|(o, props)| host_from(o, props, &containers))
            .collect();
        hosts.sort_by(|a: &InventoryHost, b| a.name.cmp(&b.name).then(a.moid.cmp(&b.moid)));
    }
    if p.wants(Section::Vms) {
        ctx.progress(45, "reading VMs");
        let rows = client
            .retrieve_bounded(
                "VirtualMachine",
                &VM_PATHS,
                None,
                bounds(p, Section::Vms.max_objects(), "VMs"),
            )
            .await?;
        let by_moid: HashMap<&str, &InventoryHost> =
            hosts.iter().map(|h| (h.moid.as_str(), h)).collect();
        let mut v: Vec<InventoryVm> = rows
            .iter()
            .map(|(o, props)| vm_from(o, props, &by_moid))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.moid.cmp(&b.moid)));
        out.vms = Some(v);
    }
    if p.wants(Section::Hosts) {
        out.hosts = Some(hosts);
    }
    if p.wants(Section::Datastores) {
        ctx.progress(75, "reading datastores");
        let rows = client
            .retrieve_bounded(
                "Datastore",
                &DATASTORE_PATHS,
                None,
                bounds(p, Section::Datastores.max_objects(), "datastores"),
            )
            .await?;
        let mut d: Vec<InventoryDatastore> = rows
            .iter()
            .map(|(o, props)| datastore_from(o, props))
            .collect();
        d.sort_by(|a, b| a.name.cmp(&b.name).then(a.moid.cmp(&b.moid)));
        out.datastores = Some(d);
    }
    if p.wants(Section::Networks) {
        ctx.progress(90, "reading networks");
        let rows = client
            .retrieve_bounded(
                "Network",
                &NETWORK_PATHS,
                None,
                bounds(p, Section::Networks.max_objects(), "networks"),
            )
            .await?;
        let mut n: Vec<InventoryNetwork> = rows
            .iter()
            .map(|(o, props)| network_from(o, props))
            .collect();
        n.sort_by(|a, b| a.name.cmp(&b.name).then(a.moid.cmp(&b.moid)));
        out.networks = Some(n);
    }
    Ok(out)
}

/// The containers objects sit in: each one's parent, and the names of
/// datacenters and compute resources (clusters and standalone hosts'),
/// to name an object's datacenter and cluster.
#[derive(Debug, Default)]
pub struct Containers {
    parent: HashMap<MoRef, MoRef>,
    name: HashMap<MoRef, String>,
}

impl Containers {
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a (MoRef, Props)>) -> Containers {
        let mut c = Containers::default();
        for (o, p) in rows {
            if let Some(parent) = p.get("parent").and_then(MoRef::from_node) {
                c.parent.insert(o.clone(), parent);
            }
            if let Some(n) = p.get("name") {
                c.name.insert(o.clone(), n.text.trim().to_string());
            }
        }
        c
    }

    /// The name of the datacenter `start` is in (or is), walking parents.
    pub fn datacenter(&self, start: Option<&MoRef>) -> Option<String> {
        let mut at = start?;
        for _ in 0..MAX_DEPTH {
            if at.ty == "Datacenter" {
                return self.name.get(at).cloned();
            }
            at = self.parent.get(at)?;
        }
        None
    }

    /// The name of `o` when it is a cluster.
    pub fn cluster(&self, o: Option<&MoRef>) -> Option<String> {
        let o = o.filter(|o| o.ty == "ClusterComputeResource")?;
        Some(self.name.get(o).cloned().unwrap_or_else(|| o.value.clone()))
    }
}

fn text(p: &Props, k: &str) -> String {
    p.get(k)
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default()
}

fn child_text(n: Option<&Node>, path: &[&str]) -> Option<String> {
    n?.path(path)
        .map(|c| c.text.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn number<T: std::str::FromStr>(n: Option<&Node>, path: &[&str]) -> Option<T> {
    child_text(n, path)?.parse().ok()
}

fn flag(n: Option<&Node>, path: &[&str]) -> bool {
    child_text(n, path).is_some_and(|t| t == "true")
}

/// Managed object ids of the references in a list property
/// (`<val><ManagedObjectReference type=..>id</..>...</val>`).
fn moids(n: Option<&Node>) -> Vec<String> {
    n.map(|n| {
        n.children
            .iter()
            .filter_map(MoRef::from_node)
            .map(|m| m.value)
            .collect()
    })
    .unwrap_or_default()
}

pub fn cluster_from(o: &MoRef, p: &Props, c: &Containers) -> InventoryCluster {
    let cfg = p.get("configurationEx");
    InventoryCluster {
        moid: o.value.clone(),
        name: text(p, "name"),
        datacenter: c.datacenter(p.get("parent").and_then(MoRef::from_node).as_ref()),
        ha_enabled: flag(cfg, &["dasConfig", "enabled"]),
        drs_enabled: flag(cfg, &["drsConfig", "enabled"]),
        drs_automation_level: child_text(cfg, &["drsConfig", "defaultVmBehavior"]),
        total_cpu_mhz: number(p.get("summary.totalCpu"), &[]),
        total_memory_bytes: number(p.get("summary.totalMemory"), &[]),
        host_count: p.get("host").map(|h| h.children.len() as u32).unwrap_or(0),
    }
}

/// A host's serial number: `systemInfo.serialNumber` (vSphere 6.7 and
/// later), else the `ServiceTag` entry of `otherIdentifyingInfo`, which
/// is a Dell's service tag.
fn serial(system_info: Option<&Node>, summary_hw: Option<&Node>) -> Option<String> {
    if let Some(s) = child_text(system_info, &["serialNumber"]) {
        return Some(s);
    }
    [system_info, summary_hw]
        .into_iter()
        .flatten()
        .flat_map(|n| n.all("otherIdentifyingInfo"))
        .find(|i| child_text(Some(i), &["identifierType", "key"]).as_deref() == Some("ServiceTag"))
        .and_then(|i| child_text(Some(i), &["identifierValue"]))
}

pub fn host_from(o: &MoRef, p: &Props, c: &Containers) -> InventoryHost {
    let parent = p.get("parent").and_then(MoRef::from_node);
    let product = p
        .get("config.product")
        .or_else(|| p.get("summary.config.product"));
    let hw = p.get("summary.hardware");
    let si = p.get("hardware.systemInfo");
    let from_hw = |k: &str| {
        child_text(si, &[k])
            .or_else(|| child_text(hw, &[k]))
            .unwrap_or_default()
    };
    InventoryHost {
        moid: o.value.clone(),
        name: text(p, "name"),
        cluster: c.cluster(parent.as_ref()),
        datacenter: c.datacenter(parent.as_ref()),
        connection_state: text(p, "runtime.connectionState"),
        power_state: text(p, "runtime.powerState"),
        maintenance_mode: text(p, "runtime.inMaintenanceMode") == "true",
        esxi_version: child_text(product, &["version"]).unwrap_or_default(),
        esxi_build: child_text(product, &["build"]).unwrap_or_default(),
        vendor: from_hw("vendor"),
        model: from_hw("model"),
        serial_number: serial(si, hw),
        uuid: from_hw("uuid"),
        cpu_cores: number(hw, &["numCpuCores"]),
        memory_bytes: number(hw, &["memorySize"]),
    }
}

pub fn vm_from(o: &MoRef, p: &Props, hosts: &HashMap<&str, &InventoryHost>) -> InventoryVm {
    let cfg = p.get("summary.config");
    let guest = p.get("summary.guest");
    let host = p
        .get("runtime.host")
        .and_then(MoRef::from_node)
        .map(|m| m.value);
    let cluster = host
        .as_deref()
        .and_then(|h| hosts.get(h))
        .and_then(|h| h.cluster.clone());
    InventoryVm {
        moid: o.value.clone(),
        name: text(p, "name"),
        host,
        cluster,
        power_state: text(p, "runtime.powerState"),
        guest_os: child_text(cfg, &["guestFullName"])
            .or_else(|| child_text(guest, &["guestFullName"]))
            .or_else(|| child_text(cfg, &["guestId"]))
            .unwrap_or_default(),
        cpu_count: number(cfg, &["numCpu"]).unwrap_or(0),
        memory_mb: number(cfg, &["memorySizeMB"]).unwrap_or(0),
        ip_address: child_text(guest, &["ipAddress"]),
        tools_status: child_text(guest, &["toolsStatus"])
            .or_else(|| child_text(guest, &["toolsRunningStatus"])),
        uuid: child_text(cfg, &["uuid"]),
        is_template: flag(cfg, &["template"]),
    }
}

pub fn datastore_from(o: &MoRef, p: &Props) -> InventoryDatastore {
    let s = p.get("summary");
    // `host` holds `DatastoreHostMount`s, each naming its host in `key`.
    let hosts = p
        .get("host")
        .map(|h| {
            h.children
                .iter()
                .filter_map(|m| m.child("key").and_then(MoRef::from_node))
                .map(|m| m.value)
                .collect()
        })
        .unwrap_or_default();
    InventoryDatastore {
        moid: o.value.clone(),
        name: child_text(p.get("name"), &[])
            .or_else(|| child_text(s, &["name"]))
            .unwrap_or_default(),
        ds_type: child_text(s, &["type"]).unwrap_or_default(),
        capacity_bytes: number(s, &["capacity"]).unwrap_or(0),
        free_bytes: number(s, &["freeSpace"]).unwrap_or(0),
        accessible: flag(s, &["accessible"]),
        hosts,
    }
}

pub fn network_from(o: &MoRef, p: &Props) -> InventoryNetwork {
    InventoryNetwork {
        moid: o.value.clone(),
        name: text(p, "name"),
        net_type: o.ty.clone(),
        accessible: text(p, "summary.accessible") == "true",
        hosts: moids(p.get("host")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::read_page;
    use super::super::xml::parse;
    use super::*;

    /// A `RetrievePropertiesExResponse` body around `objects`, with a
    /// next-page token when given.
    fn page(objects: &str, token: Option<&str>) -> Node {
        let token = token
            .map(|t| format!("<token>{t}</token>"))
            .unwrap_or_default();
        let doc = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{token}{objects}</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#
        );
        let root = parse(doc.as_bytes()).unwrap();
        root.child("Body").unwrap().children[0].clone()
    }

    fn rows(objects: &str) -> Vec<(MoRef, Props)> {
        read_page(&page(objects, None)).objects
    }

    const CONTAINERS: &str = r#"
<objects><obj type="Datacenter">datacenter-2</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">FRA1</val></propSet>
  <propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-d1</val></propSet></objects>
<objects><obj type="Folder">group-h4</obj>
  <propSet><name>parent</name><val type="Datacenter" xsi:type="ManagedObjectReference">datacenter-2</val></propSet></objects>
<objects><obj type="Folder">group-h9</obj>
  <propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-h4</val></propSet></objects>
<objects><obj type="Folder">group-d1</obj></objects>
<objects><obj type="ClusterComputeResource">domain-c7</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">Prod &amp; DR</val></propSet>
  <propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-h9</val></propSet></objects>
<objects><obj type="ComputeResource">domain-s20</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">esx-solo.lab</val></propSet>
  <propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-h4</val></propSet></objects>
"#;

    fn containers() -> Containers {
        Containers::new(&rows(CONTAINERS))
    }

    #[test]
    fn datacenters_and_clusters_are_found_up_the_parent_chain() {
        let c = containers();
        let cl = MoRef::new("ClusterComputeResource", "domain-c7");
        assert_eq!(c.datacenter(Some(&cl)).as_deref(), Some("FRA1"));
        assert_eq!(c.cluster(Some(&cl)).as_deref(), Some("Prod & DR"));
        let solo = MoRef::new("ComputeResource", "domain-s20");
        assert_eq!(c.cluster(Some(&solo)), None);
        assert_eq!(c.datacenter(Some(&solo)).as_deref(), Some("FRA1"));
        // Unknown objects, a cycle and no start give no datacenter.
        assert_eq!(c.datacenter(Some(&MoRef::new("Folder", "nope"))), None);
        assert_eq!(c.datacenter(None), None);
        let cyc = Containers::new(&rows(
            r#"<objects><obj type="Folder">a</obj><propSet><name>parent</name><val type="Folder">b</val></propSet></objects>
               <objects><obj type="Folder">b</obj><propSet><name>parent</name><val type="Folder">a</val></propSet></objects>"#,
        ));
        assert_eq!(cyc.datacenter(Some(&MoRef::new("Folder", "a"))), None);
    }

    #[test]
    fn a_cluster_reads_ha_drs_and_capacity() {
        let r = rows(
            r#"<objects><obj type="ClusterComputeResource">domain-c7</obj>
  <propSet><name>configurationEx</name><val xsi:type="ClusterConfigInfoEx">
    <dasConfig><enabled>true</enabled><vmMonitoring>vmMonitoringDisabled</vmMonitoring></dasConfig>
    <drsConfig><enabled>true</enabled><defaultVmBehavior>fullyAutomated</defaultVmBehavior><vmotionRate>3</vmotionRate></drsConfig>
  </val></propSet>
  <propSet><name>host</name><val xsi:type="ArrayOfManagedObjectReference">
    <ManagedObjectReference type="HostSystem" xsi:type="ManagedObjectReference">host-10</ManagedObjectReference>
    <ManagedObjectReference type="HostSystem" xsi:type="ManagedObjectReference">host-11</ManagedObjectReference>
  </val></propSet>
  <propSet><name>name</name><val xsi:type="xsd:string">Prod &amp; DR</val></propSet>
  <propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-h9</val></propSet>
  <propSet><name>summary.totalCpu</name><val xsi:type="xsd:int">57472</val></propSet>
  <propSet><name>summary.totalMemory</name><val xsi:type="xsd:long">549606162432</val></propSet>
</objects>
<objects><obj type="ClusterComputeResource">domain-c8</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">bare</val></propSet>
  <propSet><name>summary.totalCpu</name><val xsi:type="xsd:int">-5</val></propSet>
</objects>"#,
        );
        let c = cluster_from(&r[0].0, &r[0].1, &containers());
        assert_eq!(
            c,
            InventoryCluster {
                moid: "domain-c7".into(),
                name: "Prod & DR".into(),
                datacenter: Some("FRA1".into()),
                ha_enabled: true,
                drs_enabled: true,
                drs_automation_level: Some("fullyAutomated".into()),
                total_cpu_mhz: Some(57472),
                total_memory_bytes: Some(549_606_162_432),
                host_count: 2,
            }
        );
        // Missing configuration and a nonsense number: defaults, no failure.
        let c = cluster_from(&r[1].0, &r[1].1, &containers());
        assert!(!c.ha_enabled && !c.drs_enabled && c.drs_automation_level.is_none());
        assert_eq!(
            (c.total_cpu_mhz, c.host_count, c.datacenter),
            (None, 0, None)
        );
    }

    const DELL_HOST: &str = r#"<objects><obj type="HostSystem">host-10</obj>
  <propSet><name>config.product</name><val xsi:type="AboutInfo">
    <name>VMware ESXi</name><fullName>VMware ESXi 8.0.2 build-22380479</fullName><version>8.0.2</version><build>22380479</build>
  </val></propSet>
  <propSet><name>hardware.systemInfo</name><val xsi:type="HostSystemInfo">
    <vendor>Dell Inc.</vendor><model>PowerEdge R650</model><uuid>4c4c4544-0048-3510-8050-b4c04f4d4233</uuid>
    <otherIdentifyingInfo><identifierValue>  </identifierValue><identifierType><label>Asset Tag</label><summary>Asset tag</summary><key>AssetTag</key></identifierType></otherIdentifyingInfo>
    <otherIdentifyingInfo><identifierValue>H5PPMB3</identifierValue><identifierType><label>Service tag</label><summary>Service tag of the system</summary><key>ServiceTag</key></identifierType></otherIdentifyingInfo>
  </val></propSet>
  <propSet><name>name</name><val xsi:type="xsd:string">esx01.fra1.lab</val></propSet>
  <propSet><name>parent</name><val type="ClusterComputeResource" xsi:type="ManagedObjectReference">domain-c7</val></propSet>
  <propSet><name>runtime.connectionState</name><val xsi:type="HostSystemConnectionState">connected</val></propSet>
  <propSet><name>runtime.inMaintenanceMode</name><val xsi:type="xsd:boolean">true</val></propSet>
  <propSet><name>runtime.powerState</name><val xsi:type="HostSystemPowerState">poweredOn</val></propSet>
  <propSet><name>summary.hardware</name><val xsi:type="HostHardwareSummary">
    <vendor>Dell Inc.</vendor><model>PowerEdge R650</model><uuid>4c4c4544-0048-3510-8050-b4c04f4d4233</uuid>
    <memorySize>274776657920</memorySize><cpuModel>Intel(R) Xeon(R) Gold 6338</cpuModel><cpuMhz>2000</cpuMhz>
    <numCpuPkgs>2</numCpuPkgs><numCpuCores>64</numCpuCores><numCpuThreads>128</numCpuThreads>
  </val></propSet>
</objects>"#;

    #[test]
    fn a_dell_host_reads_its_service_tag_and_versions() {
        let r = rows(DELL_HOST);
        let h = host_from(&r[0].0, &r[0].1, &containers());
        assert_eq!(
            h,
            InventoryHost {
                moid: "host-10".into(),
                name: "esx01.fra1.lab".into(),
                cluster: Some("Prod & DR".into()),
                datacenter: Some("FRA1".into()),
                connection_state: "connected".into(),
                power_state: "poweredOn".into(),
                maintenance_mode: true,
                esxi_version: "8.0.2".into(),
                esxi_build: "22380479".into(),
                vendor: "Dell Inc.".into(),
                model: "PowerEdge R650".into(),
                serial_number: Some("H5PPMB3".into()),
                uuid: "4c4c4544-0048-3510-8050-b4c04f4d4233".into(),
                cpu_cores: Some(64),
                memory_bytes: Some(274_776_657_920),
            }
        );
        // serialNumber wins over the service tag where vCenter has it.
        let with_serial = DELL_HOST.replace(
            "<vendor>Dell Inc.</vendor><model>PowerEdge R650</model><uuid>",
            "<vendor>Dell Inc.</vendor><model>PowerEdge R650</model><serialNumber>SN-1</serialNumber><uuid>",
        );
        let r = rows(&with_serial);
        let h = host_from(&r[0].0, &r[0].1, &containers());
        assert_eq!(h.serial_number.as_deref(), Some("SN-1"));
    }

    #[test]
    fn a_disconnected_standalone_host_falls_back_to_its_summary() {
        let r = rows(
            r#"<objects><obj type="HostSystem">host-30</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">esx-solo.lab</val></propSet>
  <propSet><name>parent</name><val type="ComputeResource" xsi:type="ManagedObjectReference">domain-s20</val></propSet>
  <propSet><name>runtime.connectionState</name><val xsi:type="HostSystemConnectionState">notResponding</val></propSet>
  <propSet><name>runtime.inMaintenanceMode</name><val xsi:type="xsd:boolean">false</val></propSet>
  <propSet><name>runtime.powerState</name><val xsi:type="HostSystemPowerState">unknown</val></propSet>
  <propSet><name>summary.config.product</name><val xsi:type="AboutInfo"><version>7.0.3</version><build>21930508</build></val></propSet>
  <propSet><name>summary.hardware</name><val xsi:type="HostHardwareSummary"><vendor>Dell Inc.</vendor><model>PowerEdge R640</model>
    <uuid>u-30</uuid><memorySize>banana</memorySize></val></propSet>
</objects>"#,
        );
        let h = host_from(&r[0].0, &r[0].1, &containers());
        assert_eq!(h.cluster, None);
        assert_eq!(h.datacenter.as_deref(), Some("FRA1"));
        assert_eq!(h.connection_state, "notResponding");
        assert!(!h.maintenance_mode);
        assert_eq!(
            (h.esxi_version.as_str(), h.esxi_build.as_str()),
            ("7.0.3", "21930508")
        );
        assert_eq!(
            (h.vendor.as_str(), h.model.as_str(), h.uuid.as_str()),
            ("Dell Inc.", "PowerEdge R640", "u-30")
        );
        assert_eq!(
            (h.serial_number, h.cpu_cores, h.memory_bytes),
            (None, None, None)
        );
    }

    #[test]
    fn vms_read_their_host_cluster_guest_and_template_flag() {
        let r = rows(
            r#"<objects><obj type="VirtualMachine">vm-101</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">db01</val></propSet>
  <propSet><name>runtime.host</name><val type="HostSystem" xsi:type="ManagedObjectReference">host-10</val></propSet>
  <propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet>
  <propSet><name>summary.config</name><val xsi:type="VirtualMachineConfigSummary">
    <name>db01</name><template>false</template><vmPathName>[ds1] db01/db01.vmx</vmPathName><memorySizeMB>16384</memorySizeMB>
    <numCpu>8</numCpu><uuid>4233c8b2-1f0e-d1d6-7a4e-5c2b1d0e9f01</uuid><instanceUuid>5033...</instanceUuid>
    <guestId>rhel9_64Guest</guestId><guestFullName>Red Hat Enterprise Linux 9 (64-bit)</guestFullName>
  </val></propSet>
  <propSet><name>summary.guest</name><val xsi:type="VirtualMachineGuestSummary">
    <guestId>rhel9_64Guest</guestId><toolsStatus>toolsOk</toolsStatus><toolsRunningStatus>guestToolsRunning</toolsRunningStatus>
    <hostName>db01.lab</hostName><ipAddress>10.1.2.3</ipAddress>
  </val></propSet>
</objects>
<objects><obj type="VirtualMachine">vm-200</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">tpl-rhel9</val></propSet>
  <propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOff</val></propSet>
  <propSet><name>summary.config</name><val xsi:type="VirtualMachineConfigSummary"><template>true</template><numCpu>-1</numCpu><guestId>otherGuest</guestId></val></propSet>
</objects>"#,
        );
        let host = InventoryHost {
            moid: "host-10".into(),
            cluster: Some("Prod".into()),
            ..Default::default()
        };
        let hosts: HashMap<&str, &InventoryHost> = [("host-10", &host)].into();
        let vm = vm_from(&r[0].0, &r[0].1, &hosts);
        assert_eq!(
            vm,
            InventoryVm {
                moid: "vm-101".into(),
                name: "db01".into(),
                host: Some("host-10".into()),
                cluster: Some("Prod".into()),
                power_state: "poweredOn".into(),
                guest_os: "Red Hat Enterprise Linux 9 (64-bit)".into(),
                cpu_count: 8,
                memory_mb: 16384,
                ip_address: Some("10.1.2.3".into()),
                tools_status: Some("toolsOk".into()),
                uuid: Some("4233c8b2-1f0e-d1d6-7a4e-5c2b1d0e9f01".into()),
                is_template: false,
            }
        );
        let tpl = vm_from(&r[1].0, &r[1].1, &hosts);
        assert!(tpl.is_template);
        assert_eq!((tpl.host, tpl.cluster, tpl.cpu_count), (None, None, 0));
        assert_eq!(tpl.guest_os, "otherGuest");
        assert_eq!(
            (tpl.ip_address, tpl.tools_status, tpl.uuid),
            (None, None, None)
        );
    }

    #[test]
    fn datastores_and_networks_read_their_hosts() {
        let r = rows(
            r#"<objects><obj type="Datastore">datastore-15</obj>
  <propSet><name>host</name><val xsi:type="ArrayOfDatastoreHostMount">
    <DatastoreHostMount xsi:type="DatastoreHostMount"><key type="HostSystem">host-10</key><mountInfo><path>/vmfs/volumes/x</path><accessMode>readWrite</accessMode><mounted>true</mounted><accessible>true</accessible></mountInfo></DatastoreHostMount>
    <DatastoreHostMount xsi:type="DatastoreHostMount"><key type="HostSystem">host-11</key></DatastoreHostMount>
    <DatastoreHostMount xsi:type="DatastoreHostMount"><mountInfo/></DatastoreHostMount>
  </val></propSet>
  <propSet><name>name</name><val xsi:type="xsd:string">vsan-fra1</val></propSet>
  <propSet><name>summary</name><val xsi:type="DatastoreSummary">
    <datastore type="Datastore">datastore-15</datastore><name>vsan-fra1</name><url>ds:///vmfs/volumes/vsan:1/</url>
    <capacity>15997977640960</capacity><freeSpace>9019215441920</freeSpace><accessible>true</accessible>
    <multipleHostAccess>true</multipleHostAccess><type>vsan</type>
  </val></propSet>
</objects>
<objects><obj type="DistributedVirtualPortgroup">dvportgroup-40</obj>
  <propSet><name>host</name><val xsi:type="ArrayOfManagedObjectReference">
    <ManagedObjectReference type="HostSystem" xsi:type="ManagedObjectReference">host-10</ManagedObjectReference>
  </val></propSet>
  <propSet><name>name</name><val xsi:type="xsd:string">VLAN 120 mgmt</val></propSet>
  <propSet><name>summary.accessible</name><val xsi:type="xsd:boolean">true</val></propSet>
</objects>"#,
        );
        let d = datastore_from(&r[0].0, &r[0].1);
        assert_eq!(
            d,
            InventoryDatastore {
                moid: "datastore-15".into(),
                name: "vsan-fra1".into(),
                ds_type: "vsan".into(),
                capacity_bytes: 15_997_977_640_960,
                free_bytes: 9_019_215_441_920,
                accessible: true,
                hosts: vec!["host-10".into(), "host-11".into()],
            }
        );
        let n = network_from(&r[1].0, &r[1].1);
        assert_eq!(
            n,
            InventoryNetwork {
                moid: "dvportgroup-40".into(),
                name: "VLAN 120 mgmt".into(),
                net_type: "DistributedVirtualPortgroup".into(),
                accessible: true,
                hosts: vec!["host-10".into()],
            }
        );
    }

    #[test]
    fn pages_carry_their_token_and_session_faults() {
        let p = read_page(&page(
            r#"<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val>a</val></propSet></objects>
               <objects><obj>no-type</obj></objects>"#,
            Some("1f2e"),
        ));
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.token.as_deref(), Some("1f2e"));
        assert!(!p.unauthenticated);
        let last = read_page(&page("", None));
        assert!(last.objects.is_empty() && last.token.is_none());
        let gone = read_page(&page(
            r#"<objects><obj type="HostSystem">host-1</obj><missingSet><path>name</path>
               <fault><fault xsi:type="NotAuthenticated"/><localizedMessage/></fault></missingSet></objects>"#,
            None,
        ));
        assert!(gone.unauthenticated);
        // An empty answer (no returnval) is the last page.
        let none = parse(b"<RetrievePropertiesExResponse/>").unwrap();
        assert_eq!(read_page(&none), super::super::api::Page::default());
    }
}
