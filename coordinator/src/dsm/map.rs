//! Mapping a claimed DSM job onto an Outpost job document, and the
//! `job_tasks` rows that will report it: one per server (or one for a
//! whole address-range scan). Pure: the servers, vCenter links and
//! credential sets it needs are looked up first (`Lookup`).
//!
//! Credentials: the job's `credential_set_ids` become credential names the
//! zone's workers resolve (their vault holds the sets under the same names).

use super::claim::Claimed;
use crate::plan::JobDoc;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// A server row as the mapping needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    pub id: Uuid,
    pub ip: String,
    pub name: Option<String>,
    /// (host name in vCenter, cluster, vCenter address, vCenter port).
    pub vcenter: Option<(String, Option<String>, String, u16)>,
}

/// A credential set (no secret).
#[derive(Debug, Clone, PartialEq)]
pub struct CredRow {
    pub id: Uuid,
    pub name: String,
    pub priority: i32,
    pub ranges: Vec<String>,
    pub kind: String,
}

/// What the mapping may look up.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub servers: HashMap<Uuid, ServerRow>,
    pub creds: HashMap<Uuid, CredRow>,
    /// Servers of a cluster (for `rolling_cluster_update` by cluster).
    pub by_cluster: HashMap<String, Vec<Uuid>>,
}

/// Which part of the Outpost job a `job_tasks` row reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum RowSource {
    /// The task whose target is this address.
    Target(String),
    /// The whole job (an address-range scan).
    Whole,
    /// Host `i` of a rolling update's progress.
    Host(usize),
}

/// A `job_tasks` row to create.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub server_id: Option<Uuid>,
    pub source: RowSource,
}

/// The Outpost job and its report rows.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub doc: JobDoc,
    pub rows: Vec<RowPlan>,
}

/// Why a DSM job cannot run here (written to the job, which is failed).
pub type MapError = String;

fn ids(v: &Value, key: &str) -> Result<Vec<Uuid>, MapError> {
    let Some(a) = v[key].as_array() else {
        return Err(format!("target_scope.{key} is missing or not a list"));
    };
    a.iter()
        .map(|x| {
            x.as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| format!("target_scope.{key}: {x} is not a server id"))
        })
        .collect()
}

fn servers<'a>(l: &'a Lookup, wanted: &[Uuid]) -> Result<Vec<&'a ServerRow>, MapError> {
    if wanted.is_empty() {
        return Err("the job names no server".into());
    }
    wanted
        .iter()
        .map(|id| {
            l.servers
                .get(id)
                .ok_or_else(|| format!("server {id} does not exist"))
        })
        .collect()
}

/// The credential names of the job's sets of `kind`, best first.
fn cred_names(c: &Claimed, l: &Lookup, kind: &str) -> Vec<CredRow> {
    let mut sets: Vec<CredRow> = c
        .credential_set_ids
        .iter()
        .filter_map(|id| l.creds.get(id))
        .filter(|s| s.kind == kind)
        .cloned()
        .collect();
    sets.sort_by_key(|s| s.priority);
    sets
}

fn doc(job_type: &str, targets: Vec<String>, params: Value) -> JobDoc {
    JobDoc {
        job_type: job_type.into(),
        zone: None,
        targets: Some(targets),
        params: Some(params),
        schedule_at: None,
    }
}

/// Maps one claimed job; iDRACs answer on `port`.
pub fn map(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let scope = &c.target_scope;
    let details = &c.details;
    let idrac_cred = cred_names(c, l, "idrac").into_iter().next();
    let device = |p: &mut Value| {
        p["port"] = json!(port);
        if let Some(s) = &idrac_cred {
            p["credential"] = json!(s.name);
        }
    };
    let per_server = |kind: &str, params: Value| -> Result<Mapped, MapError> {
        let rows = servers(l, &ids(scope, "server_ids")?)?;
        Ok(Mapped {
            doc: doc(kind, rows.iter().map(|s| s.ip.clone()).collect(), params),
            rows: rows
                .iter()
                .map(|s| RowPlan {
                    server_id: Some(s.id),
                    source: RowSource::Target(s.ip.clone()),
                })
                .collect(),
        })
    };
    match c.job_type.as_str() {
        "discovery_scan" => {
            let sets = cred_names(c, l, "idrac");
            let creds: Vec<Value> = sets
                .iter()
                .map(|s| {
                    if s.ranges.is_empty() {
                        json!(s.name)
                    } else {
                        json!({"name": s.name, "ranges": s.ranges, "priority": s.priority})
                    }
                })
                .collect();
            let mut params = json!({"port": port});
            if !creds.is_empty() {
                params["credentials"] = json!(creds);
            }
            if let Some(r) = scope["ip_range"].as_str() {
                return Ok(Mapped {
                    doc: doc("redfish.discover", vec![r.trim().to_string()], params),
                    rows: vec![RowPlan {
                        server_id: None,
                        source: RowSource::Whole,
                    }],
                });
            }
            if let Some(list) = scope["ip_list"].as_array() {
                let ips: Vec<String> = list
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or("target_scope.ip_list holds a non-string")
                    })
                    .collect::<Result<_, _>>()?;
                if ips.is_empty() {
                    return Err("target_scope.ip_list is empty".into());
                }
                return Ok(Mapped {
                    doc: doc("redfish.discover", ips, params),
                    rows: vec![RowPlan {
                        server_id: None,
                        source: RowSource::Whole,
                    }],
                });
            }
            let rows = servers(l, &ids(scope, "server_ids")?)?;
            Ok(Mapped {
                doc: doc(
                    "redfish.discover",
                    rows.iter().map(|s| s.ip.clone()).collect(),
                    params,
                ),
                rows: vec![RowPlan {
                    server_id: None,
                    source: RowSource::Whole,
                }],
            })
        }
        "power_action" => {
            let action = details["action"]
                .as_str()
                .ok_or("details.action (a Redfish reset type) is missing")?;
            let mut p = json!({"reset_type": action});
            device(&mut p);
            per_server("redfish.power", p)
        }
        "firmware_inventory_scan" | "test_credentials" => {
            let mut p = json!({});
            device(&mut p);
            per_server("redfish.inventory", p)
        }
        "firmware_update" => {
            let uri = details["firmware_uri"]
                .as_str()
                .ok_or("details.firmware_uri is missing")?;
            let version = details["version"]
                .as_str()
                .ok_or("details.version is missing")?;
            let mut p = json!({
                "component": details["component"].as_str().unwrap_or("BIOS"),
                "version": version,
                "image_uri": uri,
                "apply_time": details["apply_time"].as_str().unwrap_or("Immediate"),
            });
            device(&mut p);
            per_server("redfish.firmware", p)
        }
        "rolling_cluster_update" => map_rolling(c, l, idrac_cred.as_ref(), port),
        other => Err(format!("job type {other} is not run by Outpost")),
    }
}

fn map_rolling(
    c: &Claimed,
    l: &Lookup,
    idrac: Option<&CredRow>,
    port: u16,
) -> Result<Mapped, MapError> {
    let scope = &c.target_scope;
    let d = &c.details;
    let wanted: Vec<Uuid> = match scope["type"].as_str() {
        Some("cluster") => {
            let name = scope["cluster_name"]
                .as_str()
                .ok_or("target_scope.cluster_name is missing")?;
            l.by_cluster
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no server is linked to a host of cluster {name:?}"))?
        }
        Some("servers") | None => ids(scope, "server_ids")?,
        Some(t) => return Err(format!("target_scope.type {t:?} is not supported")),
    };
    let rows = servers(l, &wanted)?;
    let updates = d["firmware_updates"]
        .as_array()
        .ok_or("details.firmware_updates is missing")?;
    let [fw] = updates.as_slice() else {
        return Err(format!(
            "details.firmware_updates has {} entries; Outpost rolls one component per job",
            updates.len()
        ));
    };
    let vc = rows.iter().find_map(|s| s.vcenter.clone());
    let servers: Vec<Value> = rows
        .iter()
        .map(|s| {
            let mut v =
                json!({"idrac": s.ip, "name": s.name.clone().unwrap_or_else(|| s.ip.clone())});
            if let Some((host, cluster, _, _)) = &s.vcenter {
                v["vcenter_host"] = json!(host);
                v["cluster"] = json!(cluster.clone().unwrap_or_else(|| "(no cluster)".into()));
            }
            v
        })
        .collect();
    let mut params = json!({
        "servers": servers,
        "firmware": {
            "component": fw["component"].as_str().unwrap_or("BIOS"),
            "version": fw["version"].as_str().ok_or("firmware_updates[0].version is missing")?,
            "image_uri": fw["firmware_uri"].as_str().ok_or("firmware_updates[0].firmware_uri is missing")?,
        },
        "max_parallel": d["max_parallel"].as_u64().unwrap_or(1),
        "min_healthy_hosts": d["min_healthy_hosts"].as_u64().unwrap_or(0),
        "continue_on_failure": d["continue_on_failure"].as_bool().unwrap_or(false),
    });
    if let Some(t) = d["maintenance_timeout"].as_u64() {
        params["maintenance_timeout_s"] = json!(t);
    }
    params["idrac"] = json!({"port": port});
    if let Some(s) = idrac {
        params["idrac"]["credential"] = json!(s.name);
    }
    if let Some((_, _, host, port)) = vc {
        // The login of the vCenter's own row (`vcenters`).
        params["vcenter"] = json!({"address": host, "port": port,
            "credential": super::seal::vcenter_credential(&host)});
    }
    Ok(Mapped {
        doc: JobDoc {
            job_type: crate::plan::ROLLING_UPDATE.into(),
            zone: None,
            targets: None,
            params: Some(params),
            schedule_at: None,
        },
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, s)| RowPlan {
                server_id: Some(s.id),
                source: RowSource::Host(i),
            })
            .collect(),
    })
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
