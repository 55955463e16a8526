//! Intake planning: validates a job document and turns it into a job and its
//! tasks, each placed in exactly one zone. Nothing is written here, so an
//! invalid document can never leave half a job behind.

mod discover;
mod reach;
mod sleep;

use crate::collect::{self, inventory::InventorySource};
use crate::model::{Counts, JobState, TaskState};
use crate::model::{JobRules, NewTask};
use crate::zones::Zones;
use outpost_kinds::Kind;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Most tasks one job may have.
pub const MAX_TASKS: usize = 100_000;

/// The job type that is not a task kind: a rollout of many kinds.
pub const ROLLING_UPDATE: &str = "rolling_update";

/// Job types the coordinator can plan: every task kind, and the rollout.
pub fn job_types() -> impl Iterator<Item = &'static str> {
    Kind::ALL
        .into_iter()
        .map(Kind::as_str)
        .chain(std::iter::once(ROLLING_UPDATE))
}

/// A job document that cannot be accepted, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: String,
    pub message: String,
}

pub(crate) fn err(field: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        message: message.into(),
    }
}

/// A job as users submit it (JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDoc {
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    #[serde(default)]
    pub schedule_at: Option<String>,
}

impl JobDoc {
    /// Parses a JSON job document; the error names the field or position.
    pub fn from_json(body: &[u8]) -> Result<Self, PlanError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| located("", e))
    }
}

/// A deserialisation error as a `PlanError` naming the field at fault:
/// its path under `prefix` (`params.count`, `targets[0]`), the unknown or
/// missing field, or `body` when the JSON itself is broken.
pub(crate) fn located(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> PlanError {
    let msg = e.inner().to_string();
    let path = e.path().to_string();
    let path = if path == "." || path == "?" || e.inner().is_syntax() || e.inner().is_eof() {
        String::new()
    } else {
        path
    };
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| msg.strip_prefix(p).and_then(|r| r.split('`').next()));
    let here = join(prefix, &path);
    let field = match named {
        // The path of an unknown field already ends with it; of a missing one, not.
        Some(f) if here == f || here.ends_with(&format!(".{f}")) => here,
        Some(f) => join(&here, f),
        None if here.is_empty() => "body".to_string(),
        None => here,
    };
    err(field, msg)
}

/// A validated job and its tasks, ready to be written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub job: JobState,
    pub tasks: Vec<TaskState>,
    /// What a dry run shows besides the tasks (the matched devices).
    pub preview: Option<serde_json::Value>,
}

pub(crate) fn params<T: DeserializeOwned>(v: &Option<serde_json::Value>) -> Result<T, PlanError> {
    let v = v.clone().unwrap_or(serde_json::json!({}));
    if !v.is_object() {
        return Err(err("params", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(v).map_err(|e| located("params", e))
}

/// Validates `doc` and plans its tasks. `job_id` must be a valid id.
pub fn plan(doc: &JobDoc, zones: &Zones, job_id: &str) -> Result<Plan, PlanError> {
    plan_with(doc, zones, &[], job_id)
}

/// As [`plan`], with the inventory that selects devices for `ssh.collect`.
pub fn plan_with(
    doc: &JobDoc,
    zones: &Zones,
    inventory: &[InventorySource],
    job_id: &str,
) -> Result<Plan, PlanError> {
    plan_full(doc, zones, inventory, &[], job_id)
}

/// As [`plan_with`], with the server inventory `rolling_update` selects from.
pub fn plan_full(
    doc: &JobDoc,
    zones: &Zones,
    inventory: &[InventorySource],
    servers: &[crate::rolling::servers::ServerSource],
    job_id: &str,
) -> Result<Plan, PlanError> {
    if !job_types().any(|t| t == doc.job_type) {
        return Err(err(
            "type",
            format!(
                "unknown job type {:?}; supported: {}",
                doc.job_type,
                job_types().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if let Some(z) = &doc.zone {
        zones.check(z).map_err(|e| err("zone", e.to_string()))?;
    }
    let schedule_at = match &doc.schedule_at {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| err("schedule_at", format!("{s:?} is not an RFC 3339 time: {e}")))?
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    };
    if doc.job_type == ROLLING_UPDATE {
        return plan_rolling(doc, zones, servers, job_id, schedule_at);
    }
    let kind = Kind::parse(&doc.job_type)
        .ok_or_else(|| err("type", format!("unknown job type {:?}", doc.job_type)))?;
    let planned = planner(kind).plan(&PlanInput {
        doc,
        zones,
        inventory,
    })?;
    let specs = planned.specs;
    let preview = planned.preview;
    let job_params = planned
        .job_params
        .unwrap_or_else(|| doc.params.clone().unwrap_or(serde_json::Value::Null));
    if specs.is_empty() {
        return Err(err("targets", "the job has no targets"));
    }
    if specs.len() > MAX_TASKS {
        return Err(err(
            "targets",
            format!(
                "{} tasks is more than the limit of {MAX_TASKS}",
                specs.len()
            ),
        ));
    }
    let mut zones_used: Vec<String> = specs.iter().map(|s| s.zone.clone()).collect();
    zones_used.sort();
    zones_used.dedup();
    let width = specs.len().to_string().len().max(3);
    let tasks: Vec<TaskState> = specs
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            TaskState::pending(
                format!("{job_id}-{i:0width$}"),
                job_id,
                s.zone,
                &doc.job_type,
                s.target,
                s.params,
            )
        })
        .collect();
    let counts = Counts {
        pending: tasks.len() as u64,
        ..Counts::default()
    };
    let mut job = JobState::pending(job_id, &doc.job_type, zones_used, schedule_at, job_params);
    job.counts = counts;
    Ok(Plan {
        job,
        tasks,
        preview,
    })
}

/// A rolling update starts with no task: the engine adds each host's
/// steps as the rollout advances (`rolling::advance`).
fn plan_rolling(
    doc: &JobDoc,
    zones: &Zones,
    servers: &[crate::rolling::servers::ServerSource],
    job_id: &str,
    schedule_at: Option<String>,
) -> Result<Plan, PlanError> {
    let rollout = crate::rolling::plan::plan_from(doc, zones, servers)?;
    let mut zones_used: Vec<String> = rollout
        .hosts
        .iter()
        .flat_map(|h| {
            std::iter::once(h.idrac.zone.clone()).chain(h.vcenter.iter().map(|v| v.zone.clone()))
        })
        .collect();
    zones_used.sort();
    zones_used.dedup();
    let preview = serde_json::json!({
        "hosts": rollout.hosts.iter().map(|h| serde_json::json!({
            "name": h.name, "cluster": h.cluster, "idrac": h.idrac.target,
            "idrac_zone": h.idrac.zone, "vcenter_host": h.vcenter_host,
        })).collect::<Vec<_>>(),
        "clusters": rollout.clusters,
    });
    let params = serde_json::to_value(&rollout)
        .map_err(|e| err("params", format!("cannot store the plan: {e}")))?;
    let mut job = JobState::pending(job_id, &doc.job_type, zones_used, schedule_at, params);
    // Its tasks come as the rollout advances.
    job.open = true;
    Ok(Plan {
        job,
        tasks: Vec::new(),
        preview: Some(preview),
    })
}

/// One task a planner asks for: where it runs, what it targets, with
/// which parameters (the kind's contract, as the worker reads it).
pub struct Spec {
    pub zone: String,
    pub target: String,
    pub params: serde_json::Value,
}

/// What a planner is given: the job document, the zones that place its
/// targets (one helper, [`Zones::place`] and its kin, for every kind),
/// and the device inventory `ssh.collect` selects from.
pub struct PlanInput<'a> {
    pub doc: &'a JobDoc,
    pub zones: &'a Zones,
    pub inventory: &'a [InventorySource],
}

/// A planner's answer.
pub struct Planned {
    pub specs: Vec<Spec>,
    /// The job's params as stored, when the planner rewrites them.
    pub job_params: Option<serde_json::Value>,
    /// What a dry run shows besides the tasks.
    pub preview: Option<serde_json::Value>,
}

impl Planned {
    pub fn specs(specs: Vec<Spec>) -> Planned {
        Planned {
            specs,
            job_params: None,
            preview: None,
        }
    }

    /// Specs from `(zone, target, params)` triples.
    pub fn triples(t: Vec<(String, String, serde_json::Value)>) -> Planned {
        Planned::specs(
            t.into_iter()
                .map(|(zone, target, params)| Spec {
                    zone,
                    target,
                    params,
                })
                .collect(),
        )
    }
}

/// Checks one kind's job parameters and turns its targets into tasks,
/// each placed in exactly one zone.
pub trait Planner: Sync {
    fn plan(&self, input: &PlanInput) -> Result<Planned, PlanError>;
}

/// The planner of each task kind.
pub fn planner(kind: Kind) -> &'static dyn Planner {
    match kind {
        Kind::NetReach => &reach::Reach,
        Kind::DiagSleep => &sleep::Sleep,
        Kind::SshCollect => &collect::plan::Collect,
        Kind::RedfishDiscover => &discover::Discover,
        Kind::RedfishInventory | Kind::RedfishPower | Kind::RedfishFirmware => {
            &crate::redfish::device::Device
        }
        Kind::VcenterMaintenance => &crate::vcenter::Maintenance,
        Kind::VcenterInventory => &crate::vcenter::Inventory,
    }
}

/// Splits `host`, `host:port`, `a.b.c.d:port`, `[v6]:port` or a bare IPv6.
pub(crate) fn split_host_port(t: &str) -> Result<(&str, Option<u16>), String> {
    let t_trim = t.trim();
    if t_trim.is_empty() || t_trim.len() > 253 || t_trim != t {
        return Err(format!("{t:?} is not an address"));
    }
    if let Ok(sa) = t.parse::<SocketAddr>() {
        let host_end = if t.starts_with('[') {
            t.find(']').unwrap_or(0)
        } else {
            t.rfind(':').unwrap_or(t.len())
        };
        let host = if t.starts_with('[') {
            &t[1..host_end]
        } else {
            &t[..host_end]
        };
        return Ok((host, Some(sa.port())));
    }
    if t.parse::<IpAddr>().is_ok() {
        return Ok((t, None));
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (
            h,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{t:?} has an invalid port {p:?}"))?,
            ),
        ),
        None => (t, None),
    };
    let ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !ok {
        return Err(format!("{t:?} is not an address or host name"));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZoneConfig;

    fn zones() -> Zones {
        Zones::new(&[
            ZoneConfig::new("a", vec!["127.0.1.0/24".parse().unwrap()]),
            ZoneConfig::new("b", vec!["127.0.2.0/24".parse().unwrap()]),
        ])
    }

    fn doc(json: &str) -> Result<Plan, PlanError> {
        let d = JobDoc::from_json(json.as_bytes())?;
        plan(&d, &zones(), "J1")
    }

    #[test]
    fn every_kind_of_the_contract_reaches_its_planner() {
        for k in Kind::ALL {
            // A document of the kind reaches its own planner: an empty one
            // is refused for what that kind misses, never as unknown.
            let e = doc(&format!(r#"{{"type":"{k}"}}"#))
                .err()
                .unwrap_or_else(|| panic!("{k}"));
            assert_ne!(e.field, "type", "{k}: {e}");
        }
    }

    #[test]
    fn discovery_ranges_split_by_zone_and_slice() {
        let p = doc(r#"{"type":"redfish.discover","targets":["127.0.1.0/24","127.0.2.1-127.0.2.10"],"params":{"slice_size":100,"credentials":["lab"]}}"#).unwrap();
        let zones: Vec<&str> = p.tasks.iter().map(|t| t.zone.as_str()).collect();
        assert_eq!(zones, ["a", "a", "a", "b"]);
        assert_eq!(p.tasks[0].params["slice"][0], "127.0.1.1-127.0.1.100");
        assert_eq!(p.tasks[2].params["slice"][0], "127.0.1.201-127.0.1.254");
        assert_eq!(p.tasks[3].params["credentials"][0], "lab");
        let e = doc(r#"{"type":"redfish.discover","targets":["127.0.1.1","127.0.1.9-127.0.1.2"]}"#)
            .unwrap_err();
        assert_eq!(e.field, "targets[1]");
        let e = doc(r#"{"type":"redfish.discover","targets":["10.0.0.0/15"]}"#).unwrap_err();
        assert!(e.message.contains("allow_large"), "{e}");
        let e = doc(r#"{"type":"redfish.discover","targets":["10.9.9.9"]}"#).unwrap_err();
        assert_eq!(e.field, "targets");
    }

    #[test]
    fn reach_targets_resolve_to_their_zones() {
        let p = doc(
            r#"{"type":"net.reach","targets":["127.0.1.5:22","127.0.2.9"],"params":{"port":443}}"#,
        )
        .unwrap();
        assert_eq!(p.tasks.len(), 2);
        assert_eq!(p.tasks[0].zone, "a");
        assert_eq!(p.tasks[0].params["port"], 22);
        assert_eq!(p.tasks[1].zone, "b");
        assert_eq!(p.tasks[1].params["port"], 443);
        assert_eq!(p.job.zones, vec!["a", "b"]);
        assert_eq!(p.tasks[1].id, "J1-001");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"type":"nope"}"#, "type"),
            (r#"{"targets":[]}"#, "type"),
            (
                r#"{"type":"net.reach","targets":["10.9.9.9:22"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"net.reach","targets":["127.0.1.1"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"net.reach","targets":["127.0.1.1:99999"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"net.reach","targets":["host.example:22"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"net.reach","zone":"zz","targets":["127.0.1.1:1"]}"#,
                "zone",
            ),
            (r#"{"type":"diag.sleep","params":{"count":2}}"#, "zone"),
            (
                r#"{"type":"diag.sleep","zone":"a","params":{"count":0}}"#,
                "params.count",
            ),
            (
                r#"{"type":"diag.sleep","zone":"a","params":{"sleep":1}}"#,
                "params.sleep",
            ),
            (r#"{"type":"diag.sleep","zone":"a","params":[1]}"#, "params"),
            (
                r#"{"type":"diag.sleep","zone":"a","schedule_at":"tomorrow"}"#,
                "schedule_at",
            ),
            (
                r#"{"type":"diag.sleep","zone":"a","colour":"red"}"#,
                "colour",
            ),
            (r#"{"type":"diag.sleep""#, "body"),
        ];
        for (json, field) in cases {
            let e = doc(json).unwrap_err();
            assert_eq!(e.field, field, "{json}: {e}");
        }
    }

    #[test]
    fn explicit_zone_allows_host_names() {
        let p = doc(r#"{"type":"net.reach","zone":"b","targets":["sw1.fra1:22"]}"#).unwrap();
        assert_eq!(p.tasks[0].zone, "b");
        assert_eq!(p.tasks[0].target, "sw1.fra1");
    }

    #[test]
    fn sleep_plans_count_tasks() {
        let p = doc(r#"{"type":"diag.sleep","zone":"a","params":{"count":12,"ms":5},"schedule_at":"2030-01-01T00:00:00+01:00"}"#)
            .unwrap();
        assert_eq!(p.tasks.len(), 12);
        assert_eq!(p.job.counts.pending, 12);
        assert_eq!(
            p.job.schedule_at.as_deref(),
            Some("2029-12-31T23:00:00.000Z")
        );
        assert!(p.tasks.iter().all(|t| t.params["ms"] == 5));
    }

    #[test]
    fn ipv6_targets_parse() {
        assert_eq!(split_host_port("[::1]:22").unwrap(), ("::1", Some(22)));
        assert_eq!(split_host_port("::1").unwrap(), ("::1", None));
        assert!(split_host_port(" 1.2.3.4").is_err());
        assert!(split_host_port("a..b").is_err());
    }
}
