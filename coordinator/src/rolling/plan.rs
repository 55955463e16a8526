//! Planning a `rolling_update`: the servers (an iDRAC each, linked or not
//! to a vCenter host in a cluster), the firmware to install, the cluster
//! rules and the zones every step runs in. Checked whole at submit time;
//! the result is stored as the job's parameters and drives `advance`.

use crate::plan::{JobDoc, PlanError, err, split_host_port};
use crate::zones::Zones;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Servers one rolling update may touch.
pub const MAX_SERVERS: usize = 5000;
/// The group of servers not linked to a vCenter cluster.
pub const STANDALONE: &str = "(standalone)";

/// Firmware keys passed on to `redfish.firmware`.
use outpost_kinds::redfish::firmware;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    pub max_parallel: u32,
    pub min_healthy_hosts: u32,
}

/// Where a step runs: zone, target and the device parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub zone: String,
    pub target: String,
    pub params: Value,
    /// Credentials sealed to the zone (`sealed_credentials` of its tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostPlan {
    pub name: String,
    pub cluster: String,
    pub idrac: Endpoint,
    /// The vCenter and the host's name there, when linked.
    #[serde(default)]
    pub vcenter: Option<Endpoint>,
    #[serde(default)]
    pub vcenter_host: Option<String>,
}

/// A planned rolling update, stored as the job's `params`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rollout {
    pub hosts: Vec<HostPlan>,
    pub clusters: BTreeMap<String, Rule>,
    pub continue_on_failure: bool,
    /// `redfish.firmware` parameters (without `device`).
    pub firmware: Map<String, Value>,
    pub maintenance_timeout_s: u64,
    pub reconnect_timeout_s: u64,
    pub evacuate_powered_off: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerDoc {
    idrac: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    vcenter_host: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VcenterDoc {
    address: String,
    #[serde(default = "https")]
    port: u16,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default = "yes")]
    tls_pinning: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdracDoc {
    #[serde(default = "https")]
    port: u16,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    http_timeout_ms: Option<u64>,
    #[serde(default)]
    retry_s: Option<u64>,
    /// Legacy TLS for these iDRACs (their zone may opt in too).
    #[serde(default)]
    legacy_tls: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    #[serde(default)]
    max_parallel: Option<u32>,
    #[serde(default)]
    min_healthy_hosts: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    servers: Vec<ServerDoc>,
    /// Every server of the server inventory in this cluster...
    #[serde(default)]
    cluster: Option<String>,
    /// ...or in this group.
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    vcenter: Option<VcenterDoc>,
    #[serde(default)]
    idrac: Option<IdracDoc>,
    firmware: Map<String, Value>,
    #[serde(default = "one")]
    max_parallel: u32,
    #[serde(default)]
    min_healthy_hosts: u32,
    #[serde(default)]
    clusters: BTreeMap<String, RuleDoc>,
    #[serde(default)]
    continue_on_failure: bool,
    #[serde(default = "default_maintenance_s")]
    maintenance_timeout_s: u64,
    #[serde(default = "default_reconnect_s")]
    reconnect_timeout_s: u64,
    #[serde(default)]
    evacuate_powered_off: bool,
}

fn https() -> u16 {
    443
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_maintenance_s() -> u64 {
    3600
}
fn default_reconnect_s() -> u64 {
    1800
}

fn zone_of(
    doc_zone: Option<&str>,
    host: &str,
    zones: &Zones,
    field: &str,
) -> Result<String, PlanError> {
    zones
        .place(doc_zone, host)
        .map_err(|e| err(field, e.to_string()))
}

/// Validates a `rolling_update` document that names its servers.
pub fn plan(doc: &JobDoc, zones: &Zones) -> Result<Rollout, PlanError> {
    plan_from(doc, zones, &[])
}

/// Validates a `rolling_update` document; `params.cluster` and
/// `params.group` select servers of the `sources` inventory.
pub fn plan_from(
    doc: &JobDoc,
    zones: &Zones,
    sources: &[super::servers::ServerSource],
) -> Result<Rollout, PlanError> {
    let v = doc.params.clone().unwrap_or(json!({}));
    if !v.is_object() {
        return Err(err("params", "must be a JSON object"));
    }
    let p: Params = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let field = match msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(f) if path == "." => format!("params.{f}"),
            Some(f) => format!("params.{path}.{f}"),
            None if path == "." => "params".to_string(),
            None => format!("params.{path}"),
        };
        err(field, msg)
    })?;

    // Firmware: what `redfish.firmware` takes, read by its own contract,
    // applied at once (the host is rebooted inside its maintenance
    // window); the rollout sets the device and the mode of each step.
    for k in ["apply_time", "mode", "device"] {
        if p.firmware.contains_key(k) {
            return Err(err(
                format!("params.firmware.{k}"),
                match k {
                    "apply_time" => {
                        "a rolling update applies firmware Immediately, rebooting the host in maintenance mode"
                    }
                    _ => "set by the rolling update for each of its steps",
                },
            ));
        }
    }
    let fw: firmware::Params = serde_path_to_error::deserialize(Value::Object(p.firmware.clone()))
        .map_err(|e| crate::plan::located("params.firmware", e))?;
    fw.validate()
        .map_err(|e| err(format!("params.firmware.{}", e.field), e.message))?;
    if p.max_parallel == 0 {
        return Err(err("params.max_parallel", "must be at least 1"));
    }
    if p.maintenance_timeout_s == 0 || p.reconnect_timeout_s == 0 {
        return Err(err(
            "params.maintenance_timeout_s",
            "timeouts must be positive",
        ));
    }

    // Servers: `params.servers`, `targets` (iDRAC addresses, unlinked), or
    // a cluster or group of the server inventory.
    let mut servers = p.servers;
    let from_targets = doc.targets.clone().unwrap_or_default();
    let given = [
        !servers.is_empty(),
        !from_targets.is_empty(),
        p.cluster.is_some(),
        p.group.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(err(
            if from_targets.is_empty() {
                "params.servers"
            } else {
                "targets"
            },
            "give one of params.servers, targets, params.cluster or params.group",
        ));
    }
    if let Some((field, wanted)) = p
        .cluster
        .as_ref()
        .map(|c| ("params.cluster", c))
        .or(p.group.as_ref().map(|g| ("params.group", g)))
    {
        if sources.is_empty() {
            return Err(err(
                field,
                "selecting by cluster or group needs a [[servers]] inventory in the coordinator's config",
            ));
        }
        let all = super::servers::read(sources).map_err(|e| err(field, e))?;
        let by_cluster = field == "params.cluster";
        servers = all
            .into_iter()
            .filter(|s| {
                if by_cluster {
                    s.cluster.as_deref() == Some(wanted.as_str())
                } else {
                    s.groups.iter().any(|g| g == wanted)
                }
            })
            .map(|s| ServerDoc {
                idrac: s.idrac,
                name: Some(s.name),
                vcenter_host: s.vcenter_host,
                cluster: s.cluster,
            })
            .collect();
        if servers.is_empty() {
            return Err(err(
                field,
                format!("no server of the server inventory is in {wanted:?}"),
            ));
        }
    }
    let prefix = if servers.is_empty() {
        "targets"
    } else {
        "params.servers"
    };
    for t in from_targets {
        servers.push(ServerDoc {
            idrac: t,
            name: None,
            vcenter_host: None,
            cluster: None,
        });
    }
    if servers.is_empty() {
        return Err(err("params.servers", "the rolling update has no servers"));
    }
    if servers.len() > MAX_SERVERS {
        return Err(err(
            prefix,
            format!(
                "{} servers is more than the limit of {MAX_SERVERS}",
                servers.len()
            ),
        ));
    }
    let idrac = p.idrac.unwrap_or(IdracDoc {
        port: 443,
        credential: None,
        http_timeout_ms: None,
        retry_s: None,
        legacy_tls: false,
    });
    if idrac.port == 0 {
        return Err(err("params.idrac.port", "must be a port number (1-65535)"));
    }
    let vcenter = match &p.vcenter {
        None => None,
        Some(vc) => {
            if vc.address.trim().is_empty() || vc.address.contains(char::is_whitespace) {
                return Err(err(
                    "params.vcenter.address",
                    "must be an address or host name",
                ));
            }
            if vc.port == 0 {
                return Err(err(
                    "params.vcenter.port",
                    "must be a port number (1-65535)",
                ));
            }
            let zone = zone_of(
                vc.zone.as_deref(),
                &vc.address,
                zones,
                "params.vcenter.zone",
            )?;
            let mut params = json!({"port": vc.port, "tls_pinning": vc.tls_pinning});
            if let Some(c) = &vc.credential {
                params["credential"] = json!(c);
            }
            Some(Endpoint {
                zone,
                target: vc.address.clone(),
                params,
                sealed: None,
            })
        }
    };

    let mut hosts = Vec::with_capacity(servers.len());
    let mut seen = std::collections::HashSet::new();
    let mut vc_seen = std::collections::HashSet::new();
    for (i, sd) in servers.into_iter().enumerate() {
        let field = if prefix == "targets" {
            format!("targets[{i}]")
        } else {
            format!("params.servers[{i}].idrac")
        };
        let (host, port) = split_host_port(&sd.idrac).map_err(|m| err(&field, m))?;
        let port = port.unwrap_or(idrac.port);
        if port == 0 {
            return Err(err(&field, "port 0 is not a valid destination"));
        }
        if !seen.insert((host.to_string(), port)) {
            return Err(err(&field, format!("{:?} is listed twice", sd.idrac)));
        }
        let zone = zone_of(doc.zone.as_deref(), host, zones, &field)?;
        let (pinning, limit) = zones.redfish(&zone);
        let legacy_tls = idrac.legacy_tls || zones.redfish_legacy_tls(&zone);
        let mut device = json!({"port": port, "tls_pinning": pinning, "zone_limit": limit,
                                "legacy_tls": legacy_tls});
        if let Some(c) = &idrac.credential {
            device["credential"] = json!(c);
        }
        if let Some(t) = idrac.http_timeout_ms {
            device["http_timeout_ms"] = json!(t);
        }
        if let Some(r) = idrac.retry_s {
            device["retry_s"] = json!(r);
        }
        let linked = match sd.vcenter_host.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => {
                let vc = vcenter.clone().ok_or_else(|| {
                    err(
                        format!("params.servers[{i}].vcenter_host"),
                        "a linked server needs params.vcenter",
                    )
                })?;
                if !vc_seen.insert(h.to_ascii_lowercase()) {
                    return Err(err(
                        format!("params.servers[{i}].vcenter_host"),
                        format!("{h:?} is linked to two servers"),
                    ));
                }
                Some((vc, h.to_string()))
            }
        };
        let cluster = match (&sd.cluster, &linked) {
            (Some(c), _) if !c.trim().is_empty() => c.trim().to_string(),
            (_, Some(_)) => {
                return Err(err(
                    format!("params.servers[{i}].cluster"),
                    "required for a server linked to a vCenter host: the cluster its rules apply to",
                ));
            }
            _ => STANDALONE.to_string(),
        };
        let (vcenter, vcenter_host) = match linked {
            Some((vc, h)) => (Some(vc), Some(h)),
            None => (None, None),
        };
        hosts.push(HostPlan {
            name: sd.name.unwrap_or_else(|| host.to_string()),
            cluster,
            idrac: Endpoint {
                zone,
                target: host.to_string(),
                params: device,
                sealed: None,
            },
            vcenter,
            vcenter_host,
        });
    }

    let mut clusters = BTreeMap::new();
    for h in &hosts {
        clusters.entry(h.cluster.clone()).or_insert(Rule {
            max_parallel: p.max_parallel,
            min_healthy_hosts: p.min_healthy_hosts,
        });
    }
    for (name, r) in p.clusters {
        let Some(rule) = clusters.get_mut(&name) else {
            return Err(err(
                format!("params.clusters.{name}"),
                "no server of the job is in this cluster",
            ));
        };
        if let Some(m) = r.max_parallel {
            if m == 0 {
                return Err(err(
                    format!("params.clusters.{name}.max_parallel"),
                    "must be at least 1",
                ));
            }
            rule.max_parallel = m;
        }
        if let Some(m) = r.min_healthy_hosts {
            rule.min_healthy_hosts = m;
        }
    }
    Ok(Rollout {
        hosts,
        clusters,
        continue_on_failure: p.continue_on_failure,
        firmware: p.firmware,
        maintenance_timeout_s: p.maintenance_timeout_s,
        reconnect_timeout_s: p.reconnect_timeout_s,
        evacuate_powered_off: p.evacuate_powered_off,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
