//! What one finished task of a DSM job writes to the app's tables (by
//! the DSM job's type; see `writeback`), with the console lines that say
//! so, and what a rollout's hosts add up to for a graceful cancel.

use super::db::DbError;
use super::details::console;
use super::owned::Owned;
use super::writeback;
use crate::model::{JobView, Status, TaskState};
use outpost_kinds::rollout::{HostProgress, HostState};
use serde_json::Value;

/// Writes `t`'s results for a DSM job of `dsm_type`; returns console lines.
pub async fn write_back(
    db: &tokio_postgres::Client,
    o: &Owned,
    t: &TaskState,
) -> Result<Vec<String>, DbError> {
    let (dsm_id, dsm_type) = (o.dsm_id, o.job_type.as_str());
    let mut lines = Vec::new();
    let ok = t.status == Status::Succeeded;
    let out = t.output.as_ref();
    match dsm_type {
        "discovery_scan" if ok => {
            let Some(out) = out else { return Ok(lines) };
            let mut errors = Vec::new();
            for f in out["found"].as_array().into_iter().flatten() {
                match writeback::discovered(db, dsm_id, f).await {
                    Ok(_) => lines.push(console(
                        "INFO",
                        &format!(
                            "{}: iDRAC {} {} logged into with {}",
                            f["address"].as_str().unwrap_or("?"),
                            f["model"].as_str().unwrap_or(""),
                            f["service_tag"].as_str().unwrap_or(""),
                            f["credential"].as_str().unwrap_or("the default login")
                        ),
                    )),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            for f in out["locked"].as_array().into_iter().flatten() {
                let Some(ip) = f["address"].as_str() else {
                    continue;
                };
                match writeback::auth_failed(db, dsm_id, ip).await {
                    Ok(()) => lines.push(console(
                        "WARN",
                        &format!("{ip}: iDRAC refused every credential set"),
                    )),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if !errors.is_empty() {
                return Err(DbError::Query(errors.join("; ")));
            }
        }
        "power_action" if ok => {
            if let Some(state) = out.and_then(|o| o["power_state"].as_str()) {
                writeback::power_state(db, &t.target, state).await?;
                lines.push(console("INFO", &format!("{}: power is {state}", t.target)));
            }
        }
        "test_credentials" => {
            let class = t.error_kind.as_deref();
            let verdict = if ok {
                Some(true)
            } else if matches!(class, Some("auth" | "credentials")) {
                Some(false)
            } else {
                None
            };
            if let Some(valid) = verdict {
                writeback::credential_tested(db, &t.target, valid).await?;
            }
            lines.push(console(
                if ok { "INFO" } else { "ERROR" },
                &format!(
                    "{}: {}",
                    t.target,
                    if ok {
                        "Connection successful".to_string()
                    } else {
                        super::details::test_message(t)
                    }
                ),
            ));
        }
        "firmware_inventory_scan" => {
            if ok && let (Some(out), Some(at)) = (out, t.finished_at.as_deref()) {
                let n = writeback::firmware_inventory(db, dsm_id, &t.target, at, out).await?;
                lines.push(console(
                    "INFO",
                    &format!("{}: {n} firmware components recorded", t.target),
                ));
            }
            if let Some(scan) = o.scan_id {
                super::scans::host(db, scan, t).await?;
            }
        }
        "health_check" if ok => {
            if let (Some(h), Some(at)) = (out.map(|o| &o["health"]), t.finished_at.as_deref())
                && h.is_object()
            {
                writeback::health(db, &t.target, at, h).await?;
                lines.push(console(
                    if h["overall"] == "OK" { "INFO" } else { "WARN" },
                    &format!(
                        "{}: health {}, power {}",
                        t.target,
                        h["overall"].as_str().unwrap_or("unknown"),
                        h["power_state"].as_str().unwrap_or("unknown")
                    ),
                ));
            }
        }
        "prepare_host_for_update" => {
            let e = t.error.clone();
            super::workflow::ended(db, dsm_id, &o.extra, ok, e.as_deref()).await?;
            lines.push(console(
                if ok { "INFO" } else { "ERROR" },
                &if ok {
                    "host ready for its update".to_string()
                } else {
                    format!("preparation failed: {}", e.unwrap_or_default())
                },
            ));
        }
        "cluster_safety_check" if ok => {
            let min = o.extra["min_required_hosts"].as_u64().unwrap_or(2);
            for c in o.extra["clusters"].as_array().into_iter().flatten() {
                let Some(name) = c.as_str() else { continue };
                if let Some(v) = out.and_then(|out| super::safety::evaluate(out, name, min)) {
                    super::safety::record(db, dsm_id, &v).await?;
                    lines.push(console(
                        if v["safe_to_proceed"] == true {
                            "INFO"
                        } else {
                            "WARN"
                        },
                        v["recommendation"].as_str().unwrap_or(""),
                    ));
                }
            }
        }
        "vcenter_sync" => {
            let Some(vc) = o.vcenters.iter().find(|v| v.host == t.target) else {
                return Ok(lines);
            };
            match (ok, out) {
                (true, Some(out)) => {
                    let s = super::writeback_vc::sync(db, vc.id, out).await?;
                    lines.push(console(
                        if s.duplicate_names > 0 { "WARN" } else { "INFO" },
                        &format!(
                            "{}: {} clusters, {} hosts, {} datastores, {} VMs synced; {} servers linked{}",
                            vc.name,
                            s.clusters,
                            s.hosts,
                            s.datastores,
                            s.vms,
                            s.auto_linked,
                            if s.duplicate_names > 0 {
                                format!("; {} VMs with a duplicate name left out", s.duplicate_names)
                            } else {
                                String::new()
                            }
                        ),
                    ));
                }
                _ => {
                    let e = t
                        .error
                        .clone()
                        .unwrap_or_else(|| t.status.as_str().to_string());
                    super::writeback_vc::failed(db, vc.id, &e).await?;
                    lines.push(console("ERROR", &format!("{}: {e}", vc.name)));
                }
            }
        }
        _ => {}
    }
    Ok(lines)
}

fn hosts(v: &JobView) -> Vec<HostProgress> {
    v.job
        .rollout
        .as_ref()
        .map(HostProgress::list)
        .unwrap_or_default()
}

/// Hosts a drained rollout never began.
pub fn stopped_hosts(v: &JobView) -> usize {
    hosts(v)
        .iter()
        .filter(|h| h.state == HostState::Stopped)
        .count()
}

/// Hosts that went through to the end.
pub fn finished_hosts(v: &JobView) -> usize {
    hosts(v)
        .iter()
        .filter(|h| matches!(h.state, HostState::Succeeded | HostState::AlreadyCurrent))
        .count()
}

/// A job's own verdict beyond its tasks' outcomes: the error that fails
/// it (a safety check's cluster no vCenter knows, a verification whose
/// versions differ), once every task has ended.
pub fn verdict(o: &Owned, v: &JobView) -> Option<String> {
    match o.job_type.as_str() {
        "cluster_safety_check" => {
            let min = o.extra["min_required_hosts"].as_u64().unwrap_or(2);
            let missing: Vec<&str> = o.extra["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|c| {
                    !v.tasks.iter().any(|t| {
                        t.output
                            .as_ref()
                            .and_then(|out| super::safety::evaluate(out, c, min))
                            .is_some()
                    })
                })
                .collect();
            (!missing.is_empty() && v.tasks.iter().all(|t| t.status.is_terminal()))
                .then(|| format!("Cluster '{}' not found", missing.join("', '")))
        }
        "verify_host_after_update" => {
            let failed = super::details::verify(o, v)["checks_failed"].clone();
            failed.as_array().filter(|a| !a.is_empty()).map(|a| {
                format!(
                    "firmware not as expected: {}",
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
        }
        _ => None,
    }
}
