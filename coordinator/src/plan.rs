//! Intake planning: validates a job document and turns it into a job and its
//! tasks, each placed in exactly one zone. Nothing is written here, so an
//! invalid document can never leave half a job behind.

use crate::collect::{self, inventory::InventorySource};
use crate::model::{Counts, JobState, Status, TaskState, now_rfc3339};
use crate::zones::Zones;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Most tasks one job may have.
pub const MAX_TASKS: usize = 100_000;

/// Job types the coordinator can plan.
pub const JOB_TYPES: &[&str] = &[
    "net.reach",
    "diag.sleep",
    "ssh.collect",
    "redfish.discover",
    "redfish.inventory",
    "redfish.power",
    "redfish.firmware",
    "rolling_update",
    "vcenter.maintenance",
];

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
fn located(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> PlanError {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachParams {
    #[serde(default)]
    port: Option<u16>,
    #[serde(default = "default_reach_timeout")]
    timeout_ms: u64,
}

fn default_reach_timeout() -> u64 {
    3000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    #[serde(default = "one")]
    count: u64,
    #[serde(default)]
    ms: u64,
    /// Every task fails with a permanent error after sleeping.
    #[serde(default)]
    fail: bool,
    /// The first N attempts of every task fail with a transient error.
    #[serde(default)]
    transient_failures: u32,
}

fn one() -> u64 {
    1
}

fn params<T: DeserializeOwned>(v: &Option<serde_json::Value>) -> Result<T, PlanError> {
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
    if !JOB_TYPES.contains(&doc.job_type.as_str()) {
        return Err(err(
            "type",
            format!(
                "unknown job type {:?}; supported: {}",
                doc.job_type,
                JOB_TYPES.join(", ")
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
    if doc.job_type == "rolling_update" {
        return plan_rolling(doc, zones, servers, job_id, schedule_at);
    }
    let mut job_params = doc.params.clone().unwrap_or(serde_json::Value::Null);
    let mut preview = None;
    let specs = match doc.job_type.as_str() {
        "net.reach" => plan_reach(doc, zones)?,
        "diag.sleep" => plan_sleep(doc)?,
        "redfish.discover" => plan_discover(doc, zones)?,
        "vcenter.maintenance" => crate::vcenter::plan(doc, zones)?
            .into_iter()
            .map(|(zone, target, params)| Spec {
                zone,
                target,
                params,
            })
            .collect(),
        "redfish.inventory" | "redfish.power" | "redfish.firmware" => {
            crate::redfish::device::plan(doc, zones)?
                .into_iter()
                .map(|(zone, target, params)| Spec {
                    zone,
                    target,
                    params,
                })
                .collect()
        }
        "ssh.collect" => {
            let p: collect::plan::CollectParams = params(&doc.params)?;
            let planned = collect::plan::plan(p, doc.zone.as_deref(), zones, inventory)
                .map_err(|e| err(e.field, e.message))?;
            job_params = planned.job_params;
            preview = Some(serde_json::json!({ "devices": planned.devices }));
            planned
                .tasks
                .into_iter()
                .map(|t| Spec {
                    zone: t.zone,
                    target: t.target,
                    params: t.params,
                })
                .collect()
        }
        _ => unreachable!("checked against JOB_TYPES"),
    };
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
        .map(|(i, s)| TaskState {
            id: format!("{job_id}-{i:0width$}"),
            job_id: job_id.to_string(),
            zone: s.zone,
            kind: doc.job_type.clone(),
            target: s.target,
            status: Status::Pending,
            attempts: 0,
            worker_id: None,
            started_at: None,
            finished_at: None,
            progress: None,
            error_kind: None,
            error: None,
            output: None,
            params: s.params,
            stream_seq: None,
            applied: (0, 0),
            cleanup: false,
        })
        .collect();
    let counts = Counts {
        pending: tasks.len() as u64,
        ..Counts::default()
    };
    let job = JobState {
        id: job_id.to_string(),
        job_type: doc.job_type.clone(),
        status: Status::Pending,
        zones: zones_used,
        created_at: now_rfc3339(),
        schedule_at,
        started_at: None,
        finished_at: None,
        dispatched: false,
        cancel_requested: false,
        counts,
        params: job_params,
        traceparent: None,
        open: false,
        rollout: None,
    };
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
    let job = JobState {
        id: job_id.to_string(),
        job_type: doc.job_type.clone(),
        status: Status::Pending,
        zones: zones_used,
        created_at: now_rfc3339(),
        schedule_at,
        started_at: None,
        finished_at: None,
        dispatched: false,
        cancel_requested: false,
        counts: Counts::default(),
        params,
        traceparent: None,
        open: true,
        rollout: None,
    };
    Ok(Plan {
        job,
        tasks: Vec::new(),
        preview: Some(preview),
    })
}

struct Spec {
    zone: String,
    target: String,
    params: serde_json::Value,
}

fn plan_reach(doc: &JobDoc, zones: &Zones) -> Result<Vec<Spec>, PlanError> {
    let p: ReachParams = params(&doc.params)?;
    if !(1..=60_000).contains(&p.timeout_ms) {
        return Err(err("params.timeout_ms", "must be between 1 and 60000"));
    }
    let targets = doc
        .targets
        .as_ref()
        .ok_or_else(|| err("targets", "net.reach needs a list of addresses"))?;
    if targets.len() > MAX_TASKS {
        return Err(err(
            "targets",
            format!(
                "{} targets is more than the limit of {MAX_TASKS}",
                targets.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let field = format!("targets[{i}]");
        let (host, port) = split_host_port(t).map_err(|m| err(&field, m))?;
        let port = port.or(p.port).ok_or_else(|| {
            err(
                &field,
                format!("{t:?} has no port and params.port is not set"),
            )
        })?;
        if port == 0 {
            return Err(err(&field, "port 0 is not a valid destination"));
        }
        let zone = zones
            .place(doc.zone.as_deref(), host)
            .map_err(|e| err(&field, e.to_string()))?;
        out.push(Spec {
            zone,
            target: host.to_string(),
            params: serde_json::json!({ "port": port, "timeout_ms": p.timeout_ms }),
        });
    }
    Ok(out)
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverParams {
    #[serde(default = "default_redfish_port")]
    port: u16,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    http_timeout_ms: Option<u64>,
    /// Probes in flight per task.
    #[serde(default)]
    concurrency: Option<usize>,
    /// Credential sets: vault names tried in this order, or
    /// `{"name", "ranges": [CIDR or range], "priority"}` (matching ranges
    /// first, then lower priority first).
    #[serde(default)]
    credentials: Vec<CredSet>,
    /// Scan more than a /16.
    #[serde(default)]
    allow_large: bool,
    /// Addresses per task.
    #[serde(default = "default_slice")]
    slice_size: u64,
    /// Legacy TLS for old iDRACs (their zone may opt in too).
    #[serde(default)]
    legacy_tls: bool,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(untagged)]
enum CredSet {
    Name(String),
    Scoped(ScopedCred),
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ScopedCred {
    name: String,
    #[serde(default)]
    ranges: Vec<String>,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<i64>,
}

fn default_redfish_port() -> u16 {
    443
}
fn default_slice() -> u64 {
    256
}

fn plan_discover(doc: &JobDoc, zones: &Zones) -> Result<Vec<Spec>, PlanError> {
    use crate::redfish::targets;
    let p: DiscoverParams = params(&doc.params)?;
    if p.port == 0 {
        return Err(err("params.port", "port 0 is not a valid destination"));
    }
    if !(1..=65_536).contains(&p.slice_size) {
        return Err(err("params.slice_size", "must be between 1 and 65536"));
    }
    if let Some(c) = p.concurrency
        && !(1..=4096).contains(&c)
    {
        return Err(err("params.concurrency", "must be between 1 and 4096"));
    }
    for (k, v) in [
        ("params.connect_timeout_ms", p.connect_timeout_ms),
        ("params.http_timeout_ms", p.http_timeout_ms),
    ] {
        if let Some(ms) = v
            && !(1..=120_000).contains(&ms)
        {
            return Err(err(k, "must be between 1 and 120000"));
        }
    }
    for (i, c) in p.credentials.iter().enumerate() {
        if let CredSet::Scoped(c) = c {
            for (j, r) in c.ranges.iter().enumerate() {
                targets::parse(std::slice::from_ref(r), true).map_err(|(_, e)| {
                    err(
                        format!("params.credentials[{i}].ranges[{j}]"),
                        e.to_string(),
                    )
                })?;
            }
        }
    }
    let entries = doc.targets.as_ref().ok_or_else(|| {
        err(
            "targets",
            "redfish.discover needs CIDRs, ranges or addresses",
        )
    })?;
    let t = targets::parse(entries, p.allow_large).map_err(|(i, e)| match e {
        targets::TargetError::TooLarge { .. } | targets::TargetError::OverHardLimit { .. } => {
            err("targets", e.to_string())
        }
        other => err(format!("targets[{i}]"), other.to_string()),
    })?;
    if !t.v6.is_empty() {
        return Err(err(
            "targets",
            "IPv6 addresses are not scanned yet; list IPv4 addresses, ranges or CIDRs",
        ));
    }
    let split = targets::split(&t, p.slice_size, |ip| {
        zones
            .place_ip(doc.zone.as_deref(), ip)
            .map_err(|e| err("targets", e.to_string()))
    })?;
    let mut out = Vec::new();
    for (zone, slices) in split {
        for slice in slices {
            let runs: Vec<String> = slice.iter().map(targets::Run::render).collect();
            out.push(Spec {
                zone: zone.clone(),
                target: runs.first().cloned().unwrap_or_default(),
                params: serde_json::json!({
                    "slice": runs,
                    "port": p.port,
                    "connect_timeout_ms": p.connect_timeout_ms.unwrap_or(2000),
                    "http_timeout_ms": p.http_timeout_ms.unwrap_or(10_000),
                    "concurrency": p.concurrency.unwrap_or(256),
                    "credentials": p.credentials,
                    "legacy_tls": p.legacy_tls || zones.redfish_legacy_tls(&zone),
                }),
            });
        }
    }
    Ok(out)
}

fn plan_sleep(doc: &JobDoc) -> Result<Vec<Spec>, PlanError> {
    let p: SleepParams = params(&doc.params)?;
    let zone = doc.zone.clone().ok_or_else(|| {
        err(
            "zone",
            "diag.sleep has no targets to resolve a zone from; name one",
        )
    })?;
    if doc.targets.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(err(
            "targets",
            "diag.sleep takes no targets; use params.count",
        ));
    }
    if p.count == 0 || p.count > MAX_TASKS as u64 {
        return Err(err(
            "params.count",
            format!("must be between 1 and {MAX_TASKS}"),
        ));
    }
    if p.ms > 3_600_000 {
        return Err(err("params.ms", "must be at most 3600000 (one hour)"));
    }
    let task_params = serde_json::json!({
        "ms": p.ms, "fail": p.fail, "transient_failures": p.transient_failures
    });
    Ok((0..p.count)
        .map(|_| Spec {
            zone: zone.clone(),
            target: String::new(),
            params: task_params.clone(),
        })
        .collect())
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
