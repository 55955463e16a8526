//! A `vcenter_sync`'s inventory into the app's vCenter tables, in one
//! transaction per vCenter and one statement per table (the app's
//! executor writes row by row): `vcenter_clusters` (by name, which the
//! app keeps unique across vCenters), `vcenter_hosts`, `vcenter_datastores`
//! and `vcenter_vms` (by managed object id within the vCenter),
//! `vcenter_datastore_hosts`, the links between hosts and servers (a
//! host's serial number is the server's service tag, both sides linked),
//! and the `vcenters` row's sync status. A host that vCenter reports
//! disconnected is stored `offline`, not `online` as the app's substring
//! test stores it.

use super::db::DbError;
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio_postgres::Client;
use uuid::Uuid;

/// What one vCenter's sync wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub clusters: u64,
    pub hosts: u64,
    pub datastores: u64,
    pub vms: u64,
    pub networks: u64,
    pub auto_linked: u64,
    /// VMs left out: a second VM of the same name (the app stores names
    /// uniquely per vCenter).
    pub duplicate_names: u64,
}

fn list(out: &Value, k: &str) -> Value {
    match &out[k] {
        Value::Array(a) => Value::Array(a.clone()),
        _ => json!([]),
    }
}

const CLUSTERS: &str = "
INSERT INTO public.vcenter_clusters (cluster_name, vcenter_id, source_vcenter_id, ha_enabled,
       drs_enabled, drs_automation_level, host_count, total_cpu_mhz, total_memory_bytes, last_sync)
SELECT x.name, x.moid, $1, x.ha_enabled, x.drs_enabled, x.drs_automation_level, x.host_count,
       x.total_cpu_mhz, x.total_memory_bytes, now()
  FROM jsonb_to_recordset($2) AS x(moid text, name text, ha_enabled bool, drs_enabled bool,
       drs_automation_level text, host_count int, total_cpu_mhz bigint, total_memory_bytes bigint)
ON CONFLICT (cluster_name) DO UPDATE SET vcenter_id = EXCLUDED.vcenter_id,
       source_vcenter_id = EXCLUDED.source_vcenter_id, ha_enabled = EXCLUDED.ha_enabled,
       drs_enabled = EXCLUDED.drs_enabled, drs_automation_level = EXCLUDED.drs_automation_level,
       host_count = EXCLUDED.host_count, total_cpu_mhz = EXCLUDED.total_cpu_mhz,
       total_memory_bytes = EXCLUDED.total_memory_bytes, last_sync = now()";

const HOSTS: &str = "
INSERT INTO public.vcenter_hosts (name, cluster, vcenter_id, source_vcenter_id, serial_number,
       status, esxi_version, maintenance_mode, memory_size, last_sync)
SELECT x.name, x.cluster, x.moid, $1, nullif(x.serial_number, ''),
       CASE x.connection_state WHEN 'connected' THEN 'online' WHEN 'disconnected' THEN 'offline'
            WHEN 'notResponding' THEN 'unreachable' ELSE 'unknown' END,
       CASE WHEN coalesce(x.esxi_version, '') = '' THEN NULL
            WHEN coalesce(x.esxi_build, '') = '' THEN x.esxi_version
            ELSE x.esxi_version || ' (Build ' || x.esxi_build || ')' END,
       coalesce(x.maintenance_mode, false), x.memory_bytes, now()
  FROM jsonb_to_recordset($2) AS x(moid text, name text, cluster text, connection_state text,
       maintenance_mode bool, esxi_version text, esxi_build text, serial_number text,
       memory_bytes bigint)
ON CONFLICT (vcenter_id, source_vcenter_id) DO UPDATE SET name = EXCLUDED.name,
       cluster = EXCLUDED.cluster, serial_number = EXCLUDED.serial_number,
       status = EXCLUDED.status, esxi_version = EXCLUDED.esxi_version,
       maintenance_mode = EXCLUDED.maintenance_mode, memory_size = EXCLUDED.memory_size,
       last_sync = now()";

/// Hosts the app knows by name only (added by hand, or by an older
/// sync) take their managed object id instead of being doubled.
const HOSTS_ADOPT: &str = "
UPDATE public.vcenter_hosts h SET vcenter_id = x.moid
  FROM jsonb_to_recordset($2) AS x(moid text, name text)
 WHERE h.source_vcenter_id = $1 AND h.vcenter_id IS NULL AND lower(h.name) = lower(x.name)
   AND NOT EXISTS (SELECT 1 FROM public.vcenter_hosts w
                    WHERE w.source_vcenter_id = $1 AND w.vcenter_id = x.moid)";

const LINK_SERVERS: &str = "
UPDATE public.servers s SET vcenter_host_id = h.id
  FROM public.vcenter_hosts h
 WHERE h.source_vcenter_id = $1 AND s.vcenter_host_id IS NULL
   AND h.serial_number IS NOT NULL AND s.service_tag = h.serial_number";

const LINK_HOSTS: &str = "
UPDATE public.vcenter_hosts h SET server_id = s.id
  FROM public.servers s
 WHERE h.source_vcenter_id = $1 AND h.server_id IS NULL
   AND h.serial_number IS NOT NULL AND s.service_tag = h.serial_number";

const DATASTORES: &str = "
INSERT INTO public.vcenter_datastores (name, vcenter_id, source_vcenter_id, type, capacity_bytes,
       free_bytes, accessible, host_count, last_sync)
SELECT x.name, x.moid, $1, x.type, x.capacity_bytes, x.free_bytes, x.accessible,
       jsonb_array_length(coalesce(x.hosts, '[]'::jsonb)), now()
  FROM jsonb_to_recordset($2) AS x(moid text, name text, type text, capacity_bytes bigint,
       free_bytes bigint, accessible bool, hosts jsonb)
ON CONFLICT (vcenter_id, source_vcenter_id) DO UPDATE SET name = EXCLUDED.name,
       type = EXCLUDED.type, capacity_bytes = EXCLUDED.capacity_bytes,
       free_bytes = EXCLUDED.free_bytes, accessible = EXCLUDED.accessible,
       host_count = EXCLUDED.host_count, last_sync = now()";

const DATASTORE_HOSTS: &str = "
INSERT INTO public.vcenter_datastore_hosts (datastore_id, host_id, source_vcenter_id, accessible,
       last_sync)
SELECT d.id, h.id, $1, true, now()
  FROM jsonb_to_recordset($2) AS x(moid text, hosts jsonb)
  JOIN public.vcenter_datastores d ON d.vcenter_id = x.moid AND d.source_vcenter_id = $1
 CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(x.hosts, '[]'::jsonb)) AS m(moid)
  JOIN public.vcenter_hosts h ON h.vcenter_id = m.moid AND h.source_vcenter_id = $1
ON CONFLICT (datastore_id, host_id) DO UPDATE SET accessible = true, last_sync = now()";

/// A VM re-created under the same name has a new managed object id: its
/// row takes the new id instead of colliding on the name.
const VM_REKEY: &str = "
UPDATE public.vcenter_vms v SET vcenter_id = x.moid
  FROM jsonb_to_recordset($2) AS x(moid text, name text)
 WHERE v.source_vcenter_id = $1 AND v.name = x.name AND v.vcenter_id IS DISTINCT FROM x.moid
   AND NOT EXISTS (SELECT 1 FROM public.vcenter_vms w
                    WHERE w.source_vcenter_id = $1 AND w.vcenter_id = x.moid)";

const VMS: &str = "
INSERT INTO public.vcenter_vms (name, vcenter_id, source_vcenter_id, host_id, cluster_name,
       power_state, guest_os, cpu_count, memory_mb, ip_address, tools_status, is_template,
       last_sync)
SELECT x.name, x.moid, $1, h.id, x.cluster, x.power_state, x.guest_os, x.cpu_count, x.memory_mb,
       x.ip_address, x.tools_status, coalesce(x.is_template, false), now()
  FROM jsonb_to_recordset($2) AS x(moid text, name text, host text, cluster text,
       power_state text, guest_os text, cpu_count int, memory_mb int, ip_address text,
       tools_status text, is_template bool)
  LEFT JOIN public.vcenter_hosts h ON h.vcenter_id = x.host AND h.source_vcenter_id = $1
ON CONFLICT (vcenter_id, source_vcenter_id) DO UPDATE SET name = EXCLUDED.name,
       host_id = EXCLUDED.host_id, cluster_name = EXCLUDED.cluster_name,
       power_state = EXCLUDED.power_state, guest_os = EXCLUDED.guest_os,
       cpu_count = EXCLUDED.cpu_count, memory_mb = EXCLUDED.memory_mb,
       ip_address = EXCLUDED.ip_address, tools_status = EXCLUDED.tools_status,
       is_template = EXCLUDED.is_template, last_sync = now()";

async fn write(db: &Client, vc: Uuid, out: &Value) -> Result<Synced, DbError> {
    let mut s = Synced::default();
    let clusters = list(out, "clusters");
    s.clusters = db.execute(CLUSTERS, &[&vc, &clusters]).await?;
    let hosts = list(out, "hosts");
    db.execute(HOSTS_ADOPT, &[&vc, &hosts]).await?;
    s.hosts = db.execute(HOSTS, &[&vc, &hosts]).await?;
    s.auto_linked = db.execute(LINK_SERVERS, &[&vc]).await?;
    db.execute(LINK_HOSTS, &[&vc]).await?;
    let datastores = list(out, "datastores");
    s.datastores = db.execute(DATASTORES, &[&vc, &datastores]).await?;
    db.execute(DATASTORE_HOSTS, &[&vc, &datastores]).await?;
    // One VM per name, as the app stores them.
    let mut names = HashSet::new();
    let mut vms = Vec::new();
    for v in out["vms"].as_array().into_iter().flatten() {
        match v["name"].as_str() {
            Some(n) if names.insert(n.to_string()) => vms.push(v.clone()),
            _ => s.duplicate_names += 1,
        }
    }
    let vms = Value::Array(vms);
    db.execute(VM_REKEY, &[&vc, &vms]).await?;
    s.vms = db.execute(VMS, &[&vc, &vms]).await?;
    s.networks = out["networks"]
        .as_array()
        .map(|a| a.len() as u64)
        .unwrap_or(0);
    db.execute(
        "UPDATE public.vcenters SET last_sync = now(), last_sync_status = $2,
                last_sync_error = $3 WHERE id = $1",
        &[
            &vc,
            &if s.duplicate_names > 0 {
                "partial"
            } else {
                "success"
            },
            &(s.duplicate_names > 0).then(|| {
                format!(
                    "{} VM(s) share a name with another VM of this vCenter and were not stored",
                    s.duplicate_names
                )
            }),
        ],
    )
    .await?;
    Ok(s)
}

/// Writes one vCenter's inventory, all of it or nothing.
pub async fn sync(db: &Client, vc: Uuid, out: &Value) -> Result<Synced, DbError> {
    db.batch_execute("BEGIN").await?;
    match write(db, vc, out).await {
        Ok(s) => {
            db.batch_execute("COMMIT").await?;
            Ok(s)
        }
        Err(e) => {
            let _ = db.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Records a vCenter whose inventory could not be read.
pub async fn failed(db: &Client, vc: Uuid, error: &str) -> Result<(), DbError> {
    let error: String = error.chars().take(500).collect();
    db.execute(
        "UPDATE public.vcenters SET last_sync = now(), last_sync_status = 'failed',
                last_sync_error = $2 WHERE id = $1",
        &[&vc, &error],
    )
    .await?;
    Ok(())
}
